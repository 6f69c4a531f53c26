"""The downloads of one resource in parts, one per segment, and the files made of them.

A segment's rows (:mod:`espresso_static.website.segments`) are encoded once into a
*part*: a gzip member of its CSV lines, its JSON objects (without brackets), its
Arrow record batches and a SQLite table of its rows. A resource's files are put
together from its parts, in segment order, by fast byte or C-level copies: the CSV is
a header member and the parts' members (gzip members concatenate), the JSON the
fragments joined, the Parquet file one row group per Arrow batch (no Python
conversion), the package's SQLite table the parts' tables copied by ``INSERT ...
SELECT``. A build from scratch takes the same path as one that reuses parts, so both
write the same bytes.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from espresso_static.data.plain_values import plain_value
from espresso_static.website.sanitize import FORMULA_STARTS, csv_cell

#: Rows encoded at once (a segment of a table without an integer key may be any size).
CHUNK_ROWS = 20_000
FORMATS = ("csv.gz", "parquet", "json")
#: The files of one part.
PART_CSV, PART_JSON, PART_ARROW, PART_SQLITE = (
    "part.csv.gz",
    "part.json",
    "part.arrow",
    "part.sqlite",
)


@dataclass(frozen=True)
class Column:
    """One exported column: the field's name, its Frictionless type and description."""

    name: str
    attname: str
    type: str
    description: str
    required: bool
    #: Resource name and column the values refer to (foreign keys), else None.
    references: tuple[str, str] | None = None


@dataclass(frozen=True)
class Resource:
    """One exported table."""

    name: str
    title: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    rows: int


ARROW_TYPES = {
    "boolean": pa.bool_(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "string": pa.string(),
    "object": pa.string(),
    "array": pa.string(),
    "duration": pa.string(),
    "time": pa.string(),
    "any": pa.string(),
}
SQLITE_TYPES = {"boolean": "INTEGER", "integer": "INTEGER", "number": "REAL"}
#: Types whose values :func:`_plain_row` may change (all but text, integers and booleans).
CONVERTED_TYPES = frozenset(
    {"datetime", "date", "number", "object", "array", "duration", "time", "any"}
)
#: zlib's default level: level 9 took twice the time for a few percent smaller files.
GZIP_LEVEL = 6


def arrow_schema(resource: Resource) -> pa.Schema:
    return pa.schema(
        [pa.field(c.name, ARROW_TYPES[c.type], nullable=not c.required) for c in resource.columns]
    )


def write_part(
    resource: Resource, rows: Iterator[tuple], folder: Path, progress: Callable[[int], None]
) -> int:
    """Encode the rows of one segment into the part files in ``folder``; returns the
    number of rows."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [c.name for c in resource.columns]
    types = [c.type for c in resource.columns]
    schema = arrow_schema(resource)
    insert = f'INSERT INTO "{resource.name}" VALUES ({", ".join("?" for _ in names)})'
    # Only columns whose values may need it are converted: a call per value costs more
    # than writing all four formats.
    converted = [i for i, c in enumerate(resource.columns) if c.type in CONVERTED_TYPES]
    texts = [i for i, c in enumerate(resource.columns) if c.type in ("string", "object")]
    count = 0
    database = _new_database(folder / PART_SQLITE)
    try:
        create_sqlite_table(database, resource)
        with (
            gzip.GzipFile(folder / PART_CSV, "wb", compresslevel=GZIP_LEVEL, mtime=0) as csv_gzip,
            io.TextIOWrapper(csv_gzip, encoding="utf-8", newline="") as csv_text,
            open(folder / PART_JSON, "w", encoding="utf-8") as json_file,
            pa.ipc.new_file(folder / PART_ARROW, schema) as arrow,
        ):
            # RFC 4180 line ends: the writer then quotes a value holding a lone \r too.
            writer = csv.writer(csv_text, lineterminator="\r\n")
            while chunk := list(islice(rows, CHUNK_ROWS)):
                plain = [_plain_row(row, converted) for row in chunk] if converted else chunk
                writer.writerows(_spreadsheet_safe(plain, texts) if texts else plain)
                objects = json.dumps(
                    [dict(zip(names, row, strict=True)) for row in plain], ensure_ascii=False
                )
                json_file.write(("," if count else "") + objects[1:-1])
                arrow.write_table(_arrow_table(schema, types, chunk))
                database.executemany(insert, plain)
                count += len(chunk)
                progress(len(chunk))
        database.commit()
    finally:
        database.close()
    return count


def assemble_files(resource: Resource, parts: list[Path], out_dir: Path) -> None:
    """The CSV, JSON and Parquet files of ``resource`` in ``out_dir`` from its ``parts``
    (folders of :func:`write_part`, in segment order)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / f"{resource.name}.csv.gz", "wb") as csv_file:
        header = io.StringIO()
        csv.writer(header, lineterminator="\r\n").writerow([c.name for c in resource.columns])
        with gzip.GzipFile(fileobj=csv_file, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as head:
            head.write(header.getvalue().encode())
        for part in parts:
            with open(part / PART_CSV, "rb") as member:
                shutil.copyfileobj(member, csv_file)
    # Bytes copied as they are: decoding and encoding the UTF-8 would cost more.
    with open(out_dir / f"{resource.name}.json", "wb") as json_file:
        json_file.write(b"[")
        first = True
        for part in parts:
            if (part / PART_JSON).stat().st_size:
                json_file.write(b"" if first else b",")
                with open(part / PART_JSON, "rb") as fragment:
                    shutil.copyfileobj(fragment, json_file)
                first = False
        json_file.write(b"]\n")
    schema = arrow_schema(resource)
    with pq.ParquetWriter(out_dir / f"{resource.name}.parquet", schema) as parquet:
        written = 0
        for part in parts:
            with pa.memory_map(str(part / PART_ARROW)) as source:
                reader = pa.ipc.open_file(source)
                for index in range(reader.num_record_batches):
                    batch = reader.get_batch(index)
                    parquet.write_table(pa.Table.from_batches([batch], schema))
                    written += batch.num_rows
        if not written:
            parquet.write_table(schema.empty_table())


def assemble_sqlite(path: Path, resources: list[tuple[Resource, list[Path]]]) -> None:
    """One SQLite file of every resource, its rows copied from the parts' tables."""
    path.unlink(missing_ok=True)
    database = _new_database(path)
    try:
        for resource, parts in resources:
            create_sqlite_table(database, resource)
            database.commit()  # ATTACH is refused inside a transaction
            for part in parts:
                database.execute("ATTACH DATABASE ? AS part", (str(part / PART_SQLITE),))
                database.execute(
                    f'INSERT INTO main."{resource.name}" SELECT * FROM part."{resource.name}"'
                )
                database.commit()
                database.execute("DETACH DATABASE part")
    finally:
        database.close()


def _new_database(path: Path) -> sqlite3.Connection:
    """A SQLite file written once by this build: no journal, no syncs (a build killed
    halfway leaves a staging folder the next one removes). Neither changes its bytes."""
    database = sqlite3.connect(path)
    database.execute("PRAGMA journal_mode = OFF")
    database.execute("PRAGMA synchronous = OFF")
    return database


def create_sqlite_table(database, resource: Resource) -> None:
    columns = ", ".join(
        f'"{c.name}" {SQLITE_TYPES.get(c.type, "TEXT")}{"" if not c.required else " NOT NULL"}'
        for c in resource.columns
    )
    key = ", ".join(f'"{name}"' for name in resource.primary_key)
    primary = f", PRIMARY KEY ({key})" if key else ""
    database.execute(f'CREATE TABLE "{resource.name}" ({columns}{primary})')


def _spreadsheet_safe(rows: list[tuple], texts: list[int]) -> list:
    """The CSV form of ``rows``: text cells starting like a formula get a ``'``
    (:func:`~espresso_static.website.sanitize.csv_cell`); other formats keep the values."""
    safe = []
    for row in rows:
        if any(isinstance(row[i], str) and row[i].startswith(FORMULA_STARTS) for i in texts):
            row = list(row)
            for i in texts:
                row[i] = csv_cell(row[i])
        safe.append(row)
    return safe


def _plain_row(row: tuple, converted: list[int]) -> tuple:
    values = list(row)
    for index in converted:
        values[index] = plain_value(values[index])
    return tuple(values)


def _arrow_table(schema: pa.Schema, types: list[str], chunk: list[tuple]) -> pa.Table:
    columns = list(zip(*chunk, strict=True))
    arrays = []
    for values, kind, field in zip(columns, types, schema, strict=True):
        if kind == "number":
            values = [None if v is None else float(v) for v in values]
        elif kind in CONVERTED_TYPES and kind not in ("datetime", "date"):
            values = [plain_value(v) for v in values]
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)
