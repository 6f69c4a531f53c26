"""The kind of a model field's values, one classification for every output that types
its columns: DataFrame dtypes (:mod:`espresso_static.data.dataframe`), status-page JSON
(:mod:`espresso_static.website.features.status`) and open-data schemas (:mod:`espresso_static.website.features.opendata`).
"""

from __future__ import annotations

from django.db import models

#: Fields whose values are integers (the automatic primary keys are integer fields too).
INTEGER_FIELDS = (models.IntegerField, models.AutoField, models.BigAutoField, models.SmallAutoField)
TEXT_FIELDS = (models.CharField, models.TextField)


def value_field(field: models.Field) -> models.Field:
    """The field whose values ``field`` holds: a foreign key's target, followed through
    parent links (a key to a subclass's table holds its parent link, which holds the
    parent's primary key)."""
    while field.is_relation:
        field = field.target_field
    return field


def field_kind(field: models.Field) -> str | None:
    """``bool``, ``int``, ``float``, ``datetime``, ``date``, ``text`` or ``json`` (a
    foreign key: its target's); None for any other field (UUIDs, durations, binary, ...)."""
    field = value_field(field)
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


def unit_of(field: models.Field) -> dict:
    """``{"unit": "bytes"}`` for an integer column of byte counts (pages show kB, MB,
    GB, the exact count on hover): named ``size``/``bytes`` (or ``*_size``, ``*_bytes``)
    or said to be "in bytes" by its help text; else ``{}``."""
    name = (field.name or "").lower()
    named = name in ("size", "bytes") or name.endswith(("_size", "_bytes"))
    in_bytes = named or "in bytes" in str(field.help_text).lower()
    return {"unit": "bytes"} if field_kind(field) == "int" and in_bytes else {}
