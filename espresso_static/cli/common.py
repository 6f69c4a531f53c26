"""What every command shares: ``--project`` and ``--debug``, errors as one line (exit
code 1), opening the project, and the progress displays the library's callbacks draw."""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from pathlib import Path

import click

from espresso_static.exceptions import EspressoStaticError
from espresso_static.project.config import ProjectConfig, load_config, redact


def report_errors(function):
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
    """The error as one line, any URL's password hidden (drivers quote connection
    strings in their messages)."""
    return redact(_message(error))


def _message(error: Exception) -> str:
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
        report_errors(function)
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
