"""Queryset and manager of :class:`~espresso_static.models.Base` models."""

from __future__ import annotations

from django.db import models

from espresso_static.models.hierarchy import most_specialized


class BaseQuerySet(models.QuerySet):
    def to_dataframe(self, fieldnames=None):
        """The rows as a :class:`pandas.DataFrame` (see
        :func:`espresso_static.data.dataframe.queryset_to_dataframe`)."""
        # Imported here: pandas takes ~0.5 s to import and most commands never need it.
        from espresso_static.data.dataframe import queryset_to_dataframe

        return queryset_to_dataframe(self, fieldnames)

    def specialized(self) -> list:
        """The most specialized row of each row, in a constant number of queries."""
        paths = self.model.specialization_paths()
        return [most_specialized(row) for row in self.select_related(*paths)]


class BaseManager(models.Manager.from_queryset(BaseQuerySet)):
    """``Model.objects`` of Base models: Django's manager plus ``to_dataframe``."""
