"""The render step's shared tools: the one Jinja environment, the escaping of user
text, and where pages live. The pages themselves come from the features
(:mod:`espresso_static.site.feature`); this module imports none of them.

User text (docstrings, help texts, choices, values) is data, never template code:
templates only see it through the filters below, which keep Markdown code spans and
math but neutralise HTML, links, attribute lists and snippet markers.
"""

from __future__ import annotations

import posixpath
import re
from datetime import UTC, datetime
from functools import cache
from importlib import resources

import jinja2
from markupsafe import Markup

from espresso_static.site.collect import AppInfo, ModelInfo

#: Where the generated pages live inside the docs folder (gitignored).
GENERATED = "generated"
#: Fragments included by hand-written pages (not pages themselves).
PARTIALS = "partials"
HOME_PARTIAL = f"{PARTIALS}/home.md"


# -- escaping user text ------------------------------------------------------------------

#: Code spans and math (arithmatex: $..$, $$..$$, \(..\), \[..\]) are kept verbatim.
_VERBATIM = re.compile(
    r"(?P<code>(?P<ticks>`+)(?s:.+?)(?P=ticks))"
    r"|(?P<math>\$\$(?s:.+?)\$\$|\$(?=\S)[^$\n]+?(?<=\S)\$|\\\((?s:.+?)\\\)|\\\[(?s:.+?)\\\])"
)
#: Characters with a meaning in Markdown extensions or HTML, written as entities.
_PLAIN_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "[": "&#91;",
    "]": "&#93;",
    "{": "&#123;",
    "}": "&#125;",
    "|": "&#124;",
}
_PLAIN_PATTERN = re.compile("|".join(re.escape(c) for c in _PLAIN_ESCAPES))
#: In ``<code>`` values nothing is Markdown: emphasis, math and escapes go too.
_CODE_ESCAPES = {**_PLAIN_ESCAPES, "*": "&#42;", "_": "&#95;", "`": "&#96;", "$": "&#36;"}
_CODE_ESCAPES["\\"] = "&#92;"
# A line break would end the table row the value sits in.
_CODE_ESCAPES.update({"\n": "&#10;", "\r": "&#13;"})
_CODE_PATTERN = re.compile("|".join(re.escape(c) for c in _CODE_ESCAPES))


def escape_plain(text: str) -> str:
    return _PLAIN_PATTERN.sub(lambda m: _PLAIN_ESCAPES[m.group()], text)


def markdown_text(text: str, *, inline: bool) -> str:
    """User text as safe Markdown: code spans and math verbatim, the rest escaped.

    ``inline`` (table cells, list items) joins lines and makes pipes inside math
    ``\\vert`` so they cannot split a table cell; otherwise paragraphs are kept and a
    leading ``#`` cannot start a heading.
    """
    text = str(text or "")
    if inline:
        text = " ".join(text.split())
    pieces, position = [], 0
    for match in _VERBATIM.finditer(text):
        pieces.append(escape_plain(text[position : match.start()]))
        verbatim = match.group()
        if inline and match.group("math"):  # tables split math at pipes, not code spans
            verbatim = verbatim.replace("|", r"\vert ")
        pieces.append(verbatim)  # Markdown and arithmatex escape HTML in both
        position = match.end()
    pieces.append(escape_plain(text[position:]))
    result = "".join(pieces)
    if not inline:
        result = re.sub(r"(?m)^(\s*)([#=+-])", lambda m: m.group(1) + "\\" + m.group(2), result)
    return result


def literal_text(value: object) -> str:
    """A row value as Markdown showing it as written, on one line: no math, code span,
    emphasis or escape (only the project's own texts, e.g. help texts, may use math)."""
    return _CODE_PATTERN.sub(lambda m: _CODE_ESCAPES[m.group()], " ".join(str(value).split()))


def code_html(value: object) -> str:
    """A value as ``<code>`` that no Markdown or math extension touches."""
    text = _CODE_PATTERN.sub(lambda m: _CODE_ESCAPES[m.group()], str(value))
    return f"<code>{text}</code>"


def mermaid_id(name: str) -> str:
    return re.sub(r"\W", "_", name, flags=re.ASCII) or "_"


def mermaid_label(text: str) -> str:
    return re.sub(r"[^\w .-]", "", text, flags=re.ASCII)[:60] or "-"


def relative_link(source: str, target: str) -> str:
    """The Markdown link from page ``source`` to page ``target`` (paths from the same root)."""
    return posixpath.relpath(target, posixpath.dirname(source) or ".")


def _markup(function):
    return lambda *args, **kwargs: Markup(function(*args, **kwargs))


@cache
def template_environment() -> jinja2.Environment:
    # Autoescape: a value a template forgets to filter is HTML-escaped, never raw.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("espresso_static.templates"))),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["text"] = _markup(lambda value: markdown_text(value, inline=True))
    env.filters["prose"] = _markup(lambda value: markdown_text(value, inline=False))
    env.filters["code"] = _markup(code_html)
    env.filters["value"] = _markup(literal_text)
    env.filters["count"] = lambda number: f"{number:,}"
    env.filters["first_sentence"] = first_sentence
    env.filters["when"] = format_time
    return env


def render_template(name: str, **variables) -> str:
    return template_environment().get_template(name).render(**variables)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def first_sentence(text: str) -> str:
    paragraph = str(text or "").strip().split("\n\n")[0]
    match = re.match(r"(.+?[.!?])(\s|$)", " ".join(paragraph.split()))
    return match.group(1) if match else " ".join(paragraph.split())


# -- paths --------------------------------------------------------------------------------


def app_page_path(app: AppInfo | str) -> str:
    label = app if isinstance(app, str) else app.label
    return f"{label}/index.md"


def model_page_path(model: ModelInfo) -> str:
    return f"{model.app_label}/{model.slug}.md"


def template_file(path: str) -> bytes:
    """A file of the package's templates folder (``path`` relative to it)."""
    return resources.files("espresso_static.templates").joinpath(path).read_bytes()
