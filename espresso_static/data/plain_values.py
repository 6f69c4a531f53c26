"""Any column value as a plain CSV/JSON/SQLite/Parquet value: the downloads hold every
Django field type (PostgreSQL's arrays and ranges too) and no value fails a build."""

from __future__ import annotations

import base64
import json
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
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_value)
    return str(value)  # UUIDs, IP addresses, file names, custom fields' values


def _is_range(value) -> bool:
    return all(hasattr(value, name) for name in ("lower", "upper", "isempty"))


def _json_value(value):
    """Values inside JSON, arrays and ranges that JSON has no type for."""
    if _is_range(value):
        bounds = None if value.isempty else getattr(value, "bounds", None)
        return {"lower": value.lower, "upper": value.upper, "bounds": bounds}
    plain = plain_value(value)
    return plain if isinstance(plain, str | int | float) else str(plain)
