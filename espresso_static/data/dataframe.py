"""Querysets as pandas DataFrames with dtypes that follow the model fields.

Integers are ``int64`` (``Int64`` when the column can be null), booleans ``bool``
(``boolean`` when nullable), floats and decimals ``float64``, datetimes
``datetime64[…, UTC]`` and dates ``datetime64[…]`` in the unit pandas picks (pandas 3:
microseconds or seconds, any year Django stores; pandas 2: nanoseconds, years 1677 to
2262), text ``object``. Foreign keys give the related primary key; ``fk__field``
lookups follow relations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from espresso_static.data.fieldkinds import field_kind
from espresso_static.data.raw_rows import raw_rows, resolve_lookup


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
    rows = raw_rows(queryset, names, [field for field, _ in fields.values()])
    frame = pd.DataFrame.from_records(rows, columns=names, coerce_float=True)
    del rows  # the list of rows freed before the columns are converted
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
