"""Progress declarations, the per-group aggregation and `espresso-static todo`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from espresso_static.cli import cli
from espresso_static.data.todo import TodoList, todo_list, write_todo
from espresso_static.exceptions import ConfigError, EspressoStaticError
from espresso_static.progress import (
    DeclaredProgress,
    Progress,
    check_declaration,
    declared_models,
    find_declared,
    summarize,
)
from models.demo import data
from models.demo.models import DataFile
from tests.portapp.models import Job

REPO = Path(__file__).resolve().parents[1]
DONE = ["on_disk", "on_tape"]
CATEGORY = {
    "on_disk": "done",
    "on_tape": "done",
    "running": "in_progress",
    "missing": "missing",
    "corrupt": "failed",
}


@pytest.fixture
def demo_files(db):
    data.generate(files=700, seed=7)
    return DataFile.objects.to_dataframe(["id", "ensemble__name", "stream", "status"])


def test_the_demo_declares_its_data_files():
    (item,) = [item for item in declared_models() if item.model._meta.app_label == "demo"]
    assert item.model is DataFile
    assert item.label == "demo.DataFile"
    assert [c.name for c in item.columns][:2] == ["status", "file_name"]
    # A foreign key is shown by the related row's unique name, not its id.
    assert item.group_columns[0].lookup == "ensemble__name"
    assert find_declared("datafile") == find_declared("demo.DataFile") == item


def test_unknown_model_names_the_choices():
    with pytest.raises(ConfigError, match=r"No model .*'Nope'.*demo\.DataFile"):
        find_declared("Nope")


@pytest.mark.parametrize(
    ("progress", "message"),
    [
        (Progress(status="status", done=[]), "at least one `done`"),
        (Progress(status="status", done=DONE), "does not classify .*'running'"),
        (
            Progress(status="status", done=DONE, missing=["missing", "on_disk"]),
            "'on_disk' in more than one",
        ),
        (
            Progress(
                status="status",
                done=DONE,
                in_progress=["running"],
                missing=["missing", "lost"],
                failed=["corrupt"],
            ),
            "'lost', not a choice",
        ),
        (Progress(status="state", done=DONE), "'state', which is not a column"),
        (
            Progress(
                status="status",
                done=DONE,
                in_progress=["running"],
                missing=["missing"],
                failed=["corrupt"],
                group_by=["ensembel"],
            ),
            "'ensembel'",
        ),
    ],
)
def test_wrong_declarations_are_refused_with_one_line(progress, message):
    with pytest.raises(ConfigError, match=message):
        check_declaration(DeclaredProgress(DataFile, progress))


def test_summary_matches_pandas_and_costs_one_query(demo_files, django_assert_num_queries):
    item = find_declared("DataFile")
    with django_assert_num_queries(1):
        summary = summarize(item)
    frame = demo_files.assign(category=demo_files["status"].map(CATEGORY))
    expected = frame.groupby(["ensemble__name", "stream", "category"]).size()
    assert len(summary.groups) == frame.groupby(["ensemble__name", "stream"]).ngroups
    for group in summary.groups:
        for category, count in group.counts.items():
            assert count == expected.get((*group.group, category), 0), (group.group, category)
        assert group.total == sum(group.counts.values())
    overall = summary.overall
    assert overall.total == len(frame)
    assert overall.counts["done"] == frame["status"].isin(DONE).sum()
    assert overall.percent_done == pytest.approx(100 * frame["status"].isin(DONE).mean())
    assert not summary.has_other


def test_an_undeclared_status_value_counts_as_other(demo_files):
    DataFile.objects.filter(pk=demo_files["id"].iloc[0]).update(status="archived")
    summary = summarize(find_declared("DataFile"))
    assert summary.overall.counts["other"] == 1
    assert summary.has_other


def test_todo_lists_every_row_not_done(demo_files):
    todo = todo_list(find_declared("DataFile"))
    out = io.StringIO()
    count = write_todo(todo, out, "csv")
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    expected = demo_files[~demo_files["status"].isin(DONE)]
    assert count == len(rows) == len(expected)
    assert [int(row["id"]) for row in rows] == sorted(expected["id"])
    assert {row["status"] for row in rows} == {"running", "missing", "corrupt"}
    assert rows[0].keys() >= {"file_name", "ensemble", "stream", "configuration", "source"}


def test_todo_csv_neutralises_spreadsheet_formulas():
    formula = "=cmd|' /C calc'!A0"
    rows = [(1, formula, -5), (2, "@SUM(1+1)", -1.5), (3, "plain", None)]
    out = io.StringIO()
    write_todo(TodoList(["id", "file_name", "shift"], iter(rows)), out, "csv")
    # As in the downloads: a text starting like a formula gets a "'", numbers stay.
    assert out.getvalue().splitlines()[1:] == [
        "1,'=cmd|' /C calc'!A0,-5",
        "2,'@SUM(1+1),-1.5",
        "3,plain,",
    ]
    out = io.StringIO()
    write_todo(TodoList(["id", "file_name"], iter([(1, formula)])), out, "json")
    assert json.loads(out.getvalue())[0]["file_name"] == formula  # JSON is no spreadsheet


def test_todo_filters_by_status_value_or_category(demo_files):
    item = find_declared("DataFile")
    by_value = list(todo_list(item, ["missing"]).rows)
    assert len(by_value) == (demo_files["status"] == "missing").sum()
    failed = list(todo_list(item, ["failed"]).rows)
    assert len(failed) == (demo_files["status"] == "corrupt").sum()
    with pytest.raises(EspressoStaticError, match="counts as done"):
        todo_list(item, ["on_disk"])
    with pytest.raises(EspressoStaticError, match=r"Unknown status 'lost'.*running"):
        todo_list(item, ["lost"])


@pytest.mark.django_db
def test_todo_command_writes_json_and_csv(demo_files, tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "todo",
            "DataFile",
            "--project",
            str(REPO),
            "--status",
            "missing,running",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert len(records) == demo_files["status"].isin(["missing", "running"]).sum()
    assert {r["status"] for r in records} == {"missing", "running"}
    assert records[0]["ensemble"] in set(demo_files["ensemble__name"])
    out = tmp_path / "lists" / "todo.csv"  # its folder made, as for a plot
    result = CliRunner().invoke(
        cli, ["todo", "datafile", "--project", str(REPO), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 1 + (~demo_files["status"].isin(DONE)).sum()


@pytest.mark.django_db
def test_todo_command_reports_an_unknown_model_in_one_line():
    result = CliRunner().invoke(cli, ["todo", "Nope", "--project", str(REPO)])
    assert result.exit_code == 1
    assert (
        result.output.count("\n") == 1 and "No model with a progress declaration" in result.output
    )


def job_todo(status: str):
    return CliRunner().invoke(
        cli, ["todo", "portapp.Job", "--project", str(REPO), "--status", status, "--format", "json"]
    )


@pytest.mark.django_db
def test_todo_takes_integer_statuses_as_the_column_holds_them():
    """A status given on the command line is text: it is converted to the column's type
    (an integer here), and an unknown one is refused listing the known ones."""
    for number, status in enumerate([0, 1, 1, 2]):
        Job.objects.create(number=number, status=status)

    result = job_todo("1")
    assert result.exit_code == 0, result.output
    assert [record["number"] for record in json.loads(result.stdout)] == [1, 2]
    assert [record["status"] for record in json.loads(job_todo("missing").stdout)] == [0]
    unknown = job_todo("5")
    assert unknown.exit_code == 1
    assert unknown.output == (
        "Error: Unknown status '5' for portapp.Job; choose from 1 (running), 0 (queued), "
        "in_progress, missing, failed.\n"
    )
    assert "counts as done" in job_todo("2").output


@pytest.mark.django_db
def test_todo_takes_a_choices_label_as_the_status_page_shows_it(monkeypatch):
    for number, status in enumerate([0, 1, 1, 2]):
        Job.objects.create(number=number, status=status)
    result = job_todo("running")
    assert result.exit_code == 0, result.output
    assert [record["number"] for record in json.loads(result.stdout)] == [1, 2]
    assert "counts as done" in job_todo("finished").output
    assert "Unknown status 'Running'" in job_todo("Running").output  # case as given

    status = Job._meta.get_field("status")
    monkeypatch.setattr(status, "choices", [(0, "queued"), (1, "queued"), (2, "finished")])
    assert job_todo("queued").output == (
        "Error: Status 'queued' of portapp.Job is the label of 0, 1; give the value.\n"
    )
    monkeypatch.setattr(status, "choices", [(0, "1"), (1, "running"), (2, "finished")])
    assert job_todo("1").output == (
        "Error: Status '1' of portapp.Job is both a value and the label of 0: ambiguous, refused.\n"
    )
    # A label holding a comma is one status; other options are comma-separated lists.
    monkeypatch.setattr(status, "choices", [(0, "queued"), (1, "running, slow"), (2, "done")])
    result = job_todo("running, slow")
    assert result.exit_code == 0, result.output
    assert [record["number"] for record in json.loads(result.stdout)] == [1, 2]
    listed = job_todo("queued,running, slow")  # no label: a list, "running" unknown
    assert "Unknown status 'running' for portapp.Job" in listed.output


def test_an_ambiguous_declared_model_name_lists_only_its_candidates(monkeypatch):
    from tests.hostileapp.models import Sample as HostileSample
    from tests.leakapp.models import Sample as LeakSample
    from tests.valueapp.models import Run

    same_name = [DeclaredProgress(m, LeakSample.progress) for m in (HostileSample, LeakSample)]
    other = DeclaredProgress(Run, Run.progress)
    monkeypatch.setattr(
        "espresso_static.declare.progress.declared_models", lambda: [*same_name, other]
    )
    with pytest.raises(ConfigError) as caught:
        find_declared("sample")
    assert str(caught.value) == (
        "'sample' is ambiguous; use one of hostileapp.Sample, leakapp.Sample."
    )
