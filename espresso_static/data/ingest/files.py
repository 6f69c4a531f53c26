"""Rows from a file for ``espresso-static ingest``: CSV, JSON Lines or Parquet, read
as they are ingested (never all in memory), each row remembered by the line an
editor shows it on, so an error names it (the CSV header is line 1).

What a file may hold that a spreadsheet writes: a UTF-8 byte-order mark (skipped),
cells of any length, blank lines (skipped). What it may not (one-line errors naming
the file, the line and the column): no header, bytes that are not UTF-8, a row with
more or fewer cells than the header, a column the model does not have.
"""

from __future__ import annotations

import csv
import json
from array import array
from collections.abc import Iterator
from pathlib import Path

from django.db import models

from espresso_static.data.ingest.errors import RowError
from espresso_static.data.ingest.plan import DEFAULT_BATCH_SIZE, target_field
from espresso_static.exceptions import EspressoStaticError

FILE_FORMATS = ("csv", "jsonl", "parquet")
#: Longest CSV cell read (Python's csv module stops at 131,072 characters by default).
MAX_CELL = 1 << 30


class FileError(EspressoStaticError):
    """The file itself cannot be read as rows (message: file, line, column, why)."""


class FileRows:
    """The rows of one file as dicts, read while iterated (once); :meth:`where` names
    the place of a row in the file."""

    def __init__(self, path: Path, model: type[models.Model], file_format: str):
        self.path = path
        self.model = model
        self.format = file_format
        #: Line of each row read so far (CSV, JSON Lines); Parquet has rows, not lines.
        self.lines = array("L")

    def __iter__(self) -> Iterator[dict]:
        readers = {"csv": self._csv, "jsonl": self._jsonl, "parquet": self._parquet}
        return readers[self.format]()

    def where(self, index: int) -> str:
        """``files.csv, line 8`` for row ``index`` (0-based) of the file."""
        if index < len(self.lines):
            return f"{self.path}, line {self.lines[index]}"
        return f"{self.path}, row {index + 1}"

    def _error(self, line: int, reason: str, column: str | None = None) -> FileError:
        place = f"{self.path}, line {line}" + (f", column {column}" if column else "")
        return FileError(f"{place}: {reason}")

    # -- CSV -------------------------------------------------------------------------

    def _csv(self) -> Iterator[dict]:
        csv.field_size_limit(max(csv.field_size_limit(), MAX_CELL))
        # utf-8-sig: a byte-order mark (Excel writes one) is not part of the first name;
        # surrogateescape: bytes that are not UTF-8 are found in their cell, not at large.
        with open(self.path, newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
            reader = csv.reader(handle)
            header = self._csv_header(reader)
            empty_is_text = _empty_is_text(self.model)
            last_line = reader.line_num
            for cells in reader:
                line, last_line = last_line + 1, reader.line_num
                if not cells:
                    continue  # a blank line
                index = len(self.lines)
                self.lines.append(line)
                if len(cells) != len(header):
                    raise _cell_count_error(header, cells, index)
                row = {}
                for name, cell in zip(header, cells, strict=True):
                    if not cell.isascii() and not _is_utf8(cell):
                        raise RowError(_not_utf8(cell), index, column=name)
                    row[name] = cell if cell or name in empty_is_text else None
                yield row

    def _csv_header(self, reader) -> list[str]:
        try:
            header = next(reader)
        except StopIteration:
            raise self._error(
                1, "the file is empty; a CSV file starts with a header line naming the columns."
            ) from None
        for position, name in enumerate(header, start=1):
            if not _is_utf8(name):
                raise self._error(1, _not_utf8(name), column=str(position))
            if not name.strip():
                raise self._error(1, "the header names no column here.", column=str(position))
            if header.index(name) != position - 1:
                raise self._error(1, "named twice in the header.", column=name)
        self._check_columns(header, line=1)
        return header

    def _check_columns(self, names, line: int | None = None) -> None:
        known = {name for f in self.model._meta.concrete_fields for name in (f.name, f.attname)}
        for name in names:
            if name not in known:
                columns = ", ".join(f.name for f in self.model._meta.concrete_fields)
                reason = f"not a column of {self.model._meta.label}; its columns: {columns}."
                if line is None:
                    raise FileError(f"{self.path}, column {name}: {reason}")
                raise self._error(line, reason, column=name)

    # -- JSON Lines ------------------------------------------------------------------

    def _jsonl(self) -> Iterator[dict]:
        with open(self.path, "rb") as handle:
            number = 0
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as error:
                    raise self._error(number, _not_utf8_bytes(raw, error)) from None
                if not text.strip():
                    continue
                self.lines.append(number)
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as error:
                    raise self._error(number, f"not JSON: {error.msg}.", str(error.colno)) from None
                if not isinstance(row, dict):
                    raise self._error(
                        number,
                        f"a JSON {type(row).__name__}; each line holds one object of column "
                        "names to values.",
                    )
                yield row
            if number == 0:
                raise self._error(1, "the file is empty; each line holds one JSON object.")

    # -- Parquet ---------------------------------------------------------------------

    def _parquet(self) -> Iterator[dict]:
        import pyarrow
        import pyarrow.parquet as parquet

        try:
            source = parquet.ParquetFile(self.path)
        except (pyarrow.ArrowException, OSError) as error:
            raise FileError(f"{self.path}: not a readable Parquet file ({error}).") from None
        self._check_columns(source.schema_arrow.names)
        for record_batch in source.iter_batches(batch_size=DEFAULT_BATCH_SIZE):
            yield from record_batch.to_pylist()


def read_file(path, model: type[models.Model], file_format: str | None = None) -> FileRows:
    """The rows of a CSV, JSON Lines or Parquet file for ``model``: text as written
    (the ingest converts it with each field's ``to_python``); an empty CSV cell is
    NULL except in text columns that cannot be NULL."""
    path = Path(path)
    file_format = file_format or path.suffix.lower().lstrip(".")
    file_format = {"ndjson": "jsonl"}.get(file_format, file_format)
    if file_format not in FILE_FORMATS:
        raise EspressoStaticError(
            f"Cannot tell the format of {path.name}: use a .csv, .jsonl or .parquet file "
            "(or --format)."
        )
    return FileRows(path, model, file_format)


def _empty_is_text(model) -> set[str]:
    """The columns whose empty CSV cell is the empty text: text that cannot be NULL.
    A CSV cannot tell an empty text from NULL, and a nullable one is NULL when empty,
    as Django's forms store it (and as the downloads write NULL: an empty cell)."""
    return {
        name
        for f in model._meta.concrete_fields
        if not f.null and isinstance(target_field(f), models.CharField | models.TextField)
        for name in (f.name, f.attname)
    }


def _cell_count_error(header: list[str], cells: list[str], index: int) -> RowError:
    counted = f"has {len(cells)} cells, the header names {len(header)} columns"
    if len(cells) > len(header):
        return RowError(
            f"{counted}: a cell too many (a comma inside an unquoted cell?)",
            index,
            column=f"{len(header) + 1} (after {header[-1]})",
        )
    return RowError(f"{counted}: no cell for this column", index, column=header[len(cells)])


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a byte that was not UTF-8, kept as a lone surrogate
        return False
    return True


def _not_utf8(text: str) -> str:
    position = next(i for i, char in enumerate(text) if "\udc80" <= char <= "\udcff")
    byte = ord(text[position]) - 0xDC00
    return (
        f"not UTF-8 text (byte 0x{byte:02x} after {text[:position][-20:]!r}); save the file "
        "as UTF-8."
    )


def _not_utf8_bytes(raw: bytes, error: UnicodeDecodeError) -> str:
    before = raw[: error.start].decode("utf-8", errors="replace")[-20:]
    return (
        f"not UTF-8 text (byte 0x{raw[error.start]:02x} after {before!r}); save the file as UTF-8."
    )
