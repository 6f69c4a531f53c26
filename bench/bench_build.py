"""How long ``build-site`` takes: for a schema of many models, and for the demo with
~1M rows, built from scratch and rebuilt with no data change.

``models`` case: a throwaway project whose app has ``--models`` generated models
(chains of up to ten foreign keys, choices, unique constraints, an inheritance family
every tenth model, a many-to-many every seventh); its tables in a fresh SQLite file;
the real ``build-site`` command timed in its own process, as in CI. Bar: < 30 s.

``demo`` case: the repository's demo project with ``espresso-static demo --rows N``
(400,000 file rows, ~950,000 rows in all) in a fresh SQLite file; ``--runs`` times a
full build (empty cache) then a rebuild with no data change, each in its own process
with the peak RSS of its process tree (the build and its worker processes) and its CPU
time. Bars: full build < 30 s and < 1 GB, rebuild <= 20% of the full build (medians).

``nightly`` case: the same demo; each run a full build (empty cache), a rebuild with
no change, then after each of three nightly syncs (raw SQL changing 0.1%, 1% and 10%
of the file rows: 80% status updates, 10% new files, 10% deleted) a rebuild; after
each build the change log is pruned, as ``espresso-static nightly`` does (not timed).
Bar: the rebuild after the 1% sync takes <= 10% of the full build (medians). ``--spread``: the
changed rows are picked uniformly at random over the table (``random``, the worst
case: every part of it changes) or are consecutive rows (``contiguous``: the files of
the configurations a campaign's jobs wrote that night).

Each timed command starts once the previous one's writes are on disk (``os.sync``), with
espresso-static's bytecode cached, as an installed tool has it.

    python bench/bench_build.py [--case all|models|demo|nightly] [--models 200]
                                [--rows 400000] [--runs 3] [--spread random|contiguous]
                                [--smoke] [--keep]

Exits non-zero when a bar is missed (``--smoke``: tiny sizes, bars not enforced).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

BAR_SECONDS = 30.0
DEMO_BAR_SECONDS = 30.0
DEMO_BAR_RSS_MB = 1000.0
REBUILD_BAR_RATIO = 0.20
#: Shares of the file rows a nightly sync changes, and the bar of the 1% one.
NIGHTLY_SHARES = (0.001, 0.01, 0.1)
NIGHTLY_BAR_SHARE, NIGHTLY_BAR_RATIO = 0.01, 0.10
#: Of the rows a sync changes, the shares it inserts and deletes (the rest: updates).
SYNC_INSERTED = SYNC_DELETED = 0.1
SMOKE_MODELS = 20
SMOKE_ROWS = 2_000
CACHE_DIR = ".espresso-static-cache"


def model_source(index: int) -> str:
    """One model: a few columns, a foreign key to the previous model, sometimes more."""
    if index % 10 == 9:  # a child of the previous model (multi-table inheritance)
        return textwrap.dedent(f'''
            class Model{index:03d}(Model{index - 1:03d}):
                """Specialization number {index} of Model{index - 1:03d}, with $x_{{{index}}}$."""

                extra = models.FloatField(default=0.0, help_text="Extra column $e$.")
            ''')
    relation = ""
    if index % 10:  # chains of up to ten tables, like input → job → output
        relation = (
            f"    parent = models.ForeignKey(Model{index - 1:03d}, on_delete=models.CASCADE, "
            f'related_name="children_{index}", help_text="The previous table.")\n'
        )
    if index % 7 == 6:
        relation += (
            f"    members = models.ManyToManyField(Model{index - 2:03d}, blank=True, "
            f'related_name="groups_{index}", help_text="Members.")\n'
        )
    return (
        textwrap.dedent(f'''
        class Model{index:03d}(Base):
            """Table number {index}: generated for the build benchmark, mass $m_{{{index}}}$."""

            name = models.CharField(max_length=40, unique=True, help_text="Unique name.")
            size = models.PositiveIntegerField(default=0, help_text="A size $N$.")
            weight = models.FloatField(help_text="A weight $w$ in kg.")
            flag = models.BooleanField(default=False, help_text="A flag.")
            state = models.CharField(
                max_length=8, choices=[("new", "new"), ("done", "done")], default="new"
            )
            note = models.TextField(blank=True, default="", help_text="Free text.")
        ''')
        + relation
    )


def write_project(folder: Path, count: int) -> None:
    app = folder / "benchapp"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    header = '"""Generated models for bench_build.py."""\n\nfrom django.db import models\n\n'
    header += "from espresso_static.models import Base\n"
    (app / "models.py").write_text(header + "\n".join(model_source(i) for i in range(count)))
    (folder / "pyproject.toml").write_text(
        textwrap.dedent(f"""
            [tool.espresso-static]
            name = "Build benchmark ({count} models)"
            apps = ["benchapp"]
            """)
    )
    (folder / "site_src").mkdir()


@dataclass(frozen=True)
class Run:
    """One command in its own process: wall time, peak RSS, exit code, stderr, CPU time."""

    seconds: float
    #: Peak of the RSS summed over the process and its workers (sampled every 50 ms);
    #: ``wait4`` reports only the largest single process.
    peak_rss_mb: float
    returncode: int
    stderr: str
    #: User + system CPU seconds of the process and the workers it waited for.
    cpu_seconds: float = 0.0


def run(folder: Path, *command: str) -> Run:
    """``command`` in ``folder`` on its SQLite file, with the peak RSS of its process
    tree and its CPU time (``wait4``)."""
    # The repository on the path: the demo project's app is the repository's models.demo.
    path = os.pathsep.join(filter(None, [str(common.REPO), os.environ.get("PYTHONPATH")]))
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
        "PYTHONPATH": path,
    }
    # Bytecode cached, as an installed tool has it (pip compiles it): where this is set,
    # every command compiled espresso-static again (0.06 s).
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    # What the previous command wrote is on disk first: written back during this one,
    # it would be counted in it (a nightly build runs hours after the last one).
    os.sync()
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=folder, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
        memory = common.TreeMemory(process.pid)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        peak = max(memory.stop(), usage.ru_maxrss / 1024)
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    # Progress bars redraw with carriage returns: keep the lines a reader wants.
    lines = [line.split("\r")[-1] for line in text.splitlines()]
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, peak, process.returncode, "\n".join(lines), cpu)


def espresso_static(folder: Path, *args: str) -> Run:
    return run(folder, sys.executable, "-m", "espresso_static", *args)


def models_case(count: int, keep: bool) -> bool:
    """Build the generated schema once; True when the bar is met."""
    folder = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        write_project(folder, count)
        migrate = (
            "import espresso_static; from django.core.management import call_command; "
            "espresso_static.setup(); call_command('migrate', run_syncdb=True, verbosity=0)"
        )
        prepared = run(folder, sys.executable, "-c", migrate)
        if prepared.returncode:
            raise SystemExit(prepared.stderr)
        # The generated app has no migrations (its tables come from syncdb above), which
        # build-site would otherwise refuse as drift.
        built = espresso_static(folder, "build-site", "--allow-drift")
        print(built.stderr.strip())
        if built.returncode:
            raise SystemExit("build-site failed")
        size = sum(p.stat().st_size for p in (folder / "site").rglob("*") if p.is_file())
        print(
            f"{count} models: build-site {built.seconds:.1f} s (bar {BAR_SECONDS:.0f} s), "
            f"site {size / 1e6:.1f} MB, peak RSS {built.peak_rss_mb:.0f} MB"
        )
        return built.seconds < BAR_SECONDS
    finally:
        _finish(folder, keep)


def demo_project(folder: Path, rows: int) -> Run:
    """The repository's demo project (configuration, mkdocs.yml, hand-written pages)
    in ``folder``, filled by ``espresso-static demo --rows rows`` (returned)."""
    for name in ("pyproject.toml", "mkdocs.yml"):
        shutil.copy(common.REPO / name, folder / name)
    ignore = shutil.ignore_patterns("generated")
    shutil.copytree(common.REPO / "site_src", folder / "site_src", ignore=ignore)
    filled = espresso_static(folder, "demo", "--rows", str(rows))
    if filled.returncode:
        raise SystemExit(filled.stderr)
    return filled


def demo_case(rows: int, runs: int, smoke: bool, keep: bool) -> bool:
    """Full builds and unchanged rebuilds of the demo; True when every bar is met."""
    folder = Path(tempfile.mkdtemp(prefix="bench-build-demo-"))
    try:
        filled = demo_project(folder, rows)
        print(filled.stderr.strip().splitlines()[-3], f"({filled.seconds:.1f} s wall)")
        full, rebuild = [], []
        for _ in range(runs):
            shutil.rmtree(folder / CACHE_DIR, ignore_errors=True)
            full.append(_build(folder))
            rebuild.append(_build(folder))
        return _report_demo(rows, full, rebuild, smoke)
    finally:
        _finish(folder, keep)


def nightly_case(rows: int, runs: int, smoke: bool, keep: bool, spread: str = "random") -> bool:
    """Full build, unchanged rebuild and rebuilds after syncs of growing size."""
    folder = Path(tempfile.mkdtemp(prefix="bench-build-nightly-"))
    try:
        demo_project(folder, rows)
        cases: dict[str, list[Run]] = {"full build (empty cache)": [], "no change": []}
        synced: dict[str, tuple[int, int, int]] = {}
        for run in range(runs):
            shutil.rmtree(folder / CACHE_DIR, ignore_errors=True)
            cases["full build (empty cache)"].append(_nightly_build(folder))
            cases["no change"].append(_nightly_build(folder))
            for share in NIGHTLY_SHARES:
                name = f"after a {share:.1%} sync"
                synced[name] = nightly_sync(folder / "bench.sqlite3", share, run, spread)
                cases.setdefault(name, []).append(_nightly_build(folder))
        return _report_nightly(rows, cases, synced, smoke, spread)
    finally:
        _finish(folder, keep)


def nightly_sync(
    database: Path, share: float, seed: int, spread: str = "random"
) -> tuple[int, int, int]:
    """Change ``share`` of the file rows in raw SQL, as a sync script does: the status
    of most moves on (sizes set where the checks want one), a few files are new, a few
    deleted; rows picked at random or consecutive (``spread``). Returns (inserted,
    updated, deleted)."""
    import random
    import sqlite3

    connection = sqlite3.connect(database)
    try:
        ids = [row for (row,) in connection.execute("SELECT id FROM demo_datafile ORDER BY id")]
        changed = max(3, round(len(ids) * share))
        inserted = deleted = max(1, round(changed * SYNC_INSERTED))
        updated = changed - inserted - deleted
        chosen = random.Random(f"{seed}-{share}")
        if spread == "contiguous":
            start = chosen.randrange(len(ids) - changed + 1)
            picked = ids[start : start + changed]
        else:
            picked = chosen.sample(ids, changed)
        columns = [row[1] for row in connection.execute("PRAGMA table_info(demo_datafile)")]
        copied = ", ".join(columns[1:]).replace("file_name", "replace(file_name, '.h5', ?)")
        with connection:
            connection.executemany(
                "UPDATE demo_datafile SET status = CASE status WHEN 'missing' THEN 'running' "
                "WHEN 'running' THEN 'on_disk' WHEN 'on_disk' THEN 'on_tape' ELSE status END, "
                "size = CASE WHEN status = 'running' THEN 1000 ELSE size END WHERE id = ?",
                [(row,) for row in picked[:updated]],
            )
            connection.executemany(
                "DELETE FROM demo_datafile WHERE id = ?",
                [(row,) for row in picked[updated : updated + deleted]],
            )
            connection.executemany(
                f"INSERT INTO demo_datafile ({', '.join(columns[1:])}) "
                f"SELECT {copied} FROM demo_datafile WHERE id = ?",
                [(f"_s{seed}_{share}.h5", row) for row in picked[updated + deleted :]],
            )
    finally:
        connection.close()
    return inserted, updated, deleted


def _report_nightly(
    rows: int, cases: dict[str, list[Run]], synced: dict[str, tuple], smoke: bool, spread: str
) -> bool:
    full = statistics.median(r.seconds for r in cases["full build (empty cache)"])
    for name, runs in cases.items():
        print(f"\n{name} (last run):\n{_steps(runs[-1])}")
    table = []
    bar_case = f"after a {NIGHTLY_BAR_SHARE:.1%} sync"
    met = True
    for name, runs in cases.items():
        ratio = statistics.median(r.seconds for r in runs) / full
        bar = ""
        if name == bar_case:
            met = ratio <= NIGHTLY_BAR_RATIO
            bar = f"≤ {NIGHTLY_BAR_RATIO:.0%} of full: {_verdict(met, smoke)}"
        rows_changed = (
            "{:,} new, {:,} updated, {:,} deleted".format(*synced[name]) if name in synced else ""
        )
        table.append(
            [
                name,
                rows_changed,
                _seconds(runs),
                f"{ratio:.1%}",
                _cpu(runs),
                f"{max(r.peak_rss_mb for r in runs):.0f}",
                bar,
            ]
        )
    # CPU seconds beside the wall time: on 2 cores a rebuild after a sync keeps both
    # busy, so its wall time is at least half its CPU time, whatever runs side by side.
    common.print_table(
        f"nightly, {rows:,} file rows, {spread} syncs, {len(runs)} runs each — "
        f"{common.machine()}, "
        f"load {os.getloadavg()[0]:.1f}",
        ["case", "file rows changed", "s min / median", "of full", "CPU s", "peak RSS MB", "bar"],
        table,
    )
    return met


def _nightly_build(folder: Path) -> Run:
    """A timed build, then (not timed) the change log pruned, as ``espresso-static
    nightly`` does after publishing: the next build reads the log a night leaves."""
    built = _build(folder)
    pruned = espresso_static(folder, "prune-log")
    if pruned.returncode:
        raise SystemExit(f"prune-log failed:\n{pruned.stderr}")
    return built


def _build(folder: Path) -> Run:
    built = espresso_static(folder, "build-site")
    if built.returncode:
        raise SystemExit(f"build-site failed:\n{built.stderr}")
    return built


def _report_demo(rows: int, full: list[Run], rebuild: list[Run], smoke: bool) -> bool:
    print(f"\nLast full build:\n{_steps(full[-1])}\n\nLast rebuild:\n{_steps(rebuild[-1])}")
    full_median = statistics.median(r.seconds for r in full)
    rebuild_median = statistics.median(r.seconds for r in rebuild)
    ratio = rebuild_median / full_median
    rss = max(r.peak_rss_mb for r in full + rebuild)
    checks = {
        "full": full_median < DEMO_BAR_SECONDS and rss < DEMO_BAR_RSS_MB,
        "rebuild": ratio <= REBUILD_BAR_RATIO,
    }
    common.print_table(
        f"demo, {rows:,} file rows, {len(full)} runs each — {common.machine()}, "
        f"load {os.getloadavg()[0]:.1f}",
        ["case", "s min / median", "CPU s median", "peak RSS MB (max)", "bar"],
        [
            [
                "full build (empty cache)",
                _seconds(full),
                _cpu(full),
                f"{max(r.peak_rss_mb for r in full):.0f}",
                f"< {DEMO_BAR_SECONDS:.0f} s, < {DEMO_BAR_RSS_MB:.0f} MB: {_verdict(checks['full'], smoke)}",
            ],
            [
                "rebuild, no data change",
                _seconds(rebuild),
                _cpu(rebuild),
                f"{max(r.peak_rss_mb for r in rebuild):.0f}",
                f"{ratio:.0%} of full (≤ {REBUILD_BAR_RATIO:.0%}): {_verdict(checks['rebuild'], smoke)}",
            ],
        ],
    )
    return all(checks.values())


def _steps(built: Run) -> str:
    keep = ("collect", "render", "write", "mkdocs", "publish", "Site published")
    return "\n".join(line for line in built.stderr.splitlines() if line.startswith(keep))


def _seconds(runs: list[Run]) -> str:
    seconds = [r.seconds for r in runs]
    return f"{min(seconds):.2f} / {statistics.median(seconds):.2f}"


def _cpu(runs: list[Run]) -> str:
    return f"{statistics.median(r.cpu_seconds for r in runs):.1f}"


def _verdict(met: bool, smoke: bool) -> str:
    if smoke:
        return "not enforced (smoke)"
    return "met" if met else "**missed**"


def _finish(folder: Path, keep: bool) -> None:
    if keep:
        print(f"Project kept in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=("all", "models", "demo", "nightly"), default="all")
    parser.add_argument("--models", type=int, default=None, help="models (default 200)")
    parser.add_argument("--rows", type=int, default=None, help="demo file rows (default 400,000)")
    parser.add_argument("--runs", type=int, default=3, help="demo runs per case (≥ 3)")
    parser.add_argument(
        "--spread",
        choices=("random", "contiguous"),
        default="random",
        help="nightly: changed rows at random over the table or consecutive",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, bars not enforced")
    parser.add_argument("--keep", action="store_true", help="Keep the project folders.")
    arguments = parser.parse_args()
    models = arguments.models or (SMOKE_MODELS if arguments.smoke else 200)
    rows = arguments.rows or (SMOKE_ROWS if arguments.smoke else 400_000)
    met = True
    if arguments.case in ("all", "models"):
        met &= models_case(models, arguments.keep)
    if arguments.case in ("all", "demo"):
        met &= demo_case(rows, max(arguments.runs, 3), arguments.smoke, arguments.keep)
    if arguments.case in ("all", "nightly"):
        met &= nightly_case(
            rows, max(arguments.runs, 3), arguments.smoke, arguments.keep, arguments.spread
        )
    return 0 if met or arguments.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
