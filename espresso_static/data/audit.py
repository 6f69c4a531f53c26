"""Data health: re-run every model's consistency checks over the stored rows.

Rows written by ``bulk_create``, raw SQL, ``QuerySet.update`` or older code never
went through the save-time checks; this audit finds the ones that fail them now.
It reads in primary-key order, in batches, and never writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

#: How many failing rows a result keeps (the count covers all of them).
KEEP_ROWS = 20


@dataclass(frozen=True)
class FailingRow:
    pk: object
    row: str
    message: str


@dataclass
class CheckResult:
    """The outcome of one check (``check_consistency`` or an m2m column) on one model."""

    model: str
    check: str
    description: str
    checked: int = 0
    failing: int = 0
    rows: list[FailingRow] = field(default_factory=list)

    def record_failure(self, instance, error: Exception) -> None:
        self.failing += 1
        if len(self.rows) < KEEP_ROWS:
            message = " ".join(str(error).split()) or type(error).__name__
            self.rows.append(FailingRow(instance.pk, _describe(instance), message))


def audited_models(app_labels: list[str]) -> list:
    """Concrete Base models of ``app_labels`` that define a check and keep checks on."""
    from django.apps import apps

    from espresso_static.models import Base

    found = []
    for label in app_labels:
        for model in apps.get_app_config(label).get_models():
            if not issubclass(model, Base) or not model.run_checks:
                continue
            if _overrides(model, "check_consistency") or _m2m_fields(model):
                found.append(model)
    return found


def count_rows(models: list) -> int:
    """Rows (and m2m-checked rows) the audit of ``models`` will read, for a progress bar."""
    total = 0
    for model in models:
        rows = model._default_manager.count()
        total += rows * (_overrides(model, "check_consistency") + len(_m2m_fields(model)))
    return total


def audit_data(
    models: list,
    batch_size: int = 2_000,
    progress: Callable[[int], None] | None = None,
    rows_of: Callable | None = None,
) -> list[CheckResult]:
    """Run the checks of ``models`` over all stored rows (or the queryset
    ``rows_of(model)``, e.g. the rows an audience sees); ``progress(n)`` after each batch."""
    rows_of = rows_of or (lambda model: model._default_manager.all())
    results = []
    for model in models:
        if _overrides(model, "check_consistency"):
            results.append(_audit_rows(model, rows_of(model), batch_size, progress))
        for m2m in _m2m_fields(model):
            results.append(_audit_m2m(model, m2m, rows_of(model), batch_size, progress))
    return results


def _audit_rows(model, queryset, batch_size: int, progress) -> CheckResult:
    result = CheckResult(model._meta.label, "check_consistency", _doc(model.check_consistency))
    # select_related(): checks commonly follow non-null foreign keys; avoid a query per row.
    rows = queryset.select_related().order_by("pk")
    for instance in _counted(rows.iterator(chunk_size=batch_size), batch_size, progress):
        result.checked += 1
        try:
            instance.check_consistency()
        except Exception as error:
            result.record_failure(instance, error)
    return result


def _audit_m2m(model, m2m, queryset, batch_size: int, progress) -> CheckResult:
    result = CheckResult(
        model._meta.label, f"check_m2m_consistency({m2m.name})", _doc(model.check_m2m_consistency)
    )
    rows = queryset.prefetch_related(m2m.name).order_by("pk")
    for instance in _counted(rows.iterator(chunk_size=batch_size), batch_size, progress):
        result.checked += 1
        members = getattr(instance, m2m.name).all()
        try:
            instance.check_m2m_consistency(members, column=m2m.name)
        except Exception as error:
            result.record_failure(instance, error)
    return result


def _counted(rows, batch_size: int, progress) -> Iterator:
    done = 0
    for done, instance in enumerate(rows, start=1):
        yield instance
        if progress and done % batch_size == 0:
            progress(batch_size)
    if progress and done % batch_size:
        progress(done % batch_size)


def _overrides(model, method: str) -> bool:
    from espresso_static.models import Base

    return getattr(model, method) is not getattr(Base, method)


def _m2m_fields(model) -> list:
    if not _overrides(model, "check_m2m_consistency"):
        return []
    return [f for f in model._meta.get_fields() if f.many_to_many and not f.auto_created]


def _doc(method) -> str:
    return " ".join((method.__doc__ or "").split())


def _describe(instance) -> str:
    try:
        return str(instance)
    except Exception:  # a broken __str__ must not stop the audit
        return f"{type(instance).__name__}(pk={instance.pk})"
