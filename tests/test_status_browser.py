"""The demo's status page in a real headless Chromium, served over HTTP like a static
site: filters, sorting, the progress bar, the URL state and the CSV download are
checked against a pandas computation on the same rows."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest

from espresso_static.data.snapshot import backfill_history
from espresso_static.progress import find_declared
from espresso_static.project.config import load_config
from espresso_static.website.context import BuildOptions
from espresso_static.website.pipeline import Reporter, build_site
from models.demo import data
from models.demo.models import DataFile
from tests.browser import CHROMIUM, CHROMIUM_ARGS, chromium, needs_chromium, open_page

REPO = Path(__file__).resolve().parents[1]
PAGE = "generated/status/demo/datafile/"
PAGE_ROWS = 50
WIDE = {"width": 1400, "height": 1000}
#: Where the screenshots of the last run are kept (for a human to look at).
SCREENSHOTS = Path(__file__).resolve().parents[1] / ".pytest_cache" / "status-screenshots"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    needs_chromium,
]


def build_demo_site(
    tmp_path: Path, files: int, use_cache: bool = True, changed: dict[int, dict] | None = None
) -> Path:
    """Fill the test database with the demo and build its site into ``tmp_path/site``
    (``use_cache``: with the project's build cache; ``changed``: {row index: {field:
    value}} set on the files at those places in key order)."""
    data.generate(files=files, seed=2019)
    pks = list(DataFile.objects.order_by("pk").values_list("pk", flat=True))
    for index, fields in (changed or {}).items():
        DataFile.objects.filter(pk=pks[index]).update(**fields)
    backfill_history(find_declared("DataFile"), "produced", points=6)
    return build_project_site(REPO, tmp_path, use_cache)


def build_project_site(root: Path, tmp_path: Path, use_cache: bool = False) -> Path:
    """Build the project at ``root`` with its docs, config and site in ``tmp_path``."""
    config = dataclasses.replace(
        load_config(root),
        docs_dir=tmp_path / "docs",
        site_dir=tmp_path / "site",
        mkdocs_config=tmp_path / "mkdocs.yml",
    )
    options = BuildOptions(quiet=True, use_cache=use_cache)
    return build_site(config, config.site_dir, options, Reporter(quiet=True)).site_dir


def legend_counts(page) -> dict[str, int]:
    items = page.locator(".es-legend__item")
    return {
        items.nth(i).get_attribute("data-category"): int(items.nth(i).get_attribute("data-count"))
        for i in range(items.count())
    }


def shown_count(page) -> int:
    return int(page.locator(".es-count").get_attribute("data-count"))


def visible_files(page) -> list[str]:
    # The file name is the second column (the status comes first).
    return page.locator(".es-table tbody tr td:nth-child(2)").all_inner_texts()


def expected_counts(frame) -> dict[str, int]:
    counts = frame["category"].value_counts()
    return {c: int(counts.get(c, 0)) for c in ("done", "in_progress", "missing", "failed")}


@pytest.mark.django_db
def test_status_page_filters_counts_sorts_and_downloads(tmp_path, served):
    site = build_demo_site(tmp_path, files=3000)
    progress = find_declared("DataFile").progress
    frame = DataFile.objects.order_by("pk").to_dataframe(
        ["file_name", "ensemble__name", "stream", "configuration", "machine", "status"]
    )
    frame["category"] = frame["status"].map(progress.category)
    first_size = DataFile.objects.order_by("pk").exclude(size=None).first().size
    produced = dict(DataFile.objects.values_list("file_name", "produced"))
    url = served(site) + PAGE
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with chromium() as browser:
        page, errors = open_page(browser, url, viewport=WIDE, accept_downloads=True)
        page.wait_for_selector(".es-status[data-state=ready]", timeout=15_000)
        page.screenshot(path=SCREENSHOTS / "before.png")

        # All rows: the bar counts every row, the first page is the first 50 rows.
        assert shown_count(page) == len(frame)
        assert legend_counts(page) == expected_counts(frame)
        assert visible_files(page) == frame["file_name"].head(PAGE_ROWS).tolist()
        # Sizes in human units, the exact byte count on hover.
        cell = page.locator(f"tr[data-row] td[title='{first_size:,} bytes']").first
        assert re.fullmatch(r"\d+\.\d (kB|MB|GB)", cell.inner_text())
        # A column with choices shows their labels, as Django does; the stored value on hover.
        machine = frame["machine"].iloc[0]
        cell = page.locator(f"tr[data-row='0'] td[title='{machine}']")
        assert cell.inner_text() == dict(DataFile.MACHINES)[machine]

        # Two ensembles (multi-select), a regex on the file name, a configuration range.
        page.click("th[data-filter=ensemble] .es-multi__button")
        for name in ("a12m310", "a09m220"):
            page.locator("th[data-filter=ensemble] label", has_text=name).locator("input").check()
        page.fill("th[data-filter=file_name] input", r"/t0\.h5$/")
        page.fill("th[data-filter=configuration] input >> nth=0", "306")
        page.fill("th[data-filter=configuration] input >> nth=1", "330")
        selected = frame[
            frame["ensemble__name"].isin(["a12m310", "a09m220"])
            & frame["file_name"].str.contains(r"t0\.h5$")
            & frame["configuration"].between(306, 330)
        ]
        assert 0 < len(selected) < len(frame)
        assert shown_count(page) == len(selected)
        assert legend_counts(page) == expected_counts(selected)
        assert visible_files(page) == selected["file_name"].head(PAGE_ROWS).tolist()
        assert float(page.locator(".es-status").get_attribute("data-redraw-ms")) < 150

        # Sort by configuration, descending (second click); ties keep database order.
        header = page.locator("th[data-column=configuration] button")
        header.click()
        header.click()
        by_configuration = selected.sort_values("configuration", ascending=False, kind="stable")
        assert visible_files(page) == by_configuration["file_name"].head(PAGE_ROWS).tolist()

        # Only the missing ones, from the status multi-select.
        page.click("body")
        page.click("th[data-filter=status] .es-multi__button")
        page.locator("th[data-filter=status] label", has_text="missing").locator("input").check()
        missing = by_configuration[by_configuration["status"] == "missing"]
        assert shown_count(page) == len(missing)
        assert legend_counts(page)["missing"] == len(missing)
        assert legend_counts(page)["done"] == 0
        page.click("body")
        page.screenshot(path=SCREENSHOTS / "after.png")

        # One filter relaxed, then set again, while the others stay: each filter's rows
        # are kept apart, so those of the others must not change with it.
        page.fill("th[data-filter=configuration] input >> nth=0", "")
        page.fill("th[data-filter=configuration] input >> nth=1", "")
        wider = frame[
            frame["ensemble__name"].isin(["a12m310", "a09m220"])
            & frame["file_name"].str.contains(r"t0\.h5$")
            & (frame["status"] == "missing")
        ]
        assert len(wider) > len(missing)
        assert shown_count(page) == len(wider)
        page.fill("th[data-filter=configuration] input >> nth=1", "330")
        assert shown_count(page) == int((wider["configuration"] <= 330).sum())
        page.fill("th[data-filter=configuration] input >> nth=0", "306")
        assert shown_count(page) == len(missing)

        # The address holds the view: a fresh page on it shows the same rows.
        assert re.search(r"ensemble=a09m220,a12m310|ensemble=a12m310,a09m220", page.url)
        assert "_sort=-configuration" in page.url
        again = browser.new_page()
        again.goto(page.url)
        again.wait_for_selector(".es-status[data-state=ready]", timeout=15_000)
        assert shown_count(again) == len(missing)
        assert visible_files(again) == missing["file_name"].head(PAGE_ROWS).tolist()

        # The CSV download holds the filtered rows, in the shown order.
        with page.expect_download() as download:
            page.click("text=Download CSV")
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert [row["file_name"] for row in rows] == missing["file_name"].tolist()
        assert {row["status"] for row in rows} == {"missing"}
        assert {row["machine"] for row in rows} <= dict(DataFile.MACHINES).keys()  # stored

        # The page's "rows not done" link filters to the same rows as `todo`.
        page.click("text=Reset filters")
        page.click("text=Show the rows not done")
        not_done = int((frame["category"] != "done").sum())
        # The link changes the address; the table follows on the (asynchronous)
        # hashchange event, so wait for it rather than read the count at once.
        page.wait_for_function(
            "n => document.querySelector('.es-count').dataset.count === String(n)",
            arg=not_done,
            timeout=15_000,
        )
        assert shown_count(page) == not_done
        assert legend_counts(page)["done"] == 0

        # Their CSV keeps the stored times to the microsecond, as the downloads do.
        with page.expect_download() as download:
            page.click("text=Download CSV")
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert [row["produced"] for row in rows] == [
            "" if produced[row["file_name"]] is None else produced[row["file_name"]].isoformat()
            for row in rows
        ]
        assert any(re.search(r"T\d\d:\d\d:\d\d\.\d{6}\+00:00$", row["produced"]) for row in rows)

        # One segment's 3,000 names searched as one text: a class's match attempt stops
        # at its name's end, not the text's (seconds here before; minutes, the tab
        # frozen, for a segment of 10,000 longer names).
        page.click("text=Reset filters")
        names = frame["file_name"]
        for pattern in (r"^[^-]*h5x", r"^[^-]*t0\.h5$", r"[\s\S]*t1\.h5$", r"\D+7\.h5$"):
            page.fill("th[data-filter=file_name] input", f"/{pattern}/")
            expected = int(names.str.contains(pattern, case=False).sum())
            redraw = float(page.locator(".es-status").get_attribute("data-redraw-ms"))
            assert (pattern, shown_count(page), redraw < 150) == (pattern, expected, True)
        # A link's expression that could run for ever is shown, applied once the reader
        # presses Enter.
        held = browser.new_page()
        held.goto(url + "#file_name=" + quote(r"/(?:t0|t1)+\.h5$/", safe=""))
        held.wait_for_selector(".es-status[data-state=ready]", timeout=15_000)
        text_filter = "th[data-filter=file_name] input"
        assert held.input_value(text_filter) == r"/(?:t0|t1)+\.h5$/"
        assert "es-held" in held.get_attribute(text_filter, "class")
        assert shown_count(held) == len(frame)
        held.press(text_filter, "Enter")
        assert shown_count(held) == int(names.str.contains(r"(?:t0|t1)+\.h5$").sum()) > 0
        assert "es-held" not in held.get_attribute(text_filter, "class")
        assert errors == []


@pytest.mark.django_db
def test_status_page_explains_itself_on_file_urls(tmp_path):
    site = build_demo_site(tmp_path, files=200)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto((site / PAGE / "index.html").as_uri())
        page.wait_for_selector(".es-status[data-state=error]", timeout=15_000)
        assert "espresso-static serve" in page.locator(".es-status").inner_text()
        browser.close()


def fetched_before_ready(page) -> list[str]:
    """The data files the page had fetched when it showed its first rows."""
    return page.evaluate(
        """() => {
            const ready = Number(document.querySelector('.es-status').dataset.readyAt);
            return performance.getEntriesByType('resource')
                .filter(e => e.name.endsWith('.bin.gz') && e.responseEnd <= ready)
                .map(e => e.name.split('/').pop());
        }"""
    )


@pytest.mark.django_db
def test_segments_load_by_need_and_filters_wait_for_their_column(tmp_path, served, monkeypatch):
    from espresso_static.website import segments
    from espresso_static.website.features import statusdata

    monkeypatch.setattr(segments, "SEGMENT_ROWS", 200)  # 3000 files: 15 segments
    monkeypatch.setattr(statusdata, "SEGMENTS_PER_PART", 2)  # in 8 parts
    # No cache: outputs cached with the usual segments must not mix with these.
    site = build_demo_site(tmp_path, files=3000, use_cache=False)
    meta = json.loads((site / PAGE / "data/meta.json").read_text())
    assert len(meta["parts"]) >= 7
    frame = DataFile.objects.order_by("pk").to_dataframe(["file_name", "size", "status"])
    url = served(site) + PAGE

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=WIDE)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        page.wait_for_selector(".es-status[data-state=ready]", timeout=15_000)
        # First rows: the key columns of every part, the other columns of the parts
        # holding the rows on screen only (the first part, and the next where the keys
        # start late in the first: on PostgreSQL, whose keys go on from earlier tests).
        rows_of_part = [
            sum(rows for _, rows in meta["segments"][f : f + n]) for _, f, n in meta["parts"]
        ]
        on_screen, rows_before = set(), 0
        for (part, _, _), rows in zip(meta["parts"], rows_of_part, strict=True):
            if rows_before < PAGE_ROWS:
                on_screen.add(part)
            rows_before += rows
        assert len(on_screen) < len(meta["parts"])
        others = [c for c in range(len(meta["columns"])) if c not in meta["key_columns"]]
        wanted = {f"p{part}-k.bin.gz" for part, _, _ in meta["parts"]}
        wanted |= {f"p{part}-c{c}.bin.gz" for part in on_screen for c in others}
        assert set(fetched_before_ready(page)) == wanted
        assert visible_files(page) == frame["file_name"].head(PAGE_ROWS).tolist()
        page.wait_for_selector(".es-status[data-complete-at]", timeout=15_000)

        # A view whose text filter and sort need every segment: the page waits for the
        # columns, then shows the right rows (file names by regex, largest first).
        view = "file_name=%2Ft0%5C.h5%24%2F&_sort=-size"
        again = browser.new_page(viewport=WIDE)
        again.on("pageerror", lambda error: errors.append(str(error)))
        again.goto(url + "#" + view)
        again.wait_for_selector(".es-status[data-state=ready]", timeout=15_000)
        selected = frame[frame["file_name"].str.contains(r"t0\.h5$")]
        largest = selected.sort_values("size", ascending=False, kind="stable", na_position="last")
        assert shown_count(again) == len(selected)
        assert visible_files(again) == largest["file_name"].head(PAGE_ROWS).tolist()
        # The last page holds the files of unknown size, in database order.
        again.goto(url + "#" + view + f"&_page={-(-len(selected) // PAGE_ROWS)}")
        again.wait_for_selector(".es-status[data-state=ready]", timeout=15_000)
        tail = largest["file_name"].tolist()[-(len(selected) % PAGE_ROWS or PAGE_ROWS) :]
        assert visible_files(again) == tail
        # A link with a bad escape shows the page, the filter's value as written.
        again.goto(url + "#file_name=%E0&status=%E0,on_disk")
        again.wait_for_selector(".es-status[data-state=ready]", timeout=15_000)
        assert again.input_value("th[data-filter=file_name] input") == "%E0"
        assert shown_count(again) == 0

        # A segment's file names are searched as one text: a match running from one
        # value into the next (".h5", a line break, "a12m...") is not a match.
        page.fill("th[data-filter=file_name] input", "/h5[^x]a/")
        assert shown_count(page) == 0
        # A text filter over the few rows another filter leaves tests those alone and
        # keeps their answers: the others are tested once that filter is gone.
        page.fill("th[data-filter=file_name] input", "")
        page.click("th[data-filter=status] .es-multi__button")
        corrupt = page.locator("th[data-filter=status] label", has_text="corrupt").locator("input")
        corrupt.check()
        page.fill("th[data-filter=file_name] input", "0.H5")
        contains = frame[frame["file_name"].str.lower().str.contains("0.h5", regex=False)]
        assert shown_count(page) == int((contains["status"] == "corrupt").sum()) > 0
        corrupt.uncheck()
        page.click("body")
        # Sorting by file name (text) after a "contains" filter.
        assert shown_count(page) == len(contains)
        page.locator("th[data-column=file_name] button").click()
        by_name = contains.sort_values("file_name", kind="stable")
        assert visible_files(page) == by_name["file_name"].head(PAGE_ROWS).tolist()
        assert errors == []
        browser.close()


#: File names beyond ASCII: two and four UTF-8 bytes (a surrogate pair in JavaScript),
#: and a capital whose lower case is longer (the segment is then searched value by
#: value); corrupt, so that the few corrupt rows hold them too.
RENAMED = {
    10: {"file_name": "Ünïcödé/ÉTÉ😀-cfg.h5", "status": "corrupt"},
    11: {"file_name": "plain/after-the-emoji.h5", "status": "corrupt"},
    250: {"file_name": "İstanbul/ΣΟΦΊΑ.h5", "status": "corrupt"},
    251: {"file_name": "plain/after-the-dotted-i.h5", "status": "corrupt"},
}


@pytest.mark.django_db
@pytest.mark.parametrize("coded", [False, True], ids=["text", "dictionary"])
def test_text_filters_match_within_one_value(tmp_path, served, monkeypatch, coded):
    """Each file name is matched alone, case-insensitively, whether a segment's text is
    searched at once or value by value, or the names are a dictionary: never a match
    across two names, or in the wrong name after one of several UTF-8 bytes."""
    from espresso_static.website import segments
    from espresso_static.website.features import statusdata

    monkeypatch.setattr(segments, "SEGMENT_ROWS", 200)  # 1000 files: 5 segments
    monkeypatch.setattr(statusdata, "SEGMENTS_PER_PART", 2)  # several in a file
    if coded:  # one dictionary of every name: codes, searched entry by entry
        monkeypatch.setattr(statusdata, "DICT_RATIO", 1)
    else:
        monkeypatch.setattr(statusdata, "DICT_MAX", 50)  # names as text, not dictionaries
    site = build_demo_site(tmp_path, files=1000, use_cache=False, changed=RENAMED)
    frame = DataFile.objects.order_by("pk").to_dataframe(["file_name", "status"])
    names = frame["file_name"]
    url = served(site) + PAGE

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=WIDE)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        page.wait_for_selector(".es-status[data-complete-at]", timeout=15_000)
        kind, texts = page.evaluate(
            """() => {
                const column = document.querySelector('.es-status').espressoStatus.columns
                    .filter(c => c.name === 'file_name')[0];
                return [column.kind, column.blocks && column.blocks.map(b => b.text)];
            }"""
        )
        assert kind == ("codes" if coded else "text")
        if not coded:  # each segment's text holds its names, not the rest of its file
            assert "".join(texts) == "".join(name + "\n" for name in names)

        contains = ["été😀", "ÜNÏ", "after-the", "😀-cfg.h5", "h5\nplain", "σοφία", "i̇stanbul"]
        regexes = [r"^ünï.*😀", r"h5(?=\s)", r"h5(?!\s)", r"h5[^x]pl", r"^plain/after", r"φία\."]
        # Optional, repeated and grouped parts, escapes, alternatives.
        regexes += [r"A1[25]M", r"cfg0+3", r"spec_a0?9", r"(?:z0)+t1", r"T\d+\.H5$"]
        regexes += [r"cfg\d{5}/spec", r"0{2}3", r"\x41\d", r"c(?:fg|x)0", r"a06|a09", r"f\-?g\b"]

        def expected(text: str, rows) -> int:
            if text.startswith("/"):
                return int(rows.str.contains(text[1:-1], case=False, regex=True).sum())
            return int(rows.str.lower().str.contains(text.lower(), regex=False).sum())

        def check(rows) -> None:
            for text in contains + [f"/{r}/" for r in regexes]:
                page.fill("th[data-filter=file_name] input", text)
                assert (text, shown_count(page)) == (text, expected(text, rows))

        check(names)  # no other filter: every segment's text searched at once
        assert expected("été😀", names) == expected("i̇stanbul", names) == 1
        assert expected("/h5(?!\\s)/", names) == len(names)
        # A status leaving a few rows: those are tested value by value.
        page.click("th[data-filter=status] .es-multi__button")
        page.locator("th[data-filter=status] label", has_text="corrupt").locator("input").check()
        page.click("body")
        check(names[frame["status"] == "corrupt"])
        assert errors == []
        browser.close()


#: Jobs of tests.portapp (LatteDB's integer status with choices: 0 queued, 1 running,
#: 2 finished), one with a status outside the choices.
JOB_STATUSES = [2, 0, 1, 2, 7, 0]


@pytest.mark.django_db
def test_a_status_with_choices_shows_their_labels(tmp_path, served):
    """Cells, badges and filter checkboxes show a choice's label as Django does, the
    stored value on hover; a value outside the choices as stored; the CSV keeps the
    stored values."""
    from tests.portapp.models import Job

    for number, status in enumerate(JOB_STATUSES, 1):
        Job.objects.create(number=number, status=status)
    site = build_project_site(REPO / "tests" / "portproject", tmp_path)
    url = served(site) + "generated/status/portapp/job/"

    with chromium() as browser:
        page, errors = open_page(browser, url, viewport=WIDE, accept_downloads=True)
        page.wait_for_selector(".es-status[data-complete-at]", timeout=15_000)

        badges = page.locator(".es-table tbody .es-badge")
        shown = [
            (badges.nth(i).inner_text(), badges.nth(i).get_attribute("title")) for i in range(6)
        ]
        assert shown == [
            ("finished", "2"),
            ("queued", "0"),
            ("running", "1"),
            ("finished", "2"),
            ("7", None),
            ("queued", "0"),
        ]
        page.click("th[data-filter=status] .es-multi__button")
        boxes = page.locator("th[data-filter=status] label")
        choices = [
            (boxes.nth(i).inner_text().strip(), boxes.nth(i).get_attribute("title"))
            for i in range(boxes.count())
        ]
        assert choices == [("queued", "0"), ("running", "1"), ("finished", "2"), ("7", None)]
        boxes.filter(has_text="finished").locator("input").check()
        page.click("body")
        assert shown_count(page) == 2
        assert "status=2" in page.url  # the address keeps stored values

        with page.expect_download() as download:
            page.click("text=Download CSV")
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert [(row["number"], row["status"]) for row in rows] == [("1", "2"), ("4", "2")]
        assert errors == []
