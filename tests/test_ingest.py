"""Checked bulk ingest (``espresso_static.ingest``) and ``espresso-static ingest``,
on the demo file-status table, against the real database (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from django.db import connection
from django.test.utils import CaptureQueriesContext

import espresso_static
from espresso_static.cli import cli
from espresso_static.data.ingest import IngestReport, RowConsistencyError, RowError
from espresso_static.exceptions import ConsistencyError, EspressoStaticError
from models.demo.models import (
    DataFile,
    Ensemble,
    FermionAction,
    GaugeConfig,
    Hisq,
    MobiusDomainWall,
    Propagator,
)
from tests.conftest import REPO
from tests.portapp.models import Job

pytestmark = pytest.mark.django_db
START = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture
def ensemble():
    return Ensemble.objects.create(
        name="a12m310", beta=6.0, nx=24, nt=64, lattice_spacing=0.121, pion_mass=310.0
    )


def file_rows(ensemble, count, status="on_disk", start=0):
    return [
        {
            "file_name": f"a12m310/a/spec_{i:05d}.h5",
            "ensemble": ensemble,
            "stream": "a",
            "configuration": 300 + i,
            "source": "x0y0z0t0",
            "machine": "frontier",
            "size": 1000 + i if status != "missing" else None,
            "status": status,
            "produced": START + timedelta(minutes=i),
        }
        for i in range(start, start + count)
    ]


def test_inserts_new_rows_with_user_and_last_modified(ensemble):
    before = datetime.now(UTC)
    report = espresso_static.ingest(DataFile, file_rows(ensemble, 7), key=("file_name",))
    assert isinstance(report, IngestReport)
    assert (report.inserted, report.updated, report.unchanged) == (7, 0, 0)
    stored = DataFile.objects.get(file_name="a12m310/a/spec_00003.h5")
    assert stored.size == 1003 and stored.ensemble == ensemble and stored.status == "on_disk"
    assert stored.produced == START + timedelta(minutes=3)
    assert stored.last_modified >= before - timedelta(seconds=1)
    assert stored.user is not None  # attributed like save() does
    assert stored.tag is None


def test_reingest_leaves_identical_rows_untouched_and_updates_changed_ones(ensemble):
    espresso_static.ingest(DataFile, file_rows(ensemble, 10), key=("file_name",))
    stamps = dict(DataFile.objects.values_list("file_name", "last_modified"))
    again = espresso_static.ingest(DataFile, file_rows(ensemble, 10), key=("file_name",))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 10)
    assert dict(DataFile.objects.values_list("file_name", "last_modified")) == stamps

    rows = file_rows(ensemble, 12)  # two new rows, two changed rows
    rows[0]["status"] = "on_tape"
    rows[5]["size"] = 5
    report = espresso_static.ingest(DataFile, rows, key=("file_name",), batch_size=4)
    assert (report.inserted, report.updated, report.unchanged) == (2, 2, 8)
    after = dict(DataFile.objects.values_list("file_name", "last_modified"))
    bumped = {name for name, stamp in after.items() if stamps.get(name) != stamp}
    assert bumped == {rows[i]["file_name"] for i in (0, 5, 10, 11)}
    assert DataFile.objects.get(file_name=rows[5]["file_name"]).size == 5
    assert DataFile.objects.count() == 12


def test_columns_a_row_leaves_out_keep_their_stored_values(ensemble):
    espresso_static.ingest(DataFile, file_rows(ensemble, 3), key=("file_name",))
    DataFile.objects.update(tag="nightly")
    partial = [{"file_name": "a12m310/a/spec_00001.h5", "status": "on_tape"}]
    report = espresso_static.ingest(DataFile, partial, key=("file_name",))
    assert (report.updated, report.unchanged) == (1, 0)
    stored = DataFile.objects.get(file_name="a12m310/a/spec_00001.h5")
    assert (stored.status, stored.size, stored.tag, stored.machine) == (
        "on_tape",
        1001,
        "nightly",
        "frontier",
    )
    assert stored.produced == START + timedelta(minutes=1)


def test_times_django_sets_on_save_are_set_when_a_row_leaves_them_out():
    """auto_now_add and auto_now take the current time on new rows, auto_now again on
    changed rows, as save() sets them; a time a row gives is kept."""
    before = datetime.now(UTC) - timedelta(seconds=1)
    rows = [{"number": "1", "status": "0"}, {"number": "2", "status": "0"}]
    assert espresso_static.ingest(Job, rows, key=("number",)).inserted == 2
    first = Job.objects.get(number=1)
    assert first.submitted >= before and first.checked >= before
    Job.objects.update(submitted=START, checked=START)

    rows[0]["status"] = "2"
    rows.append({"number": "3", "status": "1", "submitted": START.isoformat()})
    report = espresso_static.ingest(Job, rows, key=("number",))
    assert (report.inserted, report.updated, report.unchanged) == (1, 1, 1)
    changed, unchanged, given = Job.objects.order_by("number")
    assert changed.submitted == START and changed.checked >= before
    assert (unchanged.submitted, unchanged.checked) == (START, START)
    assert given.submitted == START and given.checked >= before


def test_a_failing_row_aborts_everything_naming_row_key_and_message(ensemble):
    rows = file_rows(ensemble, 30)
    rows[23]["size"] = None  # on disk without a size: check_consistency refuses it
    with pytest.raises(RowConsistencyError) as caught:
        espresso_static.ingest(DataFile, rows, key=("file_name",), batch_size=5)
    error = caught.value
    assert isinstance(error, ConsistencyError)
    assert error.row_index == 23
    assert error.key == {"file_name": "a12m310/a/spec_00023.h5"}
    assert "Row 24 (file_name='a12m310/a/spec_00023.h5')" in error.one_line  # 1-based
    assert "a file on_disk needs a positive size" in error.one_line
    assert DataFile.objects.count() == 0  # earlier batches rolled back too


def test_pre_save_runs_before_the_check_and_run_flags_are_honoured(ensemble, monkeypatch):
    def derive_source(self):
        self.source = "derived"

    monkeypatch.setattr(DataFile, "pre_save", derive_source)
    espresso_static.ingest(DataFile, file_rows(ensemble, 2), key=("file_name",))
    assert set(DataFile.objects.values_list("source", flat=True)) == {"derived"}

    bad = file_rows(ensemble, 1, start=10)
    bad[0]["file_name"] = "not-hdf5.txt"
    with pytest.raises(RowConsistencyError, match=r"is not an \.h5 file"):
        espresso_static.ingest(DataFile, bad, key=("file_name",))
    monkeypatch.setattr(DataFile, "run_checks", False)
    monkeypatch.setattr(DataFile, "run_pre_save", False)
    report = espresso_static.ingest(DataFile, bad, key=("file_name",))
    assert report.inserted == 1
    assert DataFile.objects.get(file_name="not-hdf5.txt").source == "x0y0z0t0"


def test_a_key_given_twice_is_refused_naming_both_rows(ensemble):
    rows = file_rows(ensemble, 3) + file_rows(ensemble, 1, status="on_tape", start=1)
    with pytest.raises(RowError) as caught:
        espresso_static.ingest(DataFile, rows, key=("file_name",), batch_size=2)
    assert (caught.value.row_index, caught.value.other_index) == (3, 1)
    assert str(caught.value) == (
        "demo.DataFile row 4, column file_name: repeats the key "
        "file_name='a12m310/a/spec_00001.h5' of row 2; a key may appear once per input"
    )
    assert DataFile.objects.count() == 0


def test_multi_column_key_and_checks_following_foreign_keys_in_constant_queries(ensemble):
    configs = GaugeConfig.objects.bulk_create(
        GaugeConfig(ensemble=ensemble, stream="a", trajectory=t, plaquette=0.6) for t in range(20)
    )
    action = Hisq.objects.create(quark_mass=0.01)

    def propagators(per_config):
        return [
            {"gaugeconfig": config, "action_id": action.pk, "source_t": t}
            for config in configs
            for t in range(per_config)
        ]

    key = ("gaugeconfig", "action", "source_x", "source_y", "source_z", "source_t")
    with CaptureQueriesContext(connection) as few:
        espresso_static.ingest(Propagator, propagators(1), key=key)
    with CaptureQueriesContext(connection) as many:
        report = espresso_static.ingest(Propagator, propagators(3), key=key)
    # Propagator.check_consistency reads gaugeconfig.ensemble: loaded once per batch.
    assert len(many.captured_queries) == len(few.captured_queries)
    assert (report.inserted, report.unchanged) == (40, 20)

    outside = [{"gaugeconfig": configs[0], "action": action, "source_t": 64}]
    with pytest.raises(RowConsistencyError, match="source_t=64 is outside nt=64"):
        espresso_static.ingest(Propagator, outside, key=key)


def test_refuses_what_it_cannot_do_with_one_line_errors(ensemble):
    with pytest.raises(EspressoStaticError, match="multi-table inheritance from DomainWall"):
        espresso_static.ingest(MobiusDomainWall, [], key=("id",))
    with pytest.raises(EspressoStaticError, match="not a unique constraint"):
        espresso_static.ingest(DataFile, [], key=("stream",))
    with pytest.raises(EspressoStaticError, match="unknown column 'colour'"):
        espresso_static.ingest(DataFile, [{"file_name": "x.h5", "colour": 1}], key=["file_name"])
    with pytest.raises(RowError, match="column file_name: has no value for this key column"):
        espresso_static.ingest(DataFile, [{"status": "missing"}], key=["file_name"])
    with pytest.raises(
        RowError, match=r"column configuration, ensemble, .*no value for these required columns"
    ):
        espresso_static.ingest(DataFile, [{"file_name": "x.h5", "stream": "a"}], key=["file_name"])
    # A concrete parent of multi-table children is one table: allowed.
    assert espresso_static.ingest(FermionAction, [], key=("id",)).rows == 0


def write_csv(path, rows):
    header = list(rows[0])
    lines = [",".join(header)]
    for row in rows:
        lines.append(",".join("" if row[name] is None else str(row[name]) for name in header))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def cli_rows(ensemble, count):
    return [
        {**row, "ensemble": ensemble.pk, "produced": row["produced"].isoformat()}
        for row in file_rows(ensemble, count)
    ]


@pytest.mark.parametrize("file_format", ["csv", "jsonl", "parquet"])
def test_cli_ingests_csv_jsonl_and_parquet(ensemble, tmp_path, file_format):
    rows = cli_rows(ensemble, 4)
    rows[3].update(status="missing", size=None)
    path = tmp_path / f"files.{file_format}"
    if file_format == "csv":
        write_csv(path, rows)
    elif file_format == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    runner = CliRunner()
    args = ["ingest", "demo.DataFile", str(path), "--key", "file_name", "--project", str(REPO)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "4 inserted, 0 updated, 0 unchanged" in result.output
    missing = DataFile.objects.get(file_name=rows[3]["file_name"])
    assert (missing.status, missing.size) == ("missing", None)
    assert DataFile.objects.get(file_name=rows[1]["file_name"]).produced == START + timedelta(
        minutes=1
    )
    again = runner.invoke(cli, args)
    assert "0 inserted, 0 updated, 4 unchanged" in again.output


def test_cli_reports_a_failing_row_in_one_line_and_writes_nothing(ensemble, tmp_path):
    rows = cli_rows(ensemble, 3)
    rows[2]["file_name"] = "bad.txt"
    path = tmp_path / "files.csv"
    write_csv(path, rows)
    result = CliRunner().invoke(
        cli, ["ingest", "DataFile", str(path), "--key", "file_name", "--project", str(REPO)]
    )
    assert result.exit_code == 1
    assert f"Nothing ingested: {path}, line 4 (file_name='bad.txt')" in result.output
    assert "is not an .h5 file" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert DataFile.objects.count() == 0


def test_cli_names_only_the_candidates_of_an_ambiguous_model_name(tmp_path):
    path = tmp_path / "actions.csv"
    path.write_text("name\nwilson\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["ingest", "Action", str(path), "--key", "name", "--project", str(REPO)]
    )
    assert result.exit_code == 1
    assert result.output == (
        "Error: Ambiguous model 'Action'; use one of: baseapp.Action, portapp.Action.\n"
    )
