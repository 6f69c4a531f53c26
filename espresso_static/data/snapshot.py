"""Progress snapshots: the counts per declared model, group and status, over time.

``espresso-static snapshot`` (run after each nightly sync) stores the current counts
of every model with a :class:`~espresso_static.declare.progress.Progress` declaration as
:class:`~espresso_static.models.ProgressSnapshot` rows. It costs one aggregate query
per model, and records nothing when the counts equal the latest snapshot's, so
running it twice on the same state is harmless. The history feeds the progress plots.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from django.db import models, transaction
from django.utils import timezone

from espresso_static.declare.progress import (
    DeclaredProgress,
    ProgressSummary,
    declared_models,
    summarize,
)
from espresso_static.exceptions import EspressoStaticError

#: A snapshot's content: ``{(group as sorted JSON, status): count}``.
Counts = dict[tuple[str, str], int]


@dataclass(frozen=True)
class SnapshotResult:
    model: str
    taken_at: datetime
    #: False when the counts equal the latest snapshot's (nothing was written).
    recorded: bool
    rows: int
    total: int


def take_snapshots(
    items: list[DeclaredProgress] | None = None, now: datetime | None = None
) -> list[SnapshotResult]:
    """Snapshot every declared model (or ``items``) at ``now`` (default: the current time)."""
    items = declared_models() if items is None else items
    if not items:
        raise EspressoStaticError(
            "No model declares its progress: add `progress = Progress(...)` to a model "
            "(see espresso_static.declare.progress)."
        )
    now = now or timezone.now()
    return [take_snapshot(item, now) for item in items]


def take_snapshot(item: DeclaredProgress, now: datetime | None = None) -> SnapshotResult:
    """Record the current counts of ``item`` unless they equal its latest snapshot."""
    from espresso_static.models import ProgressSnapshot

    now = now or timezone.now()
    summary = summarize(item)
    current = _counts_of(summary)
    with transaction.atomic():
        unchanged = current == _latest_counts(item.label)
        if not unchanged:
            ProgressSnapshot.objects.bulk_create(_snapshot_rows(item, summary, now))
    return SnapshotResult(item.label, now, not unchanged, len(current), sum(current.values()))


def _counts_of(summary: ProgressSummary) -> Counts:
    names = summary.group_names
    return {
        (_group_key(dict(zip(names, key[:-1], strict=True))), _text(key[-1])): count
        for key, count in summary.status_counts.items()
    }


def _latest_counts(label: str) -> Counts:
    from espresso_static.models import ProgressSnapshot

    snapshots = ProgressSnapshot.objects.filter(model=label)
    latest = snapshots.aggregate(latest=models.Max("taken_at"))["latest"]
    if latest is None:
        return {}
    return {
        (_group_key(group), status): count
        for group, status, count in snapshots.filter(taken_at=latest).values_list(
            "group", "status", "count"
        )
    }


def _snapshot_rows(item: DeclaredProgress, summary: ProgressSummary, now: datetime) -> list:
    from espresso_static.models import ProgressSnapshot

    names = summary.group_names
    return [
        ProgressSnapshot(
            model=item.label,
            taken_at=now,
            group={name: _json_value(value) for name, value in zip(names, key[:-1], strict=True)},
            status=_text(key[-1]),
            category=item.progress.category(key[-1]),
            count=count,
        )
        for key, count in summary.status_counts.items()
    ]


def _group_key(group: dict) -> str:
    return json.dumps({k: _json_value(v) for k, v in group.items()}, sort_keys=True)


def _json_value(value):
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def _text(value) -> str:
    return "" if value is None else str(value)


def backfill_history(
    item: DeclaredProgress,
    time_field: str,
    points: int = 12,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Replace ``item``'s snapshots by ``points`` reconstructed ones, for a campaign that
    starts taking snapshots late (and for the demo).

    At each time ``t`` between the earliest and latest ``time_field`` value, a row
    with ``time_field <= t`` counts with its current status, any other row as the
    first ``missing`` value of the declaration. Returns the number of snapshots.
    """
    from espresso_static.models import ProgressSnapshot

    rows = item.model._default_manager.all()
    bounds = rows.aggregate(first=models.Min(time_field), last=models.Max(time_field))
    if bounds["first"] is None:
        return 0
    step = (bounds["last"] - bounds["first"]) / max(points - 1, 1)
    not_yet = (item.progress.missing or ["missing"])[0]
    totals = _group_totals(summarize(item))
    with transaction.atomic():
        ProgressSnapshot.objects.filter(model=item.label).delete()
        for index in range(points):
            taken_at = bounds["first"] + step * index
            reached = summarize(item, rows.filter(**{f"{time_field}__lte": taken_at}))
            ProgressSnapshot.objects.bulk_create(
                _backfilled_rows(item, reached, totals, not_yet, taken_at)
            )
            if progress:
                progress(1)
    return points


def _group_totals(summary: ProgressSummary) -> dict[tuple, int]:
    return {group.group: group.total for group in summary.groups}


def _backfilled_rows(item, reached: ProgressSummary, totals, not_yet, taken_at) -> list:
    """The rows reached by ``taken_at`` with their status, the rest as ``not_yet``."""
    counts = dict(reached.status_counts)
    for group, total in totals.items():
        counted = sum(c for key, c in reached.status_counts.items() if key[:-1] == group)
        counts[(*group, not_yet)] = counts.get((*group, not_yet), 0) + total - counted
    as_summary = ProgressSummary(item, reached.group_names, [], counts)
    return [row for row in _snapshot_rows(item, as_summary, taken_at) if row.count]


def load_history(item: DeclaredProgress) -> pd.DataFrame:
    """The snapshots of ``item`` as a DataFrame: ``taken_at``, one column per group
    column, ``status``, ``category``, ``count`` (empty when none was taken)."""
    from espresso_static.models import ProgressSnapshot

    records = ProgressSnapshot.objects.filter(model=item.label).values_list(
        "taken_at", "group", "status", "category", "count"
    )
    names = list(item.progress.group_by)
    frame = pd.DataFrame(
        [
            (taken_at, *(group.get(name) for name in names), status, category, count)
            for taken_at, group, status, category, count in records
        ],
        columns=["taken_at", *names, "status", "category", "count"],
    )
    frame["taken_at"] = pd.to_datetime(frame["taken_at"], utc=True)
    frame["count"] = frame["count"].astype("int64")
    return frame
