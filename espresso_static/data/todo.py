"""The work still to do: rows of a declared model that are not done.

``espresso-static todo DataFile --status missing --format csv`` prints, for example,
the missing files with their ensemble, stream, configuration and source, so a job
script can generate the next jobs. ``--status`` takes status values (``missing``;
``1`` of an integer status column), their choices' labels (``"job running"``, as the
status page shows them) or categories (``in_progress``, ``missing``,
``failed``, ``other``); without it, every row that is not done is listed. The columns
are those of the status page, plus ``id``. A CSV text cell starting like a
spreadsheet formula gets a leading ``'``, as in the downloads.
"""

from __future__ import annotations

import csv
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import chain, islice
from pathlib import Path
from typing import TextIO

from django.core.exceptions import ValidationError
from django.db.models import Q

from espresso_static.data.plain_values import csv_cell, strict_json
from espresso_static.declare.progress import CATEGORIES, DeclaredProgress
from espresso_static.exceptions import EspressoStaticError

FORMATS = ("csv", "json")
BATCH = 5_000


@dataclass(frozen=True)
class TodoList:
    """The header and the rows (lazily read) of the work still to do."""

    columns: list[str]
    rows: Iterator[tuple]


def todo_list(item: DeclaredProgress, statuses: Sequence[str] = ()) -> TodoList:
    """The rows of ``item`` not done, restricted to ``statuses`` when given."""
    columns = item.columns
    lookup = item.status_lookup
    queryset = item.model._default_manager.all()
    if statuses:
        queryset = queryset.filter(**{f"{lookup}__in": _status_values(item, statuses)})
    else:
        queryset = queryset.exclude(Q(**{f"{lookup}__in": list(item.progress.done)}))
    rows = queryset.order_by("pk").values_list("pk", *(column.lookup for column in columns))
    rows = rows.iterator(chunk_size=BATCH)
    # The query runs now: a database without the table fails before a header is written.
    first = list(islice(rows, 1))
    return TodoList(["id", *(column.name for column in columns)], chain(first, rows))


def status_names(item: DeclaredProgress, options: Sequence[str]) -> list[str]:
    """The statuses of ``--status`` options: each comma-separated, unless it is as a
    whole a value or label of the status column's choices (``"on disk, verified"``)."""
    status_field = item.status_column.field
    whole = {str(text) for choice in status_field.flatchoices for text in choice}
    names = []
    for option in options:
        if option.strip() in whole:
            names.append(option.strip())
        else:
            names.extend(name.strip() for name in option.split(",") if name.strip())
    return names


def _status_values(item: DeclaredProgress, statuses: Sequence[str]) -> list:
    """Status values for names that are status values, their choices' labels (as the
    status page shows them) or categories (not ``done``)."""
    progress = item.progress
    status_field = item.status_column.field
    values = []
    for name in statuses:
        value = _as_status(item, status_field, name)
        if value in progress.categories:
            if progress.category(value) == "done":
                raise EspressoStaticError(
                    f"{name!r} counts as done in {item.label}; todo lists work not done."
                )
            values.append(value)
        elif name in CATEGORIES and name != "done":
            values.extend(progress.values_of(name))
        else:
            labels = dict(status_field.flatchoices)
            known = [
                _with_label(value, labels)
                for value, c in progress.categories.items()
                if c != "done"
            ]
            choices = ", ".join([*known, *(c for c in CATEGORIES[1:-1] if c not in known)])
            raise EspressoStaticError(
                f"Unknown status {name!r} for {item.label}; choose from {choices}."
            )
    return values


def _with_label(value, labels: dict) -> str:
    """``0 (Unknown)``: a status value and the label of its choice, if another text."""
    label = str(labels.get(value, value))
    return str(value) if label == str(value) else f"{value} ({label})"


def _as_status(item: DeclaredProgress, status_field, name: str):
    """``name`` as a value of the status column: the value of the choice it labels
    (case as given), else ``name`` converted (``"1"`` is 1 in an integer column), or
    ``name`` itself when the column cannot hold it (a category name). A label of two
    values, or the label of one and another's value, is refused."""
    try:
        value = status_field.to_python(name)
    except ValidationError:
        value = name
    choices = status_field.flatchoices
    labelled = list(dict.fromkeys(v for v, label in choices if str(label) == name))
    if not labelled:
        return value
    meant = ", ".join(repr(v) for v in labelled)
    if len(labelled) > 1:
        raise EspressoStaticError(
            f"Status {name!r} of {item.label} is the label of {meant}; give the value."
        )
    if value != labelled[0] and value in {v for v, _ in choices} | item.progress.categories.keys():
        raise EspressoStaticError(
            f"Status {name!r} of {item.label} is both a value and the label of {meant}: "
            "ambiguous, refused."
        )
    return labelled[0]


def write_todo(todo: TodoList, out: TextIO, fmt: str = "csv") -> int:
    """Write ``todo`` to ``out`` as CSV (with a header) or a JSON array; returns the row count."""
    if fmt not in FORMATS:
        raise EspressoStaticError(f"Unknown format {fmt!r}; use csv or json.")
    return _write_csv(todo, out) if fmt == "csv" else _write_json(todo, out)


def write_todo_file(todo: TodoList, path: Path, fmt: str = "csv") -> int:
    """Write ``todo`` to the file ``path`` whole or not at all: into a new file beside
    it, renamed over it once complete, so a failure leaves a previous list as it was.
    Its folder is made if missing, as for a plot's file."""
    path = path.resolve()  # a symbolic link: its target is replaced, not the link
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("x", encoding="utf-8", newline="") as stream:
            count = write_todo(todo, stream, fmt)
        if path.exists():
            shutil.copymode(path, temporary)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return count


def _write_csv(todo: TodoList, out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(todo.columns)
    count = 0
    for row in todo.rows:
        writer.writerow([_text(csv_cell(value)) for value in row])
        count += 1
    return count


def _write_json(todo: TodoList, out: TextIO) -> int:
    out.write("[")
    count = 0
    for row in todo.rows:
        record = dict(zip(todo.columns, (_plain(value) for value in row), strict=True))
        out.write(("," if count else "") + "\n" + strict_json(record))
        count += 1
    out.write("\n]\n")
    return count


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _text(value) -> str:
    plain = _plain(value)
    return "" if plain is None else str(plain)
