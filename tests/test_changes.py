"""The Changes page: what a sync changed since the previous build of the same site —
rows added, updated and deleted per table, status transitions per group, an Atom
entry per build, a link from the home page — only what the audience may see, the
same with and without the build cache, and recorded only once published."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner
from django.db import connection

from espresso_static.cli import cli
from espresso_static.data import changelog
from espresso_static.models import BuildRecord
from espresso_static.project.config import load_config
from espresso_static.project.nightly import _forget_builds
from espresso_static.website.context import Provenance
from espresso_static.website.features.changes import (
    Changes,
    FeedEntry,
    StatusChanges,
    Transition,
    record_build,
    render_changes_feed,
    site_key,
    table_names,
)
from models.demo.models import Correlator, DataFile, Ensemble
from tests.test_build_cache import build, project, site_files  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

PAGE = "generated/changes/index.html"
ATOM = "{http://www.w3.org/2005/Atom}"


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def nightly_sync() -> dict:
    """Raw SQL, as a sync script writes: status moves on for some files, a few new
    files, a few deleted. Returns what an allow-audience should be told."""
    files = list(DataFile.objects.order_by("pk").values_list("pk", "status", "ensemble__name"))
    moved = [(pk, name) for pk, status, name in files if status == "on_disk"][:7]
    for pk, _ in moved:
        sql("UPDATE demo_datafile SET status = 'on_tape' WHERE id = %s", [pk])
    deleted = [pk for pk, *_ in files[-3:]]
    sql(f"DELETE FROM demo_datafile WHERE id IN ({', '.join('%s' for _ in deleted)})", deleted)
    links = Correlator.propagators.through.objects.order_by("pk").values_list("pk", flat=True)
    unlinked = list(links[:2])
    sql("DELETE FROM demo_correlator_propagators WHERE id IN (%s, %s)", unlinked)
    source = files[0][0]
    for number in range(2):
        sql(
            "INSERT INTO demo_datafile (file_name, ensemble_id, stream, configuration, source, "
            "machine, size, status, produced, user_id, last_modified, tag) "
            "SELECT %s, ensemble_id, stream, configuration, source, machine, NULL, 'missing', "
            "produced, user_id, last_modified, tag FROM demo_datafile WHERE id = %s",
            [f"new/file{number}.h5", source],
        )
    return {
        "counts": ("2", "7", "3"),
        "transitions": Counter(name for _, name in moved),
        "new": files[0][2],
    }


def page(site: Path, path: str = PAGE) -> BeautifulSoup:
    return BeautifulSoup((site / path).read_text(), "html.parser")


def table_rows(soup: BeautifulSoup, heading: str | None = None) -> list[list[str]]:
    table = soup.select_one("article table") if heading is None else None
    if heading is not None:
        title = next(h for h in soup.select("article h2") if heading in h.get_text())
        table = title.find_next("table")
    return [
        [cell.get_text(strip=True) for cell in row.select("td")] for row in table.select("tbody tr")
    ]


def home_summary(site: Path) -> str:
    """The home page's line on the Changes page."""
    home = page(site, "index.html")
    link = next(a for a in home.select("article a") if a.get("href", "").endswith("changes/"))
    return link.find_parent("p").get_text()


def feed_summaries(site: Path, audience: str) -> list[str]:
    feed = ET.parse(site / f"generated/changes/{audience}.xml").getroot()
    return [entry.findtext(f"{ATOM}summary") for entry in feed.iter(f"{ATOM}entry")]


def test_the_changes_page_shows_what_the_sync_changed_and_equals_a_no_cache_build(
    project,  # noqa: F811
    tmp_path,
):
    site = tmp_path / "site"
    build(project, site)
    first = page(site)
    assert "first build" in first.select_one("article").get_text()
    expected = nightly_sync()
    build(project, site)
    changes = page(site)
    assert table_rows(changes) == [
        ["DataFile", *expected["counts"]],
        ["Correlator ↔ propagators", "0", "0", "2"],
    ]
    transitions = table_rows(changes, "status changes")
    moved = {row[0]: int(row[3]) for row in transitions if row[1:3] == ["on disk", "on tape"]}
    assert moved == expected["transitions"]
    assert [expected["new"], "new", "missing", "2"] in transitions
    # The home page links the page and says it in one line.
    summary = (
        "DataFile: 2 added, 7 updated, 3 deleted; "
        "Correlator ↔ propagators: 0 added, 0 updated, 2 deleted; "
        "DataFile status changes: 7 on disk → on tape, 2 new → missing."
    )
    assert home_summary(site).startswith(summary)
    summaries = feed_summaries(site, "internal")
    assert summaries[0] == summary
    assert summaries[1].startswith("First build")
    # The same previous build, no cache: the same site, byte for byte.
    cached = tmp_path / "cached"
    shutil.copytree(site, cached)
    BuildRecord.objects.filter(pk=BuildRecord.objects.order_by("-pk").first().pk).delete()
    build(project, site, "--no-cache")
    assert site_files(site) == site_files(cached)
    # Nothing changed since: the next build says so.
    build(project, site)
    assert "Nothing this site shows" in page(site).select_one("article").get_text()


def test_the_public_is_told_only_what_it_may_see(project, tmp_path):  # noqa: F811
    site = tmp_path / "public"
    build(project, site, "--audience", "public")
    hidden = DataFile.objects.filter(ensemble__released=False).order_by("pk").first()
    shown = DataFile.objects.filter(ensemble__released=True, status="on_disk").order_by("pk")[0]
    sql("UPDATE demo_datafile SET status = 'corrupt' WHERE id IN (%s, %s)", [hidden.pk, shown.pk])
    sql("UPDATE demo_datafile SET machine = 'summit' WHERE id = %s", [shown.pk])
    build(project, site, "--audience", "public")
    changes = page(site)
    # Files have columns and rows the public does not see: neither updates nor
    # deletions are counted (they may be in them), only the transitions it sees,
    # without the status before (the row may have been hidden then).
    assert len(changes.select("article table")) == 1
    transitions = table_rows(changes, "status changes")
    assert transitions == [[shown.ensemble.name, "—", "corrupt", "1"]]
    assert hidden.ensemble.name not in changes.select_one("article").get_text()
    # The home page and the feed say what the page says, without the uncounted updates.
    summary = "DataFile status changes: 1 → corrupt."
    assert home_summary(site).startswith(summary)
    assert feed_summaries(site, "public")[0] == summary
    internal = tmp_path / "internal"
    build(project, internal)  # another site: its own first build
    assert "first build" in page(internal).select_one("article").get_text()


def test_rows_the_public_now_sees_do_not_tell_what_they_were_while_hidden(project, tmp_path):  # noqa: F811
    """A sync releasing an ensemble shows the public its files, whose statuses moved
    while the public could not see them: the page must not say what they were then,
    nor count as updated a row the public may not have seen (only where the rows
    stand now)."""
    site = tmp_path / "public"
    build(project, site, "--audience", "public")
    ensemble = Ensemble.objects.filter(released=False).order_by("pk").first()
    hidden = DataFile.objects.filter(ensemble=ensemble, status="on_disk").order_by("pk")[:3]
    keys = [file.pk for file in hidden]
    marks = ", ".join("%s" for _ in keys)
    sql(f"UPDATE demo_datafile SET status = 'corrupt' WHERE id IN ({marks})", keys)
    sql("UPDATE demo_ensemble SET released = %s WHERE id = %s", [True, ensemble.pk])
    build(project, site, "--audience", "public")
    changes = page(site)
    text = changes.select_one("article").get_text()
    assert table_rows(changes, "status changes") == [[ensemble.name, "—", "corrupt", "3"]]
    assert "on disk" not in text and "not shown" in text
    # Nor is the ensemble counted as updated (it was hidden): no table of counts.
    assert len(changes.select("article table")) == 1
    assert "on disk" not in home_summary(site)
    assert "on disk" not in (site / "generated/changes/public.xml").read_text()


def test_models_of_the_same_name_in_two_apps_are_told_apart():
    from tests.portapp.models import Ensemble as PortEnsemble

    app = PortEnsemble._meta.app_config.verbose_name
    assert table_names([DataFile, Ensemble, PortEnsemble, DataFile]) == {
        DataFile: "DataFile",
        Ensemble: "Ensemble (LQCD demo)",
        PortEnsemble: f"Ensemble ({app})",
    }


def test_a_table_whose_log_restarted_may_have_changed(project, tmp_path):  # noqa: F811
    """As after a PostgreSQL TRUNCATE or triggers installed again: the page cannot count
    the table's changes, and does not say nothing changed."""
    site = tmp_path / "site"
    build(project, site)
    table = DataFile._meta.db_table
    if connection.vendor == "postgresql":
        sql(f'DROP TRIGGER {changelog.TRIGGER} ON "{table}"')
    else:
        sql(f'DROP TRIGGER "{changelog.TRIGGER}_u_{table}"')
    changelog.install_triggers([DataFile])
    build(project, site)
    assert table_rows(page(site)) == [["DataFile", "—", "—", "—"]]
    assert home_summary(site).startswith("DataFile: may have changed (not counted).")


def test_a_site_showing_no_time_of_its_rows_dates_its_feed_entries_by_their_builds():
    """An audience that sees no column holding a time (or no row) gets each build's
    time instead: entries all dated 1970 would sit at the bottom of a reader's list."""
    built = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    earlier = FeedEntry("m1", None, built - timedelta(days=1), "First build of this site.")
    changes = Changes("public", "site", "m2", "m1", earlier.built_at, (), (), (earlier,))
    provenance = Provenance(built_at=built, snapshot=None, git_commit=None, shows_rows=True)
    feed = ET.fromstring(render_changes_feed(changes, "P", provenance))
    entries = feed.findall(f"{ATOM}entry")
    assert [entry.findtext(f"{ATOM}title") for entry in entries] == [
        "Changes (built 2026-03-02 03:00 UTC)",
        "Changes (built 2026-03-01 03:00 UTC)",
    ]
    assert [entry.findtext(f"{ATOM}updated") for entry in entries] == [
        "2026-03-02T03:00:00Z",
        "2026-03-01T03:00:00Z",
    ]
    assert feed.findtext(f"{ATOM}updated") == "2026-03-02T03:00:00Z"
    # A site showing the time of its data dates by the data: rebuilds publish the same.
    data_time = Provenance(built_at=built, snapshot=built - timedelta(hours=5), git_commit=None)
    feed = ET.fromstring(render_changes_feed(changes, "P", data_time))
    assert feed.find(f"{ATOM}entry").findtext(f"{ATOM}title") == (
        "Changes (data as of 2026-03-01 22:00 UTC)"
    )


def test_a_summary_holding_a_nul_character_is_recorded():
    """A choice's label may hold one; PostgreSQL's text cannot, and the build is
    published by the time its record is written."""
    moved = StatusChanges("portapp.Job", "jobs", "", (Transition("all", "to\x00do", "done", 1),))
    since = datetime(2026, 3, 1, tzinfo=UTC)
    changes = Changes("public", "site", "m2", "m1", since, (), (moved,), ())
    record_build(changes, Provenance(built_at=since, snapshot=None, git_commit=None))
    assert BuildRecord.objects.get().summary == "jobs status changes: 1 todo → done."


def test_summaries_recorded_before_the_upgrade_are_not_published_again():
    """Earlier versions' summaries could name statuses rows had while hidden from the
    audience; each feed repeats its site's earlier summaries."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "espresso_static.migrations.0007_buildrecord_summary_cleared"
    )
    since = datetime(2026, 3, 1, tzinfo=UTC)
    BuildRecord.objects.create(
        audience="public",
        site="site",
        mark="m1",
        built_at=since,
        summary="jobs status changes: 17 hidden → done.",
    )
    migration.clear_summaries(apps, None)
    assert list(BuildRecord.objects.values_list("summary", flat=True)) == [""]


def test_a_failed_build_records_nothing(project, tmp_path):  # noqa: F811
    (project / "mkdocs.yml").write_text("theme:\n  name: no-such-theme\n")
    result = CliRunner().invoke(
        cli, ["build-site", "--project", str(project), "--out", str(tmp_path / "site")]
    )
    assert result.exit_code == 1
    assert not BuildRecord.objects.exists()


def test_a_build_published_later_elsewhere_is_that_sites_previous_build(project, tmp_path):  # noqa: F811
    """``nightly`` builds into staging folders it swaps in afterwards: each build is
    recorded as the site it is published as, so the next night's page starts there."""
    site = tmp_path / "site"
    build(project, tmp_path / "night-1", "--published-as", str(site))
    expected = nightly_sync()
    build(project, tmp_path / "night-2", "--published-as", str(site))
    assert table_rows(page(tmp_path / "night-2"))[0] == ["DataFile", *expected["counts"]]


@pytest.mark.django_db(transaction=True)  # the night closes its connections
def test_a_failed_night_forgets_the_builds_it_did_not_publish(project, tmp_path):  # noqa: F811
    config = load_config(project)
    site = config.audiences[config.default_audience].site_dir
    build(project, tmp_path / "published", "--published-as", str(site))
    night = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    unpublished = BuildRecord.objects.create(
        audience=config.default_audience,
        site=site_key(site, project),
        mark="",
        built_at=night,
        summary="",
    )
    _forget_builds(config, night)
    assert BuildRecord.objects.count() == 1
    assert not BuildRecord.objects.filter(pk=unpublished.pk).exists()


def test_an_integer_status_changes_only_when_its_value_does(tmp_path):
    """LatteDB's status columns are integers with choices: the log keeps the status
    before a change as text, and a row whose other columns changed has no transition;
    a status is named by its choice's label."""
    from tests.portapp.models import Job

    port = tmp_path / "port"
    shutil.copytree(Path(__file__).parent / "portproject", port)
    jobs = [Job.objects.create(number=number, status=0) for number in range(3)]
    site = tmp_path / "site"
    build(port, site)
    sql("UPDATE portapp_job SET number = number + 10 WHERE id = %s", [jobs[0].pk])
    sql("UPDATE portapp_job SET status = 2 WHERE id = %s", [jobs[1].pk])
    Job.objects.create(number=5, status=1)
    build(port, site)
    transitions = table_rows(page(site), "status changes")
    # Shown by their labels, as on the status page.
    assert transitions == [["all", "new", "running", "1"], ["all", "queued", "finished", "1"]]
    # LatteDB's status may be null (FileStatus.status): a row leaving null is no new row.
    sql("UPDATE portapp_job SET status = NULL WHERE id = %s", [jobs[2].pk])
    build(port, site)
    sql("UPDATE portapp_job SET status = 1 WHERE id = %s", [jobs[2].pk])
    build(port, site)
    assert table_rows(page(site), "status changes") == [["all", "empty", "running", "1"]]


def test_a_groups_value_is_shown_as_written_never_as_math(project, tmp_path):  # noqa: F811
    """A row's value is text: a group named like TeX is not typeset (MathJax would make
    ``\\href`` a link wherever a row's value said so)."""
    site = tmp_path / "site"
    build(project, site)
    name = r"$\href{https://e.org}{get it}$"  # an ensemble's name: 40 characters at most
    ensemble = DataFile.objects.order_by("pk").first().ensemble
    sql("UPDATE demo_ensemble SET name = %s WHERE id = %s", [name, ensemble.pk])
    sql("UPDATE demo_datafile SET status = 'corrupt' WHERE ensemble_id = %s", [ensemble.pk])
    build(project, site)
    title = next(h for h in page(site).select("article h2") if "status changes" in h.get_text())
    table = title.find_next("table")
    assert name in [row.select("td")[0].get_text() for row in table.select("tbody tr")]
    assert not table.select(".arithmatex")


def test_a_table_the_site_no_longer_shows_leaves_its_feed(project, tmp_path, monkeypatch):  # noqa: F811
    """Each feed repeats its site's earlier summaries: one naming a table the audience
    no longer sees (its access changed) is not published again."""
    from espresso_static.access import Access

    site = tmp_path / "public"
    build(project, site, "--audience", "public")
    shown = DataFile.objects.filter(ensemble__released=True, status="on_disk").order_by("pk")[0]
    sql("UPDATE demo_datafile SET status = 'corrupt' WHERE id = %s", [shown.pk])
    build(project, site, "--audience", "public")
    assert feed_summaries(site, "public")[0] == "DataFile status changes: 1 → corrupt."
    monkeypatch.setattr(DataFile, "access", Access(audiences=[]))
    build(project, site, "--audience", "public")
    summaries = feed_summaries(site, "public")
    assert not [summary for summary in summaries if "DataFile" in summary], summaries
    assert summaries[-1].startswith("First build")  # the others are still there
