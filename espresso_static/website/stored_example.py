"""Population examples from the data: the values of one stored row and of the rows its
foreign keys reach, by dotted path (``"light.quark_tag": "light"``), and the class each
of those rows has (the ``tree``; for a many-to-many column, its first member's). A row that is stored passed its checks, so a script
recreating it passes them too where placeholders would not (``quark_tag="example"``).

The members of a required many-to-many column are part of the row's identity (a
script naming fewer of them would not find the row): each is walked as a row of its
own, below its position (``"configurations.0.config": 300``, tree
``"configurations.0": "Nf211"``).

Only for audiences that see everything by default (allow): a deny audience's example
would have to prove every value it shows is declared for it.
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
        if not m2m.blank:  # the script sets members: a row that has some
            queryset = queryset.filter(**{f"{m2m.name}__isnull": False})
    row = queryset.first()
    if row is None:
        return (), ()
    example = _Example()
    try:
        example.walk(row, "", depth=0)
    except _TooLarge:
        return (), ()
    return tuple(sorted(example.values.items())), tuple(sorted(example.tree.items()))


class _TooLarge(Exception):
    """The example would take more than :data:`MAX_ROWS` rows."""


@dataclass
class _Example:
    values: dict = field(default_factory=dict)
    tree: dict = field(default_factory=dict)
    rows: int = 0

    def walk(self, row, prefix: str, depth: int) -> None:
        open_fields = getattr(row, "get_open_fields", None)
        if open_fields is None or depth > MAX_DEPTH:
            return
        self.rows += 1
        if self.rows > MAX_ROWS:
            raise _TooLarge
        for column in open_fields():
            if column.many_to_many:
                self._members(row, column, prefix, depth)
            elif isinstance(column, models.ForeignKey):
                related = getattr(row, column.name)
                if related is not None:
                    self._row(related, f"{prefix}{column.name}", depth)
            else:
                value = _literal(column.value_from_object(row))
                if value is not _NOT_LITERAL:  # None too: a column set above is set below too
                    self.values[prefix + column.name] = value

    def _members(self, row, column, prefix: str, depth: int) -> None:
        # A script sets the members of a required column only: every one, in order (with
        # MAX_ROWS of them, the example is too large anyway).
        wanted = 1 if column.blank else MAX_ROWS
        members = list(getattr(row, column.name).order_by("pk")[:wanted])
        if not members:
            return
        # The class of its first member: the kind of row a check accepts there.
        first = getattr(members[0], "specialization", members[0])
        self.tree[prefix + column.name] = type(first).__name__
        if not column.blank:
            for position, member in enumerate(members):
                self._row(member, f"{prefix}{column.name}.{position}", depth)

    def _row(self, related, path: str, depth: int) -> None:
        related = getattr(related, "specialization", related)
        self.tree[path] = type(related).__name__
        self.walk(related, path + ".", depth + 1)


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
