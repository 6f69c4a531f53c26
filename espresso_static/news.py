"""The site's news: the News page, the latest items on the home page, the announcement
banner (recent warnings and errors) and the Atom feed, for one audience.

:func:`collect_news` reads the notifications once into :class:`News`; the render
functions never touch Django. A notification is in a build when it names the build's
audience. One naming no audience is "unaddressed": it is in the builds of audiences
that see everything not hidden from them (``default = "allow"``, e.g. internal), not
in those that see only what is declared for them (``"deny"``, e.g. public), so nothing
reaches a public site by omission. A build without an audience shows everything.
"""

from __future__ import annotations

import html
import posixpath
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.resources import files

import jinja2

from espresso_static.sanitize import markdown_to_html

LEVEL_NAMES = {10: "debug", 20: "info", 30: "warning", 40: "error"}
#: mkdocs-material admonition styles for the levels (colour and icon come from the theme).
ADMONITIONS = {"debug": "note", "info": "info", "warning": "warning", "error": "failure"}
#: Warnings and errors younger than this appear in the announcement banner.
BANNER_AGE = timedelta(days=7)
BANNER_ITEMS = 3
HOME_ITEMS = 3
ATOM = "http://www.w3.org/2005/Atom"
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)
#: Characters Python-Markdown treats specially unless backslash-escaped.
MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!")


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

    page: str = "news.md"
    feed_folder: str = "feeds"

    def feed(self, audience: str | None) -> str:
        """E.g. ``feeds/internal.xml`` (``feeds/all.xml`` for a build without audience)."""
        return posixpath.join(self.feed_folder, f"{audience or 'all'}.xml")

    @property
    def page_url(self) -> str:
        path = self.page.removesuffix(".md")
        if path == "index" or path.endswith("/index"):
            return path.removesuffix("index")
        return f"{path}/"

    def link(self, target: str, source: str) -> str:
        """The relative link from the page ``source`` to ``target``."""
        return posixpath.relpath(target, posixpath.dirname(source) or ".")


def collect_news(
    audience: str | None = None, unaddressed: bool = False, now: datetime | None = None
) -> News:
    """The notifications ``audience`` may see (all of them for ``None``), newest first;
    ``unaddressed``: whether it sees those naming no audience (allow-audiences do)."""
    from django.utils import timezone

    from espresso_static.models import Notification

    rows = Notification.objects.order_by("-timestamp", "-id")
    items = tuple(
        _news_item(row)
        for row in rows
        if is_visible(list(row.audiences or []), audience, unaddressed)
    )
    return News(audience=audience, items=items, collected_at=now or timezone.now())


def is_visible(audiences: list[str], audience: str | None, unaddressed: bool) -> bool:
    """Whether a notification for ``audiences`` belongs in the build for ``audience``."""
    if audience is None:
        return True
    return audience in audiences if audiences else unaddressed


def _news_item(row) -> NewsItem:
    return NewsItem(
        id=row.pk,
        title=row.title,
        html=markdown_to_html(row.content),
        level=LEVEL_NAMES.get(row.level, "info"),
        tag=row.tag,
        audiences=tuple(row.audiences or ()),
        timestamp=row.timestamp.astimezone(UTC),
        author=row.author,
    )


# -- the News page and the home page -------------------------------------------------


@cache
def template_environment() -> jinja2.Environment:
    # Markdown pages with raw HTML inside: escape explicitly where text meets HTML.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(files("espresso_static.templates"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["md_escape"] = markdown_escape
    return env


def markdown_escape(text: str) -> str:
    """``text`` shown literally inside Markdown (e.g. a title as link text)."""
    escaped = html.escape(text, quote=False)
    return "".join(f"\\{char}" if char in MARKDOWN_SPECIAL else char for char in escaped)


def render_news_page(news: News, paths: NewsPaths = NewsPaths()) -> str:
    """The Markdown source of the News page."""
    return _render(
        news, home=False, news_link="", feed_link=paths.link(paths.feed(news.audience), paths.page)
    )


def render_latest_news(news: News, paths: NewsPaths = NewsPaths(), home: str = "index.md") -> str:
    """The Markdown of the "Latest news" section of the page ``home`` (a path from the
    docs folder's root, as the paths in ``paths``)."""
    return _render(
        news,
        home=True,
        news_link=paths.link(paths.page, home),
        feed_link=paths.link(paths.feed(news.audience), home),
    )


def _render(news: News, **variables) -> str:
    return template_environment().get_template("news.md.j2").render(news=news, **variables)


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
    news: News, project_name: str, paths: NewsPaths = NewsPaths(), site_url: str | None = None
) -> str:
    """An Atom 1.0 feed of ``news`` (RFC 4287). Links are absolute with ``site_url``,
    else relative to the feed's own location (feed readers resolve them)."""
    ET.register_namespace("", ATOM)
    feed_path = paths.feed(news.audience)
    site_base = site_url.rstrip("/") + "/" if site_url else "../" * feed_path.count("/")
    feed = ET.Element(_atom("feed"))
    audience = news.audience or "everyone"
    _text(feed, "title", f"{project_name}: news for {audience}")
    _text(feed, "id", _urn(project_name, f"feed/{audience}"))
    # Without entries nothing significant ever changed: a fixed time keeps builds
    # of the same database identical.
    updated = news.items[0].timestamp if news.items else EMPTY_FEED_UPDATED
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
        ET.SubElement(entry, _atom("category"), term=item.tag)
    content = _text(entry, "content", item.html)
    content.set("type", "html")
    return entry


def _atom(name: str) -> str:
    return f"{{{ATOM}}}{name}"


def _text(parent: ET.Element, name: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, _atom(name))
    element.text = text
    return element


def _link(parent: ET.Element, href: str, rel: str, media_type: str) -> None:
    ET.SubElement(parent, _atom("link"), href=href, rel=rel, type=media_type)


def _urn(project_name: str, name: str) -> str:
    """A stable id: the same notification keeps its id across builds and site moves."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"espresso-static:{project_name}:{name}").urn


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# -- build-site ----------------------------------------------------------------------

#: The key of the collected :class:`News` in ``RenderContext.extras``.
NEWS_EXTRA = "news"
#: The key of the banner and feed data in MkDocs' ``extra`` (read by overrides/main.html).
THEME_EXTRA = "espresso_static_news"


def build_paths() -> NewsPaths:
    """Where build-site puts the News page and the feeds (from the docs folder's root)."""
    from espresso_static.render import GENERATED

    return NewsPaths(page=f"{GENERATED}/news.md", feed_folder=f"{GENERATED}/feeds")


def collect_build_news(config, audience: str | None, now: datetime | None = None) -> News:
    """The news of one build: for ``audience`` (default: the project's default audience),
    with unaddressed notifications only when that audience allows by default."""
    name = audience or config.default_audience
    known = config.audiences.get(name)
    return collect_news(name, unaddressed=bool(known and not known.denies_by_default), now=now)


def build_news(context) -> News:
    """The news collected by the build's collect step, else collected now."""
    news = context.extras.get(NEWS_EXTRA)
    if news is None:
        news = collect_build_news(
            context.config, context.options.audience, context.provenance.built_at
        )
    return news


def news_pages(site, context) -> list:
    """``build-site`` contributor: the News page, the audience's Atom feed, the script
    of the page's filters and the stylesheet of the filters and the banner."""
    from espresso_static.render import GENERATED, Asset, Page

    news, paths = build_news(context), build_paths()
    feed = render_atom_feed(news, context.config.name, paths)
    return [
        Page(paths.page.removeprefix(f"{GENERATED}/"), render_news_page(news, paths), "News"),
        Asset(paths.feed(news.audience).removeprefix(f"{GENERATED}/"), feed.encode()),
        Asset("assets/news.js", _asset("news.js"), include="script"),
        Asset("assets/news.css", _asset("news.css"), include="stylesheet"),
    ]


def _asset(name: str) -> bytes:
    return files("espresso_static.templates").joinpath("assets", name).read_bytes()


def latest_news_markdown(context) -> str:
    """The home page's "Latest news" section (the home page is ``index.md``)."""
    return render_latest_news(build_news(context), build_paths(), home="index.md")


def theme_extra(context) -> dict:
    """What the theme override shows on every page: the banner and the feed link."""
    news, paths = build_news(context), build_paths()
    return {
        "banner": banner_context(news, paths),
        "feed": paths.feed(news.audience),
        "feed_title": f"{context.config.name}: news",
    }
