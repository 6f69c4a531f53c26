"""Checked bulk ingest vs the driver's raw ``executemany`` (issue 9).

Cases, each in a fresh process on the demo ``DataFile`` table, ``--rows`` rows:

* ``raw``: the driver's ``executemany`` of ready tuples in one transaction (the limit);
* ``new``: ``espresso_static.ingest`` of new rows, checks on;
* ``resync``: the same rows ingested again over a full table, 10% of them changed.

Bars (SQLite): ``new`` ≥ 25% and ``resync`` ≥ 10% of ``raw`` rows/s, peak RSS of
each ingest < 500 MB. Usage: ``python bench/bench_ingest.py [--rows N] [--smoke]``;
``DATABASE_URL=postgresql://...`` measures PostgreSQL (figures only, no bars).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

ROWS = 1_000_000
SMOKE_ROWS = 20_000
NEW_BAR, RESYNC_BAR, RSS_BAR_MB = 0.25, 0.10, 500
CHANGED_EVERY = 10  # one row in ten changes in the re-sync
START = datetime(2026, 1, 5, tzinfo=UTC)
MACHINES = ("frontier", "perlmutter", "summit")


def file_rows(count: int, ensemble_id: int, changed: bool = False):
    """``count`` valid DataFile rows as dicts; with ``changed``, every tenth row moved to tape."""
    for i in range(count):
        status = "on_tape" if changed and i % CHANGED_EVERY == 0 else "on_disk"
        yield {
            "file_name": f"a12m310/a/cfg{i // 64:06d}/spec_{i:08d}.h5",
            "ensemble_id": ensemble_id,
            "stream": "a",
            "configuration": i // 64,
            "source": f"x0y0z0t{i % 64}",
            "machine": MACHINES[i % 3],
            "size": 1_000_000 + i,
            "status": status,
            "produced": START + timedelta(seconds=i),
        }


def prepare_database() -> tuple[int, int]:
    """An empty file table and one ensemble; returns (ensemble id, user id)."""
    from django.db import connection

    from espresso_static.models.parameters import current_user
    from models.demo.models import DataFile, Ensemble

    DataFile.objects.all().delete()
    ensemble, _ = Ensemble.objects.get_or_create(
        name="a12m310",
        defaults={"beta": 6.0, "nx": 24, "nt": 64, "lattice_spacing": 0.121, "pion_mass": 310.0},
    )
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM")
    return ensemble.pk, current_user("default").pk


def run_raw(rows: int) -> dict:
    """The driver's executemany of tuples already in the stored form, one transaction."""
    from django.db import connection, transaction

    ensemble_id, user_id = prepare_database()
    sqlite = connection.vendor == "sqlite"
    now = datetime.now(UTC)
    stamp = str(now.replace(tzinfo=None)) if sqlite else now

    def tuples():  # built directly, no dicts: the strictest baseline
        for i in range(rows):
            produced = START + timedelta(seconds=i)
            yield (
                f"a12m310/a/cfg{i // 64:06d}/spec_{i:08d}.h5",
                ensemble_id,
                "a",
                i // 64,
                f"x0y0z0t{i % 64}",
                MACHINES[i % 3],
                1_000_000 + i,
                "on_disk",
                str(produced.replace(tzinfo=None)) if sqlite else produced,
                None,
                user_id,
                stamp,
            )

    mark = "?" if sqlite else "%s"
    sql = (
        "INSERT INTO demo_datafile (file_name, ensemble_id, stream, configuration, source, "
        "machine, size, status, produced, tag, user_id, last_modified) "
        f"VALUES ({', '.join([mark] * 12)})"
    )
    started = time.perf_counter()
    with transaction.atomic():
        connection.connection.cursor().executemany(sql, tuples())
    return {"seconds": time.perf_counter() - started}


def run_ingest(rows: int, resync: bool) -> dict:
    import espresso_static
    from models.demo.models import DataFile

    ensemble_id, _ = prepare_database()
    if resync:
        espresso_static.ingest(DataFile, file_rows(rows, ensemble_id), key=("file_name",))
    started = time.perf_counter()
    report = espresso_static.ingest(
        DataFile, file_rows(rows, ensemble_id, changed=resync), key=("file_name",)
    )
    seconds = time.perf_counter() - started
    expected = (
        (0, rows - rows // CHANGED_EVERY, -(-rows // CHANGED_EVERY)) if resync else (rows, 0, 0)
    )
    got = (report.inserted, report.unchanged, report.updated)
    if got != expected or DataFile.objects.count() != rows:
        raise SystemExit(
            f"wrong counts: {report} (expected inserted, unchanged, updated = {expected})"
        )
    return {"seconds": seconds, "inserted": report.inserted, "updated": report.updated}


def worker(args) -> None:
    common.setup_django(args.database_url)
    if args.worker == "raw":
        figures = run_raw(args.rows)
    else:
        figures = run_ingest(args.rows, resync=args.worker == "resync")
    common.report_worker(**figures)


def main() -> int:
    args = common.arguments(__doc__.splitlines()[0], ROWS, SMOKE_ROWS)
    if args.worker:
        worker(args)
        return 0
    database_url = common.database_url(args)
    vendor = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    script = Path(__file__).resolve()
    cases = {
        name: common.run_case(script, name, args, database_url) for name in ("raw", "new", "resync")
    }
    raw_rate = args.rows / cases["raw"].best
    enforce = vendor == "SQLite" and not args.smoke
    bars = {"raw": None, "new": NEW_BAR, "resync": RESYNC_BAR}
    failures = []
    table = []
    for name, case in cases.items():
        rate = args.rows / case.best
        share = rate / raw_rate
        rss = max(case.peak_rss_mb)
        bar = bars[name]
        verdict = "baseline"
        if bar is not None:
            met = share >= bar and rss < RSS_BAR_MB
            verdict = f"≥ {bar:.0%}, < {RSS_BAR_MB} MB: {'met' if met else 'MISSED'}"
            if not met:
                failures.append(name)
        table.append(
            [
                name,
                f"{case.best:.2f} / {case.median:.2f}",
                f"{rate:,.0f}",
                f"{share:.0%}",
                f"{rss:.0f}",
                verdict,
            ]
        )
    common.print_table(
        f"bench_ingest: {args.rows:,} DataFile rows on {vendor}, {args.runs} runs each ({common.machine()})",
        ["case", "s min / median", "rows/s (best)", "share of raw", "peak RSS MB", "bar"],
        table,
    )
    if failures and enforce:
        print(f"\nMISSED: {', '.join(failures)}")
        return 1
    if failures:
        print(
            f"\n(bars not enforced {'in --smoke' if args.smoke else 'on ' + vendor}: {', '.join(failures)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
