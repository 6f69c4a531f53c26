"""Hostile text everywhere user text lands: row values, notifications, docstrings, help
texts, choices, verbose names, defaults. The site must build, show every payload as
text, and run none of it in a real headless Chromium.

The escaping functions are fuzzed with Hypothesis (a bounded number of examples); the
built site is checked with the fixed payloads of :mod:`tests.hostileapp.payloads`.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import markdown
import pytest
from bs4 import BeautifulSoup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from espresso_static.data.plain_values import FORMULA_STARTS
from espresso_static.project.config import load_config
from espresso_static.website.features.statusdata import read_status_data
from espresso_static.website.render import mermaid_id, mermaid_label
from espresso_static.website.sanitize import (
    ALLOWED_TAGS,
    code_html,
    inline_text,
    markdown_to_html,
    prose_html,
)
from tests.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from tests.conftest import REPO
from tests.hostileapp.attacks import FAMILIES, MARKER
from tests.hostileapp.attacks import PAYLOADS as MARKED
from tests.hostileapp.payloads import LONG, PAYLOADS

STATUS_PAGE = "generated/status/demo/datafile/"
#: Fragments the fuzzer strings together: the characters and words escaping is about.
FRAGMENTS = [
    "<",
    ">",
    '"',
    "'",
    "&",
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    "|",
    "`",
    "$",
    "\\",
    "*",
    "_",
    "#",
    "\n",
    " ",
    "\x00",
    "\u202e",
    "<script>",
    "</script>",
    "javascript:",
    "onerror=",
    "<img src=x ",
    "](",
    "{{",
    "{%",
    "%}",
    "--8<--",
    "%%",
    "-->",
    "<!--",
    "&lt;",
    "alert(1)",
    "\x02wzxhzdk:0\x03",  # Python-Markdown's placeholder of stashed raw HTML
    "x",
]
hostile_text = st.lists(
    st.sampled_from(FRAGMENTS) | st.text(max_size=4), min_size=1, max_size=25
).map("".join)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def normalized(text: str) -> str:
    """Text as a reader sees it: whitespace collapsed, control characters gone (HTML
    and Markdown drop NUL, STX, ETX...)."""
    visible = "".join(c for c in text if c.isspace() or unicodedata.category(c) != "Cc")
    return " ".join(visible.replace("\ufffd", "").split())


def html_of(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def page_text(path: Path) -> str:
    return normalized(html_of(path).get_text())


# -- the escaping functions, fuzzed --------------------------------------------------------


def render_markdown(text: str) -> BeautifulSoup:
    html = markdown.markdown(
        text,
        extensions=["tables", "attr_list", "md_in_html", "pymdownx.arithmatex"],
        extension_configs={"pymdownx.arithmatex": {"generic": True}},  # as build-site
    )
    return BeautifulSoup(html, "html.parser")


def assert_inert(soup: BeautifulSoup, allowed_tags: set[str]) -> None:
    """No element outside ``allowed_tags``, no event handler, no script URL."""
    for element in soup.find_all(True):
        assert element.name in allowed_tags, element
        for name, value in element.attrs.items():
            assert not name.lower().startswith("on"), element
            text = " ".join(value) if isinstance(value, list) else value
            assert "javascript:" not in text.lower().replace(" ", ""), element


CELL_TAGS = {"table", "thead", "tbody", "tr", "th", "td", "p", "code", "em", "strong", "br"}
CELL_TAGS |= {"span", "div"}  # arithmatex wraps math in them


@FUZZ
@given(hostile_text)
def test_table_cell_text_is_inert_and_shown_as_written(text):
    cell = inline_text(text)
    soup = render_markdown(f"| head |\n| --- |\n| {cell} |\n")
    assert_inert(soup, CELL_TAGS)
    cells = soup.find_all("td")
    assert len(cells) == 1, "the value split the table row"
    if not any(c in text for c in "`$*_\\"):  # no code span, math or emphasis: plain text
        assert normalized(cells[0].get_text()) == normalized(text)


@FUZZ
@given(hostile_text)
def test_prose_is_inert(text):
    assert_inert(
        render_markdown(prose_html(text)),
        CELL_TAGS | ALLOWED_TAGS,  # prose: the news' allow-list
    )


@FUZZ
@given(hostile_text)
def test_code_values_are_shown_exactly_even_in_a_table(text):
    soup = render_markdown(f"| head |\n| --- |\n| {code_html(text)} |\n")
    assert_inert(soup, CELL_TAGS)
    code = soup.find_all("code")
    assert len(code) == 1
    assert normalized(code[0].get_text()) == normalized(text)


@FUZZ
@given(hostile_text)
def test_notification_markdown_is_sanitized(text):
    soup = BeautifulSoup(markdown_to_html(text), "html.parser")
    for element in soup.find_all(True):
        assert element.name not in {"script", "style", "iframe", "object", "embed"}
        for name, value in element.attrs.items():
            assert not name.lower().startswith("on"), element
            if name in ("href", "src"):
                assert value.split(":")[0].lower() in {"http", "https", "mailto"} or (
                    ":" not in value.split("/")[0]
                ), element


@FUZZ
@given(st.text())
def test_mermaid_names_and_labels_cannot_break_the_diagram(text):
    assert mermaid_id(text).isascii() and all(c.isalnum() or c == "_" for c in mermaid_id(text))
    assert all(c.isascii() and (c.isalnum() or c in "_ .-") for c in mermaid_label(text))


# -- the built site -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HostileSite:
    folder: Path
    #: Values as the database stores them (PostgreSQL: no NUL, within max_length).
    ensembles: list[str]
    files: list[str]
    sources: list[str]
    titles: list[str]
    tags: list[str]


def storable(value: str, max_length: int | None, vendor: str) -> str:
    """``value`` as the database can hold it: PostgreSQL refuses NUL and long varchars
    (SQLite stores anything)."""
    if vendor != "postgresql":
        return value
    value = value.replace("\x00", "")
    return value[:max_length] if max_length else value


#: The first and last times Python holds, and how the status page shows them.
EDGE_TIMES = [datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)]
EDGE_TIMES_SHOWN = ["0001-01-01 00:00:00", "9999-12-31 23:59:59"]


def fill_hostile_rows(vendor: str) -> dict[str, list[str]]:
    """Demo rows with payloads in their text columns, written past the checks."""
    from espresso_static.models import Notification
    from models.demo import data
    from models.demo.models import DataFile, Ensemble
    from tests.hostileapp.models import Sample

    data.generate(files=120, seed=7)
    payloads = [*PAYLOADS.values(), LONG]
    ensembles = []
    for ensemble, payload in zip(Ensemble.objects.order_by("pk"), payloads, strict=False):
        name = storable(f"{payload}{ensemble.pk}", 40, vendor)
        Ensemble.objects.filter(pk=ensemble.pk).update(name=name)
        ensembles.append(name)
    files, sources = [], []
    for index, row in enumerate(DataFile.objects.order_by("pk")[: len(payloads)]):
        payload = payloads[index]
        values = {
            "file_name": storable(f"{payload}{index}.h5", 200, vendor),
            "source": storable(payload, 20, vendor),
            "stream": storable(payload, 4, vendor),
        }
        if index < len(EDGE_TIMES):  # times the status page shows to the second
            values["produced"] = EDGE_TIMES[index]
        DataFile.objects.filter(pk=row.pk).update(**values)
        files.append(values["file_name"])
        sources.append(values["source"])
    notifications = [
        Notification(
            title=storable(payload, 200, vendor),
            content=storable(payload, None, vendor),
            tag=storable(payload, 200, vendor),
            level=30,
            audiences=[],
        )
        for payload in payloads
    ]
    Notification.objects.bulk_create(notifications)
    Notification.objects.bulk_create(
        Notification(title=p, content=p, tag=p[:200], author=p[:200], level=40, audiences=[])
        for p in MARKED
    )
    Sample.objects.bulk_create([Sample(name=storable(PAYLOADS["script"], 40, vendor))])
    plant_marked_rows()
    with_files = set(DataFile.objects.values_list("ensemble__name", flat=True))
    return {
        "ensembles": [name for name in ensembles if name in with_files],
        "files": files,
        "sources": sources,
        "titles": [n.title for n in notifications],
        "tags": [n.tag for n in notifications],
    }


#: Formula cells a spreadsheet would run (OWASP CSV injection), in text columns.
FORMULAS = ["=cmd|' /C calc'!A0", "@SUM(1+1)", "+1+1", "-1+1", "\t=1+1", "\r=1+1"]


def plant_marked_rows() -> None:
    """A row per marker payload and per formula (values, status groups and their
    history plot), written past the checks."""
    from espresso_static.data.snapshot import take_snapshot
    from espresso_static.progress import declared
    from tests.hostileapp.models import Marked

    Marked.objects.bulk_create(
        Marked(
            kind=kind,
            note=kind,
            group="" if "$" in kind else kind,
            status="done" if i % 2 else "todo",
        )
        for i, kind in enumerate([*MARKED, *FORMULAS])
    )
    take_snapshot(declared(Marked))


def plant_pages(docs: Path) -> list[str]:
    """Hand-written pages named with payloads (where a file name can hold one) and a
    page whose front matter title is each payload; their names."""
    docs.mkdir(parents=True)
    names = [
        f"{payload}.md"
        for payload in MARKED
        if payload.isprintable() and not any(c in payload for c in "/#?%\\") and len(payload) < 200
    ]
    for name in names:
        (docs / name).write_text("Named by a payload.\n", encoding="utf-8")
    for number, payload in enumerate(MARKED):
        front = f"---\ntitle: {json.dumps(payload)}\n---\n\nA front matter title.\n"
        (docs / f"titled-{number}.md").write_text(front, encoding="utf-8")
    return names


@pytest.fixture
def hostile_site(tmp_path, django_db_blocker) -> HostileSite:
    from django.db import connection

    from espresso_static.website.pipeline import Reporter, build_site

    config = dataclasses.replace(
        load_config(REPO),
        name=f"Hostile <b>campaign</b> & {{{{ 7*7 }}}} {MARKED[0]} {MARKED[9]} {MARKED[10]}",
        description="\n\n".join([*PAYLOADS.values(), *MARKED]),
        apps=("tests.hostileapp", "models.demo"),
        docs_dir=tmp_path / "docs",
        mkdocs_config=tmp_path / "mkdocs.yml",
    )
    values = fill_hostile_rows(connection.vendor)
    plant_pages(tmp_path / "docs")
    folder = build_site(config, out=tmp_path / "site", reporter=Reporter(quiet=True)).site_dir
    return HostileSite(folder, **values)


@pytest.mark.slow
@pytest.mark.django_db
def test_payloads_are_shown_as_text(hostile_site):
    site = hostile_site.folder
    sample = page_text(site / "generated/hostileapp/sample/index.html")
    for payload in [*PAYLOADS.values(), LONG]:
        assert normalized(payload) in sample, payload[:40]
    model = html_of(site / "generated/hostileapp/sample/index.html")
    # Docstrings are Markdown prose, sanitized: an <img> may stay, its handler not.
    assert not model.select("article script, article iframe")
    assert not [e for e in model.select("article *") if any(a.startswith("on") for a in e.attrs)]
    assert not [a for a in model.select("a[href]") if is_script_url(a["href"])]

    # Mermaid diagrams only hold sanitized names: a payload cannot end or extend them.
    diagram = html_of(site / "generated/hostileapp/index.html").select_one(".mermaid")
    for line in diagram.get_text().splitlines()[1:]:
        assert re.fullmatch(r'\s*[\w{}|o .-]*(: "[\w .-]*")?\s*', line, re.ASCII), line

    home = page_text(site / "index.html")
    for name in ("template", "url", "bidi"):  # the description, as Markdown: text stays text
        assert normalized(PAYLOADS[name]) in home, name

    news = page_text(site / "generated/news/index.html")
    for text in hostile_site.titles + hostile_site.tags:
        assert normalized(text) in news, text[:40]

    status = read_status_data(site / STATUS_PAGE / "data")
    assert set(hostile_site.files) <= set(status["file_name"])
    assert set(hostile_site.sources) <= set(status["source"])
    assert set(hostile_site.ensembles) <= set(status["ensemble"])


@pytest.mark.slow
@pytest.mark.django_db
def test_data_files_and_feeds_are_well_formed(hostile_site):
    site = hostile_site.folder
    meta = json.loads((site / STATUS_PAGE / "data/meta.json").read_text(encoding="utf-8"))
    assert meta["model"] == "demo.DataFile"
    for feed in (site / "generated/feeds").glob("*.xml"):
        root = ET.fromstring(feed.read_bytes())  # NUL or control characters break XML
        titles = [e.text or "" for e in root.iter("{http://www.w3.org/2005/Atom}title")]
        for title in hostile_site.titles:
            assert normalized(title) in {normalized(t) for t in titles}, title[:40]
    for script in (site / "generated/hostileapp").glob("populate_*.py"):
        # Help texts, choices and defaults stay comments and literals: nothing runs.
        compile(script.read_text(encoding="utf-8"), script.name, "exec")


#: Elements a payload would have created: inline scripts in the content, event
#: handler attributes, script URLs.
INJECTED = """() => [...document.querySelectorAll("*")].filter((element) =>
    (element.tagName === "SCRIPT" && !element.src && element.closest("article")) ||
    [...element.attributes].some((attribute) =>
        attribute.name.startsWith("on") || attribute.name === "srcdoc" ||
        (["href", "src", "action", "formaction", "xlink:href"].includes(attribute.name) &&
         /^\\s*(javascript|vbscript):/i.test(attribute.value)))
).map((element) => element.outerHTML.slice(0, 200))"""


def is_network_failure(text: str) -> bool:
    """Resources that did not load: the sanitized ``<img src=x>`` of a notification,
    Mermaid from its CDN (no network here), Material's sitemap probe. Not a payload
    running, which is what this test is about."""
    return text.startswith("Failed to load resource") or text.startswith("Invalid script: https://")


def site_pages(site: Path) -> list[str]:
    """Every page of the site (home, apps, models, status, news, data...) as URL paths."""
    pages = []
    for page in sorted(site.rglob("index.html")):
        relative = page.parent.relative_to(site).as_posix()
        pages.append("" if relative == "." else f"{relative}/")
    return pages


@pytest.mark.slow
@pytest.mark.browser
@needs_chromium
@pytest.mark.django_db
def test_no_payload_runs_in_chromium(hostile_site, served):
    from playwright.sync_api import sync_playwright

    base = served(hostile_site.folder)
    pages = site_pages(hostile_site.folder)
    assert {"", STATUS_PAGE, "generated/news/", "generated/hostileapp/sample/"} <= set(pages)
    dialogs, errors = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on(
            "dialog", lambda dialog: (dialogs.append((page.url, dialog.message)), dialog.dismiss())
        )
        page.on(
            "pageerror",
            lambda error: (
                None if is_network_failure(str(error)) else errors.append((page.url, str(error)))
            ),
        )
        page.on(
            "console",
            lambda message: (
                errors.append((page.url, message.text))
                if message.type == "error" and not is_network_failure(message.text)
                else None
            ),
        )
        for path in pages:
            page.goto(base + path, wait_until="load")
            if path == STATUS_PAGE:
                page.wait_for_selector(".es-status[data-state=ready]", timeout=15_000)
                shown = normalized(page.locator(".es-table").inner_text())
                for name in hostile_site.files[:5]:
                    assert normalized(name) in shown, name[:40]
                for time in EDGE_TIMES_SHOWN:
                    assert time in shown, time
            page.wait_for_timeout(100)  # let onerror handlers of broken images fire
            assert page.evaluate(INJECTED) == [], path
            page.evaluate(HOVER_EVERYTHING)
            assert page.evaluate(f"typeof window.{MARKER}") == "undefined", path
        page.goto(base + MARKED_STATUS, wait_until="load")
        page.wait_for_selector(".es-status[data-state=ready]", timeout=15_000)
        assert page.evaluate(f"typeof window.{MARKER}") == "undefined"
        with page.expect_download() as download:
            page.get_by_role("button", name="Download CSV").click()
        with open(download.value.path(), encoding="utf-8", newline="") as file:
            rows = list(csv.DictReader(file))
        browser.close()
    assert dialogs == []
    assert errors == [], "\n".join(map(str, errors))
    assert_formulas_neutralised([row["kind"] for row in rows])


#: Every element gets the events a reader's pointer and keyboard would send.
HOVER_EVERYTHING = """() => document.querySelectorAll("*").forEach((element) => {
    for (const name of ["mouseover", "mouseenter", "focus", "click"]) {
        if (name === "click" && element.closest("a, button, label, summary")) continue;
        element.dispatchEvent(new Event(name, { bubbles: true }));
    }
})"""
MARKED_STATUS = "generated/status/hostileapp/marked/"


def assert_formulas_neutralised(cells: list[str]) -> None:
    """Each planted formula comes back with a leading ``'``; other text unchanged."""
    for formula in FORMULAS:
        assert "'" + formula in cells, formula
        assert formula not in cells, formula
    assert set(MARKED) - {p for p in MARKED if p.startswith(FORMULA_STARTS)} <= set(cells)


@pytest.mark.slow
@pytest.mark.django_db
def test_csv_downloads_neutralise_formulas(hostile_site):
    download = next(hostile_site.folder.rglob("hostileapp_marked.csv.gz"))
    text = gzip.decompress(download.read_bytes()).decode()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert_formulas_neutralised([row["kind"] for row in rows])
    numbers = next(hostile_site.folder.rglob("demo_datafile.csv.gz"))
    first = next(csv.DictReader(io.StringIO(gzip.decompress(numbers.read_bytes()).decode())))
    assert first["id"].isdigit()  # numbers stay numbers


def is_script_url(url: str) -> bool:
    """Whether a browser would run ``url`` (a page named ``[x](javascript:...).md`` has
    a harmless relative URL holding the word)."""
    scheme = "".join(url.split()).split(":", 1)[0].lower() if ":" in url else ""
    return scheme in ("javascript", "vbscript", "data")


def markup_with_handlers(html: str) -> list[str]:
    """Elements of ``html`` a payload would have made: scripts, frames, handlers."""
    soup = BeautifulSoup(html, "html.parser")
    return [
        str(element)[:120]
        for element in soup.find_all(True)
        if element.name in ("script", "iframe", "object", "embed")
        or any(name.lower().startswith("on") or name == "srcdoc" for name in element.attrs)
    ]


@pytest.mark.slow
@pytest.mark.django_db
def test_search_index_feeds_plots_and_sitemaps_hold_no_markup(hostile_site):
    site = hostile_site.folder
    index = json.loads((site / "search/search_index.json").read_text(encoding="utf-8"))
    for document in index["docs"]:
        # mkdocs-material shows titles and texts of search results as HTML.
        assert markup_with_handlers(document["title"] + document["text"]) == [], document[
            "location"
        ]
    for feed in [*site.rglob("*.xml")]:
        root = ET.fromstring(feed.read_bytes())  # well-formed: nothing broke out
        for element in root.iter():
            if element.get("type") == "html":  # Atom's other texts are shown as text
                assert markup_with_handlers(element.text or "") == [], feed
            assert not [a for a in element.attrib if a.lower().startswith("on")], feed
    plots = list(site.rglob("*.svg"))
    assert any("marked" in plot.as_posix() for plot in plots), "the marked groups' plot"
    for plot in plots:
        root = ET.fromstring(plot.read_bytes())
        for element in root.iter():
            assert not element.tag.endswith("script"), plot
            assert not [a for a in element.attrib if a.lower().startswith("on")], plot
    for page in site.rglob("*.html"):
        for script in html_of(page).find_all("script"):
            assert MARKER not in script.get_text(), page  # no payload inside a script


def test_payload_counts():
    """The figures the hostile suite reports (families x payloads x places)."""
    assert len(FAMILIES) >= 10 and len(MARKED) == sum(map(len, FAMILIES.values()))
    print(f"{len(FAMILIES)} families, {len(MARKED)} marker payloads")
