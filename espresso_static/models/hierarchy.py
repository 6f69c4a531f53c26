"""Walking a multi-table inheritance hierarchy (used by the models, their queryset
and the admin)."""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from espresso_static.exceptions import EspressoStaticError


def most_specialized(row: models.Model) -> models.Model:
    """Walk reverse parent links down to the deepest existing child. With the links
    loaded by ``select_related(*specialization_paths())`` this runs no query."""
    for child, link in concrete_children(type(row)):
        try:
            return most_specialized(getattr(row, link.remote_field.get_accessor_name()))
        except child.DoesNotExist:
            continue
    return row


def specialization_plan(model, paths) -> tuple[list[str], dict[str, list[str]]]:
    """What ``prefetch_specializations(*paths)`` on ``model``'s rows runs: the
    ``select_related`` joins of the rows' own query, and per path whose rows get their
    specialization (``""``: the rows, then each path's end, and each row a foreign key
    declared on a subclass is read from) the joins its specialization query adds, from
    that field on (``"gaugeconfig"`` of ``OneToAll`` below a ``Propagator``).

    Raises :class:`EspressoStaticError` for a name that is no foreign key of the model
    reached nor of its subclasses."""
    joins: list[str] = []
    points: dict[str, list[str]] = {"": []}
    for path in paths:
        for point, run in _runs(model, path):
            queued = joins if point is None else points.setdefault(point, [])
            if run:
                queued.append("__".join(run))
        points.setdefault(path, [])
    return joins, points


def _runs(model, path: str):
    """``path`` cut before each foreign key a subclass of the model reached declares:
    ``(None, names)`` that the rows' own query joins, then ``(point, names)`` that the
    specialization query of the rows at ``point`` joins."""
    current, point, run = model, None, []
    names = path.split("__") if path else []
    for depth, name in enumerate(names):
        field = _forward_relation(current, name)
        if field is None:
            field = next(
                (f for c in descendants(current) if (f := _forward_relation(c, name))), None
            )
            if field is None:
                raise EspressoStaticError(
                    f"prefetch_specializations({path!r}): {current.__name__} and its "
                    f"subclasses have no foreign key {name!r}."
                )
            yield point, run
            point, run = "__".join(names[:depth]), []
        run.append(name)
        current = field.related_model
    yield point, run


def _forward_relation(model, name: str):
    """``model``'s field ``name`` if ``select_related`` can follow it, else None."""
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return field if field.is_relation and (field.many_to_one or field.one_to_one) else None


def attach_specializations(rows: list, points: dict[str, list[str]], chunk: int = 2_000) -> None:
    """Store the specialization of the rows each path of ``points`` reaches from ``rows``
    (``""``: ``rows``), with the joins of :func:`specialization_plan`, in one query per
    model and ``chunk`` rows, so that reading a subclass-only attribute through them
    runs no query. Shallower paths first: a deeper one reads through their rows'
    specializations."""
    for point in sorted(points, key=lambda path: path.count("__") + bool(path)):
        pending: dict[type, dict] = {}
        for row in rows:
            target = row
            for name in point.split("__") if point else ():
                target = getattr(target, name, None)
                if target is None:
                    break
            if target is not None and "_specialization" not in target.__dict__:
                pending.setdefault(type(target), {}).setdefault(target.pk, []).append(target)
        for model, by_pk in pending.items():
            _specialize(model, by_pk, points[point], chunk)


def _specialize(model, by_pk: dict, joins: list[str], chunk: int) -> None:
    search = getattr(model, "specialization_paths", list)()
    # Each join from every subclass that has its first field (inherited ones too: the
    # specialization is the deepest row, whichever class defines the field).
    search += [
        f"{path}__{join}"
        for path, child in _descendant_paths(model)
        for join in joins
        if _forward_relation(child, join.split("__")[0])
    ]
    pks = [pk for pk in by_pk if pk is not None]
    alias = next(iter(by_pk.values()))[0]._state.db
    found = {}
    for start in range(0, len(pks) if search else 0, chunk):
        queryset = model._base_manager.using(alias).filter(pk__in=pks[start : start + chunk])
        found.update((row.pk, most_specialized(row)) for row in queryset.select_related(*search))
    for pk, instances in by_pk.items():
        for instance in instances:
            special = found.get(pk, instance)
            instance.__dict__["_specialization"] = (
                instance if type(special) is type(instance) else special
            )


def _descendant_paths(model, prefix: str = ""):
    """``(select_related path, model)`` of every concrete descendant of ``model``."""
    for child, link in concrete_children(model):
        path = prefix + link.related_query_name()
        yield path, child
        yield from _descendant_paths(child, path + "__")


def concrete_children(model) -> list:
    """``(child, parent_link)`` for each concrete model inheriting from ``model`` directly."""
    children = []
    for child in model.__subclasses__():
        if child._meta.abstract or child._meta.proxy:
            children.extend(concrete_children(child))
            continue
        link = child._meta.parents.get(model)
        if link is not None:
            children.append((child, link))
    return children


def defining_class(model, attribute: str) -> type:
    """The class of ``model``'s hierarchy that defines ``attribute`` (a check's method)."""
    return next(cls for cls in model.__mro__ if attribute in cls.__dict__)


def descendants(model) -> list:
    """Every model inheriting from ``model``, at any depth (abstract and proxy included)."""
    found = []
    for child in model.__subclasses__():
        found.append(child)
        found.extend(descendants(child))
    return found
