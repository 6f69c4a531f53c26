"""`espresso-static snapshot`: counts per model, group and status; idempotent; cheap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.db import connection
from django.test.utils import CaptureQueriesContext

from espresso_static.cli import cli
from espresso_static.data.snapshot import backfill_history, load_history, take_snapshot
from espresso_static.models import ProgressSnapshot
from espresso_static.progress import find_declared
from models.demo import data
from models.demo.models import DataFile

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def item(db):
    data.generate(files=500, seed=11)
    return find_declared("DataFile")


def test_a_snapshot_stores_the_counts_per_group_and_status(item):
    result = take_snapshot(item, T0)
    assert result.recorded and result.total == 500
    frame = DataFile.objects.to_dataframe(["ensemble__name", "stream", "status"])
    expected = frame.groupby(["ensemble__name", "stream", "status"]).size()
    rows = ProgressSnapshot.objects.filter(model="demo.DataFile", taken_at=T0)
    assert rows.count() == len(expected) == result.rows
    for row in rows:
        assert row.count == expected[(row.group["ensemble"], row.group["stream"], row.status)]
        assert row.category == item.progress.category(row.status)


def test_the_same_state_is_not_recorded_twice(item):
    take_snapshot(item, T0)
    with CaptureQueriesContext(connection) as queries:
        again = take_snapshot(item, T0 + timedelta(days=1))
    # The counted table is read once, by one aggregate query.
    table = DataFile._meta.db_table
    reads = [q["sql"] for q in queries.captured_queries if table in q["sql"]]
    assert len(reads) == 1 and "COUNT(" in reads[0].upper()
    assert len(queries.captured_queries) <= 5  # + latest snapshot, its rows, a savepoint
    assert not again.recorded
    assert ProgressSnapshot.objects.values("taken_at").distinct().count() == 1

    changed = DataFile.objects.filter(status="running").order_by("pk")[:3]
    DataFile.objects.filter(pk__in=[f.pk for f in changed]).update(status="on_disk", size=1)
    later = take_snapshot(item, T0 + timedelta(days=2))
    assert later.recorded
    history = load_history(item)
    assert history["taken_at"].nunique() == 2
    done = history[history["category"] == "done"].groupby("taken_at")["count"].sum()
    assert done.iloc[1] - done.iloc[0] == 3


def test_backfilled_history_ends_at_the_current_state(item):
    assert backfill_history(item, "produced", points=5) == 5
    history = load_history(item)
    assert history["taken_at"].nunique() == 5
    totals = history.groupby("taken_at")["count"].sum()
    assert (totals == 500).all()  # every row counted at every time
    done = history[history["category"] == "done"].groupby("taken_at")["count"].sum()
    assert done.is_monotonic_increasing and done.iloc[0] < done.iloc[-1]
    # The last reconstructed point is today's state: a snapshot now changes nothing.
    assert not take_snapshot(item).recorded


@pytest.mark.django_db
def test_snapshot_command_records_then_reports_unchanged(item):
    first = CliRunner().invoke(cli, ["snapshot", "--project", str(REPO)])
    assert first.exit_code == 0, first.output
    assert "demo.DataFile: 500 rows" in first.output and "recorded" in first.output
    second = CliRunner().invoke(cli, ["snapshot", "--project", str(REPO), "--model", "DataFile"])
    assert second.exit_code == 0, second.output
    assert "unchanged" in second.output
    assert ProgressSnapshot.objects.values("taken_at").distinct().count() == 1
