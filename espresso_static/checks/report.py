"""Run the project's checks through Django's registry and report them:
``espresso-static check`` (every tag, or those asked for) and the refusal of
``build-site`` (declarations and, unless drift is allowed, migrations) before it
writes anything.

Tags (``check --tag``): ``django`` (Django's own checks: models, fields, admin, ...,
without database) and those of :mod:`espresso_static.checks.ids`, whose checks read
the ``default`` database; the data audit, expensive, runs only when its tag is
selected.
Silenced ids (``silenced_checks``, Django's ``SILENCED_SYSTEM_CHECKS``) and messages
below the warning level are not reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.core import checks

from espresso_static.checks.ids import (
    CHECK_TAGS,
    CONFIGURATION,
    DATA,
    DECLARATIONS,
    DJANGO,
    MIGRATIONS,
    NOTIFICATIONS,
)
from espresso_static.exceptions import EspressoStaticError, terminal_line
from espresso_static.project.config import ProjectConfig

OUR_TAGS = {CONFIGURATION, DECLARATIONS, MIGRATIONS, NOTIFICATIONS, DATA}
DATABASES = ["default"]


def run_project_checks(
    config: ProjectConfig,
    tags: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
    django_tags: set[str] | None = None,
) -> list[checks.CheckMessage]:
    """The warnings and errors of the checks with ``tags`` (default: all) on the
    project's apps, in the order of ``CHECK_TAGS``; ``progress`` gets the rows the data
    audit reads; ``django_tags``: those of Django's own checks the ``django`` tag runs
    (default: all)."""
    from espresso_static.checks.data_health import audit_progress
    from espresso_static.checks.declarations import page_declarations
    from espresso_static.checks.migrations import drift_once
    from espresso_static.project.apps import project_app

    wanted = [tag for tag in CHECK_TAGS if tags is None or tag in tags]
    configs = [project_app(name) for name in config.apps]
    messages: list[checks.CheckMessage] = []
    with drift_once():
        for tag in wanted:
            # Django's own checks as `manage.py check` runs them (no database).
            django = django_tags or _django_tags()
            selected, databases = (django, None) if tag == DJANGO else ({tag}, DATABASES)
            with audit_progress(progress):
                found = checks.run_checks(
                    configs, selected, include_deployment_checks=tag == DATA, databases=databases
                )
            if tag == DECLARATIONS:
                found += page_declarations(config)
            # The data and notification checks share the drift warning; one is enough.
            messages += [message for message in found if message not in messages]
    silenced = {*_settings_silenced(), *config.silenced_checks}
    return [m for m in messages if m.level >= checks.WARNING and m.id not in silenced]


def _django_tags() -> set[str]:
    return checks.registry.registry.tags_available() - OUR_TAGS


def _settings_silenced() -> list[str]:
    from django.conf import settings

    return list(getattr(settings, "SILENCED_SYSTEM_CHECKS", []))


def refuse_to_build(config: ProjectConfig, allow_drift: bool = False) -> list[str]:
    """Raise a one-line error naming the first model Django finds broken (a clash of
    names its queries would trip on), wrong declaration or, unless ``allow_drift``,
    migration drift (the site would document tables that are not what the database
    holds); return the warnings, one line each."""
    tags = [DECLARATIONS] if allow_drift else [DECLARATIONS, MIGRATIONS]
    # Django's warnings are check's to list, not every build's.
    models = run_project_checks(config, [DJANGO], django_tags={checks.Tags.models})
    messages = [m for m in models if m.is_serious()] + run_project_checks(config, tags)
    errors = [message for message in messages if message.is_serious()]
    if errors:
        first = errors[0]
        drift = " Or build anyway with --allow-drift." if _tag_of(first) == MIGRATIONS else ""
        more = f" ({len(errors) - 1} more problem(s): `espresso-static check`)"
        raise EspressoStaticError(
            f"Not building: {one_line(first)}{drift}" + (more if len(errors) > 1 else "")
        )
    return [one_line(message) for message in messages]


def _tag_of(message: checks.CheckMessage) -> str:
    from espresso_static.checks.ids import CHECK_IDS

    return CHECK_IDS.get(message.id, ("",))[0]


def one_line(message: checks.CheckMessage) -> str:
    """The message and its hint on one line."""
    return " ".join(f"{message.msg} {message.hint or ''}".split())


def where(message: checks.CheckMessage) -> str:
    """What the message is about, as Django names it (a model by its label)."""
    from django.db.models.base import ModelBase

    if message.obj is None:
        return ""
    if isinstance(message.obj, ModelBase):
        return message.obj._meta.label
    return str(message.obj)


def level_name(message: checks.CheckMessage) -> str:
    return "error" if message.is_serious() else "warning"


def as_dict(message: checks.CheckMessage) -> dict:
    """One message of ``check --format json``."""
    return {
        "id": message.id,
        "level": level_name(message),
        "message": message.msg,
        "hint": message.hint or "",
        "obj": where(message),
        "details": getattr(message, "details", {}),
    }


def format_text(messages: list[checks.CheckMessage]) -> str:
    """Human-readable report, one message per paragraph."""
    if not messages:
        return "No problems found."
    lines = []
    for message in messages:
        obj = where(message)
        # Messages quote rows' values (a check's own words): printed, not acted on.
        text = terminal_line(f"{message.id}{f' [{obj}]' if obj else ''}: {message.msg}")
        lines.append(f"{level_name(message).upper()} {text}")
        if message.hint:
            lines.append(f"    hint: {terminal_line(message.hint)}")
        for row in getattr(message, "details", {}).get("rows", []):
            lines.append("    " + terminal_line(f"row pk={row['pk']}: {row['message']}"))
    errors = sum(message.is_serious() for message in messages)
    lines.append(f"{errors} error(s), {len(messages) - errors} warning(s).")
    return "\n".join(lines)


def configuration_messages(problems) -> list[checks.CheckMessage]:
    """The problems of a configuration that did not load, as check errors."""
    return [checks.Error(problem.message, obj=problem.key, id=problem.id) for problem in problems]
