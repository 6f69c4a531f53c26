"""Any column value as a plain CSV/JSON/SQLite/Parquet value: the downloads hold every
Django field type (PostgreSQL's arrays and ranges too) and no value fails a build; a
CSV cell a spreadsheet would run as a formula is neutralised (:func:`csv_cell`)."""

from __future__ import annotations

import base64
import json
import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils.duration import duration_iso_string

#: Frictionless types by Django internal type, for fields of no value kind.
INTERNAL_TYPES = {
    "ArrayField": "array",
    "DurationField": "duration",
    "TimeField": "time",
    "IntegerRangeField": "object",
    "BigIntegerRangeField": "object",
    "DecimalRangeField": "object",
    "DateRangeField": "object",
    "DateTimeRangeField": "object",
    "HStoreField": "object",
}


def plain_value(value):
    """A CSV/JSON/SQLite-ready value: ISO 8601 times and durations, floats for
    decimals, JSON text for JSON, arrays and ranges, base64 for binary, else text."""
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return duration_iso_string(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict | list | tuple) or _is_range(value):
        return strict_json(value, sort_keys=True)
    return str(value)  # UUIDs, IP addresses, file names, custom fields' values


#: A text cell starting with one of these is a formula for a spreadsheet (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell people open in a spreadsheet: a text starting like a formula gets a
    leading ``'``; numbers (and everything not text) stay as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def strict_json(value, **options) -> str:
    """``value`` as JSON any parser reads: a float that is not finite becomes null (the
    json module writes NaN and Infinity, which JSON has not); values JSON has no type
    for as :func:`plain_value` gives them. ``options`` go to :func:`json.dumps`."""

    def dumps(value, default) -> str:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, default=default, **options)

    try:  # the usual case, every float finite: no second walk over the value
        return dumps(value, _json_value)
    except ValueError:
        return dumps(_finite(value), lambda v: _finite(_json_value(v)))


def _finite(value):
    """``value`` with every float that is not finite, at any depth, as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _is_range(value) -> bool:
    return all(hasattr(value, name) for name in ("lower", "upper", "isempty"))


def _json_value(value):
    """Values inside JSON, arrays and ranges that JSON has no type for."""
    if _is_range(value):
        bounds = None if value.isempty else getattr(value, "bounds", None)
        return {"lower": value.lower, "upper": value.upper, "bounds": bounds}
    plain = plain_value(value)
    return plain if isinstance(plain, str | int | float) else str(plain)
