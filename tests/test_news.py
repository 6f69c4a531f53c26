"""News page, home section, banner and Atom feed: audience filtering, order,
sanitizing, and a feed that parses and has the elements readers need."""

from __future__ import annotations

import dataclasses
import shutil
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import markdown
import pytest
from bs4 import BeautifulSoup

from espresso_static.access import Audience, AudienceView
from espresso_static.notify import Notifier
from espresso_static.project.config import load_config
from espresso_static.website.context import BuildOptions
from espresso_static.website.features.news import (
    NewsPaths,
    banner_context,
    collect_news,
    render_atom_feed,
    render_latest_news,
    render_news_page,
)
from espresso_static.website.pipeline import build_site
from models.demo.data import NOTIFICATIONS, generate, generate_notifications
from tests.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from tests.test_build_cache import build, project  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def notifications(db):
    """Five notifications: unaddressed, for public, for internal, for both; old and recent."""
    sync = Notifier(tag="nightly-sync")
    sync.info("Synced 1204 files", audience=None, timestamp=NOW - timedelta(days=30))
    sync.warning(
        "3 files corrupt on tape\n\nOld **warning** <script>alert(1)</script>",
        audience="internal",
        timestamp=NOW - timedelta(days=20),
    )
    Notifier(tag="release").info(
        "Ensemble a12m310 released", audience="public", timestamp=NOW - timedelta(days=2)
    )
    sync.error(
        "Tape robot <down> & [retrying]",
        audience=["internal"],
        timestamp=NOW - timedelta(days=1),
    )
    sync.warning(
        "Disk quota at 95 %", audience="internal,public", timestamp=NOW - timedelta(hours=3)
    )


def titles(news) -> list[str]:
    return [item.title for item in news.items]


def page_soup(page_markdown: str) -> BeautifulSoup:
    return BeautifulSoup(markdown.markdown(page_markdown, extensions=["extra"]), "html.parser")


def view(name: str, default: str) -> AudienceView:
    return AudienceView(Audience(name, default, Path("site")))


def public_news(now=NOW):
    return collect_news(view("public", "deny"), now=now)


def internal_news(now=NOW):
    return collect_news(view("internal", "allow"), now=now)


def test_a_notification_is_only_in_the_builds_of_its_audiences(notifications):
    public = public_news()
    internal = internal_news()
    everything = collect_news(None, now=NOW)
    assert titles(public) == ["Disk quota at 95 %", "Ensemble a12m310 released"]
    assert titles(internal) == [
        "Disk quota at 95 %",
        "Tape robot <down> & [retrying]",
        "3 files corrupt on tape",
        "Synced 1204 files",
    ]
    assert len(everything.items) == 5
    # Unaddressed ("Synced ...") only reaches allow-audiences.
    assert titles(collect_news(view("operators", "allow"), now=NOW)) == ["Synced 1204 files"]
    assert titles(collect_news(view("operators", "deny"), now=NOW)) == []


def test_banner_shows_recent_warnings_and_errors_only(notifications):
    internal = banner_context(internal_news())
    assert [(item["level"], item["title"]) for item in internal] == [
        ("warning", "Disk quota at 95 %"),
        ("error", "Tape robot <down> & [retrying]"),
    ]  # the 20-day-old warning and the infos are not in it
    news = internal_news()
    assert internal[0]["url"] == f"news/#{news.items[0].anchor}"
    assert [item["title"] for item in banner_context(public_news())] == ["Disk quota at 95 %"]
    assert banner_context(public_news(now=NOW + timedelta(days=8))) == []


def test_news_page_lists_newest_first_with_levels_tags_and_sanitized_content(notifications):
    news = internal_news()
    soup = page_soup(render_news_page(news))
    entries = soup.select("div.es-news")
    assert [entry["id"] for entry in entries] == [item.anchor for item in news.items]
    assert [entry["data-level"] for entry in entries] == ["warning", "error", "warning", "info"]
    assert [entry.select_one(".admonition-title").get_text() for entry in entries] == titles(news)
    assert entries[1]["class"] == ["admonition", "failure", "es-news"]
    old_warning = entries[2]
    assert old_warning["data-tag"] == "nightly-sync"
    assert old_warning.find("strong").get_text() == "warning"
    assert soup.find("script") is None
    assert "alert" not in str(soup)
    options = [option["value"] for option in soup.select('select[data-news-filter="tag"] option')]
    assert options == ["", "nightly-sync"]
    feed_link = soup.find("a", string="Atom feed")
    assert feed_link["href"] == "feeds/internal.xml"


def test_news_page_without_notifications(db):
    soup = page_soup(render_news_page(public_news()))
    assert soup.find("h1").get_text() == "News"
    assert "No news yet." in soup.get_text()
    assert soup.select("div.es-news") == []


def test_home_section_links_the_latest_three(notifications):
    news = public_news()
    paths = NewsPaths(page="generated/news.md", feed_folder="generated/feeds")
    soup = page_soup(render_latest_news(news, paths))
    links = [(a.get_text(), a["href"]) for a in soup.select("li a")]
    assert links == [(item.title, f"generated/news.md#{item.anchor}") for item in news.items[:3]]
    assert soup.find("a", string="All news")["href"] == "generated/news.md"
    assert soup.find("a", string="Atom feed")["href"] == "generated/feeds/public.xml"


def test_titles_are_text_not_markup(notifications):
    news = internal_news()
    home = page_soup(render_latest_news(news))
    assert "Tape robot <down> & [retrying]" in [a.get_text() for a in home.select("li a")]
    page = page_soup(render_news_page(news))
    assert page.find("down") is None


def parse_feed(text: str) -> ET.Element:
    root = ET.fromstring(text.encode())
    assert root.tag == f"{ATOM}feed"
    return root


def test_atom_feed_parses_and_has_the_required_elements(notifications):
    news = internal_news()
    feed = parse_feed(render_atom_feed(news, "LQCD demo", site_url="https://lqcd.example/site"))
    assert feed.findtext(f"{ATOM}title") == "LQCD demo: news for internal"
    assert feed.findtext(f"{ATOM}id").startswith("urn:uuid:")
    assert feed.findtext(f"{ATOM}updated") == "2026-03-10T09:00:00Z"
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links == {
        "alternate": "https://lqcd.example/site/news/",
        "self": "https://lqcd.example/site/feeds/internal.xml",
    }
    entries = feed.findall(f"{ATOM}entry")
    assert [entry.findtext(f"{ATOM}title") for entry in entries] == titles(news)
    for entry, item in zip(entries, news.items, strict=True):
        assert entry.findtext(f"{ATOM}id").startswith("urn:uuid:")
        assert entry.findtext(f"{ATOM}updated") == item.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert entry.find(f"{ATOM}link").get("href") == (
            f"https://lqcd.example/site/news/#{item.anchor}"
        )
        assert entry.find(f"{ATOM}author").findtext(f"{ATOM}name") == item.author
        terms = [category.get("term") for category in entry.findall(f"{ATOM}category")]
        assert terms == [item.level, "nightly-sync"]
    content = entries[2].find(f"{ATOM}content")
    assert content.get("type") == "html"
    body = BeautifulSoup(content.text, "html.parser")
    assert body.find("strong").get_text() == "warning"
    assert body.find("script") is None


def test_feeds_differ_per_audience_and_ids_are_stable(notifications):
    public = parse_feed(render_atom_feed(public_news(), "LQCD demo"))
    internal = parse_feed(render_atom_feed(internal_news(), "LQCD demo"))
    public_ids = {entry.findtext(f"{ATOM}id") for entry in public.findall(f"{ATOM}entry")}
    internal_ids = {entry.findtext(f"{ATOM}id") for entry in internal.findall(f"{ATOM}entry")}
    assert len(public_ids) == 2 and len(internal_ids) == 4
    assert len(public_ids & internal_ids) == 1  # the notification for both
    assert public.findtext(f"{ATOM}id") != internal.findtext(f"{ATOM}id")
    again = parse_feed(render_atom_feed(public_news(), "LQCD demo"))
    assert {entry.findtext(f"{ATOM}id") for entry in again.findall(f"{ATOM}entry")} == public_ids
    # Without a site URL, links are relative to the feed (feeds/public.xml).
    first = public.find(f"{ATOM}entry").find(f"{ATOM}link").get("href")
    assert first.startswith("../news/#news-")


@pytest.mark.slow
@pytest.mark.browser
@needs_chromium
def test_filters_hide_and_show_entries_in_a_real_browser(notifications, tmp_path):
    from playwright.sync_api import sync_playwright

    body = markdown.markdown(render_news_page(collect_news(None, now=NOW)), extensions=["extra"])
    script = files("espresso_static.templates").joinpath("assets/news.js").read_text()
    page_file = tmp_path / "news.html"
    page_file.write_text(
        f"<!doctype html><html><body>{body}<script>{script}</script></body></html>"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{page_file.as_uri()}?tag=nightly-sync")

        def visible_titles():
            return page.locator(".es-news:visible .admonition-title").all_inner_texts()

        assert page.locator("[data-news-filters]").is_visible()
        assert "Ensemble a12m310 released" not in visible_titles()
        assert len(visible_titles()) == 4
        page.select_option('select[data-news-filter="tag"]', "")
        page.select_option('select[data-news-filter="level"]', "warning")
        assert visible_titles() == [
            "Disk quota at 95 %",
            "Tape robot <down> & [retrying]",
            "3 files corrupt on tape",
        ]
        assert page.locator("[data-news-count]").inner_text() == "3 of 5 shown"
        assert "level=warning" in page.url
        browser.close()


@pytest.mark.slow
@pytest.mark.django_db
def test_demo_notifications_show_on_the_demo_site(tmp_path):
    """The demo's notifications in a real build of the demo project: News page, home
    section, banner on every page, feed linked from the head; internal only in the
    internal build."""
    config = load_config(REPO)
    docs = tmp_path / "site_src"
    shutil.copytree(config.docs_dir, docs, ignore=shutil.ignore_patterns("generated"))
    generate(files=400)  # the news about corrupt files names three of its files
    generate_notifications()
    sites = {}
    for audience in ("internal", "public"):
        built = dataclasses.replace(config, docs_dir=docs, site_dir=tmp_path / audience)
        options = BuildOptions(audience=audience, strict=True, quiet=True)
        sites[audience] = build_site(built, built.site_dir, options).site_dir

    internal = sites["internal"]
    news = BeautifulSoup((internal / "generated/news/index.html").read_text(), "html.parser")
    entries = news.select("article div.es-news")
    assert len(entries) == len(NOTIFICATIONS)
    assert entries[0].select_one(".admonition-title").get_text() == "Frontier jobs failing"
    assert news.find("script", src=lambda src: src and src.endswith("assets/news.js"))

    home = BeautifulSoup((internal / "index.html").read_text(), "html.parser")
    latest = [a.get_text() for a in home.select("article li a[href*='news/#news-']")]
    assert latest == [
        "Frontier jobs failing",
        "3 files corrupt on tape",
        "Data server maintenance on Saturday",
    ]
    for page in (home, news):
        banner = [a.get_text() for a in page.select(".md-banner .es-announce a")]
        assert banner == latest  # an error and two warnings of the last days
    feed_link = home.find("link", type="application/atom+xml")["href"]
    feed = ET.parse(internal / feed_link).getroot()
    assert len(feed.findall(f"{ATOM}entry")) == len(NOTIFICATIONS)

    public = sites["public"]
    public_home = BeautifulSoup((public / "index.html").read_text(), "html.parser")
    assert [a.get_text() for a in public_home.select(".md-banner .es-announce a")] == [
        "Data server maintenance on Saturday"
    ]
    public_feed = ET.parse(public / "generated/feeds/public.xml").getroot()
    titles_public = [
        entry.findtext(f"{ATOM}title") for entry in public_feed.findall(f"{ATOM}entry")
    ]
    assert titles_public == [
        "Data server maintenance on Saturday",
        "Three ensembles released as open data",
        "Production started",
    ]
    assert not (public / "generated/feeds/internal.xml").exists()


SITE_URL = "https://example.org/db/"


@pytest.mark.django_db
def test_every_feed_link_resolves_inside_the_site(project, tmp_path):  # noqa: F811
    """Feed readers resolve a link against the feed's own URL: from each feed file
    (the root copy included), every link reaches a page of the site, and its anchor."""
    generate_notifications()
    site = tmp_path / "site"
    build(project, site)
    feeds = sorted(site.glob("*.xml")) + sorted((site / "generated").rglob("*.xml"))
    feeds = [path for path in feeds if ET.parse(path).getroot().tag == f"{ATOM}feed"]
    assert {path.relative_to(site).as_posix() for path in feeds} == {
        "feed.xml",
        "generated/feeds/internal.xml",
        "generated/changes/internal.xml",
    }
    for path in feeds:
        feed_url = urljoin(SITE_URL, path.relative_to(site).as_posix())
        links = list(ET.parse(path).getroot().iter(f"{ATOM}link"))
        assert links
        for link in links:
            target, anchor = urldefrag(urljoin(feed_url, link.get("href")))
            assert target.startswith(SITE_URL), (path.name, link.get("href"))
            file = site / target.removeprefix(SITE_URL)
            file = file / "index.html" if target.endswith("/") else file
            assert file.is_file(), (path.name, link.get("href"))
            if anchor:
                page = BeautifulSoup(file.read_text(), "html.parser")
                assert page.find(id=anchor), (path.name, link.get("href"))


def test_a_tag_is_shown_and_filtered_as_written_never_as_math(db):
    """A tag is a value: in an attribute (the filter's option, the entry's data-tag) and
    in the text it is written as it is, never typeset (math markup holds quotes that
    would end the attribute)."""
    tag = r"sync $\color{red}{\rm INJECTED}$ x"
    Notifier(tag=tag).info("Synced", audience="internal", timestamp=NOW)
    soup = page_soup(render_news_page(internal_news()))
    (entry,) = soup.select("div.es-news")
    assert entry["data-tag"] == tag
    options = [option["value"] for option in soup.select('select[data-news-filter="tag"] option')]
    assert options == ["", tag]
    assert not soup.select(".arithmatex")
    assert tag in entry.find("code").get_text()
