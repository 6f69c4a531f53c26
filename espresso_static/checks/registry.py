"""``espresso-static check``: findings about a project, in the manner of Django's
``core/checks`` — each a small value object with an id, a level, a message and a
hint, produced by check functions collected in a registry.

Ids:

- ``django.*`` — Django's own system checks (the id Django gives them).
- ``ES-M001`` model changes without migrations (run ``espresso-static makemigrations``).
- ``ES-M002`` migrations not applied to the database (run ``espresso-static migrate``).
- ``ES-M003`` the database has migrations the code does not know (it is ahead of the code).
- ``ES-M004`` conflicting migrations (two leaves in one app; ``makemigrations --merge``).
- ``ES-D000`` data checks skipped because of migration errors.
- ``ES-D001`` stored rows that fail their model's ``check_consistency``.
- ``ES-D002`` stored many-to-many relations that fail ``check_m2m_consistency``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    """One problem ``check`` reports."""

    id: str
    level: str
    message: str
    hint: str = ""
    #: Where it was found (app label, model label, ...).
    obj: str = ""
    #: Extra data for ``--format json`` (e.g. the failing rows of a data check).
    details: dict = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        return self.level == ERROR

    def as_dict(self) -> dict:
        return asdict(self)


SKIPPED_DATA_CHECKS = Finding(
    "ES-D000",
    WARNING,
    "Data checks skipped: the database does not match the models.",
    "Fix the migration errors above, then run `espresso-static check` again.",
)

CheckFunction = Callable[..., Iterator[Finding]]
#: Registered checks by tag: "django", "migrations", "data".
REGISTRY: dict[str, list[CheckFunction]] = {}


def register(tag: str):
    """Decorator adding a check function to the registry under ``tag``."""

    def add(function: CheckFunction) -> CheckFunction:
        REGISTRY.setdefault(tag, []).append(function)
        return function

    return add


def run_checks(app_labels: list[str], tags: list[str] | None = None, **options) -> list[Finding]:
    """Run the registered checks with ``tags`` (default: all) for ``app_labels``."""
    findings: list[Finding] = []
    for tag in tags or list(REGISTRY):
        if tag == "data" and any(f.is_error and f.id.startswith("ES-M") for f in findings):
            # The tables do not match the models: reading rows would fail or mislead.
            findings.append(SKIPPED_DATA_CHECKS)
            continue
        for function in REGISTRY.get(tag, []):
            findings.extend(function(app_labels, **options))
    return findings


@register("django")
def django_system_checks(app_labels: list[str], **_) -> Iterator[Finding]:
    from django.apps import apps
    from django.core import checks

    configs = [apps.get_app_config(label) for label in app_labels]
    for message in checks.run_checks(app_configs=configs):
        if message.is_silenced() or message.level < checks.WARNING:
            continue
        yield Finding(
            id=f"django.{message.id}",
            level=ERROR if message.level >= checks.ERROR else WARNING,
            message=message.msg,
            hint=message.hint or "",
            obj=str(message.obj) if message.obj is not None else "",
        )


@register("migrations")
def migration_drift(app_labels: list[str], **_) -> Iterator[Finding]:
    """Code and database out of step: ES-M001 to ES-M004."""
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connection, ignore_no_migrations=True)
    labels = {label for label in app_labels if migrations_enabled(label)}
    yield from _conflicts(loader, labels)
    yield from _apps_without_migrations(loader, labels)
    yield from _unmigrated_changes(loader, labels)
    yield from _database_versus_code(loader, labels)


def migrations_enabled(label: str) -> bool:
    """False for an app whose migrations the Django settings disable (``MIGRATION_MODULES
    = {label: None}``, as a host project or pytest-django's ``--no-migrations`` may do):
    Django creates its tables from the models, so they cannot drift from them."""
    from django.db.migrations.loader import MigrationLoader

    module, _ = MigrationLoader.migrations_module(label)
    return module is not None


def _apps_without_migrations(loader, labels: set[str]) -> Iterator[Finding]:
    from django.apps import apps

    for label in sorted(labels & loader.unmigrated_apps):
        if list(apps.get_app_config(label).get_models()):
            yield Finding(
                "ES-M001",
                ERROR,
                f"App {label!r} has models but no migrations (no migrations folder): "
                "its tables are never created.",
                "Run `espresso-static makemigrations`, then `espresso-static migrate`.",
                label,
            )


def _conflicts(loader, labels: set[str]) -> Iterator[Finding]:
    for label, names in sorted(loader.detect_conflicts().items()):
        if label in labels:
            yield Finding(
                "ES-M004",
                ERROR,
                f"App {label!r} has conflicting migrations: {', '.join(sorted(names))}.",
                "Run `espresso-static makemigrations --merge`.",
                label,
            )


def _unmigrated_changes(loader, labels: set[str]) -> Iterator[Finding]:
    from django.apps import apps
    from django.db.migrations.autodetector import MigrationAutodetector
    from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
    from django.db.migrations.state import ProjectState

    autodetector = MigrationAutodetector(
        loader.project_state(),
        ProjectState.from_apps(apps),
        NonInteractiveMigrationQuestioner(specified_apps=labels, dry_run=True),
    )
    changes = autodetector.changes(graph=loader.graph, trim_to_apps=labels)
    for label, migrations in sorted(changes.items()):
        operations = [op.describe() for migration in migrations for op in migration.operations]
        yield Finding(
            "ES-M001",
            ERROR,
            f"App {label!r} has model changes without a migration: {'; '.join(operations)}.",
            "Run `espresso-static makemigrations`, then `espresso-static migrate`.",
            label,
        )


def _database_versus_code(loader, labels: set[str]) -> Iterator[Finding]:
    applied = {key for key in loader.applied_migrations if key[0] in labels}
    on_disk = {key for key in loader.disk_migrations if key[0] in labels}
    for label, name in sorted(applied - on_disk):
        yield Finding(
            "ES-M003",
            ERROR,
            f"The database has migration {label}.{name} applied, which the code does not have: "
            "the database is ahead of the code.",
            "Update the code (e.g. git pull) or use a database that matches it.",
            label,
        )
    missing = sorted(on_disk - applied)
    for label in sorted({label for label, _ in missing}):
        names = [name for app, name in missing if app == label]
        yield Finding(
            "ES-M002",
            ERROR,
            f"App {label!r} has {len(names)} migration(s) not applied to the database: {', '.join(names)}.",
            "Run `espresso-static migrate`.",
            label,
        )


def format_text(findings: list[Finding]) -> str:
    """Human-readable report, one finding per paragraph."""
    if not findings:
        return "No problems found."
    lines = []
    for finding in findings:
        where = f" [{finding.obj}]" if finding.obj else ""
        lines.append(f"{finding.level.upper()} {finding.id}{where}: {finding.message}")
        if finding.hint:
            lines.append(f"    hint: {finding.hint}")
        for row in finding.details.get("rows", []):
            lines.append(f"    row pk={row['pk']}: {row['message']}")
    errors = sum(f.is_error for f in findings)
    lines.append(f"{errors} error(s), {len(findings) - errors} warning(s).")
    return "\n".join(lines)
