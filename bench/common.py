"""What every bench shares: a throwaway database configured from the repository's own
project configuration, timing of repeated runs, peak memory of one run, and the
one table a bench prints.

Each measured run happens in a fresh child process (``python bench/X.py --worker
CASE ...``) so that its peak RSS is its own; the parent collects the figures.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def setup_django(database_url: str | None = None) -> None:
    """Configure Django for the repository's project on ``database_url`` (default:
    ``DATABASE_URL``, else a fresh SQLite file in a temporary folder) and migrate."""
    from django.core.management import call_command

    from espresso_static.project.config import load_config
    from espresso_static.project.django_setup import setup_django as configure

    url = database_url or os.environ.get("DATABASE_URL") or fresh_sqlite_url()
    configure(load_config(REPO, environ={"DATABASE_URL": url}))
    call_command("migrate", interactive=False, verbosity=0)


def database_url(args) -> str:
    """``--database-url``, else ``DATABASE_URL``, else a fresh SQLite file."""
    return args.database_url or os.environ.get("DATABASE_URL") or fresh_sqlite_url()


def fresh_sqlite_url() -> str:
    return f"sqlite:///{scratch_folder('espresso-static-bench-') / 'bench.sqlite3'}"


def scratch_folder(prefix: str) -> Path:
    """A new temporary folder, removed when this process exits: a bench's databases,
    sites and throwaway environments (hundreds of MB each) would otherwise pile up in
    /tmp run after run."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tree_rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` and all its descendants now, summed, in MB
    (Linux ``/proc``; pages shared after a fork count in each process: an upper bound)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:  # ended meanwhile
            continue
        total += next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
    return total / 1024


class TreeMemory:
    """The peak of :func:`tree_rss_mb` of a running process, sampled every ``every``
    seconds in a thread until :meth:`stop`."""

    def __init__(self, pid: int, every: float = 0.05):
        import threading

        self.peak_mb = 0.0
        self._pid, self._every = pid, every
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stopped.wait(self._every):
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self._pid))

    def stop(self) -> float:
        self._stopped.set()
        self._thread.join()
        return self.peak_mb


def arguments(
    description: str, rows: int, smoke_rows: int, database: bool = False
) -> argparse.Namespace:
    """The options every bench takes (``--worker`` is internal: one measured run);
    ``database``: a ``--database FILE`` option too (an SQLite file kept between runs)."""
    parser = argparse.ArgumentParser(description=description)
    if database:
        parser.add_argument(
            "--database", default=None, help="SQLite file kept between runs (demo reused)"
        )
        parser.add_argument(
            "--status-only", action="store_true", help="build only model and status pages"
        )
    parser.add_argument("--rows", type=int, default=None, help=f"rows (default {rows:,})")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per case (≥ 3)")
    parser.add_argument(
        "--smoke", action="store_true", help=f"tiny size ({smoke_rows:,} rows), bars not enforced"
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rows is None:
        args.rows = smoke_rows if args.smoke else rows
    args.runs = max(args.runs, 3)
    return args


def report_worker(**figures) -> None:
    """The child's result: one JSON line on stdout, with its peak memory."""
    print(json.dumps({**figures, "peak_rss_mb": peak_rss_mb()}), flush=True)


@dataclass
class Case:
    """The measured runs of one case: seconds, peak RSS and other figures of each."""

    name: str
    seconds: list[float]
    peak_rss_mb: list[float]
    figures: list[dict]

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def run_case(script: Path, name: str, args: argparse.Namespace, database_url: str) -> Case:
    """Run ``name`` ``args.runs`` times, each in a fresh child process."""
    seconds, rss, figures = [], [], []
    for _ in range(args.runs):
        command = [
            sys.executable,
            str(script),
            "--worker",
            name,
            "--rows",
            str(args.rows),
            "--database-url",
            database_url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"bench case {name!r} failed (exit {done.returncode})")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        seconds.append(result.pop("seconds"))
        rss.append(result.pop("peak_rss_mb"))
        figures.append(result)
    return Case(name, seconds, rss, figures)


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A Markdown table (pastes straight into bench/README.md)."""
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def machine() -> str:
    """A one-line description of where the figures come from."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        cpu = model
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
