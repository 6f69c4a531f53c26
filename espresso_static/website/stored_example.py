"""Population examples from the data: the values of one stored row and of the rows its
foreign keys reach, by dotted path (``"light.quark_tag": "light"``), and the class each
of those rows has (the ``tree``; for a many-to-many column, its first member's). A row that is stored passed its checks, so a script
recreating it passes them too where placeholders would not (``quark_tag="example"``).

The members of a required many-to-many column are part of the row's identity (a
script naming fewer of them would not find the row): each is walked as a row of its
own, below its position (``"configurations.0.config": 300``, tree
``"configurations.0": "Nf211"``).

Only for audiences that see everything by default (allow): a deny audience's example
would have to prove every value it shows is declared for it. Even so, an allow-audience
may have its own row filters and hidden columns: every row is read through its view
(:meth:`AudienceView.queryset`) and shows its visible columns only. A row needing a
row the audience does not see (a hidden member of a required many-to-many column)
makes no example: a script naming fewer members would not find it.
"""

from __future__ import annotations

import ast
import datetime
import decimal
from dataclasses import dataclass, field

from django.db import models

from espresso_static.declare.access import AudienceView

#: Foreign keys followed from the stored row at most this deep.
MAX_DEPTH = 20
#: Rows an example is made of at most: a row with more members (or members of members)
#: would make a script nobody reads; placeholders serve instead.
MAX_ROWS = 200


def stored_example(model, view: AudienceView) -> tuple[tuple, tuple]:
    """``(values, tree)`` of the first stored row of ``model`` (of that exact class),
    each a sorted tuple of ``(dotted path, value or class name)``; empty without one."""
    if view.audience.denies_by_default:
        return (), ()
    queryset = view.queryset(model).order_by("pk")
    for child in _child_links(model):
        queryset = queryset.filter(**{f"{child}__isnull": True})  # not a subclass's row
    for m2m in model._meta.many_to_many:
        if not m2m.blank:  # the script sets members: a row that has some, all visible
            target = m2m.related_model
            hidden = target._default_manager.exclude(pk__in=view.queryset(target).values("pk"))
            queryset = queryset.filter(**{f"{m2m.name}__isnull": False}).exclude(
                **{f"{m2m.name}__in": hidden}
            )
    row = queryset.first()
    if row is None:
        return (), ()
    example = _Example(view)
    try:
        example.walk(row, "", depth=0)
    except _NoExample:
        return (), ()
    return tuple(sorted(example.values.items())), tuple(sorted(example.tree.items()))


class _NoExample(Exception):
    """The example would take more than :data:`MAX_ROWS` rows, or a row the audience
    does not see."""


@dataclass
class _Example:
    view: AudienceView
    values: dict = field(default_factory=dict)
    tree: dict = field(default_factory=dict)
    rows: int = 0

    def walk(self, row, prefix: str, depth: int) -> None:
        open_fields = getattr(row, "get_open_fields", None)
        if open_fields is None or depth > MAX_DEPTH:
            return
        self.rows += 1
        if self.rows > MAX_ROWS:
            raise _NoExample
        model = type(row)
        for column in open_fields():
            if not self.view.sees_field(model, column.name):
                continue
            if column.many_to_many:
                self._members(row, column, prefix, depth)
            elif isinstance(column, models.ForeignKey):
                key = getattr(row, column.attname)
                if key is not None:
                    related = self._visible(column, key)
                    self._row(related, f"{prefix}{column.name}", depth)
            else:
                value = _literal(column.value_from_object(row))
                if value is not _NOT_LITERAL:  # None too: a column set above is set below too
                    self.values[prefix + column.name] = value

    def _members(self, row, column, prefix: str, depth: int) -> None:
        # A script sets the members of a required column only: every one, in order (with
        # MAX_ROWS of them, the example is too large anyway).
        wanted = 1 if column.blank else MAX_ROWS
        # The keys as values, not a subquery: PostgreSQL, its statistics not yet taken
        # after a sync, ran IN (subquery) ... LIMIT for minutes over a few thousand rows.
        links = getattr(row, column.name).order_by("pk").values_list("pk", flat=True)
        stored = list(links[: MAX_ROWS + 1])
        if not column.blank and len(stored) > MAX_ROWS:
            raise _NoExample
        members = self.view.queryset(column.related_model).filter(pk__in=stored).order_by("pk")
        if not column.blank and members.count() != len(stored):
            raise _NoExample  # a script naming only the visible members finds another row
        members = [self._specialized(member) for member in members[:wanted]]
        if not members:
            return
        # The class of its first member: the kind of row a check accepts there.
        self.tree[prefix + column.name] = type(members[0]).__name__
        if not column.blank:
            for position, member in enumerate(members):
                self._row(member, f"{prefix}{column.name}.{position}", depth)

    def _row(self, related, path: str, depth: int) -> None:
        self.tree[path] = type(related).__name__
        self.walk(related, path + ".", depth + 1)

    def _visible(self, column, key):
        """The row foreign key ``column`` holding ``key`` points to (by its target
        column: ``to_field`` may name another than the primary key), as the audience
        sees it, specialized."""
        rows = self.view.queryset(column.related_model)
        row = rows.filter(**{column.target_field.attname: key}).first()
        if row is None:
            raise _NoExample
        return self._specialized(row)

    def _specialized(self, row):
        """The most derived row sharing ``row``'s id that the audience sees: a subclass
        hidden from it, or whose row filter leaves the row out, is not named."""
        special = getattr(row, "specialization", row)
        for cls in [type(special), *type(special)._meta.get_parent_list()]:
            if cls is type(row):
                return row
            if self.view.sees_model(cls):
                visible = self.view.queryset(cls).filter(pk=row.pk).first()
                if visible is not None:
                    return visible
        return row


_NOT_LITERAL = object()


def _literal(value):
    """``value`` as a Python literal a script can hold (decimals and times as text,
    which the fields parse back), else :data:`_NOT_LITERAL`."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    try:
        ast.literal_eval(repr(value))
    except (ValueError, SyntaxError):
        return _NOT_LITERAL
    return value


def _child_links(model) -> list[str]:
    from espresso_static.models.hierarchy import concrete_children

    return [link.related_query_name() for _, link in concrete_children(model)]
