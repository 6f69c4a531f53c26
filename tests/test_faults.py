"""Faults: a build killed at any moment, an ingest failing half way, a database that is
unreachable, locked or not migrated. Nothing published may break, nothing half-written
may be committed, and the user gets one actionable line.

The kill and database tests run the real command line in subprocesses on a copy of the
demo project with its own SQLite file (a kill is about the file system, not the
database); the ingest test runs in-process on the test database (SQLite or PostgreSQL).
"""

from __future__ import annotations

import csv
import errno
import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from espresso_static.cli import cli
from espresso_static.project.database_errors import failure_advice
from tests.conftest import REPO

#: Enough rows that every step of a build takes measurable time.
KILL_TEST_ROWS = 20_000
FAILING_ROW = 50_000
INGEST_ROWS = 60_000
CLOSED_PORT_URL = "postgresql://espresso:espresso@127.0.0.1:1/espresso"


def make_project(folder: Path) -> Path:
    """A copy of the demo project (its models, no data) in ``folder``."""
    folder.mkdir(parents=True)
    shutil.copytree(
        REPO / "models", folder / "models", ignore=shutil.ignore_patterns("__pycache__")
    )
    (folder / "pyproject.toml").write_text(
        '[tool.espresso-static]\nname = "Fault test"\napps = ["models.demo"]\n'
    )
    return folder


def cli_env(database_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}


def run_cli(project: Path, env: dict, *args: str, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "espresso_static", *args, "--project", str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def tree_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


# -- build-site killed ----------------------------------------------------------------------

#: Where to kill: after the stderr line of a step (+ a delay), i.e. during the next step.
KILL_POINTS = [
    ("render", "collect", 0.0),
    ("write", "render", 0.0),
    # MkDocs builds this site in ~0.5 s on an idle machine: kill well inside it.
    ("mkdocs", "write", 0.1),
    ("publish", "mkdocs", 0.0),
]


def build_killed_after(project: Path, env: dict, out: Path, line: str, delay: float) -> str:
    """Run build-site, SIGKILL it ``delay`` seconds after its ``line`` step line; returns
    what it printed."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "espresso_static",
            "build-site",
            "--project",
            str(project),
            "--out",
            str(out),
        ],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    printed = []
    for text in process.stderr:
        printed.append(text)
        if text.split()[:1] == [line]:
            time.sleep(delay)
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    printed.append(process.stderr.read())  # what it printed before the kill landed
    process.stderr.close()
    return "".join(printed)


@pytest.mark.slow
def test_killed_builds_leave_the_published_site_whole(tmp_path):
    project = make_project(tmp_path / "project")
    env = cli_env(f"sqlite:///{tmp_path / 'faults.sqlite3'}")
    out = tmp_path / "public" / "site"
    assert run_cli(project, env, "demo", "--rows", str(KILL_TEST_ROWS)).returncode == 0
    first = run_cli(project, env, "build-site", "--out", str(out))
    assert first.returncode == 0, first.stderr
    published, files = tree_hash(out), tree_files(out)

    for moment, line, delay in KILL_POINTS:
        printed = build_killed_after(project, env, out, line, delay)
        assert line in printed, f"killed before {line}: {printed}"
        if moment != "publish":  # publishing takes milliseconds: the kill may come after
            # The kill must land before the new site is ready to publish.
            steps = [text.split()[0] for text in printed.splitlines() if text.strip()]
            assert "mkdocs" not in steps, f"killed after mkdocs: {printed}"
        assert (out / "index.html").exists(), moment
        assert tree_files(out) == files, moment
        if moment != "publish":  # killed during publish, the new (same) site may be in
            assert tree_hash(out) == published, moment

    # The build killed during mkdocs left its staging folder: the next one removes it.
    assert list(out.parent.glob(".espresso-static-build-*"))
    again = run_cli(project, env, "build-site", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "staging folder(s) of killed builds" in again.stderr
    assert tree_files(out) == files
    assert list(out.parent.glob(".espresso-static-build-*")) == []


# -- ingest failing half way ----------------------------------------------------------------


def write_file_rows(path: Path, rows: int, bad_row: int | None = None) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["file_name", "ensemble", "stream", "configuration", "source", "machine", "status"]
        )
        for index in range(rows):
            suffix = "txt" if index == bad_row else "h5"
            writer.writerow(
                [f"e1/a/{index:06d}.{suffix}", 1, "a", index, "x0y0z0t0", "summit", "missing"]
            )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_ingest_failing_at_row_50000_commits_nothing_and_reruns_cleanly(tmp_path):
    from models.demo.models import DataFile, Ensemble

    Ensemble.objects.create(
        pk=1, name="e1", beta=6.0, nx=24, nt=64, lattice_spacing=0.121, pion_mass=310.0
    )
    rows = tmp_path / "files.csv"
    write_file_rows(rows, INGEST_ROWS, bad_row=FAILING_ROW)
    ingest = ["ingest", "demo.DataFile", str(rows), "--key", "file_name"]

    failed = CliRunner().invoke(cli, ingest)
    assert failed.exit_code == 1
    message = failed.output.strip()
    assert len(message.splitlines()) == 1, message
    assert "Nothing ingested" in message
    assert f"{rows}, line {FAILING_ROW + 2} " in message  # 0-based row, after the header
    assert f"file_name='e1/a/{FAILING_ROW:06d}.txt'" in message
    assert "DataFile" in message
    assert "is not an .h5 file" in message
    assert DataFile.objects.count() == 0

    write_file_rows(rows, INGEST_ROWS)
    fixed = CliRunner().invoke(cli, ingest)
    assert fixed.exit_code == 0, fixed.output
    assert f"{INGEST_ROWS:,} inserted, 0 updated, 0 unchanged" in fixed.output
    again = CliRunner().invoke(cli, ingest)
    assert f"0 inserted, 0 updated, {INGEST_ROWS:,} unchanged" in again.output
    assert DataFile.objects.count() == INGEST_ROWS
    assert DataFile.objects.values("file_name").distinct().count() == INGEST_ROWS


# -- databases that cannot be used ----------------------------------------------------------

COMMANDS = {
    "build-site": ["build-site", "--out", "{tmp}/site"],
    "check": ["check"],
    "ingest": ["ingest", "demo.DataFile", "{tmp}/rows.csv", "--key", "file_name"],
    "todo": ["todo", "DataFile"],
    "snapshot": ["snapshot"],
}


def assert_one_actionable_line(processes: dict, *advice: str) -> None:
    for name, process in processes.items():
        lines = [line for line in process.stderr_text.splitlines() if line.strip()]
        assert process.returncode == 1, (name, process.stderr_text)
        assert len(lines) == 1 and lines[0].startswith("Error: "), (name, lines)
        assert "Traceback" not in process.stderr_text
        for words in advice:
            assert words in lines[0], (name, lines[0])


def run_and_capture(project: Path, env: dict, tmp: Path) -> dict:
    processes = {}
    write_file_rows(tmp / "rows.csv", 3)
    for name, args in COMMANDS.items():
        processes[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "espresso_static",
                *(arg.format(tmp=tmp) for arg in args),
                "--project",
                str(project),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    for process in processes.values():
        _, process.stderr_text = process.communicate(timeout=120)
    return processes


@pytest.mark.slow
def test_unreachable_database_is_one_line(tmp_path):
    project = make_project(tmp_path / "project")
    processes = run_and_capture(project, cli_env(CLOSED_PORT_URL), tmp_path)
    assert_one_actionable_line(
        processes, "Cannot connect to the database", "127.0.0.1:1", "is the server running"
    )


@pytest.mark.slow
def test_database_without_tables_says_to_migrate(tmp_path):
    project = make_project(tmp_path / "project")
    (tmp_path / "empty.sqlite3").touch()
    processes = run_and_capture(
        project, cli_env(f"sqlite:///{tmp_path / 'empty.sqlite3'}"), tmp_path
    )
    assert_one_actionable_line(processes, "espresso-static migrate")


@pytest.mark.parametrize(
    ("url", "file_name"),
    [("sqlite:///espreso.sqlite3", "espreso.sqlite3"), ("sqlite:///:memory:", ":memory:")],
)
def test_a_sqlite_file_that_does_not_exist_is_named_not_created(tmp_path, url, file_name):
    """A misspelt path made an empty database file, then said its tables were missing."""
    project = make_project(tmp_path / "project")
    missing = project / file_name
    for command in (("build-site", "--out", str(tmp_path / "site")), ("todo", "DataFile")):
        refused = run_cli(project, cli_env(url), *command)
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr == (
            f"Error: The database sqlite:///{missing} (from DATABASE_URL) does not exist; run "
            "`espresso-static migrate` to create it, or correct the path.\n"
        )
        assert not missing.exists()
    assert run_cli(project, cli_env(url), "migrate").returncode == 0
    assert run_cli(project, cli_env(url), "todo", "DataFile").returncode == 0


def test_a_failing_todo_leaves_its_file_and_standard_output_alone(tmp_path):
    """The header used to be written before the query ran: --out replaced the last
    list with a header alone, standard output began with one before the error."""
    project = make_project(tmp_path / "project")
    (tmp_path / "empty.sqlite3").touch()
    env = cli_env(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    previous = tmp_path / "todo.csv"
    previous.write_text("id,status\n7,missing\n")
    written = run_cli(project, env, "todo", "DataFile", "--out", str(previous))
    printed = run_cli(project, env, "todo", "DataFile")
    for failed in (written, printed):
        assert failed.returncode == 1 and "espresso-static migrate" in failed.stderr
    assert previous.read_text() == "id,status\n7,missing\n"
    left = sorted(path.name for path in tmp_path.iterdir())  # no temporary file either
    assert left == ["empty.sqlite3", "project", "todo.csv"]
    assert printed.stdout == ""


@pytest.mark.slow
def test_locked_database_says_another_process_holds_it(tmp_path):
    project = make_project(tmp_path / "project")
    database = tmp_path / "locked.sqlite3"
    # Half a second of waiting for the lock, not Python's five.
    env = cli_env(f"sqlite:///{database}?timeout=0.5")
    assert run_cli(project, env, "migrate").returncode == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(database)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        processes = run_and_capture(project, env, tmp_path)
        started = time.monotonic()
        debug = run_cli(project, env, "snapshot", "--debug")
        assert time.monotonic() - started < 5  # the default timeout alone takes 5 s
    finally:
        holder.kill()
        holder.wait()
    assert_one_actionable_line(processes, "is locked", "another process", "Retry")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


#: Holds an exclusive lock on a SQLite file until killed.
LOCK_HOLDER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(600)
"""


@pytest.mark.django_db
def test_a_database_error_is_told_without_the_statement():
    """PostgreSQL quotes the statement at fault under its message ("LINE 1: SELECT …"
    and a caret): SQL with the values it was sent with, not something to act on."""
    from django.db import DatabaseError, connection, transaction

    sql = "SELECT no_such_column FROM demo_datafile WHERE file_name = %s"
    with (
        pytest.raises(DatabaseError) as raised,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, ["private/run.h5"])
    message = failure_advice(raised.value)
    assert "no_such_column" in message and "espresso-static migrate" in message
    assert "LINE" not in message and "^" not in message and "private" not in message


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
        sqlite3.OperationalError("database or disk is full"),  # any file SQLite writes
    ],
)
def test_a_full_disk_says_what_to_free(error):
    message = failure_advice(error)
    assert message.startswith("No space left on the disk (")
    assert ".espresso-static-cache in the project, safe to delete" in message
    assert failure_advice(OSError(errno.EACCES, "Permission denied")) is None
