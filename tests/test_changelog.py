"""The change log: triggers log every write (raw SQL included) on SQLite and
PostgreSQL, and a build brings the data-health audit up to date from it, checking
only the rows whose inputs changed and publishing exactly what a ``--no-cache``
build publishes."""

from __future__ import annotations

import pytest
from django.db import connection

from espresso_static.data import changelog
from espresso_static.models import Change
from models.demo import data
from models.demo.models import Correlator, DataFile, Ensemble, Propagator
from tests.test_build_cache import build, project, site_files  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_triggers_log_raw_sql_with_the_status_before():
    data.generate(files=40, seed=1)
    mark = changelog.current_mark()
    first, second = DataFile.objects.order_by("pk").values_list("pk", "status")[:2]
    sql("UPDATE demo_datafile SET status = 'corrupt' WHERE id = %s", [first[0]])
    sql("UPDATE demo_datafile SET status = 'missing' WHERE id = %s", [first[0]])
    sql("DELETE FROM demo_datafile WHERE id = %s", [second[0]])
    third = DataFile.objects.order_by("pk").values_list("pk", flat=True)[2]
    sql("UPDATE demo_datafile SET id = 100000 WHERE id = %s", [third])
    changes = changelog.changes_since(mark, ["demo_datafile", "demo_gaugeconfig"])
    files = changes["demo_datafile"]
    # The first change of a row keeps the status it had at the mark.
    assert files.first[str(first[0])] == ("U", first[1])
    assert files.first[str(second[0])] == ("D", second[1])
    assert files.deleted == {str(second[0]), str(third)}
    assert not changes["demo_gaugeconfig"]
    # A new primary key: the old row is gone, the new one written.
    assert files.first[str(third)][0] == "D"
    assert files.first["100000"][0] == "U"
    # Nothing since the current mark.
    assert not changelog.changes_since(changelog.current_mark(), ["demo_datafile"])["demo_datafile"]


def test_a_mark_of_another_log_or_a_table_without_triggers_cannot_say():
    mark = changelog.current_mark()
    vendor, _, position = mark.split(":", 2)
    assert changelog.changes_since(f"{vendor}:another-log:{position}", ["demo_datafile"]) is None
    assert changelog.changes_since(None, ["demo_datafile"]) is None
    unlogged = changelog.changes_since(mark, ["no_such_table"])["no_such_table"]
    assert unlogged.reset


def test_reinstalled_triggers_restart_the_log_of_a_table_that_had_none():
    table = DataFile._meta.db_table
    if connection.vendor == "postgresql":
        sql(f'DROP TRIGGER {changelog.TRIGGER} ON "{table}"')
    else:
        sql(f'DROP TRIGGER "{changelog.TRIGGER}_u_{table}"')
    assert table not in changelog.logged_tables()
    mark = changelog.current_mark()
    assert changelog.install_triggers([DataFile]) == [table]
    assert changelog.changes_since(mark, [table])[table].reset
    assert Change.objects.filter(table=table, kind="R").exists()
    # Installing again changes nothing: the triggers were there.
    assert changelog.install_triggers([DataFile]) == []


def test_triggers_recording_another_status_column_are_stale_until_installed_again():
    """As after a progress declaration added since the last migrate (the triggers
    record no status): the migrations check (E106) asks for a migrate."""
    before = changelog.logged_table(DataFile)
    without_status = changelog.LoggedTable(before.table, before.pk, tracked=None)
    with connection.cursor() as cursor:
        for statement in changelog._trigger_sql(connection, without_status):
            cursor.execute(statement)
    assert changelog.stale_triggers([DataFile, Ensemble]) == [before.table]
    changelog.install_triggers([DataFile])
    assert changelog.stale_triggers([DataFile, Ensemble]) == []


def test_the_fingerprint_of_a_table_changes_with_any_write():
    data.generate(files=40, seed=1)
    before = changelog.log_fingerprint("demo_datafile")
    assert changelog.log_fingerprint("demo_datafile") == before
    sql("UPDATE demo_datafile SET size = size WHERE id = (SELECT min(id) FROM demo_datafile)")
    assert changelog.log_fingerprint("demo_datafile") != before


def test_a_table_emptied_and_reloaded_by_a_sync_is_exported_anew(
    project,  # noqa: F811
    tmp_path,
):
    """A sync reloading a table whole (PostgreSQL's TRUNCATE fires no row trigger;
    SQLite has DELETE FROM): the rows it left out are gone from the next build."""
    build(project, tmp_path / "first")
    sql("CREATE TEMP TABLE kept AS SELECT * FROM demo_datafile WHERE status <> 'corrupt'")
    if connection.vendor == "postgresql":
        sql("SET CONSTRAINTS ALL IMMEDIATE")  # the test's transaction: no pending checks
        sql("TRUNCATE demo_datafile")
    else:
        sql("DELETE FROM demo_datafile")
    sql("INSERT INTO demo_datafile SELECT * FROM kept")
    build(project, tmp_path / "after")
    build(project, tmp_path / "fresh", "--no-cache")
    assert site_files(tmp_path / "after") == site_files(tmp_path / "fresh")


def health_line(parts: dict) -> str:
    return parts["data health"]


def test_the_audit_rechecks_rows_whose_inputs_changed_and_equals_a_full_build(
    project,  # noqa: F811
    tmp_path,
):
    build(project, tmp_path / "first")
    ensemble = Ensemble.objects.get(name="a12m310")
    on_it = Propagator.objects.filter(gaugeconfig__ensemble=ensemble)
    assert on_it.filter(source_t__gte=2).exists()
    # A row the audit reaches through two foreign keys: propagators now fail.
    sql("UPDATE demo_ensemble SET nt = 2 WHERE id = %s", [ensemble.pk])
    # A row of its own table fails; a failing row is fixed again.
    broken = DataFile.objects.filter(status="on_disk").order_by("pk")[:2]
    sql("UPDATE demo_datafile SET size = NULL WHERE id IN (%s, %s)", [b.pk for b in broken])
    sql("UPDATE demo_datafile SET size = 5 WHERE id = %s", [broken[1].pk])
    # A link moved to a propagator of another configuration: its correlator fails.
    correlator = Correlator.objects.order_by("pk").first()
    elsewhere = Propagator.objects.exclude(
        gaugeconfig=correlator.propagators.first().gaugeconfig
    ).first()
    through = Correlator.propagators.through
    link = through.objects.filter(correlator=correlator).order_by("pk").first()
    sql(
        f"UPDATE {through._meta.db_table} SET propagator_id = %s WHERE id = %s",
        [elsewhere.pk, link.pk],
    )
    after = build(project, tmp_path / "after")
    checked = int(health_line(after).split(", ")[2].split(" ")[0].replace(",", ""))
    assert "changed inputs" in health_line(after)
    total = DataFile.objects.count() + Propagator.objects.count() + Correlator.objects.count()
    assert 0 < checked < total / 2
    fresh = build(project, tmp_path / "fresh", "--no-cache")
    assert "changed inputs" not in health_line(fresh)
    assert site_files(tmp_path / "after") == site_files(tmp_path / "fresh")
    page = (tmp_path / "after" / "generated/health/index.html").read_text()
    for label in ("demo.Propagator", "demo.DataFile", "demo.Correlator", "demo.Ensemble"):
        assert label.split(".")[1] in page
    failing = {line for line in health_line(after).split(", ") if "failing" in line}
    assert failing == {"4 failing"}, health_line(after)
    # The audit's state moved on to this build's mark: nothing changed, nothing checked.
    again = build(project, tmp_path / "again")
    assert "0 rows checked (changed inputs)" in health_line(again), health_line(again)


def test_a_mark_the_log_fell_behind_cannot_say():
    """A mark taken in writes that were rolled back (or before a backup was restored):
    the log's ids go back below it, and later writes reuse them — no answer."""
    from django.db import transaction

    data.generate(files=20, seed=1)
    with pytest.raises(RuntimeError), transaction.atomic():
        sql("UPDATE demo_datafile SET size = 1")
        ahead = changelog.current_mark()
        raise RuntimeError  # rolled back: the log rows behind ``ahead`` are gone
    assert changelog.changes_since(ahead, ["demo_datafile"]) is None
    assert changelog.changes_since(changelog.current_mark(), ["demo_datafile"]) is not None


def rewound(statement: str):
    """The marks and fingerprint read after ``statement``, then the log rewound behind
    them, as a restored backup rewinds it (SQLite reuses the ids)."""
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        sql(statement)
        seen = changelog.current_mark(), changelog.log_fingerprint("demo_datafile")
        raise RuntimeError
    return seen


def test_a_mark_of_a_log_rewound_then_written_past_it_cannot_say():
    """A backup restored, then as many rows written again: the ids repeat (and so do a
    table's count, sum and highest id), but not the rows' random numbers."""
    data.generate(files=20, seed=1)
    ahead, fingerprint = rewound("UPDATE demo_datafile SET size = 1")
    sql("UPDATE demo_datafile SET size = 2")
    if connection.vendor == "sqlite":
        assert changelog.mark_point(changelog.current_mark()) == changelog.mark_point(ahead)
    assert changelog.changes_since(ahead, ["demo_datafile"]) is None
    assert changelog.log_fingerprint("demo_datafile") != fingerprint
    assert changelog.changes_since(changelog.current_mark(), ["demo_datafile"]) is not None


def test_a_build_after_a_restored_backup_equals_a_full_build(project, tmp_path):  # noqa: F811
    """The cache holds what a build computed from writes a restored backup does not
    have; the same number of rows written again gives the log the same ids."""
    from django.db import transaction

    build(project, tmp_path / "first")
    files = list(DataFile.objects.order_by("pk").values_list("pk", flat=True)[:30])
    marks = ", ".join(str(pk) for pk in files)
    with pytest.raises(RuntimeError), transaction.atomic():
        sql(f"UPDATE demo_datafile SET status = 'corrupt' WHERE id IN ({marks})")
        build(project, tmp_path / "lost")
        raise RuntimeError  # the backup restored: these writes and that build's record gone
    sql(f"UPDATE demo_datafile SET status = 'missing' WHERE id IN ({marks})")
    build(project, tmp_path / "after")
    build(project, tmp_path / "fresh", "--no-cache")
    assert site_files(tmp_path / "after") == site_files(tmp_path / "fresh")


def test_migration_0008_goes_both_ways_on_a_sqlite_file_with_triggers(tmp_path):
    """SQLite remakes the log table to add or remove the random numbers, which it
    refuses while the project's triggers name the table: the migration takes them off,
    ``migrate`` puts them back, every log row gets a number of its own."""
    import os
    import sqlite3
    import subprocess
    import sys

    from tests.test_build_cache import REPO

    database = tmp_path / "db.sqlite3"
    migrate = (
        "import sys, espresso_static; from django.core.management import call_command; "
        "espresso_static.setup(); call_command('migrate', *sys.argv[1:], verbosity=0)"
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO), "DATABASE_URL": f"sqlite:///{database}"}

    def run(*target: str) -> None:
        command = [sys.executable, "-c", migrate, *target]
        result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr

    def triggers_and_columns() -> tuple[int, list[str]]:
        with sqlite3.connect(database) as db:
            count = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
            columns = db.execute(f"PRAGMA table_info({changelog.LOG_TABLE})").fetchall()
            return count.fetchone()[0], [column[1] for column in columns]

    run()
    triggers, columns = triggers_and_columns()
    assert triggers and "nonce" in columns
    run("espresso_static", "0007")
    assert "nonce" not in triggers_and_columns()[1]
    run()
    assert triggers_and_columns() == (triggers, columns)
    with sqlite3.connect(database) as db:
        count, distinct = db.execute(
            f"SELECT count(*), count(DISTINCT nonce) FROM {changelog.LOG_TABLE}"
        ).fetchone()
    assert count > 1 and distinct == count
