"""The ``espresso-static`` command line: a thin layer over plain functions.

Exit codes: 0 success; 1 a reported error (bad configuration, unreachable database,
failed check or build: one line on stderr, the traceback with ``--debug``);
2 wrong usage (click's own).

Commands live by subject in :mod:`.project_commands`, :mod:`.data_commands` and
:mod:`.site_commands`, over what they share (:mod:`.common`).
"""

from __future__ import annotations

import gc
import os

import click

from espresso_static import __version__
from espresso_static.cli import data_commands, project_commands, site_commands
from espresso_static.cli.site_commands import build_site_command

#: -h as well as --help, for ``espresso-static`` and the ``build-site`` script alike.
HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=HELP_OPTIONS)
@click.version_option(__version__, prog_name="espresso-static")
def cli():
    """Publish a workflow database described as Django models as a static site."""


for module in (project_commands, data_commands, site_commands):
    for command in vars(module).values():
        if isinstance(command, click.Command):
            cli.add_command(command)


def main() -> None:
    _run(cli)


def build_site_main() -> None:
    """The ``build-site`` console script: ``espresso-static build-site``."""
    _run(build_site_command, prog_name="build-site", **HELP_OPTIONS)


def _run(command: click.Command, **options) -> None:
    # No command multiplies matrices: the threads OpenBLAS starts when NumPy is first
    # imported would only spin, on the cores the build's workers need (NumPy is
    # imported after they are forked). A value the user set is kept.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # A build or an ingest makes millions of objects that live until its step ends
    # and hardly any cycle (refcounting frees them): collected every 700 allocations,
    # as by default, they were searched over and over. A full build of the 400k demo
    # took a tenth less CPU with a collection every 100,000.
    gc.set_threshold(100_000, 50, 100)
    try:
        command(**options)
    finally:
        # The interpreter's last collection at exit walks every object a command
        # leaves (after a large build a quarter of a second of a one-second
        # rebuild); they are freed all the same, only not searched for cycles.
        gc.freeze()
