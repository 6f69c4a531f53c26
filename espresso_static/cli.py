"""The ``espresso-static`` command line: a thin layer over plain functions.

Exit codes: 0 success; 1 a reported error (bad configuration, unreachable database,
failed check or build: one line on stderr, the traceback with ``--debug``);
2 wrong usage (click's own).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import time
from pathlib import Path

import click

from espresso_static import __version__
from espresso_static.exceptions import EspressoStaticError
from espresso_static.project.apps import app_labels
from espresso_static.project.config import ProjectConfig, load_config, redact


def _report_errors(function):
    """Turn expected errors into one line and exit code 1 (traceback with --debug)."""

    @functools.wraps(function)
    def wrapper(*args, debug: bool = False, **kwargs):
        try:
            return function(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as error:
            if debug:
                raise
            raise click.ClickException(_one_line(error)) from error

    return wrapper


def _one_line(error: Exception) -> str:
    if isinstance(error, EspressoStaticError):
        return str(error)
    text = " ".join(str(error).split()) or type(error).__name__
    if _is_database_error(error):
        return _database_advice(text)
    return f"{type(error).__name__}: {text}"


#: Driver messages (SQLite, PostgreSQL) a user can act on.
_LOCKED = re.compile(r"database (table )?is locked")
_MISSING = re.compile(
    r"no such (table|column): (?P<sqlite>\S+)|(relation|column) \"?(?P<pg>[^\"\s]+)\"? does not exist"
)
_DISCONNECTED = re.compile(
    r"server closed the connection|connection (to server .* failed|refused|is closed)|"
    r"terminating connection|unable to open database file"
)


def _is_database_error(error: Exception) -> bool:
    from django.db import DatabaseError

    driver = type(error).__module__.split(".")[0]
    return isinstance(error, DatabaseError) or driver in ("sqlite3", "psycopg", "psycopg2")


def _database_advice(text: str) -> str:
    """A database failure as what happened and what to do about it."""
    database = _database_name()
    if _LOCKED.search(text):
        return (
            f"The database {database} is locked: another process (an ingest, a build, the "
            "admin) is using it. Retry when it has finished."
        )
    missing = _MISSING.search(text)
    if missing:
        name = missing.group("sqlite") or missing.group("pg")
        return (
            f"The database {database} lacks {name} ({text}): its tables are missing or older "
            "than the models. Run `espresso-static migrate`."
        )
    if _DISCONNECTED.search(text):
        return (
            f"Lost the connection to the database {database}: {text}. Is the server running "
            "and the address right (DATABASE_URL or database in pyproject.toml)? Then retry."
        )
    return f"Database error on {database}: {text}"


def _database_name() -> str:
    from django.db import connection

    from espresso_static.project.django_setup import describe_database

    try:
        return describe_database(connection.settings_dict)
    except Exception:  # Django not configured: the error came before it
        return "in use"


@contextlib.contextmanager
def progress_bar(total: int, label: str):
    """click's progress bar on stderr: what the library's progress callbacks draw."""
    with click.progressbar(length=total, label=label, file=click.get_text_stream("stderr")) as bar:
        yield bar.update


@contextlib.contextmanager
def row_counter(label: str):
    """Rows done so far, on one line of stderr when it is a terminal (a stream of rows
    has no length for a bar)."""
    done = 0

    def advance(rows: int) -> None:
        nonlocal done
        done += rows
        click.echo(f"\r{label}: {done:,} rows", nl=False, err=True)

    if not sys.stderr.isatty():
        yield lambda rows: None
        return
    try:
        yield advance
    finally:
        if done:
            click.echo(err=True)


def common_options(function):
    """``--project`` and ``--debug`` on every command."""
    function = click.option("--debug", is_flag=True, help="Show the full traceback of an error.")(
        _report_errors(function)
    )
    return click.option(
        "--project",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Project folder (default: the nearest folder with [tool.espresso-static]).",
    )(function)


def open_project(project: Path | None, database: bool = True, admin: bool = False) -> ProjectConfig:
    """Load the configuration, set Django up (with ``admin``, including the admin GUI's
    apps) and (optionally) check the database."""
    from espresso_static.project.django_setup import check_database, setup_django

    config = load_config(project)
    setup_django(config, admin=admin)
    if database:
        check_database()
    return config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="espresso-static")
def cli():
    """Publish a workflow database described as Django models as a static site."""


@cli.command()
@common_options
def migrate(project):
    """Create or update the database tables of the configured apps."""
    from django.core.management import call_command

    config = open_project(project)
    call_command("migrate", interactive=False, verbosity=1, stdout=sys.stderr)
    click.echo(f"Database {redact(config.database_url)} ({config.database_source}) is up to date.")


@cli.command()
@common_options
@click.option(
    "--rows",
    default=None,
    type=click.IntRange(min=0),
    help="Number of file rows [2000]; the other tables grow with it (400000: ~1M rows in all).",
)
@click.option("--seed", default=2019, show_default=True, help="Random seed (same seed, same data).")
def demo(project, rows, seed):
    """Migrate and fill the database with deterministic demo data (replacing earlier demo rows)."""
    from django.core.management import call_command

    config = open_project(project)
    if "models.demo" not in config.apps:
        raise EspressoStaticError(
            '`demo` fills the demo app: add "models.demo" to apps in [tool.espresso-static].'
        )
    from models.demo import data

    call_command("migrate", interactive=False, verbosity=0)
    rows = data.DEFAULT_FILES if rows is None else rows
    started = time.perf_counter()
    planned = data.planned_rows(rows)
    with click.progressbar(length=planned, label="Writing demo rows", file=sys.stderr) as bar:
        summary = data.generate(files=rows, seed=seed, progress=bar.update)
    click.echo(
        f"Demo data written in {time.perf_counter() - started:.1f} s: {summary.rows:,} rows: "
        f"{summary.ensembles} ensembles, {summary.gauge_configs:,} gauge configurations, "
        f"{summary.actions} fermion actions, {summary.propagators:,} propagators, "
        f"{summary.correlators:,} correlators ({summary.links:,} propagator links), "
        f"{summary.files:,} data files."
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


@cli.command()
@common_options
@click.option(
    "--level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
    help="Severity; recent warnings and errors also show in the site's banner.",
)
@click.option("--title", default=None, help="One-line summary [first line of MESSAGE].")
@click.option("--tag", default="", help="Free tag, e.g. nightly-sync.")
@click.option(
    "--audience",
    multiple=True,
    help="Audience that sees it (repeatable or comma-separated) [the allow-audiences, e.g. internal].",
)
@click.argument("message")
def notify(project, level, title, tag, audience, message):
    """Publish MESSAGE (Markdown; `-` reads standard input) on the site's news."""
    from espresso_static.data.notify import Notifier

    open_project(project)
    if message == "-":
        message = click.get_text_stream("stdin").read()
    notification = Notifier(tag=tag).notify(level, message, title=title, audience=audience)
    audiences = ", ".join(notification.audiences) or "allow-audiences (e.g. internal)"
    click.echo(
        f"Notification {notification.pk} [{level.upper()}] for {audiences}: {notification.title}"
    )


@cli.command("admin")
@common_options
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
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


@cli.command()
@common_options
@click.option(
    "--model",
    "names",
    multiple=True,
    help="Only this model (repeatable) [every model with a progress declaration].",
)
def snapshot(project, names):
    """Record the progress counts per model, group and status (run after each sync;
    counts equal to the latest snapshot's are not stored again)."""
    from espresso_static.data.snapshot import take_snapshots
    from espresso_static.declare.progress import find_declared

    open_project(project)
    for result in take_snapshots([find_declared(name) for name in names] or None):
        state = "recorded" if result.recorded else "unchanged since the last snapshot, not stored"
        click.echo(
            f"{result.model}: {result.total:,} rows in {result.rows} group/status counts, {state} "
            f"({result.taken_at:%Y-%m-%d %H:%M} UTC)."
        )


@cli.command()
@common_options
@click.argument("model")
@click.option("--by", default=None, help="Group column: one line per value [all rows].")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write: .pdf, .png or .svg.",
)
def plot(project, model, by, out):
    """Plot the progress of MODEL over time from its snapshots."""
    from espresso_static.data.plots import progress_figure, write_figure
    from espresso_static.declare.progress import find_declared

    open_project(project)
    write_figure(progress_figure(find_declared(model), by=by), out)
    click.echo(f"Wrote {out}.")


@cli.command()
@common_options
@click.argument("model")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    help="Only rows with this status value or category (repeatable or comma-separated) "
    "[every row not done].",
)
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write [standard output].",
)
def todo(project, model, statuses, fmt, out):
    """List the rows of MODEL that are not done, e.g. to generate the next jobs."""
    from espresso_static.data.todo import todo_list, write_todo
    from espresso_static.declare.progress import find_declared

    open_project(project)
    wanted = [name.strip() for value in statuses for name in value.split(",") if name.strip()]
    todo_rows = todo_list(find_declared(model), wanted)
    if out is None:
        try:
            count = write_todo(todo_rows, click.get_text_stream("stdout"), fmt)
        except BrokenPipeError:  # `todo ... | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
    else:
        with out.open("w", encoding="utf-8", newline="") as stream:
            count = write_todo(todo_rows, stream, fmt)
    click.echo(f"{count:,} rows not done.", err=True)


@cli.command("ingest")
@common_options
@click.argument("model")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "keys",
    required=True,
    multiple=True,
    help="Column identifying a row (repeatable or comma-separated); a unique constraint.",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "jsonl", "parquet"]),
    default=None,
    help="Format of FILE [from its extension].",
)
@click.option("--batch-size", default=5_000, show_default=True, type=click.IntRange(min=1))
def ingest_command(project, model, file, keys, file_format, batch_size):
    """Insert new and update changed rows of MODEL (e.g. demo.DataFile) from a CSV,
    JSON Lines or Parquet FILE, running the model's checks on every row; all or
    nothing."""
    from espresso_static.data.ingest import RowConsistencyError, find_model, ingest, read_file

    open_project(project)
    model_class = find_model(model)
    rows = read_file(file, model_class, file_format)
    key = [name.strip() for value in keys for name in value.split(",") if name.strip()]
    try:
        with row_counter(f"Ingesting {model_class._meta.label}") as advance:
            report = ingest(model_class, rows, key=key, batch_size=batch_size, progress=advance)
    except RowConsistencyError as error:
        raise EspressoStaticError(f"Nothing ingested. {error.one_line}") from error
    click.echo(str(report))


@cli.command("build-site")
@common_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to publish the site [the audience's site_dir]; with several audiences, "
    "each goes to OUT/<audience>.",
)
@click.option(
    "--audience",
    "audiences",
    multiple=True,
    help="Build the site of this audience (repeatable or comma-separated; `all`: every "
    "configured audience) [default_audience of the project].",
)
@click.option("--strict", is_flag=True, help="Fail on warnings and broken links.")
@click.option("--quiet", is_flag=True, help="Print only errors and the final line.")
@click.option(
    "--allow-drift",
    is_flag=True,
    help="Build even when migrations are missing, unapplied or conflicting.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Build every output anew, not reusing those of unchanged tables from "
    ".espresso-static-cache/ in the project.",
)
def build_site_command(project, out, audiences, strict, quiet, allow_drift, no_cache):
    """Introspect the models and the data and publish the static site of one audience
    (or several), holding only what that audience may see.

    Prints one line per step (collect, render, write, mkdocs, publish) with its timing
    on stderr and, last, where the site is and how many pages it has. Status data,
    plots, downloads and the data-health audit of unchanged tables are reused from the
    project's .espresso-static-cache/ (--no-cache: build them anew). Refuses to build
    while the migrations and the database do not match the models. Exit code 0: the
    site was published; 1: nothing was published (the previous site is untouched).
    """
    from espresso_static.site.context import BuildOptions
    from espresso_static.site.pipeline import Reporter, build_sites, build_summary

    config = open_project(project)
    options = BuildOptions(
        strict=strict, quiet=quiet, allow_drift=allow_drift, use_cache=not no_cache
    )
    reporter = Reporter(quiet, echo=lambda message: click.echo(message, err=True), bar=progress_bar)
    for result in build_sites(config, list(audiences), out=out, options=options, reporter=reporter):
        click.echo(build_summary(result))


@cli.command()
@click.argument("name")
@click.option("--app", default="campaign", show_default=True, help="Name of the first app.")
@click.option("--title", default=None, help="Site title [NAME].")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@_report_errors
def startproject(name, app, title):
    """Write a new, working project into the folder NAME."""
    from espresso_static.project.scaffold import start_project

    target = Path(name).resolve()
    written = start_project(target, title or target.name, app)
    click.echo(f"Created project {target} ({len(written)} files, app models.{app}). Next:")
    click.echo(f"  cd {name} && espresso-static migrate && build-site")


@cli.command()
@common_options
@click.argument("name")
def startapp(project, name):
    """Add the app models/NAME to the project and register it in its apps."""
    from espresso_static.project.config import load_config
    from espresso_static.project.scaffold import start_app

    config = load_config(project)
    written = start_app(config.root, name)
    click.echo(f"Created app models.{name} ({len(written)} files) and added it to apps.")


@cli.command(context_settings={"ignore_unknown_options": True})
@common_options
@click.argument("django_args", nargs=-1, type=click.UNPROCESSED)
def makemigrations(project, django_args):
    """Create migrations for model changes (Django's makemigrations; extra options pass through)."""
    from django.core.management import call_command

    config = open_project(project, database=False)
    labels = app_labels(config.apps)
    named = [arg for arg in django_args if not arg.startswith("-")]
    options = [arg for arg in django_args if arg.startswith("-")]
    call_command("makemigrations", *(named or labels), *options)


@cli.command()
@common_options
def info(project):
    """Print versions, the database in use (password hidden), apps, models and row counts."""
    from espresso_static.project.django_setup import describe_database
    from espresso_static.project.info import project_info

    config = open_project(project)
    from django.db import connection

    click.echo(project_info(config, describe_database(connection.settings_dict)))


@cli.command()
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
    type=click.Choice(["django", "migrations", "data"]),
    help="Run only these checks (repeatable) [all].",
)
def check(project, output_format, tags):
    """Django's system checks, migration drift and data health; exit 1 on errors."""
    import json

    from espresso_static.checks.registry import format_text, run_checks
    from espresso_static.data.audit import audited_models, count_rows

    config = open_project(project)
    labels = app_labels(config.apps)
    total = count_rows(audited_models(labels)) if not tags or "data" in tags else 0
    if total:
        with click.progressbar(length=total, label="Checking stored rows", file=sys.stderr) as bar:
            findings = run_checks(labels, list(tags) or None, progress=bar.update)
    else:
        findings = run_checks(labels, list(tags) or None)
    if output_format == "json":
        click.echo(json.dumps([finding.as_dict() for finding in findings], indent=2, default=str))
    else:
        click.echo(format_text(findings))
    if any(finding.is_error for finding in findings):
        sys.exit(1)


def main() -> None:
    cli()


def build_site_main() -> None:
    """The ``build-site`` console script: ``espresso-static build-site``."""
    build_site_command(prog_name="build-site")
