"""A queryset's rows as the database driver returns them, for readers that convert
whole columns themselves: DataFrames (:mod:`espresso_static.data.dataframe`) and the
rows a status page's patch reads (:mod:`espresso_static.website.features.statuspatch`,
which must not import pandas). Both read the same values, so both convert the same.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import EmptyResultSet
from django.db import connections, models
from django.db.models.functions import Cast

from espresso_static.data.fieldkinds import field_kind, value_field

#: Kinds converted column-wise from the driver's raw values (no per-value Python).
VECTORISED_KINDS = frozenset({"bool", "int", "float", "datetime", "date", "text"})


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
    return value_field(field), nullable


def vectorised(fields: Iterable[models.Field]) -> bool:
    """Whether columns of ``fields`` are read as the driver gives them (see :func:`raw_rows`)."""
    return all(field_kind(field) in VECTORISED_KINDS for field in fields)


def raw_rows(queryset, names: list[str], fields: list[models.Field]) -> list[tuple]:
    """The rows of ``queryset``'s lookups ``names`` (``fields``: where each ends, as
    :func:`resolve_lookup` gives it): as the driver returns them when the columns are
    :func:`vectorised`, else through Django's converters (JSON, UUID, durations, ...).
    On SQLite, date and datetime columns are read as ISO text either way."""
    query = _with_dates_as_text(queryset, names, fields)
    return _fetch_raw(query) if vectorised(fields) else list(query)


def _with_dates_as_text(queryset, names: list[str], fields: list[models.Field]):
    """``values_list(*names)``; on SQLite with date and datetime columns read as text
    (``CAST``): the driver would otherwise parse every value in Python, which costs
    more than the whole vectorised conversion of a DataFrame."""
    if connections[queryset.db].vendor != "sqlite":
        return queryset.values_list(*names)
    selected = []
    for position, (name, field) in enumerate(zip(names, fields, strict=True)):
        if field_kind(field) in ("datetime", "date"):
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
