"""What every command shares: ``--project`` and ``--debug``, errors as one line (exit
code 1), opening the project, and the progress displays the library's callbacks draw."""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path

import click

from espresso_static.exceptions import terminal_line
from espresso_static.project.config import ProjectConfig, redact
from espresso_static.project.database_errors import error_line

#: The port ``serve`` and ``admin`` listen on unless told.
DEFAULT_PORT = 8000


def port_option(any_free: bool):
    """``--port`` on 127.0.0.1 (``any_free``: 0 takes any free one)."""
    return click.option(
        "--port",
        default=DEFAULT_PORT,
        show_default=True,
        type=click.IntRange(0 if any_free else 1, 65535),
        help="Port on 127.0.0.1" + (" (0: any free one, printed)." if any_free else "."),
    )


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
    strings in their messages), safe to print (it may quote a file's or a row's text)."""
    return terminal_line(redact(error_line(error)))


@contextlib.contextmanager
def progress_bar(total: int, label: str):
    """click's progress bar on stderr: what the library's progress callbacks draw."""
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
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


def open_project(
    project: Path | None, database: bool = True, admin: bool = False, create: bool = False
) -> ProjectConfig:
    """Load the configuration, set Django up (with ``admin``, including the admin GUI's
    apps) and (optionally) check the database; a SQLite file must exist unless the
    command creates the database (``create``: ``migrate``, ``demo``)."""
    from espresso_static.project.django_setup import (
        check_database,
        require_existing_sqlite,
        setup_project,
    )

    config = setup_project(project, admin=admin)
    if database:
        if not create:
            require_existing_sqlite(config)
        check_database()
    return config
