"""Queryset and manager of :class:`~espresso_static.models.Base` models."""

from __future__ import annotations

from django.db import models

from espresso_static.models.hierarchy import (
    attach_specializations,
    most_specialized,
    specialization_plan,
)


class BaseQuerySet(models.QuerySet):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: Lookup paths whose rows get their specialization on evaluation ("" = the rows).
        self._specialize_paths: tuple[str, ...] = ()

    def _clone(self):
        clone = super()._clone()
        clone._specialize_paths = self._specialize_paths
        return clone

    def _fetch_all(self):
        fetching = self._result_cache is None
        super()._fetch_all()
        rows = self._result_cache
        if fetching and self._specialize_paths and rows and isinstance(rows[0], models.Model):
            _, points = specialization_plan(self.model, self._specialize_paths)
            attach_specializations(rows, points)

    def prefetch_specializations(self, *related: str):
        """Resolve the ``specialization`` of each row, and of the rows reached through the
        foreign-key paths ``related`` (``"propagator__gaugeconfig"``), when the queryset
        is evaluated: one query per model met instead of one per row on its first
        subclass-only attribute. A path may name a foreign key a subclass of the model
        it reached declares (``"propagator0__gaugeconfig"`` with ``gaugeconfig`` on
        ``OneToAll``, a ``Propagator``): it is read from the specializations, loaded
        with them. For loops like ``for p in
        OneToAll.objects.prefetch_specializations("gaugeconfig"): p.gaugeconfig.nx``."""
        joins, _ = specialization_plan(self.model, related)  # a wrong name fails here
        clone = self.select_related(*joins) if joins else self._chain()
        clone._specialize_paths = tuple(dict.fromkeys([*self._specialize_paths, "", *related]))
        return clone

    def to_dataframe(
        self, fieldnames=None, verbose=False, index=None, coerce_float=False, datetime_index=False
    ):
        """The rows as a :class:`pandas.DataFrame`, with django-pandas' keywords (see
        :func:`espresso_static.data.dataframe.queryset_to_dataframe`)."""
        # Imported here: pandas takes ~0.5 s to import and most commands never need it.
        from espresso_static.data.dataframe import queryset_to_dataframe

        return queryset_to_dataframe(
            self,
            fieldnames,
            verbose,
            index,
            coerce_float=coerce_float,
            datetime_index=datetime_index,
        )

    def specialized(self) -> list:
        """The most specialized row of each row, in a constant number of queries."""
        paths = self.model.specialization_paths()
        return [most_specialized(row) for row in self.select_related(*paths)]


class BaseManager(models.Manager.from_queryset(BaseQuerySet)):
    """``Model.objects`` of Base models: Django's manager plus ``to_dataframe``."""
