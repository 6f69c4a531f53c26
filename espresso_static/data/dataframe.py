"""Querysets as pandas DataFrames with dtypes that follow the model fields.

Integers are ``int64`` (``Int64`` when the column can be null), booleans ``bool``
(``boolean`` when nullable), floats and decimals ``float64``, datetimes
``datetime64[ns, UTC]``, dates ``datetime64[ns]``, text ``object``. Foreign keys
give the related primary key; ``fk__field`` lookups follow relations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from django.core.exceptions import EmptyResultSet
from django.db import connections, models
from django.db.models.functions import Cast

from espresso_static.data.fieldkinds import field_kind

#: Kinds converted column-wise from the driver's raw values (no per-value Python).
VECTORISED_KINDS = frozenset({"bool", "int", "float", "datetime", "date", "text"})


def queryset_to_dataframe(
    queryset,
    fieldnames=None,
    verbose: bool = False,
    index: str | None = None,
    coerce_float: bool = False,
    datetime_index: bool = False,
) -> pd.DataFrame:
    """Read ``fieldnames`` (default: every concrete column) of ``queryset`` into a DataFrame.

    The keywords of django-pandas' ``to_dataframe`` (what EspressoDB exposes):
    ``index`` names the column that becomes the index (read even when not in
    ``fieldnames``), ``datetime_index`` converts it to datetimes, ``verbose=True``
    shows foreign keys as their row's text and choices as their labels (default
    False here: stored values). ``coerce_float`` is accepted; decimals are always
    ``float64``."""
    model = queryset.model
    names = list(fieldnames) if fieldnames else [f.name for f in model._meta.concrete_fields]
    if index is not None and index not in names:
        names.append(index)
    fields = {name: resolve_lookup(model, name) for name in names}
    frame = _read_frame(_with_dates_as_text(queryset, names, fields), names, fields)
    # Column by column, dropping each raw column once converted: peak memory stays
    # near one copy of the data (the bar is read_sql's footprint).
    converted = {name: _convert(frame.pop(name), *fields[name]) for name in names}
    result = pd.DataFrame(converted, index=frame.index)
    if verbose:
        for name in names:
            result[name] = _verbose(model, name, result[name])
    if index is not None:
        result = result.set_index(index)
        if datetime_index:
            result.index = pd.to_datetime(result.index)
    return result


def _verbose(model, lookup: str, column: pd.Series) -> pd.Series:
    """Foreign keys as the text of their rows, choices as their labels (django-pandas)."""
    field = model._meta.get_field(lookup) if "__" not in lookup else None
    if field is not None and field.many_to_one:
        rows = field.related_model._default_manager.in_bulk(list(column.dropna().unique()))
        return column.map(lambda pk: str(rows[pk]) if pk in rows else None).astype(object)
    if field is not None and field.choices:
        labels = {value: str(label) for value, label in field.flatchoices}
        return column.map(lambda value: labels.get(value, value)).astype(object)
    return column


def _read_frame(rows_query, names: list[str], fields: dict) -> pd.DataFrame:
    """The raw rows as a DataFrame (the list of rows is freed on return)."""
    if all(field_kind(field) in VECTORISED_KINDS for field, _ in fields.values()):
        rows = _fetch_raw(rows_query)  # vectorised conversion afterwards; no per-value Python
    else:
        rows = list(rows_query)  # Django's converters for JSON, UUID, durations, ...
    return pd.DataFrame.from_records(rows, columns=names, coerce_float=True)


def resolve_lookup(model, lookup: str) -> tuple[models.Field, bool]:
    """The field a ``a__b__c`` lookup ends on (``pk`` allowed, as in Django), and
    whether any step may be null."""
    nullable = False
    field = None
    for part in lookup.split("__"):
        if field is not None:
            model = field.related_model
        field = model._meta.pk if part == "pk" else model._meta.get_field(part)
        nullable = nullable or field.null
        if field.many_to_many or field.one_to_many:
            raise ValueError(
                f"{lookup!r}: to_dataframe takes one value per row; {part!r} is to-many."
            )
    if field.is_relation:
        field = field.target_field
    return field, nullable


def _with_dates_as_text(queryset, names: list[str], fields: dict):
    """``values_list(*names)``; on SQLite with date and datetime columns read as text
    (``CAST``): the driver would otherwise parse every value in Python, which costs
    more than the whole vectorised conversion below."""
    if connections[queryset.db].vendor != "sqlite":
        return queryset.values_list(*names)
    selected = []
    for position, name in enumerate(names):
        if field_kind(fields[name][0]) in ("datetime", "date"):
            alias = f"es_text_{position}"
            queryset = queryset.annotate(**{alias: Cast(name, models.TextField())})
            selected.append(alias)
        else:
            selected.append(name)
    return queryset.values_list(*selected)


def _fetch_raw(query) -> list:
    try:
        sql, params = query.query.sql_with_params()
    except EmptyResultSet:
        return []
    with connections[query.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _convert(column: pd.Series, field, nullable: bool) -> pd.Series:
    kind = field_kind(field)
    if kind == "int":
        return column.astype("Int64" if nullable else np.int64)
    if kind == "bool":
        return column.astype("boolean" if nullable else bool)
    if kind == "float":
        return pd.to_numeric(column, errors="raise").astype(np.float64)
    if kind == "datetime":
        return pd.to_datetime(column, utc=True, format="ISO8601")
    if kind == "date":
        return pd.to_datetime(column, format="ISO8601")
    return column.astype(object)
