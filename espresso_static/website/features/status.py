"""The data of a status page: compact, chunked, columnar JSON the page loads lazily.

A status page with 400,000 rows cannot embed its table in HTML. Its rows are written
beside it instead, as ``data/meta.json`` plus ``data/chunk-NNNN.json.gz`` files that
``status.js`` fetches in parallel, decompresses (``DecompressionStream``; any static
file server works, and one that already sends them ``Content-Encoding: gzip`` too)
and decodes into typed arrays.

``meta.json``::

    {"format": 1, "model": "demo.DataFile", "rows": 400000, "status": "status",
     "categories": {"on_disk": "done", ...}, "chunk_rows": 50000,
     "columns": [{"name": "ensemble", "label": "ensemble", "type": "text",
                  "encoding": "dict", "dict": ["a06m310", ...]}, ...],
     "chunks": [{"url": "chunk-0000.json.gz", "rows": 50000}, ...]}

A chunk is a JSON array with one entry per column, in the order of ``columns``,
encoded as the column's ``encoding`` says:

``dict``
    codes into the column's ``dict`` (strings, numbers, booleans; ``null`` is an
    entry too) — for columns with few distinct values.
``delta``
    integers as differences to the previous non-null value of the chunk (the first
    is absolute); ``null`` stays ``null``. Sequential ids become runs of ``1``.
``front``
    ``[prefixes, suffixes]``: each string shares ``prefix`` characters with the
    previous one of the chunk and adds ``suffix`` (``null`` suffix: a null value).
``plain``
    the values themselves.

Types are ``text``, ``int``, ``float``, ``bool``, ``datetime`` (seconds since
1970-01-01 UTC; sub-second parts are dropped) and ``date`` (the same, at midnight UTC).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
from django.db import models

from espresso_static.data.fieldkinds import field_kind, unit_of
from espresso_static.data.row_values import row_warnings, warn_again
from espresso_static.declare.access import AudienceView
from espresso_static.declare.progress import (
    CATEGORY_LABELS,
    Column,
    DeclaredProgress,
    ProgressSummary,
    declared_models,
    summarize,
)
from espresso_static.website import render
from espresso_static.website.cache import BuildCache
from espresso_static.website.context import Asset, Contribution, Page, RenderContext
from espresso_static.website.feature import Build, Feature
from espresso_static.website.features.dashboard import progress_section

FORMAT = 1
CHUNK_ROWS = 50_000
#: At most this many distinct values, and at most one per ``DICT_RATIO`` rows, are
#: dictionary-encoded.
DICT_MAX = 4096
DICT_RATIO = 4
META = "meta.json"


@dataclass(frozen=True)
class EncodedColumn:
    """A column's entry in ``meta.json`` and its per-row values, ready to chunk."""

    meta: dict
    values: pd.Series


@dataclass(frozen=True)
class StatusData:
    """The encoded files of a status table: ``{file name: bytes}``, ``meta.json`` first."""

    rows: int
    files: dict[str, bytes]
    #: Bytes of the JSON before compression (the chunks are gzip files).
    raw_bytes: int

    @property
    def compressed_bytes(self) -> int:
        return sum(len(content) for content in self.files.values())


def encode_status_data(
    item: DeclaredProgress,
    queryset=None,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
) -> StatusData:
    """Encode the rows of ``item`` (or ``queryset``) as ``meta.json`` and gzip chunks."""
    queryset = item.model._default_manager.all() if queryset is None else queryset
    columns = item.columns
    frame = read_frame(queryset.order_by("pk"), columns)
    encoded = [encode_column(column, frame[column.lookup]) for column in columns]
    chunks, files, raw = [], {}, 0
    for number, start in enumerate(range(0, len(frame), chunk_rows)):
        stop = min(start + chunk_rows, len(frame))
        payload = _dumps([chunk_payload(column, start, stop) for column in encoded])
        name = f"chunk-{number:04d}.json.gz"
        files[name] = gzip.compress(payload, compresslevel=6, mtime=0)  # 9: 2.5x slower
        chunks.append({"url": name, "rows": stop - start})
        raw += len(payload)
        if progress:
            progress(stop - start)
    meta = _dumps(
        {
            "format": FORMAT,
            "model": item.label,
            "rows": len(frame),
            "status": item.progress.status,
            "categories": {str(k): v for k, v in item.progress.categories.items()},
            "chunk_rows": chunk_rows,
            "columns": [column.meta for column in encoded],
            "chunks": chunks,
        }
    )
    return StatusData(len(frame), {META: meta, **files}, raw + len(meta))


def write_status_data(data: StatusData, folder: Path) -> list[Path]:
    """Write ``data`` into ``folder`` (removing chunks of an earlier, larger table)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("chunk-*.json.gz"):
        stale.unlink()
    paths = [folder / name for name in data.files]
    for path, content in zip(paths, data.files.values(), strict=True):
        path.write_bytes(content)
    return paths


def read_frame(queryset, columns: list[Column]) -> pd.DataFrame:
    """The columns' values of every row, read in one query."""
    return queryset.to_dataframe([column.lookup for column in columns])


def column_type(field: models.Field) -> str:
    """The ``type`` a field's values get in ``meta.json`` (anything else is text)."""
    kind = field_kind(field)
    return kind if kind in ("bool", "datetime", "date", "int", "float") else "text"


def encode_column(column: Column, series: pd.Series) -> EncodedColumn:
    """Choose the encoding of a column and turn its values into JSON-ready ones."""
    kind = column_type(column.field)
    if kind in ("datetime", "date"):
        series = _epoch_seconds(series)
    elif kind == "text":
        texts = [v if type(v) is str else None if pd.isna(v) else str(v) for v in series.tolist()]
        series = pd.Series(texts, index=series.index, dtype=object)
    meta = {"name": column.name, "label": column.label, "type": kind, **unit_of(column.field)}
    choices = dict(column.field.flatchoices) if column.field.choices else {}
    if choices:
        meta["choices"] = {str(value): str(label) for value, label in choices.items()}
    distinct = series.nunique(dropna=False)
    if kind == "bool" or (distinct <= DICT_MAX and distinct * DICT_RATIO <= max(len(series), 1)):
        codes, uniques = pd.factorize(series, sort=True, use_na_sentinel=True)
        dictionary = [_json_scalar(value) for value in uniques]
        if (codes < 0).any():
            codes = np.where(codes < 0, len(dictionary), codes)
            dictionary.append(None)
        return EncodedColumn({**meta, "encoding": "dict", "dict": dictionary}, pd.Series(codes))
    if kind in ("int", "datetime", "date"):
        return EncodedColumn({**meta, "encoding": "delta"}, series.astype("Int64"))
    if kind == "text":
        return EncodedColumn({**meta, "encoding": "front"}, series)
    return EncodedColumn({**meta, "encoding": "plain"}, series)


def chunk_payload(column: EncodedColumn, start: int, stop: int):
    """The JSON value of rows ``start:stop`` of an encoded column."""
    values = column.values.iloc[start:stop]
    encoding = column.meta["encoding"]
    if encoding == "dict":
        return values.astype("int64").tolist()
    if encoding == "delta":
        return _delta(values)
    if encoding == "front":
        return _front(values)
    return [None if pd.isna(value) else _json_scalar(value) for value in values]


def _delta(values: pd.Series) -> list:
    result, previous = [], 0
    for value in values.tolist():
        if value is None or value is pd.NA:
            result.append(None)
            continue
        result.append(value - previous)
        previous = value
    return result


def _front(values: pd.Series) -> list:
    prefixes, suffixes, previous = [], [], ""
    for value in values.tolist():
        if not isinstance(value, str):
            prefixes.append(0)
            suffixes.append(None)
            continue
        shared = _shared_prefix(previous, value)
        prefixes.append(shared)
        suffixes.append(value[shared:])
        previous = value
    return [prefixes, suffixes]


def _shared_prefix(a: str, b: str) -> int:
    low, high = 0, min(len(a), len(b))  # bisection: slice comparisons run in C
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if a[:middle] == b[:middle] else (low, middle - 1)
    return low


def _epoch_seconds(series: pd.Series) -> pd.Series:
    """Datetimes as whole seconds since 1970 UTC (naive ones are taken as UTC)."""
    if series.dt.tz is None:
        series = series.dt.tz_localize("UTC")
    epoch = pd.Timestamp(0, tz="UTC")
    missing = series.isna()
    seconds = (series.where(~missing, epoch) - epoch) // pd.Timedelta(seconds=1)
    return seconds.astype("Int64").mask(missing)


def _json_scalar(value):
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _dumps(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def read_status_data(folder: Path) -> dict[str, list]:
    """Decode ``folder`` back into ``{column name: values}`` — the reference decoder the
    tests and the benchmark check ``status.js`` against."""
    meta = json.loads((folder / META).read_text(encoding="utf-8"))
    columns: dict[str, list] = {column["name"]: [] for column in meta["columns"]}
    for chunk in meta["chunks"]:
        payload = json.loads(gzip.decompress((folder / chunk["url"]).read_bytes()))
        for column, encoded in zip(meta["columns"], payload, strict=True):
            columns[column["name"]].extend(_decode(column, encoded))
    return columns


def _decode(column: dict, encoded) -> list:
    encoding = column["encoding"]
    if encoding == "dict":
        return [column["dict"][code] for code in encoded]
    if encoding == "delta":
        values, previous = [], 0
        for delta in encoded:
            if delta is None:
                values.append(None)
                continue
            previous += delta
            values.append(previous)
        return values
    if encoding == "front":
        values, previous = [], ""
        for shared, suffix in zip(*encoded, strict=True):
            if suffix is None:
                values.append(None)
                continue
            previous = previous[:shared] + suffix
            values.append(previous)
        return values
    return list(encoded)


# -- status pages of build-site -------------------------------------------------------------

STATUS_SECTION = ("Status",)
PLOT_FILES = ("progress.svg", "progress.png")


@dataclass(frozen=True)
class StatusPageData:
    """Everything a declared model's status page shows, read from the database."""

    summary: ProgressSummary
    data: StatusData
    #: The group column of the history plot (the first ``group_by``), if any.
    plot_by: str | None
    trends: list
    #: ``{file name: bytes}`` of the history plot; empty before the first snapshot.
    plots: dict[str, bytes]

    @property
    def declared(self) -> DeclaredProgress:
        return self.summary.declared

    @property
    def folder(self) -> str:
        """Folder of the page and its files, relative to the generated pages."""
        return f"status/{self.declared.model._meta.app_label}/{self.declared.slug}"

    @property
    def not_done_hash(self) -> str:
        """The URL hash that filters the table to the rows not done (as ``todo``)."""
        progress = self.declared.progress
        values = [v for v, category in progress.categories.items() if category != "done"]
        return f"{quote(progress.status)}={','.join(quote(str(v), safe='') for v in values)}"


@dataclass(frozen=True)
class StatusSource:
    """A declared model and the part of it an audience sees."""

    item: DeclaredProgress
    shown: DeclaredProgress

    @property
    def plot_by(self) -> str | None:
        """The group column of the history plot (the first ``group_by``), if any."""
        return self.item.progress.group_by[0] if self.item.progress.group_by else None


def status_sources(
    view: AudienceView, app_names: Iterable[str] | None = None
) -> list[StatusSource]:
    """The declared models (of ``app_names``; default: all) with a status page for ``view``."""
    sources = []
    for item in declared_models(app_names):
        shown = visible_declaration(view, item)
        if shown is not None:
            sources.append(StatusSource(item, shown))
    return sources


def status_tables(
    view: AudienceView,
    sources: list[StatusSource],
    progress: Callable[[str], None] | None = None,
    cache: BuildCache | None = None,
) -> list[StatusPageData]:
    """The summary and the encoded rows of each status page (no plot yet)."""
    cache = cache or BuildCache(None)
    pages = []
    for source in sources:
        if progress:
            progress(source.item.label)
        key = cache.key("status", view, [source.item.model], source.shown, CHUNK_ROWS)
        page = cache.load(key)
        if page is None:
            rows = view.queryset(source.item.model)
            summary, data = summarize(source.shown, rows), encode_status_data(source.shown, rows)
            page = StatusPageData(summary, data, source.plot_by, [], {})
            cache.store(f"status {view.name} {source.item.label}", key, page)
        pages.append(page)
    return pages


def with_history_plots(
    view: AudienceView,
    sources: list[StatusSource],
    pages: list[StatusPageData],
    cache: BuildCache | None = None,
) -> list[StatusPageData]:
    """``pages`` with the history plot and trends of the groups ``view`` sees whole."""
    from espresso_static.models import ProgressSnapshot

    cache = cache or BuildCache(None)
    plotted = []
    for source, page in zip(sources, pages, strict=True):
        model = source.item.model
        key = cache.key("plot", view, [model, ProgressSnapshot], source.shown)
        plot = cache.load(key)
        if plot is None:
            plot = _plot_of(view, source)
            cache.store(f"plot {view.name} {source.item.label}", key, plot)
        plots, trends, warnings = plot
        warn_again(warnings)  # made now or stored with the plot: every build reports them
        plotted.append(dataclasses.replace(page, plots=plots, trends=trends))
    return plotted


def _plot_of(view: AudienceView, source: StatusSource) -> tuple[dict[str, bytes], list, tuple]:
    """The plot files, trends and row-value warnings of ``source``'s history plot."""
    if source.shown.progress.group_by != source.item.progress.group_by:
        return {}, [], ()  # no plot over hidden groups
    rows = view.queryset(source.item.model)
    groups = _whole_groups(source.shown, source.plot_by, rows)
    with row_warnings() as warnings:
        plots, trends = _history_plots(source.shown, source.plot_by, groups)
    return plots, trends, tuple(warnings)


def visible_declaration(view: AudienceView, item: DeclaredProgress) -> DeclaredProgress | None:
    """``item`` reduced to the columns ``view`` sees (None: no status page for it).

    A foreign key column shows the related row's name: it is kept only when that
    name (or, without one, the related id) is visible too.
    """
    model = item.model
    if not view.sees_model(model) or not view.sees_field(model, item.progress.status):
        return None

    def visible(column: Column) -> bool:
        if not view.sees_field(model, column.name):
            return False
        shows_related = column.lookup != column.name  # e.g. ensemble__name
        return not shows_related or view.sees_field(column.field.model, column.field.name)

    columns = [column.name for column in item.columns if visible(column)]
    groups = [column.name for column in item.group_columns if visible(column)]
    progress = dataclasses.replace(item.progress, columns=columns, group_by=groups)
    return dataclasses.replace(item, progress=progress)


def _whole_groups(item: DeclaredProgress, by: str | None, rows) -> set[str]:
    """The values of ``by`` (``all`` without one) to plot: none when a row is hidden
    (snapshots count every row, and a hidden row may have moved from any group)."""
    from espresso_static.data.plots import ALL

    per_group = dataclasses.replace(item.progress, group_by=[by] if by else [], columns=None)
    single = dataclasses.replace(item, progress=per_group)
    everything = {group.group: group.total for group in summarize(single).groups}
    seen = {group.group: group.total for group in summarize(single, rows).groups}
    return {str(key[0]) if by else ALL for key in seen} if seen == everything else set()


def _history_plots(
    item: DeclaredProgress, by: str | None, groups: set[str]
) -> tuple[dict[str, bytes], list]:
    from espresso_static.data.plots import figure_bytes, history_by, progress_figure, trends

    if not groups or not _has_snapshots(item):
        return {}, []
    history = history_by(item, by, groups=groups)
    if history.done.empty:
        return {}, []
    figure = progress_figure(item, by=by, history=history)
    plots = {name: figure_bytes(figure, name.rsplit(".", 1)[-1]) for name in PLOT_FILES}
    return plots, trends(history)


def _has_snapshots(item: DeclaredProgress) -> bool:
    from espresso_static.models import ProgressSnapshot

    return ProgressSnapshot.objects.filter(model=item.label).exists()


@dataclass(frozen=True)
class StatusCollected:
    """The status pages of a build, read from the database by the collect step."""

    pages: list[StatusPageData]


class StatusPages(Feature[StatusCollected]):
    """One status page per declared model the site shows: its table (data files the
    page loads), progress bar and history plot."""

    name = "status"

    def on_collect(self, build: Build) -> StatusCollected:
        sources = status_sources(build.view, build.config.apps)
        with build.part() as line:
            pages = status_tables(build.view, sources, cache=build.cache)
            line.append(f"status data of {len(pages)} model" + ("s" if len(pages) != 1 else ""))
        with build.part() as line:
            pages = with_history_plots(build.view, sources, pages, build.cache)
            plots = sum(1 for page in pages if page.plots)
            line.append(f"{plots} plot" + ("s" if plots != 1 else ""))
        return StatusCollected(pages)

    #: The home page's "Progress" section: a bar and an estimate per status page.
    on_home_markdown = progress_section

    def on_files(
        self, site, context: RenderContext, data: StatusCollected | None
    ) -> list[Contribution]:
        """Each page, its data files and plot, and the pages' script and stylesheet."""
        collected = data.pages if data else []
        shown = [page for page in collected if site.model(page.declared.label) is not None]
        if not shown:
            return []
        contributions: list[Contribution] = [
            Asset("assets/status.js", render.template_file("assets/status.js"), include="script"),
            Asset(
                "assets/status.css", render.template_file("assets/status.css"), include="stylesheet"
            ),
        ]
        for page in shown:
            path = f"{page.folder}/index.md"
            info = site.model(page.declared.label)
            markdown = render.render_template(
                "status.md.j2",
                page=page,
                model=info,
                model_link=render.relative_link(path, render.model_page_path(info)),
                names=CATEGORY_LABELS,
            )
            contributions.append(Page(path, markdown, info.name, section=STATUS_SECTION))
            contributions += [
                Asset(f"{page.folder}/data/{name}", content)
                for name, content in page.data.files.items()
            ]
            contributions += [
                Asset(f"{page.folder}/{name}", content) for name, content in page.plots.items()
            ]
        return contributions
