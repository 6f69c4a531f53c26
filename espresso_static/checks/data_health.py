"""Data health: stored rows failing their consistency checks (``espresso_static.E201``,
``E202``).

The audit reads every row, so it is registered as a deployment check: Django runs it
only when asked (``check --deploy --database default``, or ``espresso-static check``
with all tags or ``--tag data``). A caller shows progress by running the checks
inside :func:`audit_progress`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core import checks

from espresso_static.checks.ids import DATA, PREFIX
from espresso_static.checks.migrations import STALE_CHANGE_LOG, migration_drift
from espresso_static.data.audit import audit_data, audited_models

_progress: ContextVar[Callable[[int], None] | None] = ContextVar("audit_progress", default=None)


class RowsError(checks.Error):
    """An error about stored rows, with ``details`` (the failing rows) for reports."""

    def __init__(self, *args, details: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.details = details or {}


@contextmanager
def audit_progress(update: Callable[[int], None]) -> Iterator[None]:
    """Within the block, the data audit reports the rows it read to ``update``."""
    token = _progress.set(update)
    try:
        yield
    finally:
        _progress.reset(token)


def skipped_for_drift(app_configs, databases) -> list[checks.CheckMessage]:
    """``[W201]`` when the tables do not match the models (reading rows would fail or
    mislead), else ``[]``."""
    drift = migration_drift(app_configs, databases)
    # Stale change-log triggers (E106) leave the tables as the models have them.
    if any(problem.is_serious() and problem.id != STALE_CHANGE_LOG for problem in drift):
        return [
            checks.Warning(
                "Checks reading the stored rows skipped: the database does not match the models.",
                hint="Fix the migration errors, then run `espresso-static check` again.",
                id=f"{PREFIX}W201",
            )
        ]
    return []


@checks.register(DATA, deploy=True)
def data_health(app_configs=None, databases=None, **_) -> list[checks.CheckMessage]:
    """E201 / E202: stored rows failing their checks."""
    from django.apps import apps

    if not databases:
        return []
    skipped = skipped_for_drift(app_configs, databases)
    if skipped:
        return skipped
    configs = app_configs if app_configs is not None else apps.get_app_configs()
    models = audited_models([config.label for config in configs])
    return [
        RowsError(
            f"{result.failing} of {result.checked} {result.model} rows fail {result.check}.",
            hint="Fix the rows (they bypassed the save-time checks) or the check.",
            obj=result.model,
            id=f"{PREFIX}E202" if result.check.startswith("check_m2m") else f"{PREFIX}E201",
            details={"rows": [row.__dict__ for row in result.rows], "failing": result.failing},
        )
        for result in audit_data(models, progress=_progress.get())
        if result.failing
    ]
