"""Migration drift: the models, their migrations and the database out of step
(``espresso_static.E101`` to ``E106``). Reads the database, so, as Django's own database
checks, it runs only when the runner names the databases to check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core import checks

from espresso_static.checks.ids import MIGRATIONS, PREFIX

MAKE_MIGRATIONS = "Run `espresso-static makemigrations`, then `espresso-static migrate`."
STALE_CHANGE_LOG = f"{PREFIX}E106"
#: Drift found within :func:`drift_once` (the data and notification checks ask again).
_found: ContextVar[dict | None] = ContextVar("migration_drift", default=None)


@contextmanager
def drift_once() -> Iterator[None]:
    """Within the block, the drift of a set of apps is computed once (it loads every
    migration and diffs the project state: seconds on a large project)."""
    token = _found.set({})
    try:
        yield
    finally:
        _found.reset(token)


@checks.register(MIGRATIONS)
def migration_drift(app_configs=None, databases=None, **_) -> list[checks.CheckMessage]:
    """Code and database out of step: E101 to E106."""
    if not databases:
        return []
    labels = {config.label for config in _configs(app_configs) if migrations_enabled(config.label)}
    found = _found.get()
    if found is None:
        return _drift(labels)
    key = (frozenset(labels), tuple(databases))
    if key not in found:
        found[key] = _drift(labels)
    return found[key]


def _drift(labels: set[str]) -> list[checks.CheckMessage]:
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connection, ignore_no_migrations=True)
    return [
        *_conflicts(loader, labels),
        *_apps_without_migrations(loader, labels),
        *_unmigrated_changes(loader, labels),
        *_database_versus_code(loader, labels),
        *_stale_change_log(labels),
    ]


def _configs(app_configs) -> list:
    from django.apps import apps

    return list(app_configs) if app_configs is not None else list(apps.get_app_configs())


def migrations_enabled(label: str) -> bool:
    """False for an app whose migrations the Django settings disable (``MIGRATION_MODULES
    = {label: None}``, as a host project or pytest-django's ``--no-migrations`` may do):
    Django creates its tables from the models, so they cannot drift from them."""
    from django.db.migrations.loader import MigrationLoader

    module, _ = MigrationLoader.migrations_module(label)
    return module is not None


def apps_without_migrations(labels: set[str], loader=None) -> list[str]:
    """The apps of ``labels`` that have models but no migrations folder: ``migrate``
    creates none of their tables (apps whose migrations the settings disable aside)."""
    from django.apps import apps
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    loader = loader or MigrationLoader(connection, ignore_no_migrations=True)
    lacking = {label for label in labels if migrations_enabled(label)} & loader.unmigrated_apps
    return [label for label in sorted(lacking) if list(apps.get_app_config(label).get_models())]


def _apps_without_migrations(loader, labels: set[str]) -> Iterator[checks.CheckMessage]:
    for label in apps_without_migrations(labels, loader):
        yield checks.Error(
            f"App {label!r} has models but no migrations (no migrations folder): "
            "its tables are never created.",
            hint=MAKE_MIGRATIONS,
            obj=label,
            id=f"{PREFIX}E101",
        )


def _conflicts(loader, labels: set[str]) -> Iterator[checks.CheckMessage]:
    for label, names in sorted(loader.detect_conflicts().items()):
        if label in labels:
            yield checks.Error(
                f"App {label!r} has conflicting migrations: {', '.join(sorted(names))}.",
                hint="Run `espresso-static makemigrations --merge`.",
                obj=label,
                id=f"{PREFIX}E105",
            )


def _unmigrated_changes(loader, labels: set[str]) -> Iterator[checks.CheckMessage]:
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
        yield checks.Error(
            f"App {label!r} has model changes without a migration: {'; '.join(operations)}.",
            hint=MAKE_MIGRATIONS,
            obj=label,
            id=f"{PREFIX}E102",
        )


def unmigrated_changes(labels: set[str]) -> list[str]:
    """What :func:`_unmigrated_changes` finds for the apps ``labels``, one line each."""
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connection, ignore_no_migrations=True)
    return [message.msg for message in _unmigrated_changes(loader, labels)]


def _database_versus_code(loader, labels: set[str]) -> Iterator[checks.CheckMessage]:
    applied = {key for key in loader.applied_migrations if key[0] in labels}
    on_disk = {key for key in loader.disk_migrations if key[0] in labels}
    for label, name in sorted(applied - on_disk):
        yield checks.Error(
            f"The database has migration {label}.{name} applied, which the code does not have: "
            "the database is ahead of the code.",
            hint="Update the code (e.g. git pull) or use a database that matches it.",
            obj=label,
            id=f"{PREFIX}E104",
        )
    missing = sorted(on_disk - applied)
    for label in sorted({label for label, _ in missing}):
        names = [name for app, name in missing if app == label]
        yield checks.Error(
            f"App {label!r} has {len(names)} migration(s) not applied to the database: "
            f"{', '.join(names)}.",
            hint="Run `espresso-static migrate`.",
            obj=label,
            id=f"{PREFIX}E103",
        )


def _stale_change_log(labels: set[str]) -> Iterator[checks.CheckMessage]:
    """Triggers recording another status column than the progress declaration names:
    adding or changing one creates no migration, so nothing else says to migrate, and
    the Changes page would count every update as a status change from "empty"."""
    from django.apps import apps

    from espresso_static.data.changelog import logged_models, stale_triggers

    models = logged_models([apps.get_app_config(label) for label in sorted(labels)])
    by_table = {model._meta.db_table: model for model in models}
    for table in stale_triggers(models):
        yield checks.Error(
            f"The change log's triggers on {table} do not record the status column the "
            "progress declaration names (declared, changed or removed since the last "
            "migrate).",
            hint="Run `espresso-static migrate` (it puts the triggers in place again).",
            obj=by_table[table]._meta.label,
            id=STALE_CHANGE_LOG,
        )
