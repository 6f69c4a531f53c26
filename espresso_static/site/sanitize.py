"""Markdown written by people and scripts (notification contents) rendered to HTML that
is safe to publish: no script, no event handlers, no ``javascript:`` (or ``data:``) links.

Markdown passes raw HTML through, so the rendered HTML is sanitized afterwards with
nh3 (an allow-list sanitizer): whatever is not explicitly allowed is removed.
"""

from __future__ import annotations

import markdown
import nh3

#: Markdown extensions that only add structure (tables, fenced code, footnotes...).
MARKDOWN_EXTENSIONS = ["extra", "sane_lists"]
#: Link and image targets besides relative URLs; everything else (javascript:, data:,
#: vbscript:, ...) is dropped.
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


def sanitize_html(html: str) -> str:
    """``html`` reduced to the allowed tags, attributes and URL schemes."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def markdown_to_html(text: str) -> str:
    """Render Markdown ``text`` and sanitize the result."""
    return sanitize_html(markdown.markdown(text or "", extensions=MARKDOWN_EXTENSIONS))
