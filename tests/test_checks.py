"""The checks of `espresso-static check`, in Django's check framework: each id fires on
the condition it names and is silenced through ``silenced_checks``; a wrong
declaration stops ``build-site`` before anything is written."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.core import checks
from django.db.models import Q

from espresso_static.access import ALL, Access, audience_view
from espresso_static.checks.ids import CHECK_IDS, ids_reference
from espresso_static.checks.report import format_text, run_project_checks
from espresso_static.cli import cli
from espresso_static.exceptions import EspressoStaticError
from espresso_static.models import Notification
from espresso_static.progress import Progress
from espresso_static.project.config import load_config
from espresso_static.website.pipeline import BuildOptions, build_site
from models.demo.models import DataFile, Ensemble

REPO = Path(__file__).resolve().parents[1]
DONE = ["on_disk", "on_tape"]
CLASSIFIED = {"in_progress": ["running"], "missing": ["missing"], "failed": ["corrupt"]}


def ids_of(tags, silenced=()) -> list[str]:
    config = dataclasses.replace(load_config(REPO), silenced_checks=tuple(silenced))
    return [message.id for message in run_project_checks(config, tags)]


def messages_of(tags) -> list[str]:
    return [message.msg for message in run_project_checks(load_config(REPO), tags)]


def registered(monkeypatch, check, *tags) -> None:
    """``check`` in Django's registry for this test only."""
    registry = checks.registry.registry
    monkeypatch.setattr(registry, "registered_checks", set(registry.registered_checks))
    checks.register(check, *tags)


def test_the_demo_declarations_pass_and_django_ids_are_silenced_too(monkeypatch):
    assert ids_of(["declarations"]) == []
    assert ids_of(["django"]) == []
    found = [checks.Error("Clash.", obj=Ensemble, id="fields.E305")]
    registered(monkeypatch, lambda app_configs, **kwargs: found, checks.Tags.models)
    assert ids_of(["django"]) == ["fields.E305"]
    assert ids_of(["django"], silenced=["fields.E305"]) == []


ACCESS_CASES = [
    (Access(audiences="public"), "E304", "audiences must be a list of audience names"),
    (Access(audiences=["public"]), "W302", "audiences lists 'public', but fields has no entry"),
    (Access(audiences=["pubic"]), "E302", "audiences names the audience 'pubic'"),
    (
        Access(audiences=["public"], fields={"public": "beta_nx_name"}),
        "E304",
        "fields['public'] must be a list of field names (or \"__all__\"), not the string "
        "'beta_nx_name'",
    ),
    (
        Access(audiences=["public"], fields={"public": ["name", "bta"]}),
        "E303",
        "fields['public'] names 'bta', which is not a field of Ensemble",
    ),
    (
        Access(hidden_fields={"internal": ["nootes"]}),
        "E303",
        "hidden_fields['internal'] names 'nootes'",
    ),
    (Access(hidden_fields={"internal": "notes"}), "E304", "hidden_fields['internal'] must be"),
    (
        Access(hidden_fields={"intern": ["name"]}),
        "E302",
        "hidden_fields names the audience 'intern'",
    ),
    (Access(fields=["public"]), "E304", "fields must be a mapping of audience names"),
    (Access(rows={"public": "released=True"}), "E305", "rows['public'] must be a Q(...)"),
    (Access(rows={"../../x": Q(pk=1)}), "E302", "rows names the audience '../../x'"),
    (
        Access(rows={"internal": Q(relased=True)}),
        "E306",
        "rows['internal'] names what the model lacks: Cannot resolve keyword 'relased'",
    ),
    (
        Access(rows={"internal": Q(gaugeconfig__nope=1)}),
        "E306",
        "rows['internal'] names what the model lacks:",
    ),
    (Access(hidden_from="internal"), "E304", "hidden_from must be a list"),
    (Access(audiences=["internal"]), "W301", "audiences names 'internal', an allow-audience"),
    (Access(fields={"internal": ALL}), "W301", "fields names 'internal', an allow-audience"),
    (Access(hidden_from=["public"]), "W301", "hidden_from names 'public', a deny-audience"),
    ({"audiences": ["public"]}, "E301", "demo.Ensemble.access must be Access(...), not a dict"),
]


@pytest.mark.parametrize(("access", "number", "message"), ACCESS_CASES)
def test_each_access_check_fires_names_the_model_and_is_silenced(
    monkeypatch, access, number, message
):
    monkeypatch.setattr(Ensemble, "access", access)
    check_id = f"espresso_static.{number}"
    assert ids_of(["declarations"]) == [check_id]
    (text,) = messages_of(["declarations"])
    assert text.startswith("demo.Ensemble.access") and message in text
    assert "\n" not in text
    assert ids_of(["declarations"], silenced=[check_id]) == []


#: Front matter of a hand-written page that would publish it to a deny-audience (or
#: to no audience at all), and what E307 says.
PAGE_CASES = [
    (
        "---\naudience: [internal]\n---\n",
        "front matter key `audience` is not read; did you mean `audiences`",
    ),
    ("---\nAudience: internal\n---\n", "front matter key `Audience` is not read"),
    (
        "---\naudiences:\n---\n",
        "`audiences` must be a list of audience names, e.g. audiences: [internal], not None",
    ),
    ("---\naudiences: []\n---\n", "`audiences` must be a list of audience names"),
    ("---\naudiences: internal\n---\n", "`audiences` must be a list of audience names"),
    ("---\naudiences: [intrnal]\n---\n", "names 'intrnal', not a configured audience (audiences: "),
    ("---\naudiences: [Internal]\n---\n", "names 'Internal', not a configured audience"),
    ("\n\n---\naudiences: [internal]\n---\n", "blank lines before the front matter"),
]


@pytest.mark.parametrize(("front", "says"), PAGE_CASES)
def test_each_wrong_page_front_matter_is_e307_naming_the_page(tmp_path, front, says):
    (tmp_path / "docs" / "team").mkdir(parents=True)
    (tmp_path / "docs" / "team" / "plan.md").write_text(f"{front}\n# Plan\n")
    (tmp_path / "docs" / "fine.md").write_text("---\naudiences: [internal, public]\n---\n")
    config = dataclasses.replace(load_config(REPO), docs_dir=tmp_path / "docs")
    (message,) = run_project_checks(config, ["declarations"])
    assert message.id == "espresso_static.E307"
    assert message.msg.startswith(f"{tmp_path / 'docs' / 'team' / 'plan.md'}: ")
    assert says in message.msg and "\n" not in message.msg
    silenced = dataclasses.replace(config, silenced_checks=("espresso_static.E307",))
    assert run_project_checks(silenced, ["declarations"]) == []


@pytest.mark.django_db
def test_a_wrong_page_front_matter_stops_build_site_even_silenced(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "plan.md").write_text("---\naudience: [internal]\n---\n# cnry\n")
    config = dataclasses.replace(load_config(REPO), docs_dir=tmp_path / "docs", root=tmp_path)
    options = BuildOptions(quiet=True, allow_drift=True, use_cache=False)
    with pytest.raises(EspressoStaticError, match=r"^Not building: .*plan\.md: front matter key"):
        build_site(config, tmp_path / "site", options)
    # Silenced, the check no longer stops the build, but the page still cannot reach it.
    silenced = dataclasses.replace(config, silenced_checks=("espresso_static.E307",))
    with pytest.raises(EspressoStaticError, match=r"plan\.md: front matter key `audience`"):
        build_site(silenced, tmp_path / "site", options)
    assert [path.name for path in tmp_path.iterdir()] == ["docs"]


def test_a_row_filter_may_be_a_function_and_valid_access_passes(monkeypatch):
    access = Access(
        audiences=["public"],
        fields={"public": ["name", "beta"]},
        rows={"public": lambda rows: rows.filter(pk__gt=0), "internal": Q(pk__gt=0)},
        hidden_fields={"internal": ["nx"]},
        hidden_from=["internal"],
    )
    monkeypatch.setattr(Ensemble, "access", access)
    assert ids_of(["declarations"]) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("row_filter", "says"),
    [
        (lambda rows: rows.filter(relased=True), "FieldError: Cannot resolve keyword 'relased'"),
        (lambda rows: [row for row in rows if row.pk], "must return a QuerySet, not list"),
    ],
)
def test_a_row_filter_function_that_fails_is_named_in_one_line(monkeypatch, row_filter, says):
    # check cannot call it (it may read the database): its mistakes surface in a build.
    monkeypatch.setattr(
        Ensemble, "access", Access(audiences=["public"], rows={"public": row_filter})
    )
    with pytest.raises(EspressoStaticError) as caught:
        audience_view(load_config(REPO).audiences, "public").queryset(Ensemble)
    message = str(caught.value)
    assert message.startswith("demo.Ensemble.access rows['public']") and says in message
    assert "\n" not in message


PROGRESS_CASES = [
    (Progress(status="status", done="on_disk", **CLASSIFIED), "E408", "done must be a list"),
    (Progress(status="stats", done=DONE, **CLASSIFIED), "E402", "names 'stats'"),
    (
        Progress(status="status", done=DONE, group_by=["ensembel"], **CLASSIFIED),
        "E402",
        "names 'ensembel', which is not a column of DataFile",
    ),
    (
        Progress(status="status", done=DONE, columns=["file_name", "nope"], **CLASSIFIED),
        "E402",
        "names 'nope'",
    ),
    (
        Progress(status="status", done=[], **{**CLASSIFIED, "in_progress": ["running", *DONE]}),
        "E404",
        "at least one `done` value",
    ),
    (
        Progress(status="status", done=[*DONE, "running"], **CLASSIFIED),
        "E405",
        "'running' in more than one category",
    ),
    (
        Progress(status="status", done=DONE, missing=["missing"], failed=["corrupt"]),
        "E406",
        "does not classify the status value(s) 'running'",
    ),
    (
        Progress(status="status", done=[*DONE, "archived"], **CLASSIFIED),
        "E407",
        "names 'archived', not a choice of DataFile.status",
    ),
    ("status", "E401", "demo.DataFile.progress must be Progress(...), not a str"),
]


@pytest.mark.parametrize(("progress", "number", "message"), PROGRESS_CASES)
def test_each_progress_check_fires_and_is_silenced(monkeypatch, progress, number, message):
    monkeypatch.setattr(DataFile, "progress", progress)
    check_id = f"espresso_static.{number}"
    assert ids_of(["declarations"]) == [check_id]
    (text,) = messages_of(["declarations"])
    assert message in text and "\n" not in text
    assert ids_of(["declarations"], silenced=[check_id]) == []


def test_a_status_column_without_progress_is_w401(monkeypatch):
    monkeypatch.delattr(DataFile, "progress")
    assert ids_of(["declarations"]) == ["espresso_static.W401"]
    (text,) = messages_of(["declarations"])
    assert text.startswith("demo.DataFile.status looks like a status column") and "\n" not in text
    assert ids_of(["declarations"], silenced=["espresso_static.W401"]) == []


def test_a_to_many_relation_in_group_by_is_e403(monkeypatch):
    from models.demo.models import Correlator

    progress = Progress(status="name", done=["x"], group_by=["propagators"])
    monkeypatch.setattr(Correlator, "progress", progress, raising=False)
    assert "espresso_static.E403" in ids_of(["declarations"])


def test_a_column_reaching_many_rows_is_e403_where_a_group_may(monkeypatch):
    from models.demo.models import Correlator

    # propagators__name: the names of a correlator's propagators, several per row.
    progress = Progress(status="name", done=["x"], columns=["propagators__name"])
    monkeypatch.setattr(Correlator, "progress", progress, raising=False)
    expected = "Correlator.progress columns names 'propagators__name', which reaches several rows"
    assert any(message.startswith(expected) for message in messages_of(["declarations"]))
    grouped = Progress(status="name", done=["x"], group_by=["propagators__name"])
    monkeypatch.setattr(Correlator, "progress", grouped, raising=False)
    assert not any("several rows" in message for message in messages_of(["declarations"]))


def test_a_field_called_access_or_progress_is_not_a_declaration():
    """Django's own field check names no declaration problem for a column that happens
    to be called like a declaration attribute (e.g. LatteDB-style ``progress`` floats)."""
    from django.db import models
    from django.test.utils import isolate_apps

    from espresso_static.checks.declarations import _declared_progress_problems, access_problems

    with isolate_apps("tests.baseapp"):

        class Task(models.Model):
            access = models.CharField(max_length=5)
            progress = models.FloatField()

            class Meta:
                app_label = "baseapp"

        assert access_problems(Task, load_config(REPO).audiences) == []
        assert _declared_progress_problems(Task) == []


@pytest.mark.django_db
def test_a_notification_for_an_unknown_audience_is_a_warning(monkeypatch):
    Notification.objects.create(title="For the team", audiences=["publication-team"])
    Notification.objects.create(title="For internal", audiences=["internal"])
    assert ids_of(["notifications"]) == ["espresso_static.W501"]
    (text,) = messages_of(["notifications"])
    assert "'publication-team'" in text and "'For the team'" in text
    assert ids_of(["notifications"], silenced=["espresso_static.W501"]) == []
    result = CliRunner().invoke(cli, ["check", "--project", str(REPO), "--tag", "notifications"])
    assert result.exit_code == 0 and "WARNING espresso_static.W501" in result.stdout


@pytest.mark.django_db
def test_notification_audiences_that_stop_the_build_are_an_error_of_check():
    Notification.objects.create(title="Text, not a list", audiences="public")
    assert ids_of(["notifications"]) == ["espresso_static.E502"]
    (text,) = messages_of(["notifications"])
    assert "audiences must be a list of audience names, not 'public'" in text
    result = CliRunner().invoke(cli, ["check", "--project", str(REPO), "--tag", "notifications"])
    assert result.exit_code == 1 and "ERROR espresso_static.E502" in result.stdout


@pytest.mark.django_db
def test_a_full_check_computes_the_migration_drift_once(monkeypatch):
    from espresso_static.checks import migrations

    computed = []
    drift = migrations._drift
    monkeypatch.setattr(
        migrations, "_drift", lambda labels: computed.append(labels) or drift(labels)
    )
    run_project_checks(load_config(REPO))
    assert len(computed) == 1  # migrations, notifications and data all ask for it


@pytest.mark.django_db
def test_data_health_is_silenced_by_configuration():
    Ensemble.objects.bulk_create(
        [Ensemble(name="tiny", beta=6, nx=32, nt=8, lattice_spacing=0.1, pion_mass=300)]
    )
    assert ids_of(["data"]) == ["espresso_static.E201"]
    assert ids_of(["data"], silenced=["espresso_static.E201"]) == []
    # The audit reads every row: only asked for, never with the other tags.
    assert "espresso_static.E201" not in ids_of(["django", "declarations", "migrations"])


@pytest.mark.django_db
def test_check_reports_declarations_as_text_and_json(monkeypatch):
    monkeypatch.setattr(Ensemble, "access", Access(hidden_fields={"internal": ["nootes"]}))
    text = CliRunner().invoke(cli, ["check", "--project", str(REPO), "--tag", "declarations"])
    assert text.exit_code == 1
    assert text.stdout.startswith("ERROR espresso_static.E303 [demo.Ensemble]: demo.Ensemble")
    assert "1 error(s), 0 warning(s)." in text.stdout
    result = CliRunner().invoke(
        cli, ["check", "--project", str(REPO), "--tag", "declarations", "--format", "json"]
    )
    (report,) = json.loads(result.stdout)
    assert (report["id"], report["level"], report["obj"]) == (
        "espresso_static.E303",
        "error",
        "demo.Ensemble",
    )


def test_a_wrong_declaration_stops_build_site_before_anything_is_written(monkeypatch, tmp_path):
    monkeypatch.setattr(
        Ensemble, "access", Access(audiences=["public"], fields={"public": "beta_nx_name"})
    )
    config = dataclasses.replace(load_config(REPO), docs_dir=tmp_path / "docs", root=tmp_path)
    out = tmp_path / "site"
    with pytest.raises(EspressoStaticError) as caught:
        build_site(config, out, BuildOptions(quiet=True, allow_drift=True, use_cache=False))
    message = str(caught.value)
    assert message.startswith("Not building: demo.Ensemble.access fields['public']")
    assert "'beta_nx_name'" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []  # no site, no staging, no generated pages


def test_a_model_django_finds_broken_stops_build_site(monkeypatch, tmp_path):
    # As Django's fields.E303 for a model named Tag beside Base.tag: a clash its
    # queries trip over (FieldError) halfway through a build.
    def clash(app_configs, **kwargs):
        return [checks.Error("Reverse query name clashes with field name.", obj=Ensemble)]

    registered(monkeypatch, clash, checks.Tags.models)
    config = dataclasses.replace(load_config(REPO), docs_dir=tmp_path / "docs", root=tmp_path)
    options = BuildOptions(quiet=True, allow_drift=True, use_cache=False)
    with pytest.raises(EspressoStaticError) as caught:
        build_site(config, tmp_path / "site", options)
    assert str(caught.value) == "Not building: Reverse query name clashes with field name."
    assert list(tmp_path.iterdir()) == []


def test_configuration_problems_are_listed_by_check(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.espresso-static]\napps = ["a"]\nsite_dir = 5\n'
        '[tool.espresso-static.audiences.internal]\ndefault = "allow"\nhelth = true\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["check", "--project", str(tmp_path), "--format", "json"])
    assert result.exit_code == 1
    assert {(item["id"], item["obj"]) for item in json.loads(result.stdout)} == {
        ("espresso_static.E002", "site_dir"),
        ("espresso_static.E001", "audiences.internal.helth"),
    }
    text = CliRunner().invoke(cli, ["check", "--project", str(tmp_path)])
    assert "ERROR espresso_static.E001 [audiences.internal.helth]: unknown key" in text.stdout


def test_format_text_without_problems():
    assert format_text([]) == "No problems found."


def test_format_text_writes_out_what_a_terminal_would_act_on():
    """A row's check message quotes its values: an escape sequence in one would retitle,
    recolour or clear the terminal of whoever runs check."""
    escape = "\x1b]0;owned\x07\x1b[2K"
    message = checks.Error(f"bad {escape}", hint=f"fix {escape}", id="espresso_static.E201")
    message.details = {"rows": [{"pk": 1, "message": f"a file {escape} needs a size."}]}
    lines = format_text([message]).splitlines()
    assert all(line.isprintable() for line in lines)
    assert lines[2] == "    row pk=1: a file \\x1b]0;owned\\x07\\x1b[2K needs a size."


def test_the_readme_documents_every_check_id():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert ids_reference() in readme, "paste espresso_static.checks.ids.ids_reference()"
    documented = set(re.findall(r"^\| `(espresso_static\.[EW]\d{3})` \|", readme, re.MULTILINE))
    assert documented == set(CHECK_IDS)


def test_the_checks_are_in_djangos_registry_under_their_tags(monkeypatch):
    """Django's own runner (``manage.py check`` in a host project) runs them too; the
    data audit only as a deployment check, the database checks only given databases."""
    registry = checks.registry.registry
    assert {"declarations", "migrations", "notifications"} <= registry.tags_available()
    assert "data" not in registry.tags_available()
    assert "data" in registry.tags_available(deployment_checks=True)
    monkeypatch.setattr(Ensemble, "access", Access(hidden_fields={"internal": ["nootes"]}))
    found = [m.id for m in checks.run_checks(tags=["declarations"])]
    # Every installed app here: the test apps' status columns have no Progress (W401).
    assert [i for i in found if i != "espresso_static.W401"] == ["espresso_static.E303"]
    assert checks.run_checks(tags=["migrations", "notifications"]) == []  # no databases given
