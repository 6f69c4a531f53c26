"""The kind of a model field's values, one classification for every output that types
its columns: DataFrame dtypes (:mod:`espresso_static.data.dataframe`), status-page JSON
(:mod:`espresso_static.site.features.status`) and open-data schemas (:mod:`espresso_static.site.features.opendata`).
"""

from __future__ import annotations

from django.db import models

#: Fields whose values are integers (the automatic primary keys are integer fields too).
INTEGER_FIELDS = (models.IntegerField, models.AutoField, models.BigAutoField, models.SmallAutoField)
TEXT_FIELDS = (models.CharField, models.TextField)


def field_kind(field: models.Field) -> str | None:
    """``bool``, ``int``, ``float``, ``datetime``, ``date``, ``text`` or ``json``; None
    for any other field (UUIDs, durations, binary, relations, ...)."""
    if isinstance(field, models.BooleanField):
        return "bool"
    if isinstance(field, INTEGER_FIELDS):
        return "int"
    if isinstance(field, (models.FloatField, models.DecimalField)):
        return "float"
    # A DateTimeField is a DateField: the more specific one first.
    if isinstance(field, models.DateTimeField):
        return "datetime"
    if isinstance(field, models.DateField):
        return "date"
    if isinstance(field, TEXT_FIELDS):
        return "text"
    if isinstance(field, models.JSONField):
        return "json"
    return None
