"""Commands about the project: its tables, its scaffold, its checks, the demo and the admin."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import click

from espresso_static.checks.ids import CHECK_TAGS
from espresso_static.cli.common import (
    common_options,
    open_project,
    port_option,
    progress_bar,
    report_errors,
)
from espresso_static.exceptions import EspressoStaticError
from espresso_static.project.apps import app_labels, model_row_counts, project_models, total_rows
from espresso_static.project.config import redact


@click.command()
@common_options
def migrate(project):
    """Create or update the database tables of the configured apps."""
    from django.core.management import call_command

    from espresso_static.checks.migrations import (
        MAKE_MIGRATIONS,
        apps_without_migrations,
        unmigrated_changes,
    )

    config = open_project(project, create=True)
    # Django would migrate the others and say nothing of them: their tables never come.
    lacking = apps_without_migrations(set(app_labels(config.apps)))
    if lacking:
        apps = ", ".join(repr(label) for label in lacking)
        raise EspressoStaticError(
            f"App{'s' if len(lacking) > 1 else ''} {apps} of {config.root / 'pyproject.toml'} "
            f"{'have' if len(lacking) > 1 else 'has'} models but no migrations folder: no table "
            f"of {'theirs' if len(lacking) > 1 else 'its'} would be created. {MAKE_MIGRATIONS}"
        )
    call_command("migrate", interactive=False, verbosity=1, stdout=sys.stderr)
    database = f"Database {redact(config.database_url)} ({config.database_source})"
    # Django asks for `manage.py makemigrations`, a command this project does not have.
    if changes := unmigrated_changes(set(app_labels(config.apps))):
        click.echo(f"{database} has every migration, but: {' '.join(changes)} {MAKE_MIGRATIONS}")
    else:
        click.echo(f"{database} is up to date.")


@click.command()
@common_options
@click.option(
    "--rows",
    default=None,
    type=click.IntRange(min=0),
    help="Number of file rows [2000]; the other tables grow with it (400000: ~650,000 rows and 300,000 links).",
)
@click.option("--seed", default=2019, show_default=True, help="Random seed (same seed, same data).")
def demo(project, rows, seed):
    """Migrate and fill the database with deterministic demo data (replacing earlier demo rows)."""
    from django.core.management import call_command

    config = open_project(project, create=True)
    if "models.demo" not in config.apps:
        raise EspressoStaticError(
            f"`demo` fills the demo campaign of the espresso-static repository, not a project "
            f"of your own like {config.root}: fill your tables with `espresso-static ingest "
            "MODEL FILE --key COLUMN` or a population script (README: Tutorial)."
        )
    from models.demo import data

    call_command("migrate", interactive=False, verbosity=0)
    rows = data.DEFAULT_FILES if rows is None else rows
    started = time.perf_counter()
    planned = data.planned_rows(rows)
    with progress_bar(planned, "Writing demo rows") as update:
        summary = data.generate(files=rows, seed=seed, progress=update)
    tables = project_models(["models.demo"])
    click.echo(
        f"Demo data written in {time.perf_counter() - started:.1f} s: "
        f"{total_rows(model_row_counts(tables)):,} rows in {len(tables)} tables: "
        f"{summary.ensembles} ensembles, {summary.gauge_configs:,} gauge configurations, "
        f"{summary.actions} fermion actions, {summary.propagators:,} propagators, "
        f"{summary.correlators:,} correlators, {summary.files:,} data files; and "
        f"{summary.links:,} propagator links of the correlators."
    )
    _demo_history(data)
    written = data.generate_notifications()
    click.echo(f"Wrote {written} demo notifications (news page, banner, Atom feeds).")


def _demo_history(data) -> None:
    """Back-dated progress snapshots from the files' production times, so the demo's
    history plot has a curve."""
    from espresso_static.data.snapshot import backfill_history
    from espresso_static.declare.progress import declared

    points = backfill_history(declared(data.demo.DataFile), "produced", points=12)
    click.echo(f"Recorded {points} back-dated progress snapshots of the data files.")


@click.command("admin")
@common_options
@port_option(any_free=False)
@click.option(
    "--create-superuser",
    is_flag=True,
    help="First create (or reset the password of) a local superuser, prompting for both.",
)
def admin_command(project, port, create_superuser):
    """Serve Django's admin for the project's tables on 127.0.0.1 (an optional GUI)."""
    config = open_project(project, admin=True)
    from espresso_static import admin
    from espresso_static.models.parameters import login_name

    admin.prepare_admin_database()
    if create_superuser:
        username = click.prompt("Username", default=login_name())
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        user, created = admin.ensure_superuser(username, password)
        click.echo(f"Superuser {user.username} {'created' if created else 'updated'}.")
    elif not admin.has_superuser():
        click.echo("No superuser yet: rerun with --create-superuser to log in.", err=True)
    click.echo(f"Admin of {config.name} on http://127.0.0.1:{port}/ (Ctrl-C stops it).")
    admin.serve(port)


@click.command()
@click.argument("name")
@click.option("--app", default="campaign", show_default=True, help="Name of the first app.")
@click.option("--title", default=None, help="Site title [NAME].")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@report_errors
def startproject(name, app, title):
    """Write a new, working project into the folder NAME."""
    from espresso_static.project.scaffold import start_project

    target = Path(name).resolve()
    written = start_project(target, title or target.name, app)
    click.echo(f"Created project {target} ({len(written)} files, app models.{app}). Next:")
    click.echo(f"  cd {shlex.quote(name)} && espresso-static migrate && build-site")


@click.command()
@common_options
@click.argument("name")
def startapp(project, name):
    """Add the app models/NAME to the project and register it in its apps."""
    from espresso_static.project.config import load_config
    from espresso_static.project.scaffold import start_app

    config = load_config(project)
    written = start_app(config.root, name)
    click.echo(f"Created app models.{name} ({len(written)} files) and added it to apps.")


@click.command(context_settings={"ignore_unknown_options": True})
@common_options
@click.argument("django_args", nargs=-1, type=click.UNPROCESSED)
def makemigrations(project, django_args):
    """Create migrations for model changes (Django's makemigrations; extra options pass through)."""
    from django.core.management import call_command, load_command_class

    config = open_project(project, database=False)
    # Django's own parser tells app labels from options' values (``-n NAME``).
    command = load_command_class("django.core", "makemigrations")
    parsed = command.create_parser("espresso-static", "makemigrations").parse_args(django_args)
    labels = [] if parsed.args else app_labels(config.apps)
    call_command("makemigrations", *labels, *django_args)


@click.command()
@common_options
def info(project):
    """Print versions, the database in use (password hidden), apps, models and row counts."""
    from espresso_static.project.django_setup import describe_database
    from espresso_static.project.info import project_info

    config = open_project(project)
    from django.db import connection

    click.echo(project_info(config, describe_database(connection.settings_dict)))


@click.command()
@common_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Report format.",
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    type=click.Choice(CHECK_TAGS),
    help="Run only these checks (repeatable) [all].",
)
def check(project, output_format, tags):
    """The configuration, Django's system checks, the Access and Progress declarations,
    migration drift, notifications and data health; exit 1 on errors."""
    from espresso_static.checks.report import configuration_messages, run_project_checks
    from espresso_static.data.audit import audited_models, count_rows
    from espresso_static.exceptions import ConfigError
    from espresso_static.website.feature import feature_problems

    try:
        config = open_project(project)
    except ConfigError as error:
        if not error.problems:
            raise
        _report_checks(configuration_messages(error.problems), output_format)
        return
    # Features load only now (Django is set up): their problems are configuration's.
    messages = configuration_messages(feature_problems(config))
    labels = app_labels(config.apps)
    total = count_rows(audited_models(labels)) if not tags or "data" in tags else 0
    if total:
        with progress_bar(total, "Checking stored rows") as update:
            messages += run_project_checks(config, list(tags) or None, progress=update)
    else:
        messages += run_project_checks(config, list(tags) or None)
    _report_checks(messages, output_format)


def _report_checks(messages: list, output_format: str) -> None:
    import json

    from espresso_static.checks.report import as_dict, format_text

    if output_format == "json":
        click.echo(json.dumps([as_dict(message) for message in messages], indent=2, default=str))
    else:
        click.echo(format_text(messages))
    if any(message.is_serious() for message in messages):
        sys.exit(1)
