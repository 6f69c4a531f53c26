"""No single row value stops a build (issue #19): values that break naive outputs — a
``$`` that matplotlib would parse as math, ``_ ^ \\ { }``, a very long or an empty
value, right-to-left and combining characters, control characters, characters the
plot font lacks — planted in a grouped column, snapshotted and built.

The build succeeds; the plot (PNG, SVG, PDF; build-site, ``espresso-static plot``,
``progress_figure``) shows each value literally, or changed with a warning naming the
table, row and column; the status data, downloads, health page and feed keep every
value. The broader hostile-text suite (escaping, scripts) is tests/test_hostile.py.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import unicodedata
import warnings
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from espresso_static.cli import cli
from espresso_static.data.plots import LEGEND_CHARS, figure_bytes, progress_figure
from espresso_static.data.row_values import EMPTY, RowValueWarning, row_warnings, shown_text
from espresso_static.project.config import load_config
from espresso_static.website.features.statusdata import read_status_data
from tests.conftest import REPO

#: The values, by what they would break.
VALUES = {
    "dollar": "runs/$SCRATCH/a12",
    "mathtext": r"$\frac{$ and $x_1^{2}$",
    "underscore": "_hidden_run",
    "caret": "a^b^c",
    "backslash": "C:\\runs\\new\\",
    "braces": "{ensemble}/{stream}",
    "empty": "",
    "long": "long/" + "x" * 20_000,
    "right-to-left": "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 run",
    "combining": "e\u0301\u0301 Z\u0335\u0336 n\u0303",
    "the total's name": "all",
    "control": "bell\x07 esc\x1b[31m bidi\u202eevil",
    "no glyph": "run \u4e2d\u6587",
}
#: Values a legend cannot show as they are: the warning names their rows.
CHANGED = ("empty", "long", "control", "no glyph")
SVG = "{http://www.w3.org/2000/svg}"
ATOM = "{http://www.w3.org/2005/Atom}"
START = datetime(2026, 3, 1, tzinfo=UTC)


def normalized(text: str) -> str:
    """Text as a reader of a page sees it: control characters gone, spaces collapsed."""
    visible = "".join(c for c in text if c.isspace() or unicodedata.category(c) != "Cc")
    return " ".join(visible.split())


def plant_values() -> dict[str, list[int]]:
    """Two rows per value, all missing at the first snapshot; a day later, one row of
    every other value is done. Returns the pks holding each value."""
    from espresso_static.data.snapshot import take_snapshots
    from espresso_static.declare.progress import declared
    from espresso_static.models import Notification
    from tests.valueapp.models import Run

    Run.objects.bulk_create(
        Run(path=value, status="missing") for value in VALUES.values() for _ in "ab"
    )
    pks = {
        name: list(Run.objects.filter(path=value).order_by("pk").values_list("pk", flat=True))
        for name, value in VALUES.items()
    }
    item = declared(Run)
    take_snapshots([item], now=START)
    Run.objects.filter(pk__in=[rows[0] for rows in list(pks.values())[::2]]).update(status="done")
    take_snapshots([item], now=START + timedelta(days=1))
    Notification.objects.bulk_create(
        Notification(title=value[:200], content=value, tag=value[:200], level=30, audiences=[])
        for value in VALUES.values()
    )
    return {name: pks[name] for name in VALUES}


def svg_texts(content: bytes) -> list[str]:
    """The texts of an SVG file (it must be well-formed XML)."""
    return ["".join(element.itertext()) for element in ET.fromstring(content).iter(f"{SVG}text")]


def legend_entry(name: str) -> str:
    """How the legend shows value ``name``: literally, or as :func:`shown_text` changes it."""
    return shown_text(VALUES[name], LEGEND_CHARS)[0]


def assert_every_value_in_legend(texts: list[str]) -> None:
    for name, value in VALUES.items():
        shown = legend_entry(name)
        if name not in CHANGED:
            assert shown == value, name  # literally, character for character
        assert any(text.startswith(f"{shown}: ") for text in texts), (name, texts)


def assert_warned_about_changed_rows(messages, pks: dict[str, list[int]]) -> None:
    for name in CHANGED:
        rows = ", ".join(map(str, pks[name]))
        expected = f"valueapp.Run rows pk={rows}, column path: the progress plot "
        assert any(message.startswith(expected) for message in messages), (name, messages)
    assert len(messages) == len(CHANGED), messages


@pytest.mark.django_db
def test_a_build_shows_every_value_and_names_the_rows_it_changed(tmp_path, capsys):
    from espresso_static.website.pipeline import Reporter, build_site

    pks = plant_values()
    config = dataclasses.replace(
        load_config(REPO),
        apps=("tests.valueapp",),
        docs_dir=tmp_path / "docs",
        mkdocs_config=tmp_path / "mkdocs.yml",
    )
    result = build_site(config, out=tmp_path / "site", reporter=Reporter())
    site = result.site_dir / "generated"

    # The plot: every value in the legend, as text; the warnings name the rows.
    status_page = site / "status/valueapp/run"
    assert_every_value_in_legend(svg_texts((status_page / "progress.svg").read_bytes()))
    assert (status_page / "progress.png").read_bytes().startswith(b"\x89PNG")
    assert_warned_about_changed_rows(result.warnings, pks)
    printed = capsys.readouterr().err
    assert all(f"  warning: {message}\n" in printed for message in result.warnings)
    assert "\x1b" not in printed  # a warning names rows, never prints their values
    again = build_site(config, out=tmp_path / "site", reporter=Reporter(quiet=True))
    assert again.warnings == result.warnings  # the plot came from the cache: reported again

    # Status data, downloads and the status page keep every value exactly.
    assert sorted(read_status_data(status_page / "data")["path"]) == sorted(2 * [*VALUES.values()])
    downloads = site / "data/downloads"
    with gzip.open(downloads / "valueapp_run.csv.gz", "rt", encoding="utf-8", newline="") as file:
        assert sorted(row["path"] for row in csv.DictReader(file)) == sorted(2 * [*VALUES.values()])
    parquet = pq.read_table(downloads / "valueapp_run.parquet").column("path").to_pylist()
    assert sorted(parquet) == sorted(2 * [*VALUES.values()])
    page = normalized(
        BeautifulSoup((status_page / "index.html").read_text("utf-8"), "html.parser").get_text()
    )
    assert all(normalized(value) in page for value in VALUES.values())

    # The health page lists each value's missing row; the feed is XML with every title.
    health = BeautifulSoup((site / "health/index.html").read_text("utf-8"), "html.parser")
    failing = normalized(health.get_text())
    assert all(normalized(f"path={value}") in failing for value in VALUES.values())
    (feed,) = (site / "feeds").glob("*.xml")
    titles = [
        normalized(e.text or "") for e in ET.fromstring(feed.read_bytes()).iter(f"{ATOM}title")
    ]
    assert all(normalized(value[:200]) in titles for value in VALUES.values() if value)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["png", "pdf", "svg"])
def test_the_plot_command_writes_every_format_and_warns_per_row(tmp_path, kind):
    pks = plant_values()
    out = tmp_path / f"report.{kind}"
    result = CliRunner().invoke(
        cli, ["plot", "valueapp.Run", "--by", "path", "--out", str(out), "--project", str(REPO)]
    )
    assert result.exit_code == 0, result.output + result.stderr
    warned = [
        line.removeprefix("warning: ")
        for line in result.stderr.splitlines()
        if line.startswith("warning: ")
    ]
    assert_warned_about_changed_rows(warned, pks)
    content = out.read_bytes()
    assert content.startswith({"png": b"\x89PNG", "pdf": b"%PDF-", "svg": b"<?xml"}[kind])
    if kind == "svg":
        assert_every_value_in_legend(svg_texts(content))


@pytest.mark.django_db
def test_progress_figure_warns_and_draws_text_as_written():
    import matplotlib

    from tests.valueapp.models import Run

    pks = plant_values()
    # Even a user's LaTeX setting does not make row values LaTeX or math.
    with (
        matplotlib.rc_context({"text.usetex": True}),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always", RowValueWarning)
        figure = progress_figure(Run, by="path")
    assert_warned_about_changed_rows(
        [str(w.message) for w in caught if w.category is RowValueWarning], pks
    )
    texts = [text for text in figure.findobj(matplotlib.text.Text) if text.get_text()]
    assert all(not text.get_usetex() and not text._parse_math for text in texts)
    (legend,) = figure.legends
    assert len(legend.get_texts()) == len(VALUES) + 1  # "_hidden_run" too, and all rows
    with row_warnings() as more:
        assert_every_value_in_legend(svg_texts(figure_bytes(figure, "svg")))
    assert more == []


def test_shown_text_keeps_what_it_can_and_says_what_it_changed():
    assert shown_text("$x$ a_b {c} \\d", 60) == ("$x$ a_b {c} \\d", [])
    assert shown_text("", 60) == (EMPTY, [f"shows the empty value as {EMPTY}"])
    assert shown_text("a\x1bb\u202ec", 60)[0] == "a\\x1bb\\u202ec"
    shown, changes = shown_text("y" * 100, 10)
    assert shown == "y" * 9 + "…" and changes == ["shortens the 100-character value to 10"]
