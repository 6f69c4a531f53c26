"""The "Data health" page of a build: every consistency check re-run over the rows
the audience sees, with the counts and the first failing rows of each.

Published in the builds of audiences with ``health = true`` (by default those whose
default is "allow", e.g. internal): a failing row is shown as its visible columns
(never its ``str()``), and the check's message only to an unrestricted audience, one
that sees every column and every row of every model: a message may name any value a
check reads, of any related row (``self.batch.notes``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from espresso_static.data.audit import (
    KEEP_ROWS,
    CheckResult,
    FailingRow,
    audit_results,
    audited_models,
    checks_of,
    count_rows,
    merged,
    plan_audit,
    run_audit,
    split_checks,
)
from espresso_static.declare.access import AudienceView
from espresso_static.project.apps import app_labels
from espresso_static.website.cache import REBUILT, REUSED, UPDATED, BuildCache
from espresso_static.website.context import Page, RenderContext
from espresso_static.website.feature import Build, Feature, ProgressBar
from espresso_static.website.paths import HEALTH
from espresso_static.website.render import (
    GENERATED,
    model_page_path,
    relative_link,
    render_template,
)
from espresso_static.website.workers import side_by_side

HEALTH_PAGE = f"{HEALTH}/index.md"
#: Rows to check from which the audit is split over two processes.
SPLIT_FROM = 100_000


def health_models(app_labels: list[str], view: AudienceView) -> list:
    """The audited models ``view`` sees."""
    return [model for model in audited_models(app_labels) if view.sees_model(model)]


def collect_health(
    models: list,
    view: AudienceView,
    counter: ProgressBar | None = None,
    cache: BuildCache | None = None,
    tables: list | tuple | None = None,
    report: Callable[[str], None] | None = None,
    snapshot: str | None = None,
) -> list[CheckResult]:
    """Run the checks of ``models`` and report them over the rows ``view`` sees. The
    failing rows of the previous build (from ``cache``) are brought up to date by
    re-checking only the rows whose inputs changed (:mod:`espresso_static.data.audit`
    says what a check reads); ``tables``: the tables its key depends on (schema and
    code, not content). ``counter``: a progress bar of the rows checked; ``report``:
    told how many rows were checked; ``snapshot``: a token of the build's snapshot, to
    check in two processes (:func:`~espresso_static.website.workers.side_by_side`)."""
    cache = cache or BuildCache(None)
    checks = checks_of(models)
    key = health_key(models, view, cache, tables)
    previous = cache.load(key, counted=False)
    plan = plan_audit(checks, previous)
    total = plan.size if plan.size is not None else count_rows(models)
    # Two halves on two cores when the build shares its snapshot and it is worth it.
    parts = split_checks(checks, plan, 2) if snapshot and total >= SPLIT_FROM else [checks]
    audits = [functools.partial(run_audit, part, plan, previous) for part in parts if part]
    with counter(total, "checking stored rows") if counter else nullcontext(None) as update:
        states = side_by_side("data health", audits, snapshot, update)
    state = merged(plan.mark, states)
    cache.store(f"health {view.name}", key, state)
    cache.count(REBUILT if plan.size is None else UPDATED if plan.size else REUSED)
    if report:
        report(f"{total:,} rows checked" + (" (changed inputs)" if plan.size is not None else ""))
    shown = [check for check in checks if _shows(view, check)]
    messages = view.sees_everything()
    results = audit_results(shown, state, view.queryset)
    return [_as_seen(result, view, messages) for result in results]


def _shows(view: AudienceView, check) -> bool:
    """Whether ``view`` may read of ``check``: its many-to-many column visible, its
    method of a class the model's page names (not a hidden parent table's)."""
    from espresso_static.models.hierarchy import defining_class

    hidden_column = check.m2m is not None and not view.sees_field(check.model, check.m2m.name)
    return not hidden_column and view.sees_class(
        check.model, defining_class(check.model, check.method)
    )


#: Shown instead of a check's message the audience may not read in full.
MESSAGE_WITHHELD = "(not shown: the message may name columns this site does not show)"


def _as_seen(result: CheckResult, view: AudienceView, messages: bool) -> CheckResult:
    """``result`` with each failing row shown as its visible columns, never its
    ``str()``, and the check's message only when ``messages`` (:meth:`AudienceView.sees_everything`)."""
    from django.apps import apps

    model = apps.get_model(result.model)
    rows = [
        FailingRow(
            row.pk, view.describe_row(model, row.pk), row.message if messages else MESSAGE_WITHHELD
        )
        for row in result.rows
    ]
    return dataclasses.replace(result, rows=rows)


def health_key(models: list, view: AudienceView, cache: BuildCache, tables=None) -> str:
    """The cache key of the audit state of ``models`` (their definitions and code, and
    those of ``tables``; the data is followed through the change log)."""
    labels = [m._meta.label for m in models]
    return cache.key("health", view, [*models, *(tables or [])], labels, content=False)


@dataclass(frozen=True)
class HealthResults:
    """The check results the collect step read (only for audiences with the page)."""

    results: list[CheckResult]


class DataHealth(Feature[HealthResults]):
    """The Data health page (audiences with ``health = true``)."""

    name = "data health"
    concurrent = True

    def on_collect(self, build: Build) -> HealthResults | None:
        if not build.view.audience.health:
            return None
        with build.part() as line:
            checked: list[str] = []
            results = _collect(build, checked.append)
            failing = sum(1 for result in results if result.failing)
            checks = f"{len(results)} check{'s' if len(results) != 1 else ''}"
            line.append(f"data health {checks}, {failing} failing, {checked[0]}")
        return HealthResults(results)

    def on_home_markdown(self, site, context: RenderContext, data: HealthResults | None) -> str:
        """The verdict of the Data health page, linked."""
        if data is None:
            return ""
        shown = {model.label for model in site.models}
        results = [result for result in data.results if result.model in shown]
        failing = sum(1 for result in results if result.failing)
        link = f"{GENERATED}/{HEALTH_PAGE}"
        if not results:
            verdict = 'success "No table of this site defines a consistency check"'
        elif failing:
            verdict = (
                f'failure "{failing} of {len(results)} consistency checks fail on stored rows"'
            )
        else:
            verdict = f'success "All {len(results)} consistency checks pass on every stored row"'
        return f"## Data health\n\n!!! {verdict}\n\n    [The checks and the failing rows]({link})\n"

    def on_files(self, site, context: RenderContext, data: HealthResults | None) -> list:
        if data is None:
            return []
        links = {m.label: relative_link(HEALTH_PAGE, model_page_path(m)) for m in site.models}
        markdown = render_template(
            "health.md.j2",
            results=[result for result in data.results if result.model in links],
            links=links,
            keep=KEEP_ROWS,
            provenance=context.provenance,
        )
        return [Page(HEALTH_PAGE, markdown, "Data health")]


def _collect(build: Build, report: Callable[[str], None]) -> list[CheckResult]:
    """The results, re-checking the rows whose inputs changed."""
    models = health_models(app_labels(build.config.apps), build.view)
    return collect_health(
        models, build.view, build.counter, build.cache, build.tables, report, build.snapshot
    )
