"""The Django apps a project configures (``apps = [...]``), looked up in one place."""

from __future__ import annotations

from collections.abc import Iterable

from espresso_static.exceptions import EspressoStaticError


def project_app(name: str):
    """The installed app ``name`` (its import path, e.g. ``models.demo``, or its label)."""
    from django.apps import apps

    for app in apps.get_app_configs():
        if name in (app.name, app.label):
            return app
    raise EspressoStaticError(f"App {name!r} is not installed in Django.")


def app_labels(names: Iterable[str]) -> list[str]:
    """The labels of the apps ``names`` (e.g. ``demo`` for ``models.demo``)."""
    return [project_app(name).label for name in names]


def project_models(names: Iterable[str]) -> list:
    """The concrete models (no proxies) of the apps ``names``, app by app, each in
    declaration order."""
    return [
        model for name in names for model in project_app(name).get_models() if not model._meta.proxy
    ]


def total_rows(row_counts: Iterable[int]) -> int:
    """The number of rows a project reports (the demo command, ``info``, the home and
    Data pages): the rows of its models' tables, each table once (a
    multi-table-inheritance child's table too). The links of a many-to-many relation are
    not rows of a model: they are reported apart, as links."""
    return sum(row_counts)


def model_row_counts(models: Iterable) -> list[int]:
    """The stored rows of each model (all of them, for any audience)."""
    return [model._base_manager.count() for model in models]
