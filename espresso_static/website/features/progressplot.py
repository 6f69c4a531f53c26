"""The history plot of a status page, drawn again only when what it plots changed.

Drawing (SVG and PNG) is the expensive part; what the plot shows is small: the done
and total counts per snapshot of the groups the audience sees, and the legend's
texts (which say "stalled since …" once two weeks pass without progress, so they
depend on the day too). The plot is cached under a key of exactly that — not of the
status table's content — so a sync that changes rows but no snapshot's counts, nor
which groups are shown, reuses it.

Those counts and their trends are cached too, under the snapshots' fingerprint: a
build after a sync without a new snapshot reads no snapshot and imports no pandas.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from espresso_static.data.row_values import row_warnings, warn_again
from espresso_static.data.trend import ALL
from espresso_static.declare.access import AudienceView
from espresso_static.declare.progress import DeclaredProgress, ProgressSummary
from espresso_static.website.cache import BuildCache

PLOT_FILES = ("progress.svg", "progress.png")


@dataclass(frozen=True)
class PlottedSeries:
    """What a history plot shows: the snapshots' counts of the groups plotted
    (``counts``: their digest) and their trends."""

    by: str | None
    groups: tuple[str, ...]
    counts: str
    trends: tuple

    @property
    def fingerprint(self) -> str:
        legend = tuple(trend.describe() for trend in self.trends)  # as of today
        return _digest(self.counts, repr((self.by, legend)))


def history_plot(
    view: AudienceView, source, summary: ProgressSummary, cache: BuildCache
) -> tuple[dict[str, bytes], list]:
    """The plot files (``{name: bytes}``; none before the first snapshot or for an
    audience that may not see every row) and trends of ``source``'s (a status page's) history, from
    ``cache`` when the plotted series did not change. ``summary``: the counts of the
    rows ``view`` sees, as its status page shows them."""
    series = plotted_series(view, source, summary, cache)
    if series is None:
        return {}, []
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
    return files, list(series.trends)


def plotted_series(
    view: AudienceView, source, summary: ProgressSummary, cache: BuildCache
) -> PlottedSeries | None:
    """The counts ``source``'s plot shows to ``view`` (None: no plot), of the groups
    ``summary`` (the counts of the rows ``view`` sees) has. No plot over hidden group
    columns, nor for an audience a row filter (its own or through foreign keys) may
    hide rows from: snapshots count every row, those hidden when they were taken too,
    even rows deleted since. From ``cache`` when no snapshot changed since."""
    from espresso_static.models import ProgressSnapshot

    item, by, model = source.shown, source.plot_by, source.item.model
    # Compared as tuples: a declaration's () and the visible declaration's [] are equal.
    hidden_groups = tuple(item.progress.group_by) != tuple(source.item.progress.group_by)
    if hidden_groups or view.filters_rows(model) or not has_snapshots(item):
        return None
    groups = tuple(sorted(str(value) if by else ALL for value in _totals_by(summary, by)))
    if not groups:
        return None
    snapshots = cache.fingerprint(ProgressSnapshot) if cache.enabled else ""
    key = cache.key("series", view, [model], item, by, groups, snapshots, content=False)
    stored = cache.load(key, counted=False)  # a tuple: the series may be None
    if stored is None:
        stored = (_series_of(item, by, groups),)
        cache.store(f"series {view.name} {source.item.label}", key, stored)
    return stored[0]


def _series_of(
    item: DeclaredProgress, by: str | None, groups: tuple[str, ...]
) -> PlottedSeries | None:
    from espresso_static.data.plots import history_by, trends

    history = history_by(item, by, groups=groups)
    if history.done.empty:
        return None
    counts = _digest(
        *(
            frame.to_csv(date_format="%Y-%m-%dT%H:%M:%S.%f%z")
            for frame in (history.done, history.total)
        )
    )
    return PlottedSeries(by, groups, counts, tuple(trends(history)))


def _digest(*texts: str) -> str:
    digest = hashlib.blake2b(digest_size=20)
    for text in texts:
        digest.update(text.encode())
    return digest.hexdigest()


def _draw(item: DeclaredProgress, series: PlottedSeries) -> dict[str, bytes]:
    from espresso_static.data.plots import figure_bytes, history_by, progress_figure

    history = history_by(item, series.by, groups=series.groups)
    figure = progress_figure(item, by=series.by, history=history)
    return {name: figure_bytes(figure, name.rsplit(".", 1)[-1]) for name in PLOT_FILES}


def _totals_by(summary: ProgressSummary, by: str | None) -> dict:
    """The rows of ``summary`` per value of its group column ``by`` (None: one total)."""
    position = summary.group_names.index(by) if by else None
    totals: dict = {}
    for group in summary.groups:
        value = group.group[position] if by else None
        totals[value] = totals.get(value, 0) + group.total
    return {value: total for value, total in totals.items() if total}


def has_snapshots(item: DeclaredProgress) -> bool:
    from espresso_static.models import ProgressSnapshot

    return ProgressSnapshot.objects.filter(model=item.label).exists()
