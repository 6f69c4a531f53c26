"""The data-health check: stored rows failing their consistency checks."""

from __future__ import annotations

from collections.abc import Iterator

from espresso_static.checks.registry import ERROR, Finding, register
from espresso_static.data.audit import audit_data, audited_models


@register("data")
def data_health(app_labels: list[str], progress=None, **_) -> Iterator[Finding]:
    """ES-D001 / ES-D002: stored rows failing their checks."""
    for result in audit_data(audited_models(app_labels), progress=progress):
        if not result.failing:
            continue
        is_m2m = result.check.startswith("check_m2m")
        yield Finding(
            "ES-D002" if is_m2m else "ES-D001",
            ERROR,
            f"{result.failing} of {result.checked} {result.model} rows fail {result.check}.",
            "Fix the rows (they bypassed the save-time checks) or the check.",
            result.model,
            {"rows": [row.__dict__ for row in result.rows], "failing": result.failing},
        )
