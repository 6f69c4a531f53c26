"""Test set-up: Django configured from this repository's own project configuration
(the demo) with the admin GUI's apps, plus the small test apps, on a real SQLite file
by default or on the database named by ``DATABASE_URL`` (``.ci/run`` runs the suite on
PostgreSQL too)."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from tests.browser import served  # noqa: F401  (a fixture for every test module)

REPO = Path(__file__).resolve().parents[1]
TEST_APPS = [
    "tests.baseapp",
    "tests.siteapp",
    "tests.hostileapp",
    "tests.leakapp",
    "tests.valueapp",
    "tests.portapp",
    "tests.statusapp",
    "tests.dataapp",
    "tests.allowapp",
]


def pytest_configure(config):
    import django
    from django.conf import settings

    from espresso_static.project.config import load_config
    from espresso_static.project.django_setup import admin_settings

    project = load_config(REPO)
    django_config = admin_settings(project)
    django_config["INSTALLED_APPS"] += TEST_APPS
    # The test apps repeat model names (Sample, Run, Ensemble...), each with Base.user:
    # their reverse accessors on User clash, as in no project of one set of apps.
    django_config["SILENCED_SYSTEM_CHECKS"] = ["fields.E304"]
    database = django_config["DATABASES"]["default"]
    if database["ENGINE"].endswith("sqlite3"):
        # A real SQLite file (Django would test on an in-memory database), never the
        # project's own database.
        folder = Path(tempfile.mkdtemp(prefix="espresso-static-tests-"))
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
        database["NAME"] = str(folder / "espresso.sqlite3")
        database["TEST"] = {"NAME": str(folder / "test.sqlite3")}
    settings.configure(**django_config)
    django.setup()


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: without it, never called
def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one process on PostgreSQL, a process per CPU (xdist's count) on
    SQLite. The change log's pruning reads the server's oldest running transaction, which
    another process's test transaction (in its own test database) holds back."""
    from espresso_static.project.config import load_config

    return 0 if load_config(REPO).database_url.startswith("postgres") else None


def pytest_report_header(config):
    from django.db import connection

    return f"database: {connection.vendor} ({'DATABASE_URL' if os.environ.get('DATABASE_URL') else 'SQLite file'})"


@pytest.fixture
def on_postgresql():
    from django.db import connection

    return connection.vendor == "postgresql"


def ctrl_c_blocked(pid: int) -> str:
    """Why Ctrl-C (SIGINT) would not reach process ``pid`` ("": it would): the process
    ignores or blocks it (read from /proc; a started process inherits both from the
    test process), with this process's own state, to find who left it so."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    bit = 1 << (signal.SIGINT - 1)
    why = [name for name in ("SigIgn", "SigBlk") if int(fields[name], 16) & bit]
    if not why:
        return ""
    own = signal.getsignal(signal.SIGINT), sorted(signal.pthread_sigmask(signal.SIG_BLOCK, []))
    return (
        f"process {pid} has SIGINT in {why}; the test process: handler {own[0]}, blocked {own[1]}"
    )


def ctrl_c_as_at_a_terminal() -> None:
    """``preexec_fn`` of a process a test presses Ctrl-C on: SIGINT as a terminal gives
    it. Tests run in the background of a non-interactive shell (``.ci/run &``) ignore
    SIGINT, and a started process inherits that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
