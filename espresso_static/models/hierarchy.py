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


def descendants(model) -> list:
    """Every model inheriting from ``model``, at any depth (abstract and proxy included)."""
    found = []
    for child in model.__subclasses__():
        found.append(child)
        found.extend(descendants(child))
    return found
