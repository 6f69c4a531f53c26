"""A group's progress at the latest snapshot: its counts, rate and estimated
completion. Computed from the snapshots by :func:`espresso_static.data.plots.trends`;
kept apart from it (no pandas here) so that a build reusing the trends it cached
loads them without importing pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: The recent days a rate is fitted over (and after which no progress is a stall).
WINDOW_DAYS = 14
#: The curve and trend of all rows of a plot grouped by a column (or without one).
ALL = "all"


@dataclass(frozen=True)
class Trend:
    """Progress of one group (or of all rows) at the latest snapshot."""

    group: str
    done: int
    total: int
    #: Done rows per day over the recent snapshots (None with a single snapshot).
    rate_per_day: float | None
    #: When the group will be done at that rate (None when done, or not moving).
    completion: datetime | None
    #: The snapshot at which its done count last changed (the first snapshot if never).
    last_change: datetime | None = None

    @property
    def percent_done(self) -> float:
        return 100.0 * self.done / self.total if self.total else 0.0

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    def stalled_since(self, now: datetime | None = None) -> datetime | None:
        """When progress stopped: the last change, if the group is not done and nothing
        moved in the :data:`WINDOW_DAYS` before ``now`` (snapshots store only changes,
        so a stalled campaign leaves no newer ones). Fewer days without a change, or no
        rate yet (one snapshot), are not enough to tell a stall from a pause."""
        if self.complete or self.last_change is None:
            return None
        now = now or datetime.now(UTC)
        if now - self.last_change > timedelta(days=WINDOW_DAYS):
            return self.last_change
        return None

    def describe(self, now: datetime | None = None, counts: tuple[int, int] | None = None) -> str:
        """``62 % done (1,240 of 2,000), 45/day, done ~2026-12-20`` as of ``now``;
        ``counts``: ``(done, total)`` of the rows now, where a page shows them beside it
        (rows may have changed since the latest snapshot, whose rate and estimate stay)."""
        done, total = counts or (self.done, self.total)
        text = f"{100.0 * done / total if total else 0.0:.0f} % done ({done:,} of {total:,})"
        stalled = self.stalled_since(now)
        if self.rate_per_day is not None and not stalled:
            text += f", {round(self.rate_per_day):,}/day"  # round: no "-0/day" from float noise
        if done >= total:
            return text + ", complete"
        if stalled is not None:
            return text + f", stalled since {stalled:%Y-%m-%d}"
        if self.completion is not None:
            return text + f", done ~{self.completion:%Y-%m-%d}"
        if self.rate_per_day is None:
            return text + ", no rate yet (one snapshot)"
        return text + ", no recent progress"
