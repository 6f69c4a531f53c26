"""The "Data health" page of a build: every consistency check re-run over the rows
the audience sees, with the counts and the first failing rows of each.

Published in the builds of audiences with ``health = true`` (by default those whose
default is "allow", e.g. internal): a failing row is shown as its ``str()`` and the
check's message, which may name any of its values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from espresso_static.data.audit import (
    KEEP_ROWS,
    CheckResult,
    audit_data,
    audited_models,
    count_rows,
)
from espresso_static.declare.access import AudienceView
from espresso_static.project.apps import app_labels
from espresso_static.site.cache import BuildCache
from espresso_static.site.context import Page, RenderContext
from espresso_static.site.feature import Build, Feature
from espresso_static.site.render import model_page_path, relative_link, render_template

HEALTH_PAGE = "health/index.md"


def health_models(app_labels: list[str], view: AudienceView) -> list:
    """The audited models ``view`` sees."""
    return [model for model in audited_models(app_labels) if view.sees_model(model)]


def collect_health(
    models: list,
    view: AudienceView,
    progress: Callable[[int], None] | None = None,
    cache: BuildCache | None = None,
    tables: list | None = None,
) -> list[CheckResult]:
    """Run the checks of ``models`` over the rows ``view`` sees, or reuse the results
    from ``cache`` when none of ``tables`` (default: ``models``) changed. Checks are
    code that may read any table: pass every table of the project."""
    cache = cache or BuildCache(None)
    key = health_key(models, view, cache, tables)
    results = cache.load(key)
    if results is None:
        results = audit_data(models, progress=progress, rows_of=view.queryset)
        cache.store(f"health {view.name}", key, results)
    return results


def health_key(models: list, view: AudienceView, cache: BuildCache, tables=None) -> str:
    """The cache key of the audit of ``models`` (reading ``tables`` too)."""
    return cache.key("health", view, [*models, *(tables or [])], [m._meta.label for m in models])


@dataclass(frozen=True)
class HealthResults:
    """The check results the collect step read (only for audiences with the page)."""

    results: list[CheckResult]


class DataHealth(Feature[HealthResults]):
    """The Data health page (audiences with ``health = true``)."""

    name = "data health"

    def on_collect(self, build: Build) -> HealthResults | None:
        if not build.view.audience.health:
            return None
        with build.part() as line:
            results = _collect(build)
            failing = sum(1 for result in results if result.failing)
            line.append(f"data health {len(results)} checks, {failing} failing")
        return HealthResults(results)

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


def _collect(build: Build) -> list[CheckResult]:
    """The results (checks may read any table: all of them are the audit's input)."""
    models = health_models(app_labels(build.config.apps), build.view)
    key = health_key(models, build.view, build.cache, build.tables)
    if build.cache.has(key):
        return collect_health(models, build.view, cache=build.cache, tables=build.tables)
    with build.counter(count_rows(models), "checking stored rows") as update:
        return collect_health(
            models, build.view, progress=update, cache=build.cache, tables=build.tables
        )
