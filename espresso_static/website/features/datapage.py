"""The Data page of a build: open-data downloads of what its audience sees.

The collect step writes the downloads (:func:`espresso_static.website.features.opendata.write_open_data`)
into a folder of their own, streaming from the database; they can be large, so they
never pass through memory or the docs folder. After MkDocs built the site the folder
is moved into it as ``generated/data/downloads/``, beside the Data page
(``generated/data/``), which lists every file with its size and SHA-256 and links the
model pages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from espresso_static.declare.access import AudienceView
from espresso_static.project.apps import project_models, total_rows
from espresso_static.website.cache import BuildCache
from espresso_static.website.context import ModelLink, Page, RenderContext
from espresso_static.website.feature import Build, Feature
from espresso_static.website.features.resources import OpenData
from espresso_static.website.paths import DATA
from espresso_static.website.render import (
    GENERATED,
    model_page_path,
    relative_link,
    render_template,
)

DATA_PAGE = f"{DATA}/index.md"
#: Where the downloads go, relative to the generated pages (beside the Data page).
DOWNLOADS = f"{DATA}/downloads"
FORMAT_LABELS = {"csv.gz": "CSV (gzip)", "parquet": "Parquet", "json.gz": "JSON (gzip)"}


def collect_open_data(
    config,
    view: AudienceView,
    out_dir: Path,
    progress: Callable[[int], None] | None = None,
    cache: BuildCache | None = None,
) -> OpenData:
    """Write the downloads of every model of ``config.apps`` ``view`` sees into ``out_dir``
    (reusing the files ``cache`` holds for unchanged tables)."""
    # Imported here: the encoders (pyarrow, NumPy) load in the worker writing the
    # downloads, after it is forked, not in the build before (serial time).
    from espresso_static.website.features.opendata import write_open_data

    return write_open_data(
        view,
        project_models(config.apps),
        out_dir,
        title=config.name,
        license=config.license,
        citation=config.citation,
        progress=progress,
        cache=cache,
    )


def collected_resource_name(model) -> str:
    """The resource name of a collected model (as :func:`resources.resource_name`)."""
    return f"{model.app_label}_{model.slug}"


@dataclass(frozen=True)
class DataCollected:
    """What the collect step wrote: the downloads, in ``folder`` (outside the site
    until it is built)."""

    open_data: OpenData
    folder: Path


class OpenDataFeature(Feature[DataCollected]):
    """The downloads of what the audience sees, the Data page listing them and a link
    to them from each model's page."""

    name = "open data"
    concurrent = True

    def on_collect(self, build: Build) -> DataCollected:
        # Counted here, not read from build.site: this worker starts before the schema
        # is read, and has no need of the rest of it.
        visible = [m for m in project_models(build.config.apps) if build.view.sees_model(m)]
        rows = total_rows(build.view.queryset(model).count() for model in visible)
        folder = build.work_dir / "downloads"
        with build.part() as line:
            with build.counter(rows, "writing downloads") as update:
                open_data = collect_open_data(
                    build.config, build.view, folder, progress=update, cache=build.cache
                )
            size = sum(file.size for file in open_data.files)
            line.append(f"downloads {len(open_data.files)} files, {size / 1e6:.1f} MB")
        return DataCollected(open_data, folder)

    def on_model_links(
        self, site, context: RenderContext, data: DataCollected | None
    ) -> dict[str, ModelLink]:
        """A link to the model's row on the Data page."""
        if data is None:
            return {}
        published = {resource.name for resource in data.open_data.resources}
        return {
            model.label: ModelLink(
                "download the rows",
                f"{DATA_PAGE}#{collected_resource_name(model)}",
                note="(CSV, Parquet, JSON)",
            )
            for model in site.models
            if collected_resource_name(model) in published
        }

    def on_home_markdown(self, site, context: RenderContext, data: DataCollected | None) -> str:
        """What can be downloaded, linked to the Data page."""
        if data is None:
            return ""
        open_data = data.open_data
        whole = open_data.file(f"{open_data.package_name}.sqlite")
        tables = len(site.models)
        return (
            f"## Open data\n\n{tables} table{'s' if tables != 1 else ''} to download as CSV, "
            f"Parquet and JSON, or all of them as one SQLite database ({human_size(whole.size)}), "
            f"with a Frictionless data package and checksums: [Data page]({GENERATED}/{DATA_PAGE}).\n"
        )

    def on_files(self, site, context: RenderContext, data: DataCollected | None) -> list:
        """The Data page."""
        return [data_page(site, context, data.open_data)] if data else []

    def on_post_build(
        self, site_dir: Path, context: RenderContext, data: DataCollected | None
    ) -> None:
        """Move the downloads beside the Data page (they can be large: they never pass
        through memory or the docs folder)."""
        if data is not None:
            data.folder.rename(site_dir / GENERATED / DOWNLOADS)


def data_page(site, context: RenderContext, open_data: OpenData) -> Page:
    """The Data page: every download with its size and checksum."""
    pages = {
        collected_resource_name(model): relative_link(DATA_PAGE, model_page_path(model))
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
        tables=sum(1 for row in rows if row["page"] is not None),
        links=sum(row["resource"].rows for row in rows if row["page"] is None),
        provenance=context.provenance,
        downloads="downloads",
        size=human_size,
    )
    return Page(DATA_PAGE, markdown, "Data")


def human_size(size: float) -> str:
    """``532 bytes``, ``1.2 MB`` (decimal units, as file managers show them)."""
    if size < 1000:
        return f"{size:,.0f} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            break
    return f"{size:.1f} {unit}"
