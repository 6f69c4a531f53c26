"""Rows of a table in fixed primary-key ranges (*segments*), and which changed.

A large output (a table's downloads, a status page's data) is kept in parts, one per
segment, each cached alone: after a sync only the segments holding changed rows are
encoded again and the output is put together from the parts. Segment ``n`` of a table
with an integer key holds the rows whose key is in ``[n * SEGMENT_ROWS, (n + 1) *
SEGMENT_ROWS)``: a row stays in its segment whatever is inserted or deleted elsewhere,
and new rows (higher keys) fill the last segments. A table whose key is not an
integer is one segment, ``0``.

:func:`plan_segments` says which segments changed since the change-log mark an output
was computed at (:mod:`espresso_static.data.changelog`). The bound: an output's rows
are read from its own table (and, for a model with multi-table inheritance, its
parents' tables, which share its primary key), so a change of row ``pk`` there changes
segment ``pk // SEGMENT_ROWS`` only. Any change in another table the output reads —
tables its foreign keys reach, tables an audience's row filter reads (as
:func:`espresso_static.website.cache_keys.output_tables` finds them) — may change rows of
any segment (a row becomes hidden, a value it shows changes): every segment then.
Without a mark, with another log's mark, or for a table the triggers do not log (or
whose log restarted) the answer is also every segment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Case, F, IntegerField, Value, When

from espresso_static.data import changelog
from espresso_static.data.fieldkinds import value_field
from espresso_static.website.cache_keys import output_tables

#: Rows per segment (of an integer key's range; fewer where rows were deleted).
SEGMENT_ROWS = 10_000
#: Django field types whose values are integers.
INTEGER_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
    }
)
#: Changed rows looked up per query (the key of rows keyed by another column).
LOOKUP_BATCH = 2_000


def key_field(model, key: str | None = None):
    """The field segments of ``model`` are cut by: ``key`` (a column's name) or the
    primary key."""
    return model._meta.pk if key is None else model._meta.get_field(key)


def is_segmented(model, key: str | None = None) -> bool:
    """Whether ``model``'s rows split by ``key`` (else they are one segment)."""
    return value_field(key_field(model, key)).get_internal_type() in INTEGER_TYPES


def segment_of(value) -> int:
    """The segment of a row whose key is ``value`` (an integer, or its text)."""
    return int(value) // SEGMENT_ROWS


def segment_range(segment: int) -> tuple[int, int]:
    """The keys ``[low, high)`` of ``segment``."""
    return segment * SEGMENT_ROWS, (segment + 1) * SEGMENT_ROWS


def segment_rows(queryset, segment: int, key: str | None = None):
    """The rows of ``queryset`` in ``segment`` (all of them for an unsegmented table)."""
    if not is_segmented(queryset.model, key):
        return queryset
    low, high = segment_range(segment)
    name = key or "pk"
    return queryset.filter(**{f"{name}__gte": low, f"{name}__lt": high})


def segments_of(queryset, key: str | None = None) -> list[int]:
    """The segments holding rows of ``queryset``, ascending (one query)."""
    if not is_segmented(queryset.model, key):
        return [0] if queryset.exists() else []
    name = key or "pk"
    # SQL's integer division truncates: a negative key's segment is floored by hand.
    number = Case(
        When(**{f"{name}__gte": 0}, then=F(name) / Value(SEGMENT_ROWS)),
        default=(F(name) + 1) / Value(SEGMENT_ROWS) - 1,
        output_field=IntegerField(),
    )
    rows = queryset.order_by().annotate(_segment=number).values_list("_segment", flat=True)
    return sorted(set(rows.distinct()))


@dataclass(frozen=True)
class SegmentPlan:
    """Where the change log is now, and the segments changed since the previous mark
    (None: every segment)."""

    mark: str | None
    changed: frozenset[int] | None
    #: The keys of the changed rows, when segments are cut by the primary key (None:
    #: not known; read the changed segments whole).
    rows: frozenset[int] | None = None

    def redo(self, segment: int) -> bool:
        return self.changed is None or segment in self.changed


def plan_segments(
    previous_mark: str | None,
    model,
    view,
    models_read: Iterable,
    key: str | None = None,
    tables=output_tables,
) -> SegmentPlan:
    """The segments of ``model``'s rows (by ``key``, default the primary key) that
    changed since ``previous_mark``, for an output that ``view`` sees and that reads the
    tables of ``models_read`` (the bound: see the module's docstring; ``tables``: how
    they are found, a build's :meth:`BuildCache.output_tables`). Call it inside the
    build's read, before reading the rows: the mark is where that read starts."""
    using = model._default_manager.db
    mark = changelog.current_mark(using)
    own = [model, *model._meta.get_parent_list()]
    own_tables = {m._meta.db_table for m in own}
    others = {m._meta.db_table for m in tables(view, [model, *models_read])} - own_tables
    changes = changelog.changes_since(previous_mark, [*own_tables, *others], using)
    if changes is None or any(changes[table] for table in others):
        return SegmentPlan(mark, None)
    if any(changes[table].reset for table in own_tables):
        return SegmentPlan(mark, None)
    changed_rows = [changes[table] for table in own_tables if changes[table]]
    if not changed_rows:
        return SegmentPlan(mark, frozenset())
    if not is_segmented(model, key):
        return SegmentPlan(mark, frozenset({0}))
    if key is None or key_field(model, key).primary_key:
        pks = frozenset(int(pk) for c in changed_rows for pk in c.rows)
        return SegmentPlan(mark, frozenset(segment_of(pk) for pk in pks), pks)
    return SegmentPlan(mark, _segments_by_column(model, key, changed_rows))


def _segments_by_column(model, key: str, changed_rows: list) -> frozenset[int] | None:
    """Segments of rows keyed by a column other than the primary key: the column's value
    now, and before the change where the log keeps it (the tracked column, e.g. a
    many-to-many link's owner); None where a changed row's former value is unknown."""
    column = key_field(model, key).column
    keeps_before = changelog.logged_table(model).tracked == column
    segments = set()
    for changes in changed_rows:
        if keeps_before:
            segments.update(segment_of(value) for value in changes.before_values)
        elif any(kind != "I" for kind, _ in changes.first.values()):
            return None
        pks = sorted(model._meta.pk.to_python(pk) for pk in changes.rows)
        for start in range(0, len(pks), LOOKUP_BATCH):
            batch = model._default_manager.filter(pk__in=pks[start : start + LOOKUP_BATCH])
            segments.update(segment_of(v) for v in batch.values_list(key, flat=True))
    return frozenset(segments)
