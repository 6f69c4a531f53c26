"""Reading the input rows: normalised to column attnames, cut into batches, and their
values checked against what the database accepts (type, NULL, length, range, the
foreign key's row) and converted to the fields' Python values, column by column,
before the model's own checks see them. A key given twice is refused."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from numbers import Integral, Real

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from espresso_static.data.ingest.errors import RowError
from espresso_static.data.ingest.plan import Batch, Column, Plan, RowShape

#: Marks a column a row does not give.
_ABSENT = object()
#: Values a choices check leaves to the NULL and blank checks.
_EMPTY_OR_ABSENT = frozenset({None, "", _ABSENT})
#: Choices named in the error about a value outside them.
CHOICES_SHOWN = 8
#: pandas' time types, by name (pandas is not imported for rows that hold none): a
#: DataFrame's records and a Parquet file of nanosecond times (pyarrow) hand them over.
PANDAS_TIMES = frozenset({"Timestamp", "Timedelta", "NaTType"})
#: The types of value a number or truth column (``Column.value_kind``) takes as given.
_KIND_TYPES = {
    kind: frozenset({*types, type(None), type(_ABSENT)})
    for kind, types in (
        ("integer", {int}),
        ("number", {int, float, Decimal}),
        ("boolean", {bool}),
    )
}


def batches(plan: Plan, rows: Iterable[dict], batch_size: int) -> Iterator[Batch]:
    """Batches of ``batch_size`` rows keyed by attname (not yet checked)."""
    shapes = plan.shapes
    batch = Batch(0)
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RowError(
                f"is a {type(row).__name__}, not a mapping of column names to values",
                index,
                model=plan.model._meta.label,
            )
        shape = shapes.get(names := tuple(row))
        if shape is None:
            shape = shapes[names] = _shape_of(plan, names, index)
        values = _renamed(shape, row) if shape.renamed or shape.key_defaults else row
        if len(batch.values) >= batch_size:
            yield batch
            batch = Batch(index)
        batch.values.append(values)
        batch.shapes.append(shape)
    if batch.values:
        yield batch


def _renamed(shape: RowShape, row: dict) -> dict:
    """The row keyed by attnames, foreign keys given as instances replaced by their
    keys, key columns left out filled with their defaults."""
    values = {shape.renamed.get(name, name): value for name, value in row.items()}
    values.update(shape.key_defaults)
    for attname in shape.renamed.values():
        if isinstance(values[attname], models.Model):
            values[attname] = values[attname].pk
    return values


def _shape_of(plan: Plan, names: tuple, index: int) -> RowShape:
    label = plan.model._meta.label
    renamed = {}
    for name in names:
        model_field = plan.field_names.get(name)
        if model_field is None:
            known = ", ".join(sorted({f.name for f in plan.field_names.values()}))
            raise RowError(
                f"unknown column {name!r}; known columns: {known} (ids and last_modified "
                "are set by the ingest)",
                index,
                column=str(name),
                model=label,
            )
        if name != model_field.attname:
            renamed[name] = model_field.attname
    given = {renamed.get(name, name) for name in names}
    key_defaults = {a: plan.defaults[a] for a in plan.key if a not in given and a in plan.defaults}
    missing_key = [a for a in plan.key if a not in given and a not in key_defaults]
    if missing_key:
        raise RowError(
            "has no value for this key column",
            index,
            column=", ".join(plan.key_names.get(a, a) for a in missing_key),
            model=label,
        )
    given.update(key_defaults)
    missing = tuple(c.attname for c in plan.columns if c.attname not in given)
    required = tuple(sorted(plan.required.intersection(missing)))
    stamped = tuple(
        i for i, c in enumerate(plan.columns) if c.attname in plan.auto_now.keys() - given
    )
    return RowShape(renamed, key_defaults, missing, required, stamped)


def check_batch(plan: Plan, batch: Batch, first_rows: dict) -> None:
    """Check and convert the values of ``batch`` column by column, then set its keys;
    ``first_rows`` maps every key seen so far in the input to its row (0-based)."""
    copied: set[int] = set()  # rows copied before a converted value is set (not the caller's)
    for column in plan.columns:
        _check_column(plan, batch, column, copied)
    batch.keys = [plan.key_of(values) for values in batch.values]
    for position, row_key in enumerate(batch.keys):
        index = batch.start + position
        first = first_rows.setdefault(row_key, index)
        if first != index:
            values = batch.values[position]
            given = ", ".join(f"{plan.key_names[a]}={values[a]!r}" for a in plan.key)
            raise row_error(
                plan,
                batch,
                position,
                f"repeats the key {given} of {{other}}; a key may appear once per input",
                column=", ".join(plan.key_names[a] for a in plan.key),
                other_index=first,
            )


def _check_column(plan: Plan, batch: Batch, column: Column, copied: set[int]) -> None:
    attname = column.attname
    rows = batch.values
    values = [row.get(attname, _ABSENT) for row in rows]
    kinds = set(map(type, values))
    if any(_is_pandas_time(kind) for kind in kinds):
        for position, value in enumerate(values):
            if _is_pandas_time(type(value)):
                _replace(rows, values, copied, position, attname, _plain_time(value))
        kinds = set(map(type, values))
    if type(None) in kinds and not column.null:
        position = next(p for p, v in enumerate(values) if v is None)
        raise row_error(plan, batch, position, "is empty; the column requires a value", column)
    if str in kinds and not column.is_text:
        for position, value in enumerate(values):
            if type(value) is str:
                converted = _converted(plan, batch, position, column, value)
                _replace(rows, values, copied, position, attname, converted)
        kinds = set(map(type, values))
    if column.value_kind is not None and not kinds <= _KIND_TYPES[column.value_kind]:
        for position, value in enumerate(values):
            if type(value) not in _KIND_TYPES[column.value_kind]:
                converted = _of_kind(plan, batch, position, column, value)
                _replace(rows, values, copied, position, attname, converted)
        kinds = set(map(type, values))
    if settings.USE_TZ and any(issubclass(kind, datetime) for kind in kinds):
        for position, value in enumerate(values):
            if isinstance(value, datetime) and timezone.is_naive(value):
                # A time written without its zone (text, or Parquet's timestamp
                # without one) is in the project's (UTC), as save() takes it, without
                # the RuntimeWarning PostgreSQL's save() prints for each such value.
                _replace(rows, values, copied, position, attname, timezone.make_aware(value))
    if column.is_text and str in kinds:
        _check_text(plan, batch, column, values)
    if column.int_range is not None and int in kinds:
        _check_range(plan, batch, column, values)
    if column.choices is not None:
        _check_choices(plan, batch, column, values)
    if column.field.is_relation and kinds - {type(None), type(_ABSENT)}:
        _check_related_rows(plan, batch, column, values)


def _is_pandas_time(kind: type) -> bool:
    return kind.__name__ in PANDAS_TIMES and kind.__module__.partition(".")[0] == "pandas"


def _plain_time(value):
    """A pandas time as the value the database gives back, so that an ingest again
    finds the row unchanged: NaT is empty, and what is finer than a microsecond (no
    column keeps it) is cut off."""
    if type(value).__name__ == "NaTType":
        return None
    if isinstance(value, datetime):
        return value.to_pydatetime(warn=False)
    return value.to_pytimedelta()


def _converted(plan: Plan, batch: Batch, position: int, column: Column, value):
    if value == "" and column.null:
        return None
    try:
        return column.to_python(value)
    except ValidationError as error:
        raise row_error(plan, batch, position, " ".join(error.messages), column) from None


def _of_kind(plan: Plan, batch: Batch, position: int, column: Column, value):
    """A value that is not text as the number or truth value of its column: a whole
    float (24.0, as pandas writes integers beside a NaN) is an integer, 24.5 is not; a
    truth value is no number, and only 0 and 1 are truth values (as "0" and "1" in CSV)."""
    kind = column.value_kind
    if kind == "boolean":
        return _converted(plan, batch, position, column, value)
    wanted = "an integer" if kind == "integer" else "a number"
    if isinstance(value, bool):
        reason = f"{str(value).lower()} is a truth value, not {wanted}"
    elif kind == "integer" and isinstance(value, Integral):
        return int(value)
    elif kind == "integer" and isinstance(value, Real | Decimal):
        if math.isfinite(value) and value == int(value):
            return int(value)
        reason = f"{value} is not a whole number; the column holds integers"
    elif kind == "number" and isinstance(value, Real | Decimal):
        return value
    else:
        reason = f"is a {type(value).__name__}, not {wanted}"
    raise row_error(plan, batch, position, reason, column)


def _replace(rows: list, values: list, copied: set[int], position: int, attname: str, value):
    """Set a row's value, on a copy of the row (the caller's rows stay as given)."""
    values[position] = value
    if position not in copied:
        rows[position] = dict(rows[position])
        copied.add(position)
    rows[position][attname] = value


def _check_text(plan: Plan, batch: Batch, column: Column, values: list) -> None:
    if not column.field.blank and "" in values:
        position = values.index("")
        raise row_error(plan, batch, position, "is empty; the column requires a value", column)
    if plan.vendor == "postgresql":  # SQLite stores it; PostgreSQL refuses the batch
        position = next((p for p, v in enumerate(values) if type(v) is str and "\x00" in v), None)
        if position is not None:
            reason = "holds a NUL character (0x00), which PostgreSQL text cannot store"
            raise row_error(plan, batch, position, reason, column)
    limit = column.max_length
    if limit is None:
        return
    texts = [v for v in values if type(v) is str]
    if max(map(len, texts)) > limit:
        position = next(p for p, v in enumerate(values) if type(v) is str and len(v) > limit)
        raise row_error(
            plan,
            batch,
            position,
            f"is {len(values[position]):,} characters long; the column holds at most {limit:,}",
            column,
        )


def _check_range(plan: Plan, batch: Batch, column: Column, values: list) -> None:
    low, high = column.int_range
    numbers = [v for v in values if type(v) is int]
    if (low is not None and min(numbers) < low) or (high is not None and max(numbers) > high):
        position = next(
            p
            for p, v in enumerate(values)
            if type(v) is int and ((low is not None and v < low) or (high is not None and v > high))
        )
        raise row_error(
            plan,
            batch,
            position,
            f"{values[position]} is outside the range of the column ({low:,} to {high:,})",
            column,
        )


def _check_choices(plan: Plan, batch: Batch, column: Column, values: list) -> None:
    """Every value is one of the column's choices, or empty (as Django's validation
    has it): a misspelt status would otherwise be stored and counted in no category."""
    allowed = column.choices
    try:
        if set(values) <= allowed | _EMPTY_OR_ABSENT:
            return
    except TypeError:  # an unhashable value (a list for a JSON column): look at each
        pass
    position = next(p for p, v in enumerate(values) if _outside(v, allowed))
    listed = ", ".join(repr(value) for value in sorted(allowed, key=str)[:CHOICES_SHOWN])
    more = f" (+{len(allowed) - CHOICES_SHOWN} more)" if len(allowed) > CHOICES_SHOWN else ""
    raise row_error(
        plan,
        batch,
        position,
        f"{values[position]!r} is not one of the column's choices: {listed}{more}",
        column,
    )


def _outside(value, allowed: frozenset) -> bool:
    try:
        return value not in allowed and value not in _EMPTY_OR_ABSENT
    except TypeError:  # unhashable, so none of the choices
        return True


def _check_related_rows(plan: Plan, batch: Batch, column: Column, values: list) -> None:
    """Every foreign key points to a stored row (one query per batch and column)."""
    wanted = {v for v in values if v is not None and v is not _ABSENT}
    target = column.field.target_field
    manager = column.field.related_model._base_manager.using(plan.alias)
    found = set(
        manager.filter(**{f"{target.attname}__in": wanted}).values_list(target.attname, flat=True)
    )
    if len(found) < len(wanted):
        position = next(p for p, v in enumerate(values) if v in wanted and v not in found)
        related = column.field.related_model._meta.label
        raise row_error(
            plan,
            batch,
            position,
            f"{related} has no row with {target.name}={values[position]!r}",
            column,
        )


def row_error(
    plan: Plan,
    batch: Batch,
    position: int,
    reason: str,
    column: Column | str | None = None,
    other_index: int | None = None,
) -> RowError:
    """A :class:`RowError` about row ``position`` of ``batch``, naming its key when
    the row has one that can be read."""
    if isinstance(column, Column):
        column = column.field.name
    values = batch.values[position]
    key = {plan.key_names.get(a, a): values[a] for a in plan.key if a in values}
    if column in key:  # the column at fault is the key: no need to say it twice
        key = {}
    return RowError(
        reason,
        batch.start + position,
        column=column,
        key=key,
        other_index=other_index,
        model=plan.model._meta.label,
    )
