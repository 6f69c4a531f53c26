"""The Data page of a build: open-data downloads of what its audience sees.

The collect step writes the downloads (:func:`espresso_static.site.features.opendata.write_open_data`)
into a folder of their own, streaming from the database; they can be large, so they
never pass through memory or the docs folder. After MkDocs built the site the folder
is moved into it as ``generated/data/downloads/``, beside the Data page
(``generated/data/``), which lists every file with its size and SHA-256 and links the
model pages.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from espresso_static.declare.access import AudienceView
from espresso_static.site.cache import BuildCache
from espresso_static.site.features.opendata import OpenData, write_open_data

#: ``RenderContext.extras`` key of the :class:`~espresso_static.site.features.opendata.OpenData`.
DATA_EXTRA = "open_data"
DATA_PAGE = "data/index.md"
#: Where the downloads go, relative to the generated pages (beside the Data page).
DOWNLOADS = "data/downloads"
FORMAT_LABELS = {"csv.gz": "CSV (gzip)", "parquet": "Parquet", "json": "JSON"}


def collect_open_data(
    config,
    view: AudienceView,
    out_dir: Path,
    progress: Callable[[int], None] | None = None,
    cache: BuildCache | None = None,
) -> OpenData:
    """Write the downloads of every model of ``config.apps`` ``view`` sees into ``out_dir``
    (reusing the files ``cache`` holds for unchanged tables)."""
    from django.apps import apps

    models = [
        model
        for name in config.apps
        for app in apps.get_app_configs()
        if name in (app.name, app.label)
        for model in app.get_models()
        if not model._meta.proxy
    ]
    return write_open_data(
        view,
        models,
        out_dir,
        title=config.name,
        license=config.license,
        citation=config.citation,
        progress=progress,
        cache=cache,
    )


def model_resource(model) -> str:
    """The resource name of a collected model (as :func:`opendata.resource_name`)."""
    return f"{model.app_label}_{model.slug}"


def download_links(site, context, source: str) -> dict[str, str]:
    """``{model label: link to its row on the Data page}`` from the page ``source``."""
    from espresso_static.site.render import relative_link

    open_data = context.extras.get(DATA_EXTRA)
    if open_data is None:
        return {}
    published = {resource.name for resource in open_data.resources}
    link = relative_link(source, DATA_PAGE)
    return {
        model.label: f"{link}#{model_resource(model)}"
        for model in site.models
        if model_resource(model) in published
    }


def data_page(site, context) -> list:
    """``build-site`` contributor: the Data page (when the collect step wrote downloads)."""
    from espresso_static.site.render import Page, model_page_path, relative_link, render_template

    open_data: OpenData | None = context.extras.get(DATA_EXTRA)
    if open_data is None:
        return []
    pages = {
        model_resource(model): relative_link(DATA_PAGE, model_page_path(model))
        for model in site.models
    }
    rows = [
        {
            "resource": resource,
            "page": pages.get(resource.name),
            "files": [
                (FORMAT_LABELS[extension], open_data.file(f"{resource.name}.{extension}"))
                for extension in FORMAT_LABELS
            ],
        }
        for resource in open_data.resources
    ]
    whole = [
        open_data.file(f"{open_data.package_name}.sqlite"),
        open_data.file("datapackage.json"),
    ]
    markdown = render_template(
        "data.md.j2",
        site=site,
        data=open_data,
        rows=rows,
        whole=whole,
        total_rows=sum(resource.rows for resource in open_data.resources),
        provenance=context.provenance,
        downloads="downloads",
        size=human_size,
    )
    return [Page(DATA_PAGE, markdown, "Data")]


def human_size(size: float) -> str:
    """``532 bytes``, ``1.2 MB`` (decimal units, as file managers show them)."""
    if size < 1000:
        return f"{size:,.0f} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            break
    return f"{size:.1f} {unit}"
