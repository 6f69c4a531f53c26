"""The status page at campaign scale, measured in headless Chromium.

Fills a throwaway database with ``--rows`` demo files (default 400,000), builds the
site, serves it on 127.0.0.1 and measures: the status data's encoding (the status part
of build-site), the data files (gzip and raw bytes), the bytes fetched until the first
rows are shown and in all, the time from navigation start until the first rows (with
the progress bar and the filters: interactive) and until every column has loaded, and
the redraw time of several filter changes and sorts once loaded. Bars: interactive
< 2 s, each filter's redraw < 150 ms, ≤ 5 MB fetched before the first rows.

    python bench/bench_status_page.py            # 400,000 rows
    python bench/bench_status_page.py --rows 4000000 --database /tmp/status-4m.sqlite3
    python bench/bench_status_page.py --smoke    # 5,000 rows, bars not enforced

``--database FILE``: an SQLite file kept between runs; the demo is generated into it
only when it does not hold ``--rows`` files already (4,000,000 take many minutes).
``--status-only``: build-site runs only the model documentation (the site's scripts)
and the status pages — the whole site of 4,000,000 files (downloads, data health)
would take most of an hour here.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    REPO,
    arguments,
    fresh_sqlite_url,
    machine,
    print_table,
    scratch_folder,
    setup_django,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]  # fmt: skip
PAGE = "generated/status/demo/datafile/"
INTERACTIVE_S, REDRAW_MS, FIRST_ROWS_MB = 2.0, 150.0, 5.0
#: (what, JavaScript that changes one filter control), applied one after the other.
FILTER_STEPS = [
    ("ensemble: 1 of 6", "check('ensemble', 'a12m310')"),
    ("ensemble: 2 of 6", "check('ensemble', 'a09m220')"),
    ("status: missing", "check('status', 'missing')"),
    ("file name contains", "type('file_name', 'cfg01')"),
    ("file name /regex/", "type('file_name', '/t0\\\\.h5$/')"),
    ("configuration min", "type('configuration', '1200', 0)"),
    ("reset filters", "root.espressoStatus.resetFilters()"),
]
#: Sorts (no bar: a click on a header), after the filters.
SORT_STEPS = [
    ("sort: status", "sort('status')"),
    ("sort: size, descending", "sort('size'); sort('size')"),
    ("sort: file name", "sort('file_name')"),
]
HELPERS = """
const root = document.querySelector('.es-status');
function check(column, value) {
  for (const label of root.querySelectorAll(`th[data-filter=${column}] label`)) {
    if (label.textContent.trim() === value) {
      const box = label.querySelector('input'); box.checked = true;
      box.dispatchEvent(new Event('change'));
    }
  }
}
function sort(column) { root.querySelector(`th[data-column=${column}] button`).click(); }
function type(column, text, nth) {
  const input = root.querySelectorAll(`th[data-filter=${column}] input`)[nth || 0];
  input.value = text; input.dispatchEvent(new Event('input'));
}
"""


def build(rows: int, folder: Path, reuse: bool, status_only: bool) -> tuple[Path, float]:
    """Demo data with its back-dated history (``reuse``: kept when the database holds
    ``rows`` files), then the site (``status_only``: its model pages and status pages);
    returns (site, seconds)."""
    from espresso_static.data.snapshot import backfill_history
    from espresso_static.declare.progress import find_declared
    from espresso_static.project.config import load_config
    from espresso_static.website.context import BuildOptions
    from espresso_static.website.pipeline import Reporter, build_site
    from models.demo import data
    from models.demo.models import DataFile

    if not reuse or DataFile.objects.count() != rows:
        data.generate(files=rows)
        backfill_history(find_declared("DataFile"), "produced", points=12)
    config = dataclasses.replace(
        load_config(REPO),
        docs_dir=folder / "docs",
        site_dir=folder / "site",
        mkdocs_config=folder / "mkdocs.yml",
    )
    if status_only:
        from espresso_static.website import pipeline
        from espresso_static.website.features import ModelDocs, StatusPages

        pipeline.FEATURES = (ModelDocs(), StatusPages())
    started = time.perf_counter()
    # A build of its own: out of the repository's site folder, no cache of earlier runs.
    options = BuildOptions(quiet=True, use_cache=False)
    site = build_site(config, folder / "site", options, Reporter(quiet=True)).site_dir
    return site, time.perf_counter() - started


def payload(site: Path) -> tuple[int, int]:
    """Bytes of the page's data files as served (gzip) and once decompressed."""
    import gzip

    folder = site / PAGE / "data"
    served = sum(path.stat().st_size for path in folder.iterdir())
    raw = sum(
        len(gzip.decompress(path.read_bytes())) if path.suffix == ".gz" else path.stat().st_size
        for path in folder.iterdir()
    )
    return served, raw


def encoding_seconds(runs: int) -> list[float]:
    """Seconds to read and encode the status data of every file (no cache)."""
    from espresso_static.declare.progress import find_declared
    from espresso_static.website.features.statusdata import encode_status_data

    item, seconds = find_declared("DataFile"), []
    for _ in range(runs):
        started = time.perf_counter()
        encode_status_data(item)
        seconds.append(time.perf_counter() - started)
    return seconds


def sync_seconds(database: Path) -> list[list[str]]:
    """The status data (build-site's part) with the build cache: the first build, a
    rebuild with no change, then after raw-SQL syncs of 0.1%, 1% and 10% of the files
    (``bench_build.nightly_sync``); each result checked against a build without cache."""
    from bench_build import nightly_sync

    from espresso_static.declare.access import Audience, AudienceView
    from espresso_static.website.cache import BuildCache
    from espresso_static.website.features.status import status_sources, status_tables
    from models.demo.models import DataFile

    view = AudienceView(Audience("internal", "allow", Path("site")))
    sources = [s for s in status_sources(view) if s.item.label == "demo.DataFile"]
    cache = BuildCache(scratch_folder("espresso-static-status-cache-"))

    def timed(name: str) -> list[str]:
        counts: list[int] = []
        cache.new_snapshot()
        started = time.perf_counter()
        (page,) = status_tables(view, sources, cache=cache, report=lambda *n: counts.extend(n))
        seconds = time.perf_counter() - started
        (fresh,) = status_tables(view, sources, cache=BuildCache(None))
        same = "yes" if fresh.data.files == page.data.files else "**no**"
        return [name, f"{seconds:.2f} s", f"{counts[0]:,} of {counts[1]:,}", same]

    rows = [timed("first build (empty cache)"), timed("no change")]
    # The syncs stay in the database (kept between runs): a seed of its own each run,
    # else the files an earlier run inserted are inserted again.
    seed = DataFile.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    for share in (0.001, 0.01, 0.1):
        inserted, updated, deleted = nightly_sync(database, share, seed=seed)
        rows.append(timed(f"after a {share:.1%} sync ({inserted + updated + deleted:,} rows)"))
    return rows


#: Bytes the page fetched by ``until`` ms after navigation start (None: all): of the
#: status data only, or everything (the page, the site's scripts and styles, data).
FETCHED = """([until, dataOnly]) => performance.getEntriesByType('navigation')
    .concat(performance.getEntriesByType('resource'))
    .filter(e => until === null || e.responseEnd <= until)
    .filter(e => !dataOnly || e.name.includes('/data/'))
    .reduce((sum, e) => sum + (e.encodedBodySize || 0), 0)"""


def measure(url: str, runs: int) -> dict[str, list[float]]:
    """Per page load: ms to the first rows and to every column, bytes fetched by
    then, and the redraw ms of each filter and sort step."""
    from playwright.sync_api import sync_playwright

    figures: dict[str, list[float]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            # Every file counted: the browser keeps 250 resource timings by default.
            page.add_init_script("performance.setResourceTimingBufferSize(100000)")
            page.goto(url)
            page.wait_for_selector(".es-status[data-state=ready]", timeout=120_000)
            # status.js stamps performance.now() (ms since navigation start).
            ready_ms = float(page.get_attribute(".es-status", "data-ready-at"))
            page.wait_for_selector(".es-status[data-complete-at]", timeout=300_000)
            complete_ms = float(page.get_attribute(".es-status", "data-complete-at"))
            loaded = {
                "first rows ms": ready_ms,
                "complete ms": complete_ms,
                "status.js start → first rows ms": float(
                    page.get_attribute(".es-status", "data-load-ms")
                ),
                "first rows data bytes": page.evaluate(FETCHED, [ready_ms, True]),
                "first rows bytes": page.evaluate(FETCHED, [ready_ms, False]),
                "total data bytes": page.evaluate(FETCHED, [None, True]),
            }
            for name, value in loaded.items():
                figures.setdefault(name, []).append(value)
            for name, step in FILTER_STEPS + SORT_STEPS:
                # Time the change plus the next frame, so layout and paint are included.
                elapsed = page.evaluate(
                    "async () => {" + HELPERS + "const t = performance.now();" + step + ";"
                    "await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));"
                    "return performance.now() - t; }"
                )
                figures.setdefault(name, []).append(elapsed)
            page.close()
        browser.close()
    return figures


def spread(values: list[float], unit: str, scale: float = 1) -> str:
    """``min / median`` of ``values`` (divided by ``scale``) in ``unit``."""
    low, middle = min(values) / scale, statistics.median(values) / scale
    digits = 0 if unit == "ms" else 2
    return f"{low:.{digits}f} / {middle:.{digits}f} {unit}"


def url_path(url: str) -> str:
    """The file of an ``sqlite:///`` URL ("" for another database)."""
    return url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""


def main() -> None:
    args = arguments(__doc__.splitlines()[0], rows=400_000, smoke_rows=5_000, database=True)
    url = f"sqlite:///{Path(args.database).resolve()}" if args.database else None
    args.database_url = args.database_url or url or fresh_sqlite_url()
    setup_django(args.database_url)
    folder = scratch_folder("espresso-static-status-bench-")
    print(f"Building the demo site with {args.rows:,} files in {folder} …", file=sys.stderr)
    site, build_seconds = build(args.rows, folder, bool(args.database), args.status_only)
    encoding = encoding_seconds(args.runs)
    served, raw = payload(site)
    database = Path(args.database or url_path(args.database_url or ""))
    from espresso_static.website.serve import site_server, site_url

    server = site_server(site, port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        figures = measure(f"{site_url(server)}{PAGE}", args.runs)
    finally:
        server.shutdown()

    print(f"\nStatus page, {args.rows:,} rows — {machine()}; {args.runs} page loads")
    built = "model and status pages only" if args.status_only else "whole site"
    print(f"build-site ({built}, incl. status data and plots): {build_seconds:.1f} s")
    first_mb = statistics.median(figures["first rows data bytes"]) / 1e6
    interactive = statistics.median(figures["first rows ms"]) / 1000
    rows = [
        ["status data encoding (build-site part)", spread(encoding, "s"), ""],
        ["data files, gzip (on disk)", f"{served / 1e6:.2f} MB", ""],
        ["data files, decompressed", f"{raw / 1e6:.2f} MB", ""],
        [
            "status data fetched before the first rows",
            spread(figures["first rows data bytes"], "MB", 1e6),
            f"≤ {FIRST_ROWS_MB:g} MB",
        ],
        [
            "everything fetched before the first rows (page, site scripts, data)",
            spread(figures["first rows bytes"], "MB", 1e6),
            "",
        ],
        ["status data fetched in all", spread(figures["total data bytes"], "MB", 1e6), ""],
        [
            "navigation → first rows, bar and filters (interactive)",
            spread(figures["first rows ms"], "s", 1000),
            f"< {INTERACTIVE_S:g} s",
        ],
        [
            "status.js start → first rows",
            spread(figures["status.js start → first rows ms"], "s", 1000),
            "",
        ],
        ["navigation → every column loaded", spread(figures["complete ms"], "s", 1000), ""],
    ]
    rows += [
        [f"redraw: {name}", spread(figures[name], "ms"), f"< {REDRAW_MS:g} ms"]
        for name, _ in FILTER_STEPS
    ]
    rows += [[f"redraw: {name}", spread(figures[name], "ms"), ""] for name, _ in SORT_STEPS]
    print_table("min / median", ["measure", "value", "bar"], rows)
    if database.is_file():  # the syncs change the database: last
        header = ["status data (build-site part)", "time", "segments encoded", "as --no-cache"]
        print_table("", header, sync_seconds(database))
    failures = []
    if first_mb > FIRST_ROWS_MB:
        failures.append("bytes before the first rows")
    if interactive >= INTERACTIVE_S:
        failures.append("interactive")
    if any(statistics.median(figures[name]) >= REDRAW_MS for name, _ in FILTER_STEPS):
        failures.append("redraw")
    if failures and not args.smoke:
        raise SystemExit(f"bars missed: {', '.join(failures)}")


if __name__ == "__main__":
    main()
