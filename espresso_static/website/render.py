"""The render step's shared tools: the one Jinja environment, the escaping of user
text, and where pages live. The pages themselves come from the features
(:mod:`espresso_static.website.feature`); this module imports none of them.

User text (docstrings, help texts, choices, values) is data, never template code:
it reaches a page only through :mod:`espresso_static.website.sanitize`, which the one
template environment applies to every value (:func:`template_environment`).
"""

from __future__ import annotations

import posixpath
import re
from datetime import UTC, datetime
from functools import cache
from importlib import resources

import jinja2
from markupsafe import Markup

from espresso_static.website.collect import AppInfo, ModelInfo
from espresso_static.website.paths import (  # noqa: F401 (GENERATED: re-exported)
    GENERATED,
    PARTIALS,
    app_folder,
    model_page_name,
)
from espresso_static.website.sanitize import (
    code_html,
    inline_text,
    literal_text,
    prose_html,
    prose_inline,
    shell_word,
)

HOME_PARTIAL = f"{PARTIALS}/home.md"


def mermaid_id(name: str) -> str:
    return re.sub(r"\W", "_", name, flags=re.ASCII) or "_"


def mermaid_label(text: str) -> str:
    return re.sub(r"[^\w .-]", "", text, flags=re.ASCII)[:60] or "-"


def relative_link(source: str, target: str) -> str:
    """The Markdown link from page ``source`` to page ``target`` (paths from the same root)."""
    return posixpath.relpath(target, posixpath.dirname(source) or ".")


#: Paths and anchors we build (links between pages, download files): no escaping needed,
#: and none applied (Markdown does not decode references in link targets).
_PATH = re.compile(r"[\w./#%-]*")


def checked_path(path: str) -> Markup:
    """A link target or id built by us, refused if it holds anything else."""
    if not _PATH.fullmatch(str(path)):
        raise ValueError(f"Not a path built by espresso-static: {path!r}")
    return Markup(path)


def _finalize(value):
    """Every ``{{ value }}`` of a template: numbers and what a filter marked safe as
    they are, any other value through :func:`inline_text`."""
    if isinstance(value, Markup | int | float) and not isinstance(value, bool):
        return value
    return inline_text(value)


@cache
def template_environment() -> jinja2.Environment:
    """The one environment of every template (pages, news). Autoescape plus
    :func:`_finalize`: a value no filter handled reaches the page as inline text, and
    ``|e`` means the same, so no path from a template puts raw text on a page."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("espresso_static.templates"))),
        autoescape=True,
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["text"] = env.filters["e"] = env.filters["escape"] = inline_text
    env.filters["prose"] = prose_html
    env.filters["prose_inline"] = prose_inline
    env.filters["code"] = code_html
    env.filters["value"] = literal_text
    env.filters["link"] = checked_path
    env.filters["shell"] = shell_word
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
    return f"{app_folder(label)}/index.md"


def model_page_path(model: ModelInfo) -> str:
    return f"{app_folder(model.app_label)}/{model_page_name(model.slug)}.md"


def template_file(path: str) -> bytes:
    """A file of the package's templates folder (``path`` relative to it)."""
    return resources.files("espresso_static.templates").joinpath(path).read_bytes()
