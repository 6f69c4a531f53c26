"""Status pages: one per declared model, its table loaded by ``status.js`` from the
data files :mod:`espresso_static.website.features.statusdata` writes, a summary per
group and the history plot."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from espresso_static.declare.access import AudienceView
from espresso_static.declare.progress import (
    CATEGORY_LABELS,
    DeclaredProgress,
    ProgressSummary,
    declared_models,
    summarize,
)
from espresso_static.website import render
from espresso_static.website import segments as segmenting
from espresso_static.website.cache import REBUILT, REUSED, UPDATED, BuildCache
from espresso_static.website.context import Asset, Contribution, Page, RenderContext
from espresso_static.website.feature import Build, Feature
from espresso_static.website.features.dashboard import progress_section
from espresso_static.website.paths import ASSETS, STATUS
from espresso_static.website.segments import SegmentPlan, plan_segments

if TYPE_CHECKING:
    from espresso_static.website.features.statusdata import (
        EncodedSegment,
        SegmentInfo,
        StatusData,
    )

# The encoders (statusdata, statuspatch) and the plot are imported where they are used,
# not with the pipeline: they need pandas, and the build's workers, forked before any
# feature collects, have no use for it (0.1 s sooner to their work).

# -- status pages of build-site -------------------------------------------------------------

STATUS_SECTION = ("Status",)
#: Changed rows are read alone (``pk IN``) while at most one row in this many changed;
#: beyond, reading the changed segments whole costs less.
PATCH_SHARE = 20


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
    #: Whether any progress snapshot of the model was taken: without a plot, the page
    #: says whether snapshots are missing or the audience may not see them.
    snapshots: bool = False

    @property
    def declared(self) -> DeclaredProgress:
        return self.summary.declared

    @property
    def folder(self) -> str:
        """Folder of the page and its files, relative to the generated pages."""
        return f"{STATUS}/{self.declared.model._meta.app_label}/{self.declared.slug}"

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


@dataclass(frozen=True)
class StatusState:
    """A status page's data and what it was encoded from, kept in the cache: the next
    build encodes again only the segments whose rows changed since ``mark``. Each
    segment's frames are a cache entry of their own (``entries``): a build reads and
    writes those of the segments it encodes and of the part files it writes again,
    not the whole table's."""

    #: The change-log mark the rows were read at.
    mark: str | None
    segments: dict[int, SegmentInfo]
    #: The cache entry of each segment's :class:`EncodedSegment`.
    entries: dict[int, str]
    page: StatusPageData
    #: Segments this build encoded (the others were reused).
    encoded: int


def status_tables(
    view: AudienceView,
    sources: list[StatusSource],
    progress: Callable[[str], None] | None = None,
    cache: BuildCache | None = None,
    report: Callable[[int, int], None] | None = None,
) -> list[StatusPageData]:
    """The summary and the encoded rows of each status page (no plot yet), each brought
    up to date from the previous build's (in ``cache``); ``report(encoded, segments)``:
    told how many segments were encoded, of how many."""
    cache = cache or BuildCache(None)
    states = []
    for source in sources:
        if progress:
            progress(source.item.label)
        states.append(status_state(view, source, cache))
    if report:
        report(sum(s.encoded for s in states), sum(len(s.segments) for s in states))
    return [state.page for state in states]


def status_state(view: AudienceView, source: StatusSource, cache: BuildCache) -> StatusState:
    """The data of ``source``'s page: the previous build's, with the segments holding
    rows changed since encoded again — from their cached values and the changed rows
    alone where the change log names the rows, else read whole (every segment when
    the log cannot tell, or a segment's entry cannot be read)."""
    from espresso_static.website.features import statusdata

    model = source.item.model
    layout = (segmenting.SEGMENT_ROWS, statusdata.SEGMENTS_PER_PART)
    key = cache.key("status", view, [model], source.shown, *layout, content=False)
    slot = f"status {view.name} {source.item.label}"
    previous = cache.load(key, counted=False)
    plan = SegmentPlan(None, None)
    if cache.enabled:
        mark = previous.mark if previous else None
        plan = plan_segments(mark, model, view, [model], tables=cache.output_tables)
    if previous is not None and plan.changed == frozenset():
        cache.count(REUSED)
        return dataclasses.replace(previous, encoded=0)
    rows, state = view.queryset(model), None
    if previous is not None and plan.changed is not None:
        with contextlib.suppress(_MissingSegment):  # an entry lost: encode every segment
            state = _updated(source, cache, slot, previous, plan, rows)
    if state is None:
        fresh = statusdata.encode_segments(source.shown, rows)
        state = _state(source, cache, slot, plan.mark, {}, {}, fresh, None, rows)
        cache.count(REBUILT)
    else:
        cache.count(UPDATED, f"{state.encoded} of {len(state.segments)} segments")
    cache.store(slot, key, state)
    return state


class _MissingSegment(Exception):
    """A segment's cached entry cannot be read."""


def _updated(
    source: StatusSource, cache: BuildCache, slot: str, previous: StatusState, plan, rows
) -> StatusState:
    """``previous`` with the segments ``plan`` names encoded again."""
    from espresso_static.website.features.statusdata import encode_segments
    from espresso_static.website.features.statuspatch import patch_segments

    redo = plan.changed
    kept = {n: e for n, e in previous.entries.items() if n not in redo}
    changed_rows = len(plan.rows) if plan.rows is not None else None
    if changed_rows is not None and changed_rows * PATCH_SHARE <= previous.page.data.rows:
        before = {n: _segment(cache, previous.entries[n]) for n in redo & set(previous.entries)}
        fresh = patch_segments(source.shown, rows, before, plan.rows)
    else:
        fresh = encode_segments(source.shown, rows, only=redo)
    infos = {n: previous.segments[n] for n in kept}
    compressed = previous.page.data.compressed
    return _state(source, cache, slot, plan.mark, infos, kept, fresh, compressed, rows)


def _state(
    source: StatusSource,
    cache: BuildCache,
    slot: str,
    mark: str | None,
    infos: dict[int, SegmentInfo],
    kept: dict[int, str],
    fresh: dict[int, EncodedSegment],
    compressed: dict[bytes, bytes] | None,
    rows,
) -> StatusState:
    """The state of the segments ``kept`` (cache entries, ``infos`` their infos) and
    ``fresh`` (encoded by this build, stored here), its files put together."""
    from espresso_static.website.features.statusdata import assemble_parts

    infos = {**infos, **{n: segment.info() for n, segment in fresh.items()}}
    stored = {n: cache.store_new(f"{slot} segment {n}", s) for n, s in fresh.items()}
    entries = {**kept, **stored}

    def frames(number: int) -> tuple[bytes, ...]:
        if number in fresh:
            return fresh[number].frames
        return _segment(cache, kept[number]).frames

    data = assemble_parts(source.shown, infos, frames, compressed)
    page = StatusPageData(summarize(source.shown, rows), data, source.plot_by, [], {})
    return StatusState(mark, infos, entries, page, len(fresh))


def _segment(cache: BuildCache, entry: str) -> EncodedSegment:
    from espresso_static.website.features.statusdata import EncodedSegment

    segment = cache.load(entry, counted=False)
    if not isinstance(segment, EncodedSegment):
        raise _MissingSegment(entry)
    return segment


def with_history_plots(
    view: AudienceView,
    sources: list[StatusSource],
    pages: list[StatusPageData],
    cache: BuildCache | None = None,
) -> list[StatusPageData]:
    """``pages`` with the history plot and trends of the groups ``view`` sees."""
    from espresso_static.website.features.progressplot import has_snapshots, history_plot

    cache = cache or BuildCache(None)
    plotted = []
    for source, page in zip(sources, pages, strict=True):
        plots, trends = history_plot(view, source, page.summary, cache)
        taken = has_snapshots(source.item)
        plotted.append(dataclasses.replace(page, plots=plots, trends=trends, snapshots=taken))
    return plotted


def visible_declaration(view: AudienceView, item: DeclaredProgress) -> DeclaredProgress | None:
    """``item`` reduced to the columns ``view`` sees (None: no status page for it).

    A column is kept only when every step of its lookup is visible
    (:meth:`~espresso_static.declare.access.AudienceView.sees_path`): a relation path
    (``ensemble__notes``) and a foreign key column, which shows the related row's
    name (or, without one, its id), included.
    """
    model = item.model
    if not view.sees_model(model) or not view.sees_field(model, item.progress.status):
        return None
    columns = [c.name for c in item.columns if view.sees_path(model, c.lookup)]
    groups = [c.name for c in item.group_columns if view.sees_path(model, c.lookup)]
    progress = dataclasses.replace(item.progress, columns=columns, group_by=groups)
    return dataclasses.replace(item, progress=progress)


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
            Asset(
                f"{ASSETS}/status.js", render.template_file("assets/status.js"), include="script"
            ),
            Asset(
                f"{ASSETS}/status.css",
                render.template_file("assets/status.css"),
                include="stylesheet",
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
