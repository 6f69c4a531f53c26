"""The history plot of a status page, drawn again only when what it plots changed.

Drawing (SVG and PNG) is the expensive part; what the plot shows is small: the done
and total counts per snapshot of the groups the audience sees whole, and the legend's
texts (which say "stalled since …" once two weeks pass without progress, so they
depend on the day too). The plot is cached under a key of exactly that — not of the
status table's content — so a sync that changes rows but no snapshot's counts, nor
which groups are shown whole, reuses it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from espresso_static.data.plots import History
from espresso_static.data.row_values import row_warnings, warn_again
from espresso_static.declare.access import AudienceView
from espresso_static.declare.progress import DeclaredProgress, summarize
from espresso_static.website.cache import BuildCache

PLOT_FILES = ("progress.svg", "progress.png")


@dataclass(frozen=True)
class PlottedSeries:
    """What a history plot shows: the snapshots' counts of the groups plotted."""

    by: str | None
    history: History
    legend: tuple[str, ...]

    @property
    def fingerprint(self) -> str:
        digest = hashlib.blake2b(digest_size=20)
        for frame in (self.history.done, self.history.total):
            digest.update(frame.to_csv(date_format="%Y-%m-%dT%H:%M:%S.%f%z").encode())
        digest.update(repr((self.by, self.legend)).encode())
        return digest.hexdigest()


def history_plot(view: AudienceView, source, cache: BuildCache) -> tuple[dict[str, bytes], list]:
    """The plot files (``{name: bytes}``; none before the first snapshot or when no
    group is seen whole) and trends of ``source``'s (a status page's) history, from
    ``cache`` when the plotted series did not change."""
    series = plotted_series(view, source)
    if series is None:
        return {}, []
    from espresso_static.data.plots import trends

    # The model's definition, not its table's content: the series stand for that.
    key = cache.key(
        "plot", view, [source.item.model], source.shown, series.fingerprint, content=False
    )
    stored = cache.load(key)
    if stored is None:
        with row_warnings() as warnings:
            files = _draw(source.shown, series)
        stored = (files, tuple(warnings))
        cache.store(f"plot {view.name} {source.item.label}", key, stored)
    files, warnings = stored
    warn_again(warnings)  # made now or stored with the plot: every build reports them
    return files, trends(series.history)


def plotted_series(view: AudienceView, source) -> PlottedSeries | None:
    """The counts ``source``'s plot shows to ``view`` (None: no plot): no plot over
    hidden group columns, nor of groups with hidden rows."""
    from espresso_static.data.plots import history_by, trends

    item, by = source.shown, source.plot_by
    if item.progress.group_by != source.item.progress.group_by or not _has_snapshots(item):
        return None
    groups = _whole_groups(item, by, view.queryset(source.item.model))
    if not groups:
        return None
    history = history_by(item, by, groups=groups)
    if history.done.empty:
        return None
    return PlottedSeries(by, history, tuple(trend.describe() for trend in trends(history)))


def _draw(item: DeclaredProgress, series: PlottedSeries) -> dict[str, bytes]:
    from espresso_static.data.plots import figure_bytes, progress_figure

    figure = progress_figure(item, by=series.by, history=series.history)
    return {name: figure_bytes(figure, name.rsplit(".", 1)[-1]) for name in PLOT_FILES}


def _whole_groups(item: DeclaredProgress, by: str | None, rows) -> set[str]:
    """The values of ``by`` (``all`` without one) to plot: none when a row is hidden
    (snapshots count every row, and a hidden row may have moved from any group)."""
    from espresso_static.data.plots import ALL

    per_group = dataclasses.replace(item.progress, group_by=[by] if by else [], columns=None)
    single = dataclasses.replace(item, progress=per_group)
    everything = {group.group: group.total for group in summarize(single).groups}
    if not rows.query.has_filters():  # the audience sees every row
        return {str(key[0]) if by else ALL for key in everything}
    seen = {group.group: group.total for group in summarize(single, rows).groups}
    return {str(key[0]) if by else ALL for key in seen} if seen == everything else set()


def _has_snapshots(item: DeclaredProgress) -> bool:
    from espresso_static.models import ProgressSnapshot

    return ProgressSnapshot.objects.filter(model=item.label).exists()
