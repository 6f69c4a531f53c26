"""Step 2 of ``build-site``: turn the collected :class:`SiteModel` into pages and assets.

Rendering is a list of *contributors*, functions ``(site, context) -> list[Page | Asset]``
run in order; the navigation follows the order of the pages they return. Other
features (status pages, news, downloads) add a contributor to
:data:`DEFAULT_CONTRIBUTORS`. Paths are relative to ``<docs_dir>/generated/``.

User text (docstrings, help texts, choices, values) is data, never template code:
templates only see it through the filters below, which keep Markdown code spans and
math but neutralise HTML, links, attribute lists and snippet markers.
"""

from __future__ import annotations

import importlib.util
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup

from espresso_static import __version__
from espresso_static.site.collect import AppInfo, FieldInfo, ModelInfo, SiteModel
from espresso_static.project.config import ProjectConfig
from espresso_static.site.features.datapage import data_page, download_links
from espresso_static.site.features.health import health_page
from espresso_static.site.features.news import latest_news_markdown, news_pages
from espresso_static.site.population import PopulationError, population_script, script_filename
from espresso_static.site.features.status import status_pages

#: Where the generated pages live inside the docs folder (gitignored).
GENERATED = "generated"
#: Fragments included by hand-written pages (not pages themselves).
PARTIALS = "partials"
HOME_PARTIAL = f"{PARTIALS}/home.md"
#: Above this many models an app's diagram shows relations only (readable, fast).
DIAGRAM_ATTRIBUTES_UP_TO = 30
#: The MathJax files a page needs offline (from the django-static-mathjax package).
MATHJAX_FILES = (
    "tex-chtml.js",
    "ui/safe.js",  # filters javascript: links and styles out of user-written TeX
    "input/tex/extensions",
    "output/chtml/fonts/woff-v2",
)


@dataclass(frozen=True)
class Page:
    """A Markdown page; ``section`` places it in the navigation (None: not in the nav)."""

    path: str
    markdown: str
    title: str
    section: tuple[str, ...] | None = ()


@dataclass(frozen=True)
class Asset:
    """A file copied into the site as is; ``include`` adds it to every page
    (``"script"`` or ``"stylesheet"``)."""

    path: str
    content: bytes
    include: str | None = None


@dataclass(frozen=True)
class Provenance:
    built_at: datetime
    snapshot: datetime | None
    git_commit: str | None
    version: str = __version__


@dataclass(frozen=True)
class BuildOptions:
    #: The audience to build for (None: the project's default audience).
    audience: str | None = None
    strict: bool = False
    quiet: bool = False
    #: Build even when the migrations and the database do not match the models.
    allow_drift: bool = False
    #: Reuse outputs of unchanged inputs from the project's cache (``--no-cache``: off).
    use_cache: bool = True


@dataclass(frozen=True)
class RenderContext:
    config: ProjectConfig
    options: BuildOptions
    provenance: Provenance
    extras: dict = field(default_factory=dict)


Contribution = Page | Asset
Contributor = Callable[[SiteModel, RenderContext], list[Contribution]]


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


# -- contributors -------------------------------------------------------------------------


def home_partial(site: SiteModel, context: RenderContext) -> list[Contribution]:
    """The generated part of the home page, included by ``<docs_dir>/index.md``."""
    # Included into index.md at the root of docs_dir: links are relative to it.
    links = {model.label: f"{GENERATED}/{model_page_path(model)}" for model in site.models}
    apps = [(app, f"{GENERATED}/{app_page_path(app)}") for app in site.apps]
    markdown = render_template(
        "home.md.j2",
        site=site,
        apps=apps,
        links=links,
        provenance=context.provenance,
        total_rows=sum(model.row_count for model in site.models),
        latest_news=Markup(latest_news_markdown(context)),
    )
    return [Page(HOME_PARTIAL, markdown, "Home", section=None)]


def app_pages(site: SiteModel, context: RenderContext) -> list[Contribution]:
    """Per app: an overview with its ER diagram, then one page per model."""
    contributions: list[Contribution] = []
    for app in site.apps:
        section = (app.verbose_name,)
        path = app_page_path(app)
        contributions.append(
            Page(
                path,
                render_template(
                    "app.md.j2",
                    app=app,
                    diagram=Markup(er_diagram(site, app)),  # sanitized identifiers
                    links={m.label: relative_link(path, model_page_path(m)) for m in app.models},
                ),
                title="Overview",
                section=section,
            )
        )
        for model in app.models:
            downloads = download_links(site, context, model_page_path(model)).get(model.label)
            contributions.extend(model_contributions(site, model, section, downloads))
    return contributions


def model_contributions(
    site: SiteModel, model: ModelInfo, section: tuple[str, ...], downloads: str | None = None
) -> list[Contribution]:
    """The page of ``model`` (``downloads``: link to its files on the Data page) and
    its population script."""
    path = model_page_path(model)
    script, no_script = None, ""
    try:
        script = population_script(site, model) if model.is_base else None
    except PopulationError as error:
        no_script = str(error)  # one odd model must not fail the whole site
    links = {other.label: relative_link(path, model_page_path(other)) for other in site.models}
    markdown = render_template(
        "model.md.j2",
        model=model,
        site=site,
        links=links,
        fields=[f for f in model.fields if not f.parent_link],
        type_of=lambda f: Markup(field_type(f, links)),  # class names and our paths
        choices_of=lambda f: Markup(field_choices(f)),  # built from escaped pieces
        script=script,
        no_script=no_script,
        downloads=downloads,
        # Verbatim in a fenced block, which escapes it; the fence outruns any backticks.
        code=Markup(script.code) if script else "",
        fence=_fence_for(script.code) if script else "```",
    )
    contributions: list[Contribution] = [Page(path, markdown, model.name, section=section)]
    if script:
        contributions.append(
            Asset(f"{model.app_label}/{script_filename(model)}", script.code.encode())
        )
    return contributions


def math_assets(site: SiteModel, context: RenderContext) -> list[Contribution]:
    """MathJax (from the django-static-mathjax package) and its configuration, so math
    renders with no request to a third-party server."""
    root = _mathjax_root()
    assets: list[Contribution] = [
        Asset("assets/mathjax-config.js", _package_file("math.js"), include="script")
    ]
    for name in MATHJAX_FILES:
        path = root / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            relative = file.relative_to(root).as_posix()
            include = "script" if relative == "tex-chtml.js" else None
            assets.append(Asset(f"assets/mathjax/{relative}", file.read_bytes(), include=include))
    return assets


def _mathjax_root() -> Path:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        from espresso_static.exceptions import EspressoStaticError

        raise EspressoStaticError(
            "MathJax is missing: pip install django-static-mathjax (a dependency of espresso-static)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"


def _package_file(name: str) -> bytes:
    return resources.files("espresso_static.templates").joinpath(name).read_bytes()


def style_assets(site: SiteModel, context: RenderContext) -> list[Contribution]:
    return [Asset("assets/espresso-static.css", _package_file("site.css"), include="stylesheet")]


DEFAULT_CONTRIBUTORS: tuple[Contributor, ...] = (
    home_partial,
    app_pages,
    math_assets,
    style_assets,
    status_pages,
    news_pages,
    data_page,
    health_page,
)


def render_site(
    site: SiteModel,
    context: RenderContext,
    contributors: Iterable[Contributor] = DEFAULT_CONTRIBUTORS,
) -> list[Contribution]:
    """Run the contributors; fail on two contributions to the same path."""
    contributions: list[Contribution] = []
    seen: dict[str, str] = {}
    for contributor in contributors:
        for item in contributor(site, context):
            if item.path in seen:
                raise ValueError(
                    f"{contributor.__name__} and {seen[item.path]} both write {item.path}."
                )
            seen[item.path] = contributor.__name__
            contributions.append(item)
    return contributions


# -- pieces of pages ----------------------------------------------------------------------


def field_type(f: FieldInfo, links: dict[str, str]) -> str:
    """Markdown of a field's type: ``CharField (max 40)``, ``ForeignKey → [Ensemble](…)``."""
    if f.related_model:
        name = f.related_model.split(".")[-1]
        target = f"[{name}]({links[f.related_model]})" if f.related_model in links else name
        return f"{f.type} → {target}"
    if f.max_length:
        return f"{f.type} (max {f.max_length})"
    return f.type


def field_choices(f: FieldInfo) -> str:
    """The cell listing allowed values (``value`` label) and constraints."""
    choices = [
        f"{code_html(value)} {markdown_text(label, inline=True)}" for value, label in f.choices
    ]
    return "<br>".join([*choices, ", ".join(field_constraints(f))]).removesuffix("<br>")


def field_constraints(f: FieldInfo) -> list[str]:
    words = []
    if f.primary_key:
        words.append("primary key")
    if f.unique:
        words.append("unique")
    if f.indexed:
        words.append("indexed")
    if f.null:
        words.append("nullable")
    if not f.editable and not f.primary_key:
        words.append("set automatically")
    return words


def er_diagram(site: SiteModel, app: AppInfo) -> str:
    """A Mermaid ``erDiagram`` of the app's models, their relations and inheritance."""
    names = _diagram_names(site)
    lines = ["erDiagram"]
    with_attributes = len(app.models) <= DIAGRAM_ATTRIBUTES_UP_TO
    for model in app.models:
        own = [f for f in model.fields if f.inherited_from is None and not f.parent_link]
        if with_attributes and own:
            lines.append(f"    {names[model.label]} {{")
            for f in own:
                key = "FK" if f.relation in ("foreign key", "one-to-one") else ""
                key = "UK" if f.unique else key
                attribute = f"{mermaid_id(f.type)} {mermaid_id(f.name)} {key}".rstrip()
                lines.append(f"        {attribute}")
            lines.append("    }")
        else:
            lines.append(f"    {names[model.label]}")
    for model in app.models:
        source = names[model.label]
        for parent in model.parents[:1]:
            lines.append(f'    {source} |o--|| {names[parent]} : "is a"')
        for relation in model.relations:
            if relation.direction != "forward":
                continue
            lines.append(
                f"    {source} {_cardinality(relation)} {names[relation.target]} : "
                f'"{mermaid_label(relation.name)}"'
            )
    return "\n".join(lines)


def _cardinality(relation) -> str:
    if relation.kind == "many-to-many":
        return "}o--o{"
    if relation.kind == "one-to-one":
        return "|o--o|" if relation.null else "|o--||"
    return "}o--o|" if relation.null else "}o--||"


def _diagram_names(site: SiteModel) -> dict[str, str]:
    """Entity names: the class name, qualified by the app when two apps share it."""
    counts: dict[str, int] = {}
    for model in site.models:
        counts[model.name] = counts.get(model.name, 0) + 1
    return {
        model.label: mermaid_id(
            model.name if counts[model.name] == 1 else f"{model.app_label}_{model.name}"
        )
        for model in site.models
    }


def _fence_for(code: str) -> str:
    """A backtick fence longer than any backtick run in ``code``."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)
