"""The status page at campaign scale, measured in headless Chromium.

Fills a throwaway database with ``--rows`` demo files (default 400,000), builds the
site, serves it on 127.0.0.1 and measures: the data files (raw JSON and gzip bytes),
the time from navigation start until the table is interactive, and the redraw time
of several filter changes. Bars: interactive < 2 s, redraw < 150 ms, payload ≤ 4 MB.

    python bench/bench_status_page.py            # 400,000 rows
    python bench/bench_status_page.py --smoke    # 5,000 rows, bars not enforced
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, arguments, fresh_sqlite_url, machine, print_table, setup_django

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]  # fmt: skip
PAGE = "generated/status/demo/datafile/"
INTERACTIVE_S, REDRAW_MS, PAYLOAD_MB = 2.0, 150.0, 4.0
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
function type(column, text, nth) {
  const input = root.querySelectorAll(`th[data-filter=${column}] input`)[nth || 0];
  input.value = text; input.dispatchEvent(new Event('input'));
}
"""


def build(rows: int, folder: Path) -> tuple[Path, float]:
    """Demo data with its back-dated history, then the site; returns (site, seconds)."""
    from espresso_static.data.snapshot import backfill_history
    from espresso_static.declare.progress import find_declared
    from espresso_static.project.config import load_config
    from espresso_static.website.pipeline import Reporter, build_site
    from models.demo import data

    data.generate(files=rows)
    backfill_history(find_declared("DataFile"), "produced", points=12)
    config = dataclasses.replace(
        load_config(REPO),
        docs_dir=folder / "docs",
        site_dir=folder / "site",
        mkdocs_config=folder / "mkdocs.yml",
    )
    started = time.perf_counter()
    site = build_site(config, reporter=Reporter(quiet=True)).site_dir
    return site, time.perf_counter() - started


def payload(site: Path) -> tuple[int, int]:
    """Bytes of the page's data as served (gzip) and as JSON once decompressed."""
    import gzip

    folder = site / PAGE / "data"
    served = sum(path.stat().st_size for path in folder.iterdir())
    raw = sum(
        len(gzip.decompress(path.read_bytes())) if path.suffix == ".gz" else path.stat().st_size
        for path in folder.iterdir()
    )
    return served, raw


def measure(url: str, runs: int) -> tuple[list[float], dict[str, list[float]]]:
    """Seconds to interactive per page load, and redraw ms per filter step."""
    from playwright.sync_api import sync_playwright

    interactive, redraws = [], {name: [] for name, _ in FILTER_STEPS}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector(".es-status[data-state=ready]", timeout=60_000)
            # status.js stamps performance.now() (ms since navigation start) when ready.
            ready_ms = float(page.get_attribute(".es-status", "data-ready-at"))
            interactive.append(ready_ms / 1000)
            for name, step in FILTER_STEPS:
                # Time the change plus the next frame, so layout and paint are included.
                elapsed = page.evaluate(
                    "async () => {" + HELPERS + "const t = performance.now();" + step + ";"
                    "await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));"
                    "return performance.now() - t; }"
                )
                redraws[name].append(elapsed)
            page.close()
        browser.close()
    return interactive, redraws


def main() -> None:
    args = arguments(__doc__.splitlines()[0], rows=400_000, smoke_rows=5_000)
    setup_django(args.database_url or fresh_sqlite_url())
    folder = Path(tempfile.mkdtemp(prefix="espresso-static-status-bench-"))
    print(f"Building the demo site with {args.rows:,} files in {folder} …", file=sys.stderr)
    site, build_seconds = build(args.rows, folder)
    served, raw = payload(site)
    from espresso_static.website.serve import site_server, site_url

    server = site_server(site, port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        interactive, redraws = measure(f"{site_url(server)}{PAGE}", args.runs)
    finally:
        server.shutdown()

    print(f"\nStatus page, {args.rows:,} rows — {machine()}; {args.runs} page loads")
    print(f"build-site (whole site, incl. status data and plots): {build_seconds:.1f} s")
    rows = [
        ["data files, gzip (downloaded)", f"{served / 1e6:.2f} MB", f"≤ {PAYLOAD_MB:g} MB"],
        ["data files, JSON decompressed", f"{raw / 1e6:.2f} MB", ""],
        [
            "navigation → interactive",
            f"{statistics.median(interactive):.2f} s (best {min(interactive):.2f})",
            f"< {INTERACTIVE_S:g} s",
        ],
    ]
    rows += [
        [
            f"redraw: {name}",
            f"{statistics.median(ms):.0f} ms (max {max(ms):.0f})",
            f"< {REDRAW_MS:g} ms",
        ]
        for name, ms in redraws.items()
    ]
    print_table("", ["measure", "value", "bar"], rows)
    failures = []
    if served / 1e6 > PAYLOAD_MB:
        failures.append("payload")
    if statistics.median(interactive) >= INTERACTIVE_S:
        failures.append("interactive")
    if any(statistics.median(ms) >= REDRAW_MS for ms in redraws.values()):
        failures.append("redraw")
    if failures and not args.smoke:
        raise SystemExit(f"bars missed: {', '.join(failures)}")


if __name__ == "__main__":
    main()
