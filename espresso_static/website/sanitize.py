"""The one way text we did not write reaches a page.

Every string from the database, the models (docstrings, help texts, verbose names,
choices, defaults), the configuration and file names reaches a page through one of
these functions, each for its context:

- :func:`inline_text`: a value shown literally on one line (a table cell, a title,
  a list item, an HTML attribute): HTML-escaped, and every character Markdown or a
  Markdown extension gives a meaning (``*``, ``[``, ``|``, ``$``, ``{``, ``-``...)
  written as a numeric character reference, so no page-level processing (emphasis,
  links, tables, attribute lists, snippet includes, macros) can apply to it. Math
  (``$..$``, ``\\(..\\)``...) and code spans become the elements MathJax and the
  theme read (``<span class="arithmatex">`` with escaped TeX, ``<code>``).
- :func:`prose_html`: text meant as Markdown (docstrings, help texts, descriptions):
  rendered to HTML with math, then sanitized with the allow-list of the news
  (:func:`markdown_to_html`), then neutralised like :func:`inline_text` and put on one
  line, so it is one raw HTML block the page's Markdown passes through untouched.
- :func:`literal_text`: a row value, shown as written (no math or code spans).
- :func:`code_html`: a value as ``<code>``, shown exactly.
- :func:`prose_inline`: prose inside a line (a help text in a table cell).
- :func:`~espresso_static.data.plain_values.csv_cell`: a spreadsheet cell (there, as
  ``todo`` writes CSV too).

Markdown passes raw HTML through, so rendered HTML is sanitized with nh3 (an
allow-list sanitizer): whatever is not explicitly allowed is removed, and an image
must be on the site (a page asks no other server for anything).
"""

from __future__ import annotations

import logging
import re
import shlex
import threading
from html import escape
from pathlib import Path

import markdown
import nh3
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

#: A URL's scheme (letters first, then letters, digits, `+`, `-` or `.`).
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")
#: What a browser drops before reading a URL: spaces and control characters at its
#: ends, tabs and line breaks anywhere.
_URL_ENDS = "".join(map(chr, range(0x21)))
_URL_DROPPED = re.compile(r"[\t\n\r]")


def is_relative_url(url: str) -> bool:
    """Whether ``url`` stays on the site: no scheme, no ``//host`` (browsers read ``\\``
    as ``/`` in web addresses)."""
    address = _URL_DROPPED.sub("", url).strip(_URL_ENDS).replace("\\", "/")
    return not (_SCHEME.match(address) or address.startswith("//"))


class _RemoteImagesAsLinks(Treeprocessor):
    """A Markdown image with a remote (or ``data:``) address becomes a link to it with its
    alt text, or just the text inside a link: the reader sees what it was and may open
    it; the page fetches nothing (the sanitizer drops such a ``src`` of raw HTML)."""

    def run(self, root) -> None:
        self._replace_in(root, in_link=False)

    def _replace_in(self, parent, in_link: bool) -> None:
        for element in parent:
            if element.tag == "img" and not is_relative_url(element.get("src", "")):
                address = element.get("src", "")
                text = element.get("alt") or address
                element.attrib.clear()
                element.tag, element.text = ("span" if in_link else "a"), text
                if not in_link:
                    element.set("href", address)
            else:
                self._replace_in(element, in_link or element.tag == "a")


class RemoteImagesAsLinks(Extension):
    def extendMarkdown(self, md) -> None:
        # After the inline patterns made the images (20), before unescaping (0).
        md.treeprocessors.register(_RemoteImagesAsLinks(md), "remote-images-as-links", 15)


#: Markdown extensions of prose and news: structure (tables, fenced code, footnotes...),
#: math, which arithmatex writes as escaped TeX in ``arithmatex`` elements, and images
#: from other servers as links.
MARKDOWN_EXTENSIONS = ["extra", "sane_lists", "pymdownx.arithmatex", RemoteImagesAsLinks()]
MARKDOWN_SETTINGS = {"pymdownx.arithmatex": {"generic": True}}
#: Link targets besides relative URLs; everything else (javascript:, data:, vbscript:,
#: ...) is dropped. An image's address must be relative (:func:`_fetched_locally`).
URL_SCHEMES = {"http", "https", "mailto"}
#: Elements removed together with their content (not just unwrapped to text).
DROPPED_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "template", "noscript"}
#: nh3's default allow-list of tags, minus the image maps that only add link surface.
ALLOWED_TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area"}
ALLOWED_ATTRIBUTES = {
    tag: set(attributes)
    for tag, attributes in nh3.ALLOWED_ATTRIBUTES.items()
    if tag in ALLOWED_TAGS
} | {"a": {"href", "hreflang", "title"}, "img": {"src", "alt", "title", "width", "height"}}
#: The only class allowed: the math MathJax typesets (see templates/math.js).
MATH_CLASS = "arithmatex"
ALLOWED_CLASSES = {"span": {MATH_CLASS}, "div": {MATH_CLASS}}

#: Characters with a meaning in HTML, Markdown or one of its extensions (tables,
#: arithmatex, attr_list, snippets, emphasis, links, headings, lists, macros): written
#: as character references wherever text we did not write lands.
_SPECIAL = set("&<>\"'\\`*_{}[]()#+-.!|$~^=:;%@")
#: A tag as nh3 serialises it (attribute values double-quoted), or a character reference.
_TAG_OR_TEXT = re.compile(r'(<[a-zA-Z/!](?:[^>"]|"[^"]*")*>)|(&(?:#\d+|#x[0-9a-fA-F]+|\w+);)')
_ATTRIBUTE = re.compile(r'="([^"]*)"')
#: Math (arithmatex's delimiters) and code spans in a one-line value.
_MATH_OR_CODE = re.compile(
    r"(?P<code>(?P<ticks>`+)(?P<inside>.+?)(?P=ticks))"
    r"|(?P<math>\$\$(?P<display>.+?)\$\$|\\\[(?P<display2>.+?)\\\]"
    r"|\$(?=\S)(?P<inline>[^$]+?)(?<=\S)\$|\\\((?P<inline2>.+?)\\\))"
)


_WHITE_SPACE = re.compile(r"\s+")


def lines(text: object) -> list[str]:
    """``text`` split at every line break Python or a browser knows (``\\r``, ``\\r\\n``,
    ``\\u2028``, form feed...), so no form of line break survives to start a line in a
    page."""
    return str("" if text is None else text).splitlines()


def one_line(text: object) -> str:
    return " ".join(" ".join(lines(text)).split())


def _spaced_line(text: object) -> str:
    """``text`` on one line, each run of white space one space, at its ends too: a
    template's ``{{ " and " if ... }}`` keeps the spaces around its word."""
    return _WHITE_SPACE.sub(" ", " ".join(lines(text)))


def _references(text: str) -> str:
    """Text (no tags) with every special character as a character reference."""
    return "".join(f"&#{ord(char)};" if char in _SPECIAL else char for char in text)


def neutralise(html: str) -> str:
    """Sanitized ``html`` that nothing after us can re-interpret: every special
    character of text and attribute values, and every line break, becomes a character
    reference (the browser shows the same), character references stay."""

    def attribute(match: re.Match) -> str:
        return '="' + _references_keeping_entities(match.group(1)) + '"'

    def piece(match: re.Match) -> str:
        tag, entity = match.group(1), match.group(2)
        return _ATTRIBUTE.sub(attribute, tag) if tag else entity

    pieces, position = [], 0
    for match in _TAG_OR_TEXT.finditer(html):
        pieces.append(_references(html[position : match.start()]))
        pieces.append(piece(match))
        position = match.end()
    pieces.append(_references(html[position:]))
    return "".join(pieces).replace("\r", "&#13;").replace("\n", "&#10;")


def _references_keeping_entities(text: str) -> str:
    pieces, position = [], 0
    for match in re.finditer(r"&(?:#\d+|#x[0-9a-fA-F]+|\w+);", text):
        pieces.append(_references(text[position : match.start()]) + match.group())
        position = match.end()
    return "".join(pieces) + _references(text[position:])


def inline_text(value: object) -> Markup:
    """``value`` shown literally on one line, math typeset and code spans as code."""
    text = _spaced_line(value)
    pieces, position = [], 0
    for match in _MATH_OR_CODE.finditer(text):
        pieces.append(_references(text[position : match.start()]))
        if match.group("code"):
            pieces.append(code_html(match.group("inside").strip()))
        else:
            pieces.append(_math_html(match))
        position = match.end()
    pieces.append(_references(text[position:]))
    return Markup("".join(pieces))


def literal_text(value: object) -> Markup:
    """A row value shown as written on one line: no math, code span or emphasis (only
    the project's own texts, e.g. help texts, may use math)."""
    return Markup(_references(_spaced_line(value)))


def _math_html(match: re.Match) -> str:
    display = match.group("display") or match.group("display2")
    tex = display if display is not None else (match.group("inline") or match.group("inline2"))
    delimiters = ("\\[", "\\]") if display is not None else ("\\(", "\\)")
    return f'<span class="{MATH_CLASS}">{_references(delimiters[0] + tex + delimiters[1])}</span>'


def code_html(value: object) -> Markup:
    """``value`` as ``<code>``, shown exactly (line breaks as references)."""
    text = "\n".join(lines(value))
    return Markup(f"<code>{neutralise(escape(text, quote=True))}</code>")


def _fetched_locally(element: str, attribute: str, value: str) -> str | None:
    """nh3's attribute filter: an address the browser fetches by itself (an image's,
    the only one the allow-list has) must be on the site, so no page tells a third
    party who reads it. ``data:`` is refused too: it fetches nothing, but no text of
    ours needs an inline image, and SVG in it is a document of its own."""
    if attribute == "src" and not is_relative_url(value):
        return None
    return value


def sanitize_html(html: str) -> str:
    """``html`` reduced to the allowed tags, attributes and URL schemes, images to those
    of the site."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_fetched_locally,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        allowed_classes=ALLOWED_CLASSES,
    )


#: One Markdown converter per thread, reset between texts: setting one up (its
#: extensions) took four times as long as converting a help text with it.
_converters = threading.local()


def markdown_to_html(text: object) -> str:
    """Render Markdown ``text`` (with math) and sanitize the result."""
    converter = getattr(_converters, "markdown", None)
    if converter is None:
        converter = markdown.Markdown(
            extensions=MARKDOWN_EXTENSIONS, extension_configs=MARKDOWN_SETTINGS
        )
        _converters.markdown = converter
    html = converter.reset().convert("\n".join(lines(text)))
    return neutralise(sanitize_html(html))


def prose_html(text: object) -> Markup:
    """Markdown prose as one line of sanitized HTML (empty for empty text): a raw HTML
    block when alone on its line, which the page's Markdown passes through."""
    html = markdown_to_html(text)
    return Markup(f'<div class="es-prose">{html}</div>' if html else "")


#: Block elements the page's Markdown (md_in_html, inside a ``<div markdown>`` such as
#: the fields table's) takes for the start of an HTML block wherever they stand: in a
#: table cell, one ends the table there and spills the next rows as text.
_BLOCK_TAG = re.compile(
    r"<(/?)(?:address|article|aside|blockquote|details|div|dl|dd|dt|fieldset|figcaption"
    r"|figure|footer|form|h[1-6]|header|hr|li|main|nav|ol|p|pre|section|summary|table"
    r"|tbody|td|tfoot|th|thead|tr|ul)\b[^>]*>",
    re.IGNORECASE,
)


def prose_inline(text: object) -> Markup:
    """Markdown prose inside a line (a table cell): its inline markup, each block
    (paragraph, list item, ``<div>``...) ended by a line break."""
    html = _BLOCK_TAG.sub(lambda tag: "<br>" if tag.group(1) else "", markdown_to_html(text))
    html = re.sub(r"(?:\s|&#10;)*<br>(?:\s|&#10;|<br>)*", "<br>", html)  # one break each
    return Markup(re.sub(r"^(?:\s|&#10;|<br>)+|(?:\s|&#10;|<br>)+$", "", html))


def shell_word(value: object) -> Markup:
    """``value`` as one word of a shell command shown in a code block (quoted, one line)."""
    return Markup(shlex.quote(one_line(value)))


def html_title(value: object) -> Markup:
    """A title the theme prints without escaping (page and section titles in the
    navigation, the header and ``<title>``, the site name): escaped once, as Markup so
    the theme's own ``|e`` does not escape it twice."""
    return value if isinstance(value, Markup) else Markup(escape(one_line(value), quote=True))


def escaped_meta(value: object) -> object:
    """A front matter value with every string in it (in lists and mappings too)
    HTML-escaped once: mkdocs-material prints ``page.meta`` values raw (``description``
    and ``author`` in ``<meta>`` attributes). Strings without ``<>&"'`` stay as they
    are, so the keys the build and the theme read (``hide``, ``search``...) still work."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        return Markup(escape(value, quote=True))
    if isinstance(value, list):
        return [escaped_meta(item) for item in value]
    if isinstance(value, dict):
        return {key: escaped_meta(item) for key, item in value.items()}
    return value


def _own_template(name: object, folders: list[Path]) -> bool:
    """Whether the template ``name`` is a file of one of ``folders`` (they come before
    the theme's, so it is the one MkDocs would load)."""
    if not isinstance(name, str):
        return False
    for folder in folders:
        path = (folder / name).resolve()
        if path.is_relative_to(folder.resolve()) and path.is_file():
            return True
    return False


def escaped_page_text_plugin(own_template_folders: list[Path]):
    """A MkDocs plugin escaping every title and front matter value the theme prints raw
    (mkdocs-material's templates mostly do not escape them), whatever their source: the
    navigation we pass, a page's front matter or first heading, a file name, the site
    name. Front matter may choose a page's template only among the project's own
    (``own_template_folders``): a theme template such as ``redirect.html`` puts a front
    matter value in a script; any other is dropped with a warning (in strict mode the
    build fails)."""
    from mkdocs.plugins import BasePlugin, event_priority

    log = logging.getLogger("mkdocs.plugins.espresso_static")

    class EscapedPageText(BasePlugin):
        def on_nav(self, nav, config, files):
            pending = list(nav.items)
            while pending:
                item = pending.pop()
                if item.is_section:
                    item.title = html_title(item.title)
                    pending.extend(item.children)
            return nav

        @event_priority(100)
        def on_page_markdown(self, markdown, page, config, files):
            # Before plugins that keep front matter values of their own (the tags
            # plugin reads tags here, at priority -50, and prints them raw).
            _escape_meta(page)
            return markdown

        @event_priority(110)  # before the tags plugin's listings (100) print titles
        def on_env(self, env, config, files):
            # Runs after every page was read and rendered (titles known), before any
            # page is written or indexed for search.
            for file in files.documentation_pages():
                page = file.page
                if page is not None:
                    _check_template(page, file.src_uri)
                    page.title = html_title(page.title or "")
                    _escape_meta(page)
            config.site_name = html_title(config.site_name)
            return env

    def _escape_meta(page) -> None:
        """Escape ``page``'s front matter values, once (escaped values stay as they are)."""
        title = page.meta.get("title")
        page.meta.update(escaped_meta(page.meta))
        if title is not None:  # the theme's header prints it too
            page.meta["title"] = html_title(title)

    def _check_template(page, source: str) -> None:
        template = page.meta.get("template")
        if template is not None and not _own_template(template, own_template_folders):
            del page.meta["template"]
            log.warning(
                f"{source}: front matter template {one_line(template)!r} ignored: "
                "only a template of the theme's custom_dir may be chosen"
            )

    return EscapedPageText()
