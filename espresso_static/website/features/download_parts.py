"""The downloads of one resource in parts, one per segment, and the files made of them.

A segment's rows (:mod:`espresso_static.website.segments`) are encoded once into a
*part*: an Arrow table of its rows holding the exported values and, beside them, each
row's segment key, CSV line and JSON object; gzip members of its CSV lines and of its
JSON objects; a SQLite table of its rows. After a sync a part is *patched*
(:func:`patch_part`): only the changed rows are read from the database and encoded; the
part's other rows are kept as they were encoded (Arrow filter, concatenation and sort
by key, in C) and its gzip members compressed again from the kept lines and objects;
its SQLite table is a copy whose changed rows are deleted and inserted. No unchanged
row is read or converted in Python.

A resource's files are put together from its parts, in segment order, by byte or
C-level copies: the CSV a header member and the parts' members (gzip members
concatenate), the JSON likewise with a separator member between parts, the Parquet
file one row group per Arrow batch, the package's SQLite table the parts' tables copied
by ``INSERT ... SELECT`` (rows in key order whatever the part's file looks like). A
build from scratch takes the same path, so both write the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path

import deflate
import numpy
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from espresso_static.data.plain_values import FORMULA_STARTS, csv_cell, plain_value, strict_json
from espresso_static.website.features.resources import Resource

#: Rows encoded at once (a segment of a table without an integer key may be any size).
CHUNK_ROWS = 20_000
#: The JSON is compressed too: a sync changing a table would otherwise write its whole
#: JSON again (150 MB for the 400k demo's files, 11 MB compressed).
FORMATS = ("csv.gz", "parquet", "json.gz")
#: The files of one part.
PART_ARROW, PART_SQLITE = "part.arrow", "part.sqlite"
PART_CSV, PART_JSON = "part.csv.gz", "part.json.gz"
#: The columns of a part's Arrow table beside the exported values: the row's segment
#: key, CSV line and JSON object (after the separator that precedes it in the file).
KEY, CSV_LINE, JSON_OBJECT = "__key", "__csv", "__json"
JSON_SEPARATOR = ",\n"
PAGE_SIZE = 16384
#: Changed rows deleted from a part's SQLite table per statement.
DELETE_BATCH = 500


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
#: libdeflate's level 1: a 1% random sync compresses every segment's CSV again, and it
#: took 0.12 s for 400,000 rows (37 MB) where zlib took 0.34 s at level 1, for a file
#: 8% smaller. Its bytes depend on the input alone; ISA-L's igzip, 1.7x faster, was
#: given up: the same lines compressed in a thread pool sometimes came out as other
#: (valid) bytes, and a patched part must be the bytes a build from scratch writes.
GZIP_LEVEL = 1
#: See :func:`_few_values`.
DICTIONARY_RATIO = 10


def pyarrow_without_pandas() -> None:
    """Have pyarrow take pandas as not installed, for the rest of this process. Its
    first conversion of Python values imports pandas, to tell pandas objects apart
    (0.2 s: a sixth of a download worker's time after a 1% sync); the downloads never
    hand it one. Only for a process of its own (a worker): pyarrow then takes a pandas
    object for a plain sequence, whoever hands it one."""
    if "pandas" in sys.modules:  # imported already: nothing to save
        return
    refusal = _PandasRefused()
    sys.meta_path.insert(0, refusal)
    try:
        pa.array([0])  # pyarrow tries the import once, here refused
    finally:
        sys.meta_path.remove(refusal)


class _PandasRefused:
    """An import finder refusing pandas."""

    def find_spec(self, name: str, path=None, target=None):
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def arrow_schema(resource: Resource) -> pa.Schema:
    return pa.schema(
        [pa.field(c.name, ARROW_TYPES[c.type], nullable=not c.required) for c in resource.columns]
    )


@dataclass(frozen=True)
class Encoder:
    """Encodes rows of one resource into the Arrow tables of its parts."""

    resource: Resource

    def encode(self, keys: list, rows: list[tuple]) -> tuple[pa.Table, list[tuple]]:
        """The part table of ``rows`` (exported values, in order; ``keys`` their segment
        keys) and their plain values (what the SQLite table holds)."""
        columns = self.resource.columns
        names = [c.name for c in columns]
        # Only columns whose values may need it are converted: a call per value costs
        # more than writing all four formats.
        converted = [i for i, c in enumerate(columns) if c.type in CONVERTED_TYPES]
        # Every column written as text (a file's path, an address, a duration too).
        texts = [i for i, c in enumerate(columns) if ARROW_TYPES[c.type] == pa.string()]
        plain = [_plain_row(row, converted) for row in rows] if converted else rows
        lines: list[str] = []
        # RFC 4180 line ends: the writer then quotes a value holding a lone \r too. It
        # writes each row in one call: the list collects the rows' lines.
        csv.writer(_Lines(lines.append), lineterminator="\r\n").writerows(
            _spreadsheet_safe(plain, texts) if texts else plain
        )
        objects = [
            JSON_SEPARATOR + _json_object(dict(zip(names, row, strict=True))) for row in plain
        ]
        values = _arrow_table(arrow_schema(self.resource), [c.type for c in columns], rows)
        table = values.append_column(KEY, pa.array(keys))
        table = table.append_column(CSV_LINE, pa.array(lines, pa.string()))
        return table.append_column(JSON_OBJECT, pa.array(objects, pa.string())), plain


def _json_object(values: dict) -> str:
    """``values`` as a JSON object (orjson: why, in ``pyproject.toml``); a float that is
    not finite as null, JSON having no NaN or infinity."""
    try:
        return orjson.dumps(values).decode()
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        return strict_json(values, separators=(",", ":"))


@dataclass(frozen=True)
class _Lines:
    """A file for :func:`csv.writer` whose writes go to ``write``."""

    write: Callable[[str], object]


def write_part(
    resource: Resource, rows: Iterator[tuple], folder: Path, progress: Callable[[int], None]
) -> int:
    """Encode the rows of one segment, each ``(key, values)``, into the part files in
    ``folder``; returns the number of rows."""
    folder.mkdir(parents=True, exist_ok=True)
    encoder = Encoder(resource)
    count = 0
    database = _new_database(folder / PART_SQLITE)
    try:
        create_sqlite_table(database, resource)
        insert = _insert(resource)
        with (
            open(folder / PART_CSV, "wb") as lines,
            open(folder / PART_JSON, "wb") as objects,
            _PartWriter(folder / PART_ARROW) as arrow,
        ):
            while chunk := list(islice(rows, CHUNK_ROWS)):
                table, plain = encoder.encode([k for k, _ in chunk], [v for _, v in chunk])
                # A gzip member per chunk, compressed as a patched part's (one chunk).
                lines.write(_gzip(table[CSV_LINE]))
                objects.write(_json_member(table, first=not count))
                arrow.write(table)
                database.executemany(insert, plain)
                count += len(chunk)
                progress(len(chunk))
        database.commit()
    finally:
        database.close()
    return count


def patch_part(
    resource: Resource,
    previous: Path | None,
    folder: Path,
    changed: list[int],
    table: pa.Table | None,
    plain: list[tuple],
) -> int:
    """Write into ``folder`` the part in ``previous`` (None: no rows before) with the
    rows of the keys ``changed`` replaced by ``table`` (their encoded rows now, by
    :meth:`Encoder.encode`, None: none; a key missing there: the row is gone) and
    ``plain`` (their plain values); returns the number of rows (0: no part is
    written). Needs the resource's primary key to be the segment key."""
    if previous is not None:
        with pa.memory_map(str(previous / PART_ARROW)) as source:
            before = pa.ipc.open_file(source).read_all()
        table = _merged(before, changed, table)
    if table is None or not table.num_rows:
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    with _PartWriter(folder / PART_ARROW) as arrow:
        arrow.write(table)
    (folder / PART_CSV).write_bytes(_gzip(table[CSV_LINE]))
    (folder / PART_JSON).write_bytes(_json_member(table, first=True))
    if previous is None:
        database = _new_database(folder / PART_SQLITE)
        create_sqlite_table(database, resource)
    else:
        shutil.copyfile(previous / PART_SQLITE, folder / PART_SQLITE)
        database = _new_database(folder / PART_SQLITE)
    try:
        (key,) = resource.primary_key
        for start in range(0, len(changed), DELETE_BATCH):
            batch = changed[start : start + DELETE_BATCH]
            marks = ", ".join("?" for _ in batch)
            database.execute(f'DELETE FROM "{resource.name}" WHERE "{key}" IN ({marks})', batch)
        database.executemany(_insert(resource), plain)
        database.commit()
    finally:
        database.close()
    return table.num_rows


def _merged(before: pa.Table, changed: list[int], now: pa.Table | None) -> pa.Table:
    """``before`` (rows in key order) with the rows of the keys ``changed`` replaced by
    the rows of ``now`` (in key order; a changed key missing there: the row is gone):
    runs of consecutive rows of either table, in key order, copied into one table (no
    row is converted; a block of changed rows is one run, not a run per row)."""
    old = before[KEY].combine_chunks().to_numpy()
    new = numpy.empty(0, old.dtype) if now is None else now[KEY].combine_chunks().to_numpy()
    kept = numpy.flatnonzero(~numpy.isin(old, numpy.asarray(changed, old.dtype)))
    rows = numpy.concatenate([kept, numpy.arange(len(new))])
    source = numpy.concatenate([numpy.zeros(len(kept), bool), numpy.ones(len(new), bool)])
    order = numpy.argsort(numpy.concatenate([old[kept], new]), kind="stable")
    rows, source = rows[order], source[order]
    if not len(rows):
        return before.slice(0, 0)
    starts = numpy.flatnonzero(
        numpy.concatenate([[True], (source[1:] != source[:-1]) | (rows[1:] != rows[:-1] + 1)])
    ).tolist()
    ends = [*starts[1:], len(rows)]
    pieces = [
        (now if source[start] else before).slice(int(rows[start]), end - start)
        for start, end in zip(starts, ends, strict=True)
    ]
    return pa.concat_tables(pieces).combine_chunks()


class _PartWriter:
    """The Arrow IPC file of a part, written a table at a time (one batch each)."""

    def __init__(self, path: Path):
        self.path, self.writer = path, None

    def __enter__(self) -> _PartWriter:
        return self

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pa.ipc.new_file(self.path, table.schema)
        for batch in table.combine_chunks().to_batches():
            self.writer.write_batch(batch)

    def __exit__(self, *exc) -> None:
        if self.writer is not None:
            self.writer.close()


def text_bytes(column) -> pa.Buffer:
    """The UTF-8 bytes of the values of a string column, one after the other (its
    data buffer: no copy)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    if len(chunks) != 1:
        return pa.py_buffer(b"".join(text_bytes(chunk).to_pybytes() for chunk in chunks))
    (array,) = chunks
    if not len(array):
        return pa.py_buffer(b"")
    _, offsets, data = array.buffers()
    offsets = memoryview(offsets).cast("i")  # int32: a string array, not a large one
    start, end = offsets[array.offset], offsets[array.offset + len(array)]
    return data.slice(start, end - start)


def _gzip(lines) -> bytes:
    return _compressed(text_bytes(lines))


def _compressed(data) -> bytes:
    return deflate.gzip_compress(data, GZIP_LEVEL)


def _json_member(table: pa.Table, first: bool) -> bytes:
    """The gzip member of the JSON objects of ``table``, each after a separator but the
    part's ``first`` (parts are joined by a separator member of their own)."""
    objects = text_bytes(table[JSON_OBJECT])
    if first:
        objects = objects.slice(min(len(JSON_SEPARATOR), len(objects)))
    return _compressed(objects)


def read_part(part: Path) -> Iterator[pa.RecordBatch]:
    """The Arrow batches of a part, in order (memory-mapped)."""
    with pa.memory_map(str(part / PART_ARROW)) as source:
        reader = pa.ipc.open_file(source)
        for index in range(reader.num_record_batches):
            yield reader.get_batch(index)


def assemble_files(
    resource: Resource, parts: Callable[[], Iterable[Path]], out_dir: Path, pool: Executor
) -> list[Future]:
    """Tasks in ``pool`` writing the CSV, JSON and Parquet files of ``resource`` in
    ``out_dir`` from its parts (folders of :func:`write_part`), side by side (byte
    copies, hashing and Parquet's encoder release the GIL), each taking them from its
    own ``parts()``, in segment order, as they come; each returns its file's name, size
    and SHA-256, hashed as it is written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    writers = (_assemble_csv, _assemble_json, _assemble_parquet)
    return [pool.submit(writer, resource, parts(), out_dir) for writer in writers]


def _write_hashed(path: Path, pieces: Iterable) -> tuple:
    """Write ``pieces`` (bytes) one after the other into ``path``, hashed as they are
    written: its name, size and SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        for piece in pieces:
            handle.write(piece)
            digest.update(piece)
    return path.name, path.stat().st_size, digest.hexdigest()


def _assemble_csv(resource: Resource, parts: Iterable[Path], out_dir: Path) -> tuple:
    header: list[str] = []
    csv.writer(_Lines(header.append), lineterminator="\r\n").writerow(
        [c.name for c in resource.columns]
    )
    members = ((part / PART_CSV).read_bytes() for part in parts)
    pieces = chain([_compressed(header[0].encode())], members)
    return _write_hashed(out_dir / f"{resource.name}.csv.gz", pieces)


def _assemble_json(resource: Resource, parts: Iterable[Path], out_dir: Path) -> tuple:
    separator = _compressed(JSON_SEPARATOR.encode())

    def pieces() -> Iterator[bytes]:
        """The parts' compressed objects as they are, a separator between parts."""
        yield _compressed(b"[\n")
        for index, part in enumerate(parts):
            if index:
                yield separator
            yield (part / PART_JSON).read_bytes()
        yield _compressed(b"\n]\n")

    return _write_hashed(out_dir / f"{resource.name}.json.gz", pieces())


def _assemble_parquet(resource: Resource, parts: Iterable[Path], out_dir: Path) -> tuple:
    path = out_dir / f"{resource.name}.parquet"
    names = [c.name for c in resource.columns]
    schema = arrow_schema(resource)
    batches = (batch.select(names) for part in parts for batch in read_part(part))
    # The batches up to the first with rows decide the dictionaries, then are written.
    leading = []
    for batch in batches:
        leading.append(batch)
        if batch.num_rows:
            break
    dictionary = _few_values(leading[-1]) if leading and leading[-1].num_rows else []
    with pq.ParquetWriter(path, schema, use_dictionary=dictionary) as parquet:
        written = 0
        for batch in chain(leading, batches):
            parquet.write_table(pa.Table.from_batches([batch], schema))
            written += batch.num_rows
        if not written:
            parquet.write_table(schema.empty_table())
    return path.name, path.stat().st_size, sha256(path)


def _few_values(first: pa.RecordBatch) -> list[str]:
    """The columns whose values the first batch of rows repeats (at most one distinct
    value per :data:`DICTIONARY_RATIO` rows): those Parquet dictionary-encodes. Trying
    it on every column (file names, times) took 40% of writing the 400k demo's file
    table, for a file 16% larger."""
    return [
        name
        for name in first.schema.names
        if pc.count_distinct(first.column(name), mode="all").as_py() * DICTIONARY_RATIO
        <= first.num_rows
    ]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def assemble_sqlite(path: Path, resources: Iterable[tuple[Resource, list[Path]]]) -> None:
    """One SQLite file of every resource (taken as they come), its rows copied from the
    parts' tables."""
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
    # Pages of 16 KiB: copying the parts into the package took 0.33 s against 0.40 s
    # with SQLite's 4 KiB (400k demo), for a file 1% smaller.
    database.execute(f"PRAGMA page_size = {PAGE_SIZE}")
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
    (:func:`~espresso_static.data.plain_values.csv_cell`); other formats keep the values."""
    safe = []
    for row in rows:
        if any(isinstance(row[i], str) and row[i].startswith(FORMULA_STARTS) for i in texts):
            row = list(row)
            for i in texts:
                row[i] = csv_cell(row[i])
        safe.append(row)
    return safe


def _insert(resource: Resource) -> str:
    marks = ", ".join("?" for _ in resource.columns)
    return f'INSERT INTO "{resource.name}" VALUES ({marks})'


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
