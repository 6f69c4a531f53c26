"""The logger-like notification API and the ``notify`` command write real rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from django.db import connection

from espresso_static.cli import cli
from espresso_static.exceptions import EspressoStaticError
from espresso_static.models import Notification
from espresso_static.models.parameters import login_name
from espresso_static.notify import Notifier, audience_list, level_number, split_message

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.django_db
def test_each_level_writes_one_row_with_the_notifiers_tag():
    notifier = Notifier(tag="nightly-sync")
    notifier.debug("debugging")
    notifier.info("synced 1204 files")
    notifier.warning("3 files corrupt on tape", title="Tape check", audience="internal")
    notifier.error("tape robot down", audience=["internal", "operators"])

    rows = list(Notification.objects.order_by("id"))
    assert [row.level for row in rows] == [10, 20, 30, 40]
    assert {row.tag for row in rows} == {"nightly-sync"}
    tape = rows[2]
    assert (tape.title, tape.content, tape.audiences) == (
        "Tape check",
        "3 files corrupt on tape",
        ["internal"],
    )
    assert rows[3].audiences == ["internal", "operators"]
    assert rows[1].audiences == []  # unaddressed: for the allow-audiences


@pytest.mark.django_db
def test_without_title_the_first_line_is_the_title_and_the_rest_the_content():
    row = Notifier().info("Nightly sync done\n\n* 1204 files\n* 3 corrupt\n")
    row.refresh_from_db()
    assert row.title == "Nightly sync done"
    assert row.content == "* 1204 files\n* 3 corrupt"
    assert Notifier().info("one line").content == ""


@pytest.mark.django_db
def test_author_is_the_database_user_else_thelogin_name():
    row = Notifier().info("hello")
    expected = connection.settings_dict.get("USER") or login_name()
    assert row.author == expected
    assert Notifier(author="cron").info("hello").author == "cron"


@pytest.mark.django_db
def test_the_notifiers_default_audience_and_an_override():
    notifier = Notifier(audience="internal, operators")
    assert notifier.info("a").audiences == ["internal", "operators"]
    assert notifier.info("b", audience="public").audiences == ["public"]
    assert notifier.info("c", audience=[]).audiences == []


@pytest.mark.django_db
def test_invalid_notifications_are_refused_with_one_line_and_write_nothing():
    with pytest.raises(EspressoStaticError, match="title: Ensure this value has at most 200"):
        Notifier().warning("text", title="x" * 201)
    with pytest.raises(EspressoStaticError, match="non-empty message"):
        Notifier().info("  \n ")
    with pytest.raises(EspressoStaticError, match="Unknown notification level 'critical'"):
        Notifier().notify("critical", "text")
    assert not Notification.objects.exists()


def test_levels_audiences_and_long_first_lines():
    assert [level_number(name) for name in ("DEBUG", "info", "Warning", 40)] == [10, 20, 30, 40]
    assert audience_list(("public,internal", " internal ", "")) == ["internal", "public"]
    assert audience_list(None) == []
    title, content = split_message("y" * 300)
    assert len(title) == 200 and title.endswith("…")
    assert content == "y" * 300  # nothing lost


@pytest.mark.django_db
def test_notify_command_writes_a_row():
    result = CliRunner().invoke(
        cli,
        [
            "notify",
            "--project",
            str(REPO),
            "--level",
            "WARNING",
            "--title",
            "Tape check",
            "--tag",
            "nightly-sync",
            "--audience",
            "internal",
            "--audience",
            "operators",
            "3 files **corrupt** on tape",
        ],
    )
    assert result.exit_code == 0, result.output
    row = Notification.objects.get()
    assert (row.level, row.title, row.tag, row.audiences) == (
        30,
        "Tape check",
        "nightly-sync",
        ["internal", "operators"],
    )
    assert row.content == "3 files **corrupt** on tape"
    assert result.stdout.strip() == (
        f"Notification {row.pk} [WARNING] for internal, operators: Tape check"
    )
    # "operators" is not a configured audience: written, with a warning (W501).
    assert "audience(s) operators are not configured" in result.stderr


@pytest.mark.django_db
def test_notify_command_reads_all_as_every_configured_audience():
    result = CliRunner().invoke(
        cli, ["notify", "--project", str(REPO), "--audience", "public,all", "Release 2"]
    )
    assert result.exit_code == 0, result.output
    assert Notification.objects.get().audiences == ["internal", "public"]
    assert result.stderr == ""  # no audience left unconfigured (W501)


@pytest.mark.django_db
def test_a_notifier_reads_all_as_every_configured_audience_as_the_command_does():
    Notifier(audience="all").info("Release 1")
    Notifier().warning("Release 2", audience=["public", "all"])
    # The tests' project configures the default audiences: internal and public.
    assert [row.audiences for row in Notification.objects.order_by("id")] == [
        ["internal", "public"],
        ["internal", "public"],
    ]


@pytest.mark.django_db
def test_notify_command_reads_the_message_from_standard_input():
    result = CliRunner().invoke(
        cli, ["notify", "--project", str(REPO), "-"], input="Sync done\nAll 1204 files on tape.\n"
    )
    assert result.exit_code == 0, result.output
    row = Notification.objects.get()
    assert (row.level, row.title, row.content) == (20, "Sync done", "All 1204 files on tape.")
    assert "for allow-audiences (e.g. internal)" in result.output


@pytest.mark.django_db
def test_notify_command_reports_an_invalid_title_in_one_line():
    result = CliRunner().invoke(cli, ["notify", "--project", str(REPO), "--title", "t" * 250, "x"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: Invalid notification: title: Ensure this value has at most 200 characters (it has 250)."
    ]
    assert not Notification.objects.exists()
