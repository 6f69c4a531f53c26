"""Signal handlers that run the consistency checks of Base models.

``pre_save`` covers ``save()``, ``objects.create`` and ``get_or_create``;
``m2m_changed`` covers ``add``/``set``/``create`` on many-to-many relations from
either side. (``bulk_create`` and ``QuerySet.update`` bypass signals, as in
Django; :func:`espresso_static.ingest` runs the checks for bulk writes.)
"""

from __future__ import annotations

from django.db.models.signals import m2m_changed, pre_save
from django.dispatch import receiver

from espresso_static.exceptions import ConsistencyError
from espresso_static.models import Base


@receiver(pre_save, dispatch_uid="espresso_static.run_save_hooks")
def run_save_hooks(sender, instance=None, raw=False, **kwargs):
    # raw: loaddata restores fixtures as they were, like Django's own signal users.
    if instance is not None and not raw and isinstance(instance, Base):
        instance.run_save_hooks()


@receiver(m2m_changed, dispatch_uid="espresso_static.check_m2m_addition")
def check_m2m_addition(sender, instance, action, reverse, model, pk_set, **kwargs):
    """Call ``check_m2m_consistency`` on the model that declares the relation.

    Forward (``a.bs.add(b1, b2)``): ``a.check_m2m_consistency([b1, b2], column="bs")``.
    Reverse (``b.a_set.add(a1, a2)``): ``a1.check_m2m_consistency([b], column="bs")``
    and the same for ``a2``, in primary-key order. Nothing is added when a check fails.
    Django sends this signal inside the relation's own transaction, so within an outer
    ``atomic()`` block a refused addition needs its own ``atomic()`` to go on.
    """
    if action != "pre_add" or not pk_set:
        return
    owner_model = model if reverse else type(instance)
    if not issubclass(owner_model, Base) or not owner_model.run_checks:
        return
    column = _m2m_column(owner_model, sender)
    if reverse:
        added = type(instance).objects.filter(pk=instance.pk)
        owners = owner_model.objects.filter(pk__in=pk_set).order_by("pk")
    else:
        added = model._default_manager.filter(pk__in=pk_set)
        if hasattr(added, "prefetch_specializations"):
            # Checks commonly read subclass columns through the parent rows added.
            added = added.prefetch_specializations()
        owners = [instance]
    for owner in owners:
        try:
            owner.check_m2m_consistency(added, column=column)
        except Exception as error:
            data = {"instances_to_add": list(added), "column": column}
            raise ConsistencyError(error, owner, data=data) from error


def _m2m_column(owner_model, through) -> str | None:
    for field in owner_model._meta.get_fields():
        if field.many_to_many and not field.auto_created and field.remote_field.through is through:
            return field.name
    return None
