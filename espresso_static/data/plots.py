"""Progress plots from snapshots: share done over time per group, the current rate and
an estimated completion date.

For reports::

    from espresso_static.data.plots import progress_figure
    figure = progress_figure(DataFile, by="ensemble")   # a matplotlib Figure
    figure.savefig("report.pdf")

``build-site`` puts the same figure on each status page (SVG, PNG beside it) and
``espresso-static plot MODEL --by COLUMN --out report.pdf`` writes PDF, PNG or SVG.
The rate is a least-squares fit of the done count over the snapshots of the last
``window`` days (at least the last two snapshots).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from espresso_static.data.row_values import missing_glyphs, shown_text, warn_row_value
from espresso_static.data.snapshot import load_history
from espresso_static.data.trend import ALL, WINDOW_DAYS, Trend
from espresso_static.declare.progress import DeclaredProgress, column_of, declared
from espresso_static.exceptions import EspressoStaticError

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.text import Text

FORMATS = ("pdf", "png", "svg")
#: Characters of a group value a legend entry shows (longer values are shortened).
LEGEND_CHARS = 60
#: Inches: the figure's width, its height without the legend, and a legend line's. The
#: legend is below the plot and the figure grows with it: a campaign of 25 ensembles
#: got a legend over its lines and cut off at the figure's edge.
FIGURE_WIDTH, PLOT_HEIGHT, LEGEND_LINE = 8, 4.5, 0.19
#: A group's line style, each taken after the colours have all been used once more.
LINE_STYLES = ("solid", "dashed", "dotted", "dashdot")
#: More groups than lines of distinct looks (ten colours, four styles) are plotted as
#: all rows alone: a line each would be a tangle, its legend taller than the plot.
MAX_GROUP_LINES = 40


@dataclass(frozen=True)
class History:
    """Done and total counts per snapshot time (rows) and group (columns)."""

    done: pd.DataFrame
    total: pd.DataFrame
    #: The label of a group whose value is one of its column's choices, as the status
    #: page shows it ("Exists" for LatteDB's status 2).
    names: dict[str, str] = field(default_factory=dict)

    @property
    def groups(self) -> list[str]:
        return [str(name) for name in self.done.columns]

    def series(self, group: str | None) -> tuple[pd.Series, pd.Series]:
        """Done and total counts of ``group`` over time (None: summed over all groups)."""
        if group is None:
            return self.done.sum(axis=1), self.total.sum(axis=1)
        return self.done[group], self.total[group]

    def summed(self) -> History:
        """All rows as one group, named ``all``."""
        done, total = self.series(None)
        return History(done=done.to_frame(ALL), total=total.to_frame(ALL))

    @property
    def curves(self) -> list[tuple[str, str | None]]:
        """``(name, group)`` of each curve: every group, then all rows (group None,
        named ``all``) when there are several — a group may be called "all" too."""
        curves = [(self.names.get(group, group), group) for group in self.groups]
        return [*curves, (ALL, None)] if len(curves) > 1 else curves


def history_by(
    item: DeclaredProgress, by: str | None, groups: Collection[str] | None = None
) -> History:
    """The snapshots of ``item`` summed per value of the group column ``by`` (None: all),
    only of the values ``groups`` when given (a build plots only the groups that have
    rows now)."""
    if by is not None and by not in item.progress.group_by:
        choices = ", ".join(item.progress.group_by) or "none"
        raise EspressoStaticError(
            f"{item.model.__name__} is not grouped by {by!r}; group columns: {choices}."
        )
    frame = load_history(item)
    if frame.empty:
        raise EspressoStaticError(
            f"No progress snapshot of {item.label} yet: run `espresso-static snapshot` first."
        )
    frame["group"] = frame[by].astype(str) if by else ALL
    if groups is not None:
        frame = frame[frame["group"].isin(list(groups))].copy()
        if frame.empty:
            return History(done=pd.DataFrame(), total=pd.DataFrame())
    frame["done"] = frame["count"].where(frame["category"] == "done", 0)
    table = frame.pivot_table(
        index="taken_at", columns="group", values=["done", "count"], aggfunc="sum", fill_value=0
    )
    names = _choice_labels(item, by, frame[by].unique()) if by else {}
    return History(done=table["done"], total=table["count"], names=names)


def _choice_labels(item: DeclaredProgress, by: str, values) -> dict[str, str]:
    """The labels of the group ``values`` (as stored) that are choices of ``by``, by
    their text."""
    column = column_of(item.model, by)
    shown = {str(value): column.shown(value) for value in values}
    return {text: str(label) for text, label in shown.items() if str(label) != text}


def trends(history: History, window_days: int = WINDOW_DAYS) -> list[Trend]:
    """The latest state, rate and completion estimate of every group, then of all rows."""
    return [_trend(name, *history.series(group), window_days) for name, group in history.curves]


def _trend(group: str, done: pd.Series, total: pd.Series, window_days: int) -> Trend:
    latest_time = done.index[-1]
    recent = done[done.index >= latest_time - pd.Timedelta(days=window_days)]
    if len(recent) < 2:
        recent = done.iloc[-2:]
    rate = None
    if len(recent) >= 2:
        days = (recent.index - recent.index[0]) / pd.Timedelta(days=1)
        counts = recent.to_numpy(float)
        # Counts that did not move have no rate: a fit gives rounding noise (4e-15/day).
        moved = counts.min() != counts.max()
        rate = float(np.polyfit(np.asarray(days, dtype=float), counts, 1)[0]) if moved else 0.0
    remaining = int(total.iloc[-1]) - int(done.iloc[-1])
    completion = None
    if remaining > 0 and rate and rate > 0:
        with contextlib.suppress(OverflowError):  # past year 9999: no date to give
            completion = latest_time.to_pydatetime() + timedelta(days=remaining / rate)
    changes = done.index[done.diff().fillna(0).to_numpy() != 0]
    last_change = (changes[-1] if len(changes) else done.index[0]).to_pydatetime()
    return Trend(group, int(done.iloc[-1]), int(total.iloc[-1]), rate, completion, last_change)


def progress_figure(
    model, by: str | None = None, window_days: int = WINDOW_DAYS, history: History | None = None
) -> Figure:
    """Share of rows done over time, one line per value of ``by`` (None: all rows),
    each labelled with its rate and estimated completion date (of ``history`` when
    given, else of every snapshot).

    Values from the data are shown literally, never as math (a ``$`` in a group
    value is a dollar sign); one that a legend cannot show as it is (empty, very long,
    control characters, no glyph in the font) is changed and reported as a
    :class:`~espresso_static.data.row_values.RowValueWarning` naming its rows."""
    matplotlib = _matplotlib()
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    item = model if isinstance(model, DeclaredProgress) else declared(model)
    history = history_by(item, by) if history is None else history
    title = f"{item.model.__name__}: progress" + (f" by {by}" if by else "")
    if by is not None and len(history.groups) > MAX_GROUP_LINES:
        title = f"{item.model.__name__}: progress ({len(history.groups)} values of {by})"
        history, by = history.summed(), None
    height = PLOT_HEIGHT + LEGEND_LINE * len(history.curves)
    figure = Figure(figsize=(FIGURE_WIDTH, height), layout="constrained")
    axes = figure.subplots()
    times = history.done.index.tz_convert(None)
    lines, labels = [], []
    colours = len(matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ())) or 1
    for trend, (_, group) in zip(trends(history, window_days), history.curves, strict=True):
        done, total = history.series(group)
        share = 100 * done / total.replace(0, np.nan)
        every_row = group is None or by is None
        style = {"color": "black", "linewidth": 2.4} if every_row else {"linewidth": 1.4}
        if not every_row:  # past the colour cycle, the same colours dashed, then dotted...
            style["linestyle"] = LINE_STYLES[len(lines) // colours % len(LINE_STYLES)]
        name = trend.group if every_row else _legend_name(item, by, trend.group, group)
        labels.append(f"{name}: {trend.describe()}")
        (line,) = axes.plot(
            times, share.to_numpy(), marker="o", markersize=3, label=labels[-1], **style
        )
        lines.append(line)
    axes.set_ylim(0, 100)
    axes.set_ylabel("done (%)")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    if len(times) == 1:  # one snapshot: a day around it, not the years matplotlib picks
        axes.set_xlim(times[0] - pd.Timedelta(hours=12), times[0] + pd.Timedelta(hours=12))
    locator = mdates.AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    # Handles and labels given: a legend would drop the labels that start with "_".
    figure.legend(lines, labels, fontsize="small", loc="outside lower left", frameon=False)
    for text in figure.findobj(Text):
        literal(text)
    return figure


def _matplotlib():
    """matplotlib, imported when a figure is drawn (snapshots and trends alone do not
    pay for its import), with the file-only backend."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window: works on servers and in CI
    return matplotlib


def literal(text: Text) -> Text:
    """``text`` drawn as written: no mathtext (``$...$``), no LaTeX."""
    text.set_parse_math(False)
    text.set_usetex(False)
    return text


def _legend_name(item: DeclaredProgress, by: str, name: str, group: str) -> str:
    """The ``name`` of a group (its value, or its choice's label) as its legend entry
    shows it (see :func:`progress_figure`); ``group``: the value, naming its rows."""
    shown, changes = shown_text(name, LEGEND_CHARS)
    missing = missing_glyphs(shown, _plot_fonts())
    if missing:
        codes = " ".join(f"U+{ord(char):04X}" for char in missing)
        changes.append(f"has no glyph for {codes} in its font (boxes in PNG and PDF)")
    if changes:
        lookup = column_of(item.model, by).lookup
        warn_row_value(item.model, by, lookup, group, changes, "the progress plot")
    return shown


def _plot_fonts() -> tuple[str, ...]:
    """The files of the fonts matplotlib draws text with (a font per family)."""
    from matplotlib.font_manager import FontProperties, findfont

    families = _matplotlib().rcParams["font.family"]
    return tuple(dict.fromkeys(findfont(FontProperties(family=[name])) for name in families))


def write_figure(figure: Figure, path: Path) -> Path:
    """Save ``figure`` as PDF, PNG or SVG, chosen by the suffix of ``path``."""
    content = figure_bytes(figure, path.suffix.lower().lstrip("."), name=path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def figure_bytes(figure: Figure, kind: str, name: str | None = None) -> bytes:
    """``figure`` as a PDF, PNG or SVG file's bytes."""
    if kind not in FORMATS:
        raise EspressoStaticError(
            f"Cannot write {name or kind}: use a .pdf, .png or .svg file name."
        )
    # No creation date in the files: the same data gives the same bytes.
    matplotlib = _matplotlib()
    metadata = {"CreationDate": None} if kind == "pdf" else {"Date": None} if kind == "svg" else {}
    buffer = io.BytesIO()
    # SVG text as text, not glyph outlines: smaller, searchable, selectable, and a test
    # can check what a published plot says.
    # Tick labels are made while saving: drawn as written too. Missing glyphs were
    # reported per row by progress_figure.
    literal_rc = {"text.parse_math": False, "text.usetex": False}
    with (
        matplotlib.rc_context(
            {"svg.hashsalt": "espresso-static", "svg.fonttype": "none", **literal_rc}
        ),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", "Glyph .* missing from font", UserWarning)
        figure.savefig(buffer, format=kind, dpi=150, metadata=metadata)
    return buffer.getvalue()
