"""The site's news: the News page, the latest items on the home page, the announcement
banner (recent warnings and errors) and the Atom feed, for one audience.

:func:`collect_news` reads the notifications once into :class:`News`; the render
functions never touch Django. Which notifications a build shows is decided by one
rule, :meth:`espresso_static.declare.access.AudienceView.sees_notification`: one naming
audiences is in their builds; one naming none ("unaddressed") only in the builds of
audiences that see everything not hidden from them (``default = "allow"``, e.g.
internal), so nothing reaches a public site by omission. Without a view (``None``)
every notification is collected.
"""

from __future__ import annotations

import posixpath
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from markupsafe import Markup

from espresso_static.data.levels import LEVEL_NAMES, LEVELS
from espresso_static.website.context import Asset, Contribution, Page, RenderContext
from espresso_static.website.feature import Build, Feature
from espresso_static.website.paths import ASSETS, FEEDS, NEWS, page_address
from espresso_static.website.render import GENERATED, relative_link, render_template, template_file
from espresso_static.website.sanitize import markdown_to_html

#: mkdocs-material admonition styles for the levels (colour and icon come from the theme).
ADMONITIONS = {"debug": "note", "info": "info", "warning": "warning", "error": "failure"}
#: Warnings and errors younger than this appear in the announcement banner.
BANNER_AGE = timedelta(days=7)
BANNER_ITEMS = 3
HOME_ITEMS = 3
ATOM = "http://www.w3.org/2005/Atom"
#: ``<updated>`` of an empty feed of an empty database (a fixed time: same database,
#: same feed).
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class NewsItem:
    """One notification as published: the content already rendered and sanitized."""

    id: int
    title: str
    html: str
    level: str
    tag: str
    audiences: tuple[str, ...]
    timestamp: datetime
    author: str

    @property
    def anchor(self) -> str:
        return f"news-{self.id}"

    @property
    def admonition(self) -> str:
        return ADMONITIONS[self.level]


@dataclass(frozen=True)
class News:
    """The notifications one build publishes, newest first."""

    audience: str | None
    items: tuple[NewsItem, ...]
    #: When the news was collected: the banner shows what is recent at that time.
    collected_at: datetime

    @property
    def banner(self) -> tuple[NewsItem, ...]:
        """Recent warnings and errors, newest first."""
        recent = [
            item
            for item in self.items
            if item.level in ("warning", "error")
            and self.collected_at - item.timestamp <= BANNER_AGE
        ]
        return tuple(recent[:BANNER_ITEMS])

    @property
    def latest(self) -> tuple[NewsItem, ...]:
        return self.items[:HOME_ITEMS]

    @property
    def levels(self) -> list[str]:
        present = {item.level for item in self.items}
        return [level for level in LEVEL_NAMES.values() if level in present]

    @property
    def tags(self) -> list[str]:
        return sorted({item.tag for item in self.items if item.tag})


@dataclass(frozen=True)
class NewsPaths:
    """Where the News page and the feed are: paths from the root of the docs folder,
    which are also their paths in the site (directory URLs: ``news.md`` → ``news/``)."""

    page: str = f"{NEWS}.md"
    feed_folder: str = FEEDS

    def feed(self, audience: str | None) -> str:
        """E.g. ``feeds/internal.xml`` (``feeds/all.xml`` for a build without audience)."""
        return posixpath.join(self.feed_folder, f"{audience or 'all'}.xml")

    @property
    def page_url(self) -> str:
        return page_address(self.page)


def collect_news(view=None, now: datetime | None = None) -> News:
    """The notifications the :class:`~espresso_static.declare.access.AudienceView` ``view`` sees
    (all of them for ``None``), newest first."""
    from django.utils import timezone

    from espresso_static.models import Notification

    rows = Notification.objects.order_by("-timestamp", "-id")
    items = tuple(_news_item(row) for row in rows if view is None or view.sees_notification(row))
    audience = view.name if view is not None else None
    return News(audience=audience, items=items, collected_at=now or timezone.now())


def _news_item(row) -> NewsItem:
    return NewsItem(
        id=row.pk,
        title=row.title,
        html=Markup(markdown_to_html(row.content)),
        level=LEVEL_NAMES.get(row.level, "info"),
        tag=row.tag,
        audiences=tuple(row.audiences or ()),
        timestamp=row.timestamp.astimezone(UTC),
        author=row.author,
    )


# -- the News page and the home page -------------------------------------------------


def render_news_page(news: News, paths: NewsPaths = NewsPaths()) -> str:
    """The Markdown source of the News page."""
    return _render(
        news,
        home=False,
        news_link="",
        feed_link=relative_link(paths.page, paths.feed(news.audience)),
    )


def render_latest_news(news: News, paths: NewsPaths = NewsPaths(), home: str = "index.md") -> str:
    """The Markdown of the "Latest news" section of the page ``home`` (a path from the
    docs folder's root, as the paths in ``paths``)."""
    return _render(
        news,
        home=True,
        news_link=relative_link(home, paths.page),
        feed_link=relative_link(home, paths.feed(news.audience)),
    )


def _render(news: News, **variables) -> str:
    return render_template("news.md.j2", news=news, all_levels=list(LEVELS), **variables)


# -- the announcement banner ---------------------------------------------------------


def banner_context(news: News, paths: NewsPaths = NewsPaths()) -> list[dict]:
    """What the theme override's ``announce`` block shows (plain values; the template
    escapes them and prefixes the links, relative to the site root, with ``base_url``)."""
    return [
        {
            "title": item.title,
            "level": item.level,
            "date": f"{item.timestamp:%Y-%m-%d}",
            "url": f"{paths.page_url}#{item.anchor}",
        }
        for item in news.banner
    ]


# -- the Atom feed -------------------------------------------------------------------


def render_atom_feed(
    news: News,
    project_name: str,
    paths: NewsPaths = NewsPaths(),
    site_url: str | None = None,
    snapshot: datetime | None = None,
    feed_path: str | None = None,
) -> str:
    """An Atom 1.0 feed of ``news`` (RFC 4287) served at ``feed_path`` (a path from the
    site's root; by default the audience's feed in ``paths``). Links are absolute with
    ``site_url``, else relative to ``feed_path`` (feed readers resolve them against the
    feed's own URL). An empty feed was last updated at the database ``snapshot`` time."""
    ET.register_namespace("", ATOM)
    feed_path = feed_path or paths.feed(news.audience)
    site_base = site_url.rstrip("/") + "/" if site_url else "../" * feed_path.count("/")
    feed = ET.Element(_atom("feed"))
    audience = news.audience or "everyone"
    _text(feed, "title", f"{project_name}: news for {audience}")
    _text(feed, "id", _urn(project_name, f"feed/{audience}"))
    # Without entries the feed is as new as the data (never the build time): builds
    # of the same database are identical.
    updated = news.items[0].timestamp if news.items else snapshot or EMPTY_FEED_UPDATED
    _text(feed, "updated", _rfc3339(updated))
    _link(feed, site_base + paths.page_url, "alternate", "text/html")
    if site_url:
        _link(feed, site_base + feed_path, "self", "application/atom+xml")
    _text(feed, "generator", "espresso-static")
    for item in news.items:
        feed.append(_entry(item, project_name, site_base + paths.page_url))
    ET.indent(feed)
    return ET.tostring(feed, encoding="unicode", xml_declaration=True) + "\n"


def _entry(item: NewsItem, project_name: str, page_url: str) -> ET.Element:
    entry = ET.Element(_atom("entry"))
    _text(entry, "title", item.title)
    _text(entry, "id", _urn(project_name, f"notification/{item.id}"))
    _text(entry, "updated", _rfc3339(item.timestamp))
    _text(entry, "published", _rfc3339(item.timestamp))
    if item.author:
        _text(ET.SubElement(entry, _atom("author")), "name", item.author)
    _link(entry, f"{page_url}#{item.anchor}", "alternate", "text/html")
    ET.SubElement(entry, _atom("category"), term=item.level, label=item.level.upper())
    if item.tag:
        ET.SubElement(entry, _atom("category"), term=_NOT_XML.sub("", item.tag))
    content = _text(entry, "content", item.html)
    content.set("type", "html")
    return entry


def _atom(name: str) -> str:
    return f"{{{ATOM}}}{name}"


#: Characters XML 1.0 forbids (NUL, most C0 controls, lone surrogates, U+FFFE/F): a
#: feed holding one is not XML at all, so they are dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(parent: ET.Element, name: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, _atom(name))
    element.text = _NOT_XML.sub("", text)
    return element


def _link(parent: ET.Element, href: str, rel: str, media_type: str) -> None:
    ET.SubElement(parent, _atom("link"), href=href, rel=rel, type=media_type)


def _urn(project_name: str, name: str) -> str:
    """A stable id: the same notification keeps its id across builds and site moves."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"espresso-static:{project_name}:{name}").urn


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# -- build-site ----------------------------------------------------------------------

#: The key of the banner and feed data in MkDocs' ``extra`` (read by overrides/main.html).
THEME_EXTRA = "espresso_static_news"
#: The build's feed also at the root of the site, for the ``<link rel="alternate">``
#: of every page: mkdocs-material fetches ``sitemap.xml`` beside each alternate link's
#: target, which exists only at the root.
ROOT_FEED = "feed.xml"
#: Where build-site puts the News page and the feeds (from the docs folder's root).
BUILD_PATHS = NewsPaths(page=f"{GENERATED}/{NEWS}.md", feed_folder=f"{GENERATED}/{FEEDS}")


class NewsFeature(Feature[News]):
    """The News page, the latest news on the home page, the banner of every page and
    the audience's Atom feed (also at the site's root)."""

    name = "news"

    def on_collect(self, build: Build) -> News:
        with build.part() as line:
            news = collect_news(build.view, now=build.provenance.built_at)
            line.append(f"news {len(news.items)} items")
        return news

    def on_home_markdown(self, site, context: RenderContext, data: News | None) -> str:
        """The "Latest news" section (the home page is ``index.md``)."""
        return render_latest_news(_news(context, data), BUILD_PATHS, home="index.md")

    def on_files(self, site, context: RenderContext, data: News | None) -> list[Contribution]:
        """The News page, the audience's Atom feed, the script of the page's filters and
        the stylesheet of the filters and the banner."""
        news, paths = _news(context, data), BUILD_PATHS
        feed = render_atom_feed(
            news, context.config.name, paths, snapshot=context.provenance.snapshot
        )
        return [
            Page(paths.page.removeprefix(f"{GENERATED}/"), render_news_page(news, paths), "News"),
            Asset(paths.feed(news.audience).removeprefix(f"{GENERATED}/"), feed.encode()),
            Asset(f"{ASSETS}/news.js", template_file("assets/news.js"), include="script"),
            Asset(f"{ASSETS}/news.css", template_file("assets/news.css"), include="stylesheet"),
        ]

    def on_config(self, extra: dict, context: RenderContext, data: News | None) -> None:
        """What the theme override shows on every page: the banner and the feed link."""
        extra[THEME_EXTRA] = {
            "banner": banner_context(_news(context, data), BUILD_PATHS),
            "feed": ROOT_FEED,
            "feed_title": f"{context.config.name}: news",
        }

    def on_post_build(self, site_dir: Path, context: RenderContext, data: News | None) -> None:
        """The audience's feed again at :data:`ROOT_FEED`, its links relative to the root
        (a byte copy's would leave the site)."""
        feed = render_atom_feed(
            _news(context, data),
            context.config.name,
            BUILD_PATHS,
            snapshot=context.provenance.snapshot,
            feed_path=ROOT_FEED,
        )
        (site_dir / ROOT_FEED).write_text(feed, encoding="utf-8")


def _news(context: RenderContext, data: News | None) -> News:
    """The collected news (none when nothing was collected: render never reads the
    database)."""
    if data is not None:
        return data
    return News(
        audience=context.options.audience, items=(), collected_at=context.provenance.built_at
    )
