"""The home page as the campaign's dashboard, one row total everywhere, and demo data
dated relative to the day it is generated."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from espresso_static.data.snapshot import backfill_history
from espresso_static.models import Notification
from espresso_static.progress import find_declared
from espresso_static.project.apps import model_row_counts, project_models, total_rows
from espresso_static.project.config import load_config
from espresso_static.website.pipeline import Reporter, build_site
from models.demo import data
from models.demo.models import Correlator, DataFile

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_site(tmp_path) -> Path:
    data.generate(files=300, seed=2019)
    backfill_history(find_declared("DataFile"), "produced", points=5)
    data.generate_notifications()
    project = load_config(REPO)
    config = dataclasses.replace(
        project,
        docs_dir=tmp_path / "docs",
        site_dir=tmp_path / "site",
        mkdocs_config=tmp_path / "mkdocs.yml",
    )
    return build_site(config, config.site_dir, reporter=Reporter(quiet=True)).site_dir


def article(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").find("article")


def section(page: BeautifulSoup, title: str) -> list:
    """The elements under the ``<h2>`` ``title``, up to the next ``<h2>``."""
    heading = next(h for h in page.find_all("h2") if h.get_text(strip=True).startswith(title))
    elements = []
    for sibling in heading.find_next_siblings():
        if sibling.name == "h2":
            break
        elements.append(sibling)
    return elements


def links(elements) -> set[str]:
    return {a["href"] for element in elements for a in element.find_all("a", href=True)}


def test_the_home_page_shows_progress_news_downloads_and_health(demo_site):
    home = article(demo_site / "index.html")
    progress = section(home, "Progress")
    bar = next(e for e in progress if "es-bar" in (e.get("class") or []))
    parts = {
        part["class"][-1]: float(re.search(r"width: ([\d.]+)%", part["style"]).group(1))
        for part in bar.find_all(class_="es-bar__part")
    }
    overall = find_declared("DataFile")
    done = DataFile.objects.filter(status__in=overall.progress.done).count()
    assert parts["es-cat--done"] == pytest.approx(100 * done / DataFile.objects.count(), abs=0.01)
    assert sum(parts.values()) == pytest.approx(100, abs=0.05)
    estimate = " ".join(e.get_text(" ", strip=True) for e in progress)
    assert re.search(
        r"DataFile · \d+ % done \([\d,]+ of [\d,]+\), [\d,]+/day, done ~\d{4}-", estimate
    )
    assert "generated/status/demo/datafile/" in links(progress)
    assert "Frontier jobs failing" in " ".join(e.get_text() for e in section(home, "Latest news"))
    assert "generated/data/" in links(section(home, "Open data"))
    health = section(home, "Data health")
    assert "generated/health/" in links(health)
    assert "checks pass on every stored row" in health[0].get_text()
    assert "!!!" not in home.get_text()


def test_the_home_estimate_counts_the_rows_now_not_at_the_last_snapshot(tmp_path):
    data.generate(files=300, seed=2019)
    backfill_history(find_declared("DataFile"), "produced", points=5)
    # Rows done since the latest snapshot: a sync the nightly job has not snapshot yet.
    moved = DataFile.objects.exclude(status="on_disk").values_list("pk", flat=True)[:20]
    DataFile.objects.filter(pk__in=list(moved)).update(status="on_disk")
    config = dataclasses.replace(
        load_config(REPO), docs_dir=tmp_path / "docs", site_dir=tmp_path / "site"
    )
    site = build_site(config, config.site_dir, reporter=Reporter(quiet=True)).site_dir
    progress = " ".join(
        e.get_text(" ", strip=True) for e in section(article(site / "index.html"), "Progress")
    )
    done = DataFile.objects.filter(status__in=find_declared("DataFile").progress.done).count()
    assert f"({done:,} of {DataFile.objects.count():,})" in progress


def test_one_row_total_for_the_demo_command_home_and_data_pages(demo_site):
    expected = total_rows(model_row_counts(project_models(["models.demo"])))
    home = article(demo_site / "index.html").get_text(" ", strip=True)
    data_page = article(demo_site / "generated/data/index.html").get_text(" ", strip=True)
    assert f"{expected:,} rows" in home
    assert f"{expected:,} rows" in data_page
    links = Correlator.propagators.through.objects.count()
    assert f"{links:,} links of many-to-many relations" in data_page


def test_demo_dates_follow_the_day_it_is_generated():
    today = datetime(2031, 5, 17, 9, 30, tzinfo=UTC)
    data.generate(files=200, seed=2019, today=today)
    produced = DataFile.objects.exclude(produced=None).values_list("produced", flat=True)
    day = today.replace(hour=0, minute=0)
    assert max(produced) < day and max(produced) > day - timedelta(days=3)
    assert min(produced) >= day - timedelta(days=1 + data.CAMPAIGN_DAYS)
    # The news names files the demo has.
    data.generate_notifications(now=today)
    corrupt = Notification.objects.get(title__endswith="corrupt on tape")
    named = re.findall(r"`([^`]+\.h5)`", corrupt.content)
    assert named and set(named) <= set(DataFile.objects.values_list("file_name", flat=True))
