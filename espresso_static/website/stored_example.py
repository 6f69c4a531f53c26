"""Population examples from the data: the values of one stored row and of the rows its
foreign keys reach, by dotted path (``"light.quark_tag": "light"``), and the class each
of those rows has (the ``tree``; for a many-to-many column, its first member's). A row that is stored passed its checks, so a script
recreating it passes them too where placeholders would not (``quark_tag="example"``).

Only for audiences that see everything by default (allow): a deny audience's example
would have to prove every value it shows is declared for it.
"""

from __future__ import annotations

import ast
import datetime
import decimal

from django.db import models

from espresso_static.declare.access import AudienceView

#: Foreign keys followed from the stored row at most this deep.
MAX_DEPTH = 20


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
    values, tree = {}, {}
    _walk(row, "", values, tree, depth=0)
    return tuple(sorted(values.items())), tuple(sorted(tree.items()))


def _walk(row, prefix: str, values: dict, tree: dict, depth: int) -> None:
    open_fields = getattr(row, "get_open_fields", None)
    if open_fields is None or depth > MAX_DEPTH:
        return
    for field in open_fields():
        if field.many_to_many:
            # The class of its first member: the kind of row a check accepts there.
            member = getattr(row, field.name).order_by("pk").first()
            if member is not None:
                member = getattr(member, "specialization", member)
                tree[prefix + field.name] = type(member).__name__
            continue
        if isinstance(field, models.ForeignKey):
            related = getattr(row, field.name)
            if related is None:
                continue
            related = getattr(related, "specialization", related)
            tree[prefix + field.name] = type(related).__name__
            _walk(related, f"{prefix}{field.name}.", values, tree, depth + 1)
            continue
        value = _literal(field.value_from_object(row))
        if value is not _NOT_LITERAL:  # None too: a column set above is set below too
            values[prefix + field.name] = value


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
