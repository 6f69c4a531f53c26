"""The model documentation: the generated part of the home page, a page per app (its
tables and entity-relationship diagram) and per model (fields, relations,
inheritance, checks, a population script), and the site's math, diagram and style
assets.
Other features add sections to the home page and links to the model pages through
the render context (``home_sections``, ``model_links``).
"""

from __future__ import annotations

import importlib.util
import posixpath
import re
from importlib import resources
from pathlib import Path

from markupsafe import Markup

from espresso_static.exceptions import EspressoStaticError
from espresso_static.website.collect import AppInfo, FieldInfo, ModelInfo, SiteModel
from espresso_static.website.context import Asset, Contribution, ModelLink, Page, RenderContext
from espresso_static.website.feature import Feature
from espresso_static.website.paths import ASSETS
from espresso_static.website.population import PopulationError, population_script, script_filename
from espresso_static.website.render import (
    GENERATED,
    HOME_PARTIAL,
    app_page_path,
    checked_path,
    mermaid_id,
    mermaid_label,
    model_page_path,
    relative_link,
    render_template,
    template_file,
)
from espresso_static.website.sanitize import code_html, inline_text

#: Above this many models an app's diagram shows relations only (readable, fast).
DIAGRAM_ATTRIBUTES_UP_TO = 30
#: The MathJax files a page needs offline (from the django-static-mathjax package).
MATHJAX_FILES = (
    "tex-chtml.js",
    "ui/safe.js",  # filters javascript: links and styles out of user-written TeX
    "input/tex/extensions",
    "output/chtml/fonts/woff-v2",
)


class ModelDocs(Feature[None]):
    """The documentation of the models (reads nothing beyond the collected schema)."""

    def on_files(self, site: SiteModel, context: RenderContext, data: None) -> list[Contribution]:
        return [
            *home_partial(site, context),
            *app_pages(site, context),
            *math_assets(site, context),
            *diagram_assets(site, context),
            *style_assets(site, context),
        ]


def home_partial(site: SiteModel, context: RenderContext) -> list[Contribution]:
    """The generated part of the home page, included by ``<docs_dir>/index.md``, with
    the sections other features add (e.g. the latest news)."""
    # Included into index.md at the root of docs_dir: links are relative to it.
    links = {model.label: f"{GENERATED}/{model_page_path(model)}" for model in site.models}
    apps = [(app, f"{GENERATED}/{app_page_path(app)}") for app in site.apps]
    markdown = render_template(
        "home.md.j2",
        site=site,
        apps=apps,
        links=links,
        provenance=context.provenance,
        sections=Markup("\n\n".join(context.home_sections)),  # rendered by their features
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
            links = context.model_links.get(model.label, ())
            contributions.extend(model_contributions(site, model, section, links))
    return contributions


def model_contributions(
    site: SiteModel,
    model: ModelInfo,
    section: tuple[str, ...],
    model_links: tuple[ModelLink, ...] = (),
) -> list[Contribution]:
    """The page of ``model`` (with the links other features add to its head, e.g. to
    its downloads) and its population script."""
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
        model_links=[
            (link.text, relative_link(path, link.target), link.note) for link in model_links
        ],
        # Verbatim in a fenced block, which escapes it; the fence outruns any backticks.
        code=Markup(script.code) if script else "",
        fence=Markup(_fence_for(script.code) if script else "```"),
    )
    contributions: list[Contribution] = [Page(path, markdown, model.name, section=section)]
    if script:
        contributions.append(
            Asset(
                posixpath.join(posixpath.dirname(path), script_filename(model)),
                script.code.encode(),
            )
        )
    return contributions


def math_assets(site: SiteModel, context: RenderContext) -> list[Contribution]:
    """MathJax (from the django-static-mathjax package) and its configuration, so math
    renders with no request to a third-party server."""
    root = _mathjax_root()
    assets: list[Contribution] = [
        Asset(f"{ASSETS}/mathjax-config.js", template_file("math.js"), include="script")
    ]
    for name in MATHJAX_FILES:
        path = root / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            relative = file.relative_to(root).as_posix()
            assets.append(Asset(f"{ASSETS}/mathjax/{relative}", file.read_bytes()))
    return assets


def diagram_assets(site: SiteModel, context: RenderContext) -> list[Contribution]:
    """Mermaid (vendored, see ``scripts/fetch_vendor.py``) with its licence, so
    mkdocs-material draws the diagrams with it instead of asking a CDN; and the script
    loading Mermaid and MathJax on the pages that have a diagram or math (after the
    MathJax configuration, which MathJax reads when it loads)."""
    vendored = resources.files("espresso_static.vendor").joinpath("mermaid")
    script = vendored.joinpath("mermaid.min.js").read_bytes()
    return [
        Asset(f"{ASSETS}/mermaid/mermaid.min.js", script),
        Asset(f"{ASSETS}/mermaid/LICENSE", vendored.joinpath("LICENSE").read_bytes()),
        Asset(
            f"{ASSETS}/load-when-needed.js", template_file("load_when_needed.js"), include="script"
        ),
    ]


def _mathjax_root() -> Path:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise EspressoStaticError(
            "MathJax is missing: pip install django-static-mathjax (a dependency of espresso-static)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"


def style_assets(site: SiteModel, context: RenderContext) -> list[Contribution]:
    return [Asset(f"{ASSETS}/espresso-static.css", template_file("site.css"), include="stylesheet")]


def field_type(f: FieldInfo, links: dict[str, str]) -> str:
    """Markdown of a field's type: ``CharField (max 40)``, ``ForeignKey → [Ensemble](…)``."""
    kind = inline_text(f.type)  # a custom field names its own type
    if f.related_model:
        name = inline_text(f.related_model.split(".")[-1])
        if f.related_model in links:
            return f"{kind} → [{name}]({checked_path(links[f.related_model])})"
        return f"{kind} → {name}"
    if f.max_length:
        return f"{kind} (max {f.max_length})"
    return kind


def field_choices(f: FieldInfo) -> str:
    """The cell listing allowed values (``value`` label) and constraints."""
    choices = [f"{code_html(value)} {inline_text(label)}" for value, label in f.choices]
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
        columns = _diagram_columns(model)
        if with_attributes and columns:
            lines.append(f"    {names[model.label]} {{")
            for f in columns:
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


def _diagram_columns(model: ModelInfo) -> list[FieldInfo]:
    """The columns an entity lists: its own and those of its abstract bases (LatteDB's
    status tables take theirs from one), which have no entity; not a concrete parent's
    (its entity lists them) nor the bookkeeping columns every table takes from Base."""
    from espresso_static.models import Base

    bookkeeping = {f.name for f in Base._meta.local_fields}
    return [
        f
        for f in model.fields
        if not f.parent_link
        and f.inherited_from not in model.parents
        and not (f.inherited_from == Base.__name__ and f.name in bookkeeping)
    ]


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
