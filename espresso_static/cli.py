"""The ``espresso-static`` command line: a thin layer over plain functions.

Exit codes: 0 success; 1 a reported error (bad configuration, unreachable database,
failed check or build: one line on stderr, the traceback with ``--debug``);
2 wrong usage (click's own).
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import click

from espresso_static import __version__
from espresso_static.config import ProjectConfig, load_config
from espresso_static.exceptions import EspressoStaticError


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
    from django.db import DatabaseError

    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, DatabaseError):
        return (
            f"Database error: {text} (is the database reachable and migrated? "
            "try `espresso-static migrate`)"
        )
    return f"{type(error).__name__}: {text}"


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


def open_project(project: Path | None, database: bool = True) -> ProjectConfig:
    """Load the configuration, set Django up and (optionally) check the database."""
    from espresso_static.djangoconf import check_database, setup_django

    config = load_config(project)
    setup_django(config)
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
    click.echo(
        f"Database {config.database_url if config.database_source != 'DATABASE_URL' else '(DATABASE_URL)'} is up to date."
    )


@cli.command()
@common_options
@click.option(
    "--rows", default=None, type=click.IntRange(min=0), help="Number of file rows [2000]."
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
    with click.progressbar(length=rows, label="Writing demo file rows", file=sys.stderr) as bar:
        summary = data.generate(files=rows, seed=seed, progress=bar.update)
    click.echo(
        f"Demo data written in {time.perf_counter() - started:.1f} s: {summary.ensembles} ensembles, "
        f"{summary.gauge_configs} gauge configurations, {summary.actions} fermion actions, "
        f"{summary.propagators} propagators, {summary.correlators} correlators, "
        f"{summary.files} data files."
    )


@cli.command("build-site")
@common_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to publish the site (default: site_dir of the project).",
)
@click.option("--audience", default=None, help="Build only what this audience may see.")
@click.option("--strict", is_flag=True, help="Fail on warnings and broken links.")
@click.option("--quiet", is_flag=True, help="Print only errors and the final line.")
def build_site_command(project, out, audience, strict, quiet):
    """Introspect the models and the data and publish the static site."""
    config = open_project(project)
    click.echo(f"Would build the site of {config.name} into {out or config.site_dir}.")


def main() -> None:
    cli()


def build_site_main() -> None:
    """The ``build-site`` console script: ``espresso-static build-site``."""
    build_site_command(prog_name="build-site")
