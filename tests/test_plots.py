"""Progress plots from snapshots: the library call and `espresso-static plot`."""

from __future__ import annotations

import dataclasses
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure

from espresso_static.cli import cli
from espresso_static.exceptions import EspressoStaticError
from espresso_static.models import ProgressSnapshot
from espresso_static.plots import (
    ALL,
    MAX_GROUP_LINES,
    figure_bytes,
    history_by,
    progress_figure,
    trends,
)
from espresso_static.progress import find_declared
from models.demo import data
from models.demo.models import DataFile

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 3, 1, tzinfo=UTC)
MAGIC = {"pdf": b"%PDF-", "png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml"}


def record(day: int, done: dict[str, int], total: int = 100) -> None:
    """A snapshot on ``START + day``: ``done[ensemble]`` of ``total`` rows done."""
    for ensemble, count in done.items():
        for status, category, n in (
            ("on_disk", "done", count),
            ("missing", "missing", total - count),
        ):
            ProgressSnapshot.objects.create(
                model="demo.DataFile",
                taken_at=START + timedelta(days=day),
                group={"ensemble": ensemble, "stream": "a"},
                status=status,
                category=category,
                count=n,
            )


@pytest.fixture
def history(db):
    for day, (a, b) in enumerate([(10, 50), (20, 50), (30, 50), (40, 50)]):
        record(day, {"a12m310": a, "a09m220": b})


def test_rate_and_completion_come_from_recent_snapshots(history):
    by_ensemble = {t.group: t for t in trends(history_by(find_declared("DataFile"), "ensemble"))}
    moving = by_ensemble["a12m310"]
    assert (moving.done, moving.total) == (40, 100)
    assert moving.rate_per_day == pytest.approx(10)
    assert moving.completion == START + timedelta(days=3 + 6)  # 60 left at 10 a day
    stuck = by_ensemble["a09m220"]
    assert stuck.rate_per_day == pytest.approx(0) and stuck.completion is None
    # Three days without a change are a pause; two weeks make a stall (the README's word).
    paused = stuck.describe(now=START + timedelta(days=3))
    assert paused == "50 % done (50 of 100), 0/day, no recent progress"
    assert "stalled since 2026-03-01" in stuck.describe(now=START + timedelta(days=15))
    assert by_ensemble[ALL].done == 90 and by_ensemble[ALL].total == 200


def test_an_estimate_says_stalled_when_nothing_moved_for_two_weeks(history):
    by_ensemble = {t.group: t for t in trends(history_by(find_declared("DataFile"), "ensemble"))}
    moving = by_ensemble["a12m310"]
    assert moving.last_change == START + timedelta(days=3)
    assert moving.describe(now=START + timedelta(days=4)).endswith("10/day, done ~2026-03-10")
    # Snapshots store only changes: none for 15 days means nothing moved.
    late = moving.describe(now=START + timedelta(days=3 + 15))
    assert late == "40 % done (40 of 100), stalled since 2026-03-04"


def test_one_snapshot_is_no_stall_until_two_weeks_pass_without_another(db):
    record(0, {"a12m310": 10})
    (trend,) = trends(history_by(find_declared("DataFile"), None))
    assert trend.rate_per_day is None
    soon = trend.describe(now=START + timedelta(minutes=5))
    assert soon == "10 % done (10 of 100), no rate yet (one snapshot)"
    late = trend.describe(now=START + timedelta(days=15))
    assert late == "10 % done (10 of 100), stalled since 2026-03-01"


def test_a_plot_of_one_snapshot_spans_a_day_not_years(db):
    record(0, {"a12m310": 10})
    figure = progress_figure(find_declared("DataFile"))
    low, high = figure.axes[0].get_xlim()
    assert high - low <= 1.0  # matplotlib's date axis counts days


def test_progress_figure_has_a_line_per_group_and_all(history):
    figure = progress_figure(DataFile, by="ensemble")
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    labels = [line.get_label() for line in axes.get_lines()]
    assert [label.split(":")[0] for label in labels] == ["a09m220", "a12m310", ALL]
    assert "stalled since 2026-03-04" in labels[1]  # the snapshots are months old
    assert list(axes.get_lines()[1].get_ydata()) == [10, 20, 30, 40]


def test_a_campaign_of_many_groups_gets_its_whole_legend_below_the_plot(db):
    """25 ensembles: each line and its legend entry, none cut off or over the lines;
    past the colour cycle a line differs from the one of its colour by its style."""
    ensembles = [f"a{spacing:02d}m{mass}" for spacing in range(5) for mass in range(5)]
    for day in range(3):
        record(day, {ensemble: 10 * day + i for i, ensemble in enumerate(ensembles)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "constrained_layout not applied"
        figure = progress_figure(DataFile, by="ensemble")
        figure_bytes(figure, "png")  # lays the figure out
    (axes,) = figure.axes
    (legend,) = [*figure.legends, *filter(None, [axes.get_legend()])]  # wherever it is
    shown = [text.get_text().split(":")[0] for text in legend.get_texts()]
    assert shown == [*sorted(ensembles), ALL]
    plot, box = axes.get_window_extent(), legend.get_window_extent()
    assert box.y1 <= plot.y0 and box.y0 >= 0  # below the plot, inside the figure
    looks = {(line.get_color(), line.get_linestyle()) for line in axes.get_lines()}
    assert len(looks) == len(ensembles) + 1
    assert figure.get_figheight() > progress_figure(DataFile).get_figheight()


def test_more_groups_than_lines_of_distinct_looks_are_plotted_as_all_rows(db):
    ensembles = [f"e{number:03d}" for number in range(MAX_GROUP_LINES + 1)]
    for day in range(2):
        record(day, {ensemble: 10 * day for ensemble in ensembles})
    figure = progress_figure(DataFile, by="ensemble")
    (axes,) = figure.axes
    assert [line.get_label().split(":")[0] for line in axes.get_lines()] == [ALL]
    assert axes.get_title() == f"DataFile: progress ({len(ensembles)} values of ensemble)"
    assert list(axes.get_lines()[0].get_ydata()) == [0, 10]


def test_groups_are_named_by_their_choice_labels(db):
    """As the status page names them: "Summit", not the stored "summit" (LatteDB's
    integer statuses were plotted as 2 and 3)."""
    item = find_declared("DataFile")
    by_machine = dataclasses.replace(
        item, progress=dataclasses.replace(item.progress, group_by=["machine"])
    )
    for day, done in enumerate([10, 20]):
        for machine in ("summit", "elsewhere"):  # "elsewhere": not one of the choices
            ProgressSnapshot.objects.create(
                model="demo.DataFile",
                taken_at=START + timedelta(days=day),
                group={"machine": machine},
                status="on_disk",
                category="done",
                count=done,
            )
    history = history_by(by_machine, "machine")
    assert [t.group for t in trends(history)] == ["elsewhere", "Summit", ALL]
    figure = progress_figure(by_machine, by="machine", history=history)
    labels = [line.get_label().split(":")[0] for line in figure.axes[0].get_lines()]
    assert labels == ["elsewhere", "Summit", ALL]


def test_progress_figure_refuses_unknown_groups_and_no_history(db):
    with pytest.raises(EspressoStaticError, match=r"No progress snapshot of demo\.DataFile"):
        progress_figure(DataFile)
    record(0, {"a12m310": 1})
    with pytest.raises(EspressoStaticError, match=r"not grouped by 'machine'.*ensemble, stream"):
        progress_figure(DataFile, by="machine")


@pytest.mark.parametrize("kind", ["pdf", "png", "svg"])
def test_plot_command_writes_every_format(history, tmp_path, kind):
    out = tmp_path / f"report.{kind}"
    result = CliRunner().invoke(
        cli, ["plot", "DataFile", "--by", "ensemble", "--out", str(out), "--project", str(REPO)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(MAGIC[kind])
    assert out.stat().st_size > 5_000
    if kind == "svg":
        assert "a12m310" in out.read_text()


def test_plot_command_refuses_other_formats_in_one_line(history, tmp_path):
    result = CliRunner().invoke(
        cli, ["plot", "DataFile", "--out", str(tmp_path / "x.jpg"), "--project", str(REPO)]
    )
    assert result.exit_code == 1
    assert "use a .pdf, .png or .svg file name" in result.output


@pytest.mark.django_db
def test_the_demo_history_plot_shows_several_snapshots(tmp_path):
    data.generate(files=400, seed=5)
    result = CliRunner().invoke(cli, ["snapshot", "--project", str(REPO)])
    assert result.exit_code == 0
    from espresso_static.data.snapshot import backfill_history

    backfill_history(find_declared("DataFile"), "produced", points=8)
    figure = progress_figure(DataFile, by="ensemble")
    assert all(len(line.get_xdata()) == 8 for line in figure.axes[0].get_lines())
