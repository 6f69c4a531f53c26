"""``QuerySet.to_dataframe`` vs ``pandas.read_sql`` of the same query (issue 9).

Both read every column of ``--rows`` demo ``DataFile`` rows, each run in a fresh
process. Bar: ``to_dataframe`` within 1.3x of ``read_sql`` in time (best run) and in
peak memory (the RSS the read adds). ``to_dataframe`` also converts the columns to
typed dtypes (datetimes parsed, nullable integers), which ``read_sql`` leaves as
text/objects. Usage: ``python bench/bench_dataframe.py [--rows N] [--smoke]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

ROWS = 1_000_000
SMOKE_ROWS = 20_000
BAR = 1.3


def worker(args) -> None:
    common.setup_django(args.database_url)
    import pandas as pd
    from django.db import connection

    from models.demo.models import DataFile

    queryset = DataFile.objects.all()
    names = [f.name for f in DataFile._meta.concrete_fields]
    sql, params = queryset.values_list(*names).query.sql_with_params()
    connection.ensure_connection()
    before = common.peak_rss_mb()
    started = time.perf_counter()
    if args.worker == "read_sql":
        frame = pd.read_sql(sql, connection.connection, params=params)
    else:
        frame = queryset.to_dataframe()
    seconds = time.perf_counter() - started
    if len(frame) != args.rows:
        raise SystemExit(f"read {len(frame)} rows, expected {args.rows}")
    common.report_worker(seconds=seconds, added_mb=common.peak_rss_mb() - before)


def fill(database_url: str, rows: int) -> None:
    """The table the readers read, written once (untimed) in a child process."""
    import subprocess

    code = (
        "import sys; sys.path.insert(0, 'bench'); import common, bench_ingest; "
        f"common.setup_django({database_url!r}); bench_ingest.run_raw({rows})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=common.REPO)


def main() -> int:
    args = common.arguments(__doc__.splitlines()[0], ROWS, SMOKE_ROWS)
    if args.worker:
        worker(args)
        return 0
    database_url = common.database_url(args)
    fill(database_url, args.rows)
    script = Path(__file__).resolve()
    cases = {
        name: common.run_case(script, name, args, database_url)
        for name in ("read_sql", "to_dataframe")
    }
    baseline, ours = cases["read_sql"], cases["to_dataframe"]
    time_ratio = ours.best / baseline.best
    memory = {name: min(run["added_mb"] for run in case.figures) for name, case in cases.items()}
    memory_ratio = memory["to_dataframe"] / memory["read_sql"]
    vendor = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    table = [
        [
            name,
            f"{case.best:.2f} / {case.median:.2f}",
            f"{memory[name]:.0f}",
            "baseline"
            if name == "read_sql"
            else f"time {time_ratio:.2f}x, memory {memory_ratio:.2f}x",
        ]
        for name, case in cases.items()
    ]
    common.print_table(
        f"bench_dataframe: {args.rows:,} DataFile rows, all columns, on {vendor}, {args.runs} runs each ({common.machine()})",
        ["case", "s min / median", "RSS added MB (min)", f"vs read_sql (bar ≤ {BAR}x)"],
        table,
    )
    missed = time_ratio > BAR or memory_ratio > BAR
    if missed and not args.smoke:
        print("\nMISSED: to_dataframe is more than 1.3x read_sql")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
