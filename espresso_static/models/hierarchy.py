"""Walking a multi-table inheritance hierarchy (used by the models, their queryset
and the admin)."""

from __future__ import annotations

from django.db import models


def most_specialized(row: models.Model) -> models.Model:
    """Walk reverse parent links down to the deepest existing child. With the links
    loaded by ``select_related(*specialization_paths())`` this runs no query."""
    for child, link in concrete_children(type(row)):
        try:
            return most_specialized(getattr(row, link.remote_field.get_accessor_name()))
        except child.DoesNotExist:
            continue
    return row


def attach_specializations(rows: list, paths: tuple[str, ...], chunk: int = 2_000) -> None:
    """Store the specialization of ``rows`` (path ``""``) and of the rows their
    foreign-key ``paths`` reach, in one query per model and ``chunk`` rows, so that
    reading a subclass-only attribute through them runs no query."""
    pending: dict[type, dict] = {}
    for path in paths:
        for row in rows:
            target = row
            for name in path.split("__") if path else ():
                target = getattr(target, name, None)
                if target is None:
                    break
            if target is not None and "_specialization" not in target.__dict__:
                pending.setdefault(type(target), {}).setdefault(target.pk, []).append(target)
    for model, by_pk in pending.items():
        search = getattr(model, "specialization_paths", list)()
        pks = [pk for pk in by_pk if pk is not None]
        alias = next(iter(by_pk.values()))[0]._state.db
        found = {}
        for start in range(0, len(pks) if search else 0, chunk):
            queryset = model._base_manager.using(alias).filter(pk__in=pks[start : start + chunk])
            found.update(
                (row.pk, most_specialized(row)) for row in queryset.select_related(*search)
            )
        for pk, instances in by_pk.items():
            for instance in instances:
                special = found.get(pk, instance)
                instance.__dict__["_specialization"] = (
                    instance if type(special) is type(instance) else special
                )


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
