"""``build-site``, ``serve`` and ``nightly``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from espresso_static.cli.common import common_options, open_project, port_option, progress_bar
from espresso_static.exceptions import EspressoStaticError
from espresso_static.project.config import load_config
from espresso_static.project.nightly import exit_codes_text


@click.command("build-site")
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
@click.option(
    "--serial",
    is_flag=True,
    help="Collect every part in this one process (by default the data-health audit and "
    "the downloads run in worker processes beside the rest, on the same snapshot).",
)
@click.option(
    "--published-as",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where a later step publishes the site built into OUT (as `nightly` swaps its "
    "staging folders in): the build is that site's, and the next build there shows "
    "what changed since it (one audience).",
)
def build_site_command(
    project, out, audiences, strict, quiet, allow_drift, no_cache, serial, published_as
):
    """Introspect the models and the data and publish the static site of one audience
    (or several), holding only what that audience may see.

    Prints one line per step (collect, render, write, mkdocs, publish) with its timing
    on stderr and, last, where the site is and how many pages it has. Status data,
    plots, downloads and the data-health audit of unchanged tables are reused from the
    project's .espresso-static-cache/ (--no-cache: build them anew). Refuses to build
    while the migrations and the database do not match the models. Exit code 0: the
    site was published; 1: nothing was published (the previous site is untouched).
    """
    from espresso_static.website.context import BuildOptions
    from espresso_static.website.pipeline import Reporter, build_sites, build_summary

    config = open_project(project)
    options = BuildOptions(
        strict=strict,
        quiet=quiet,
        allow_drift=allow_drift,
        use_cache=not no_cache,
        parallel=not serial,
        published_as=published_as,
    )
    reporter = Reporter(quiet, echo=lambda message: click.echo(message, err=True), bar=progress_bar)
    for result in build_sites(config, list(audiences), out=out, options=options, reporter=reporter):
        click.echo(build_summary(result))


@click.command()
@common_options
@port_option(any_free=True)
@click.option(
    "--audience",
    default=None,
    help="Serve the site of this audience from its site_dir [default_audience].",
)
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Serve this folder instead (e.g. the --out of build-site).",
)
def serve(project, port, audience, folder):
    """Serve the built site on 127.0.0.1 (status pages and search need HTTP, not file://)."""
    from espresso_static.website.serve import site_server, site_url

    if folder is None:
        config = load_config(project)
        name = audience or config.default_audience
        if name not in config.audiences:
            raise EspressoStaticError(
                f"Unknown audience {name!r}; configured: {', '.join(config.audiences)}."
            )
        folder = config.audiences[name].site_dir
    server = site_server(folder, port)
    click.echo(f"Serving {folder} on {site_url(server)} (Ctrl-C stops it).")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@click.command(
    help="The nightly job: migrate, sync, snapshot, check (errors fail, warnings do not), "
    "build every audience, then publish them all. A failing step publishes nothing (every "
    "site stays as it was), becomes an error notification on the next successful build, "
    f"and sets the exit code: {exit_codes_text()}."
)
@common_options
@click.option(
    "--sync",
    required=True,
    help="The sync command, run from the project folder, e.g. ci/sync.sh; a non-zero "
    "exit fails the night.",
)
def nightly(project, sync):
    from espresso_static.declare.progress import declared_models
    from espresso_static.project.nightly import run_nightly

    config = open_project(project, database=False)  # the migrate step reports a bad database
    sys.exit(run_nightly(config, sync, click.echo, lambda: bool(declared_models(config.apps))))
