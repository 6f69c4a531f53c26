"""Times on a status page: whole units since 1970 UTC (microseconds for a datetime,
seconds for a date), as the float64 numbers the page reads. The encoding of a whole
table (pandas) and a patch's changed rows (plain values) count them here alike."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: Units a second of a time's number: a datetime keeps its stored microseconds, which the
#: page's CSV writes (float64 holds them exactly from 1685 to 2255, others rounded down:
#: :func:`time_numbers`); a date is seconds.
PER_SECOND = {"datetime": 1_000_000, "date": 1}
#: Times count from this instant (naive ones are UTC, as pandas takes them).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def series_numbers(series: pd.Series, per_second: int) -> pd.Series:
    """A pandas series of times as :func:`time_numbers` (NaN: null)."""
    import pandas as pd

    if series.dt.tz is None:
        series = series.dt.tz_localize("UTC")
    # In the series' own unit: years past 2262 overflow nanoseconds.
    epoch = pd.Timestamp(EPOCH).as_unit(series.dt.unit)
    missing = series.isna()
    units = (series.where(~missing, epoch) - epoch) // (pd.Timedelta(seconds=1) // per_second)
    numbers = time_numbers(units.to_numpy(dtype="int64"))
    numbers[missing.to_numpy()] = np.nan
    return pd.Series(numbers, index=series.index)


def value_numbers(values: list, per_second: int) -> np.ndarray:
    """Times as the driver gives them (dates, datetimes, ISO text on SQLite; None: null)
    as :func:`time_numbers` (NaN: null)."""
    unit = timedelta(seconds=1) / per_second
    units = np.array([0 if v is None else _since_epoch(v) // unit for v in values], "int64")
    numbers = time_numbers(units)
    numbers[np.array([v is None for v in values], dtype=bool)] = np.nan
    return numbers


def _since_epoch(value: str | date) -> timedelta:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value - EPOCH


def time_numbers(units: np.ndarray) -> np.ndarray:
    """Whole units of time (int64) as float64, each rounded down where float64 cannot
    hold it (past 2**53: a datetime after 2255 in microseconds): rounded up, a time could
    show the next second (9999-12-31 23:59:59.999999 as year 10000)."""
    numbers = units.astype("float64")
    above = numbers.astype("int64") > units  # exact: any time Python holds is < 2**63
    numbers[above] = np.nextafter(numbers[above], -np.inf)
    return numbers
