"""Collect parts in worker processes (website/workers.py): the site is what a serial
build writes; a worker reads the build's snapshot; a failed or killed worker, or
Ctrl-C, stops the build with one line and publishes nothing, leaving no process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.db import connections

from espresso_static.cli import cli
from espresso_static.data.snapshot import take_snapshot
from espresso_static.exceptions import EspressoStaticError
from espresso_static.progress import declared
from espresso_static.project.django_setup import describe_database
from espresso_static.website import workers
from espresso_static.website.consistent_read import consistent_read
from espresso_static.website.workers import start
from models.demo import data
from models.demo.models import DataFile
from tests.conftest import REPO, ctrl_c_as_at_a_terminal, ctrl_c_blocked
from tests.test_faults import tree_hash
from tests.test_features import demo_project
from tests.worker_features import BUILD_PID

FEATURES = "tests.worker_features"
COMMAND = (sys.executable, "-m", "espresso_static", "build-site")
#: What differs between two builds of the same data: when they were built.
TIMESTAMP = re.compile(rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_rows(monkeypatch):
    data.generate(files=300, seed=5)
    monkeypatch.setenv(BUILD_PID, str(os.getpid()))


def build(project: Path, out: Path, *extra: str):
    args = ["build-site", "--project", str(project), "--out", str(out), *extra]
    return CliRunner().invoke(cli, args)


def contents(site: Path) -> dict[str, bytes]:
    return {
        p.relative_to(site).as_posix(): TIMESTAMP.sub(b"<time>", p.read_bytes())
        for p in sorted(site.rglob("*"))
        if p.is_file()
    }


def collect_parts(output: str) -> list[str]:
    """The parts of the collect line, without their times."""
    line = next(line for line in output.splitlines() if line.startswith("collect"))
    return [re.sub(r" \([\d.]+ s\)", "", part) for part in line.split("; ")]


def test_a_parallel_build_writes_what_a_serial_build_writes(demo_rows, tmp_path):
    broken = DataFile.objects.order_by("pk")[3]  # a failing row, replayed by the audit
    DataFile.objects.filter(pk=broken.pk).update(file_name="broken.txt")
    project = demo_project(tmp_path, f'["{FEATURES}:WhereCollected"]')
    parallel, serial = tmp_path / "parallel", tmp_path / "serial"
    built = build(project, parallel, "--no-cache")
    assert built.exit_code == 0, built.output
    alone = build(project, serial, "--no-cache", "--serial")
    assert alone.exit_code == 0, alone.output
    where = "generated/where/index.html"
    assert "collected in the worker: 300 files" in (parallel / where).read_text()
    assert "collected in the build: 300 files" in (serial / where).read_text()
    # The worker, forked before the build reads the schema, reads the same one.
    site = re.search(r"the site: (\d+ rows, data as of [^<]+)", (serial / where).read_text())
    assert site and site[1] in (parallel / where).read_text()
    assert collect_parts(built.output) == collect_parts(alone.output)
    assert "data health 8 checks, 1 failing" in built.output
    assert "300 files counted" in built.output
    ours, theirs = contents(parallel), contents(serial)
    assert ours.keys() == theirs.keys()
    differing = [path for path in ours if ours[path] != theirs[path]]
    # The page saying where, and the search index holding its text.
    assert set(differing) <= {where, "search/search_index.json"}, differing


@pytest.mark.parametrize(
    "feature, message",
    [
        (
            "FailingPart",
            "Error: failing part: The project's site feature tests.worker_features:FailingPart "
            "failed in on_collect: ValueError: no run 42 in the campaign",
        ),
        ("KilledPart", "Error: killed part: its worker process ended without a result"),
        (
            "FullDiskPart",
            "Error: full disk part: The project's site feature tests.worker_features:"
            "FullDiskPart failed in on_collect: No space left on the disk ([Errno 28] No "
            "space left on device): free some where the project, its site and its build "
            "cache (.espresso-static-cache in the project, safe to delete) are, then retry.",
        ),
        (
            "LockedPart",
            "Error: locked part: The project's site feature tests.worker_features:LockedPart "
            "failed in on_collect: The database {database} is locked: another process (an "
            "ingest, a build, the admin) is using it. Retry when it has finished (or wait "
            "longer for it: ?timeout=SECONDS at the end of the database URL).",
        ),
    ],
)
def test_a_failing_worker_stops_the_build_and_publishes_nothing(
    demo_rows, tmp_path, feature, message
):
    project = demo_project(tmp_path, f'["{FEATURES}:WhereCollected"]')
    out = tmp_path / "site"
    assert build(project, out).exit_code == 0
    published = tree_hash(out)
    (tmp_path / "failing").mkdir()
    project = demo_project(tmp_path / "failing", f'["{FEATURES}:{feature}"]')
    failed = build(project, out)
    assert failed.exit_code == 1
    database = describe_database(connections["default"].settings_dict)
    assert failed.output.splitlines()[-1] == message.format(database=database)
    assert tree_hash(out) == published
    assert sorted(p.name for p in tmp_path.iterdir() if "site" in p.name) == ["site"]
    assert _children() == []


def test_a_broken_mkdocs_yml_stops_the_build_while_the_workers_collect(demo_rows, tmp_path):
    project = demo_project(tmp_path, "[]")
    (project / "mkdocs.yml").write_text("theme:\n  name: no-such-theme\n")
    failed = build(project, tmp_path / "site")
    assert failed.exit_code == 1
    assert "Unrecognised theme name: 'no-such-theme'" in failed.output.splitlines()[-1]
    # Not after the collect step (the downloads of a large project take minutes).
    assert not [line for line in failed.output.splitlines() if line.startswith("collect")]
    assert _children() == [] and not (tmp_path / "site").exists()


@pytest.mark.slow
def test_ctrl_c_ends_the_workers_and_publishes_nothing(demo_rows, tmp_path):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the command line on the test database's file (SQLite)")
    project = demo_project(tmp_path, f'["{FEATURES}:SlowPart"]')
    marker = tmp_path / "worker.pid"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "ESPRESSO_TEST_MARKER": str(marker),
        "PYTHONPATH": str(REPO),
    }
    out = tmp_path / "site"
    process = subprocess.Popen(
        # --allow-drift: the test database is made without migrations.
        [*COMMAND, "--project", str(project), "--out", str(out), "--allow-drift"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_as_at_a_terminal,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert marker.exists(), process.communicate(timeout=60)[1]
        worker = int(marker.read_text())
        assert not (blocked := ctrl_c_blocked(process.pid)), blocked
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=60)
    finally:  # a build left running would hold the test database's lock
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode != 0 and "Aborted" in errors, errors
    assert not Path(f"/proc/{worker}").exists()
    assert not out.exists()


def test_a_worker_reads_the_snapshot_of_the_build(demo_rows, on_postgresql):
    """A row deleted after the build's snapshot: PostgreSQL commits it, the worker does
    not see it; SQLite keeps the writer out until the build's read ends."""
    before = DataFile.objects.count()
    with consistent_read() as snapshot:
        assert DataFile.objects.count() == before
        token = snapshot.share()
        assert token
        deleted = _delete_a_file_elsewhere()
        worker = start("count", lambda counter: DataFile.objects.count(), token)
        worker.listen()
        assert worker.result(_no_bar) == before
    assert deleted == on_postgresql
    assert DataFile.objects.count() == before - deleted


def test_a_database_error_in_a_worker_says_what_to_do(demo_rows):
    """A built-in part's database error (its worker's) reads as the command line says
    it: here the SQLite file locked by a writer."""
    with consistent_read() as snapshot:
        worker = start("downloads", _locked, snapshot.share())
        worker.listen()
        with pytest.raises(EspressoStaticError) as raised:
            worker.result(_no_bar)
    database = describe_database(connections["default"].settings_dict)
    assert str(raised.value) == (
        f"downloads: The database {database} is locked: another process (an ingest, a "
        "build, the admin) is using it. Retry when it has finished (or wait longer for "
        "it: ?timeout=SECONDS at the end of the database URL)."
    )


def _locked(counter):
    from django.db import OperationalError

    raise OperationalError("database is locked")


@pytest.mark.django_db
def test_a_read_joining_a_callers_transaction_is_not_shared():
    with consistent_read() as snapshot:
        assert snapshot.share() is None


def _delete_a_file_elsewhere() -> bool:
    """Delete a file row on a connection of its own; False if the database refused."""
    from django.db import OperationalError

    other = connections.create_connection("default")
    if other.vendor == "sqlite":
        other.settings_dict = {**other.settings_dict, "OPTIONS": {"timeout": 0.5}}
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "DELETE FROM demo_datafile WHERE id = (SELECT min(id) FROM demo_datafile)"
            )
        return True
    except OperationalError as refused:
        assert "locked" in str(refused)
        return False
    finally:
        other.close()


@contextmanager
def _no_bar(total, label):
    yield lambda done: None


def _children() -> list[int]:
    """This process's child processes (none may be left by a build)."""
    found = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        found += [int(pid) for pid in (task / "children").read_text().split()]
    return found


def test_the_audit_split_over_two_processes_finds_what_one_finds(demo_rows, monkeypatch):
    from espresso_static.declare.access import audience_view
    from espresso_static.project.config import load_config
    from espresso_static.website.features import health

    broken = DataFile.objects.order_by("pk")[7]
    DataFile.objects.filter(pk=broken.pk).update(status="on_disk", size=None)
    config = load_config(REPO)
    view = audience_view(config.audiences, "internal")
    models = health.health_models(["demo"], view)
    alone = health.collect_health(models, view)
    monkeypatch.setattr(health, "SPLIT_FROM", 0)
    started = []
    monkeypatch.setattr(workers, "start", lambda *args: started.append(args) or start(*args))
    seen = []
    with consistent_read() as snapshot:
        split = health.collect_health(models, view, report=seen.append, snapshot=snapshot.share())
    assert split == alone and len(started) == 1
    assert [row.pk for r in split for row in r.rows] == [broken.pk]
    assert seen == [f"{sum(r.checked for r in alone):,} rows checked"]


def test_nothing_or_one_part_to_collect_side_by_side_runs_here():
    # A project without consistency checks has no audit to split (bench_build's
    # 200-model case stopped on it: "data health: IndexError").
    assert workers.side_by_side("data health", [], "any snapshot", None) == []
    assert workers.side_by_side("data health", [lambda progress: os.getpid()], "x", None) == [
        os.getpid()
    ]


#: Run in a build's process: records which processes (the build's, its forked workers)
#: import pandas (a finder asked first, unless a refusal is put before it), then runs
#: the command line.
PANDAS_WATCH = """
import os, sys
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "pandas":
            with open(sys.argv[1], "a") as record:
                record.write(f"{os.getpid()}\\n")
sys.meta_path.insert(0, Watch())
from espresso_static.cli import cli
cli(sys.argv[2:])
"""


def test_pandas_is_imported_by_a_build_that_encodes_whole_tables_alone(demo_rows, tmp_path):
    """pyarrow imports pandas at its first conversion of Python values (0.2 s of a
    worker's time): the downloads' worker tells it pandas is absent, and only the
    build's own process imports it, to encode whole status tables and their history.
    After a sync (no new snapshot) the status page is patched and the plot's series
    reused: no process imports pandas (0.3 s of CPU)."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the command line on the test database's file (SQLite)")
    take_snapshot(declared(DataFile))
    project = demo_project(tmp_path, "[]")
    record = tmp_path / "pandas-imported-by"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "PYTHONPATH": str(REPO),
    }

    def watched_build() -> str:
        args = ["build-site", "--project", str(project), "--out", str(tmp_path / "site")]
        built = subprocess.run(
            [sys.executable, "-c", PANDAS_WATCH, str(record), *args, "--allow-drift"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert built.returncode == 0, built.stderr
        return built.stderr

    first = watched_build()
    assert "downloads " in first and "1 plot (rebuilt" in first, first  # a worker's, drawn
    importers = set(record.read_text().split())
    assert len(importers) == 1, importers  # the build's process alone
    record.unlink()
    changed = DataFile.objects.filter(status="missing").order_by("pk")[:3]
    DataFile.objects.filter(pk__in=[row.pk for row in changed]).update(status="running", size=7)
    after_sync = watched_build()
    assert "status data of 1 model (updated" in after_sync, after_sync
    assert "1 plot (reused" in after_sync, after_sync
    assert not record.exists(), record.read_text()


def test_a_worker_stopped_while_it_reports_ends_silently(monkeypatch):
    """A build failing while a worker reports progress closes its pipe: the thread
    reading it raised TypeError from recv() (a traceback under the build's error)."""
    import threading

    monkeypatch.setattr(workers, "PROGRESS_EVERY", 0)  # the worker fills the pipe
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often: the closing meets a recv()
    raised = []
    monkeypatch.setattr(threading, "excepthook", raised.append)
    try:
        with consistent_read() as snapshot:
            for _ in range(60):
                worker = start("busy", _reporting_forever, snapshot.share())
                worker.listen()
                time.sleep(0.05)
                worker.stop()
                worker._drain.join()
    finally:
        sys.setswitchinterval(switch_interval)
    assert [hook.exc_value for hook in raised] == []


def _reporting_forever(counter):
    with counter(0, "busy") as update:
        while True:
            update(1)
