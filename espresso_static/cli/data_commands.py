"""Commands about the data: ingest, snapshots, plots, the to-do list and notifications."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from espresso_static.cli.common import common_options, open_project, row_counter
from espresso_static.data.levels import LEVELS
from espresso_static.exceptions import EspressoStaticError


@click.command()
@common_options
@click.option(
    "--level",
    type=click.Choice(list(LEVELS), case_sensitive=False),
    default="info",
    show_default=True,
    help="Severity; recent warnings and errors also show in the site's banner.",
)
@click.option("--title", default=None, help="One-line summary [first line of MESSAGE].")
@click.option("--tag", default="", help="Free tag, e.g. nightly-sync.")
@click.option(
    "--audience",
    multiple=True,
    help="Audience that sees it (repeatable or comma-separated; `all`: every configured "
    "audience) [the allow-audiences, e.g. internal].",
)
@click.argument("message")
def notify(project, level, title, tag, audience, message):
    """Publish MESSAGE (Markdown; `-` reads standard input) on the site's news."""
    from espresso_static.data.notify import Notifier

    config = open_project(project)
    if message == "-":
        message = sys.stdin.read()
    notification = Notifier(tag=tag).notify(level, message, title=title, audience=audience)
    unknown = [name for name in notification.audiences if name not in config.audiences]
    if unknown:  # espresso_static.W501: a warning, as `check` reports such rows
        click.echo(
            f"warning: the audience(s) {', '.join(unknown)} are not configured (audiences: "
            f"{', '.join(config.audiences)}): no build shows this notification to them.",
            err=True,
        )
    audiences = ", ".join(notification.audiences) or "allow-audiences (e.g. internal)"
    click.echo(
        f"Notification {notification.pk} [{level.upper()}] for {audiences}: {notification.title}"
    )


@click.command()
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


@click.command("prune-log")
@common_options
def prune_log_command(project):
    """Remove the change-log rows no build needs any more: those before the latest
    published build of every site (run after build-site, e.g. weekly). An output
    computed before the point pruned to is rebuilt whole by the next build."""
    from espresso_static.data.logprune import build_marks, prune_log

    open_project(project)
    marks = build_marks()
    result = prune_log(marks)
    if result.point is None:
        click.echo("No change log in this database (run `espresso-static migrate`).")
        return
    sites = f"{len(marks)} site" + ("s" if len(marks) != 1 else "")
    click.echo(
        f"Pruned {result.rows:,} change-log rows; kept what the latest builds of {sites} need."
    )


@click.command()
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
    from espresso_static.data.row_values import row_warnings
    from espresso_static.declare.progress import find_declared

    open_project(project)
    with row_warnings() as warnings:
        figure = progress_figure(find_declared(model), by=by)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    write_figure(figure, out)
    click.echo(f"Wrote {out}.")


@click.command()
@common_options
@click.argument("model")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    help="Only rows with this status value, its label (as the status page shows it) or "
    "category (repeatable or comma-separated; a label holding a comma is one status) "
    "[every row not done].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
    help="CSV with a header, or a JSON array of objects.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write [standard output].",
)
def todo(project, model, statuses, fmt, out):
    """List the rows of MODEL that are not done, e.g. to generate the next jobs."""
    from espresso_static.data.todo import status_names, todo_list, write_todo, write_todo_file
    from espresso_static.declare.progress import find_declared

    open_project(project)
    item = find_declared(model)
    todo_rows = todo_list(item, status_names(item, statuses))
    if out is None:
        try:
            count = write_todo(todo_rows, sys.stdout, fmt)
        except BrokenPipeError:  # `todo ... | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
    else:
        count = write_todo_file(todo_rows, out, fmt)
    click.echo(f"{count:,} rows not done.", err=True)


@click.command("ingest")
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
@click.option(
    "--batch-size",
    default=5_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows checked and written per batch (memory against round trips).",
)
def ingest_command(project, model, file, keys, file_format, batch_size):
    """Insert new and update changed rows of MODEL (e.g. demo.DataFile) from a CSV,
    JSON Lines or Parquet FILE, running the model's checks on every row; all or
    nothing."""
    from espresso_static.data.ingest import (
        FileError,
        RowConsistencyError,
        RowError,
        find_model,
        ingest,
        read_file,
    )

    open_project(project)
    model_class = find_model(model)
    rows = read_file(file, model_class, file_format)
    key = [name.strip() for value in keys for name in value.split(",") if name.strip()]
    try:
        with row_counter(f"Ingesting {model_class._meta.label}") as advance:
            report = ingest(model_class, rows, key=key, batch_size=batch_size, progress=advance)
    except (RowError, RowConsistencyError) as error:
        raise EspressoStaticError(f"Nothing ingested: {error.located(rows.where)}") from error
    except FileError as error:
        raise EspressoStaticError(f"Nothing ingested: {error}") from error
    click.echo(str(report))
