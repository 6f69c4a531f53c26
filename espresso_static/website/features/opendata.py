"""Open-data downloads of what one audience may see.

For every visible model (and every visible many-to-many relation) one resource,
written as gzip-compressed CSV, Parquet and JSON, plus one SQLite file holding all
of them, a Frictionless ``datapackage.json`` (field types, primary and foreign keys,
licence) and ``SHA256SUMS`` over every file. Rows are read once, in primary-key
order and in chunks, and written to all formats as they come: a table of a million
rows never sits in memory. Output is deterministic (gzip without timestamps, sorted
resources) so unchanged data gives identical files.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
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
from django.db.models import Exists, OuterRef
from django.utils.text import slugify

from espresso_static.data.fieldkinds import field_kind
from espresso_static.data.plain_values import INTERNAL_TYPES, plain_value
from espresso_static.declare.access import AudienceView
from espresso_static.website.cache import BuildCache, link_file, link_tree
from espresso_static.website.collect import model_doc
from espresso_static.website.publish import make_staging
from espresso_static.website.sanitize import FORMULA_STARTS, csv_cell

CHUNK_ROWS = 20_000
FORMATS = ("csv.gz", "parquet", "json")
#: The SQLite database of one resource, copied into the package's database.
TABLE_DATABASE = "table.sqlite"


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


@dataclass(frozen=True)
class DownloadFile:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class OpenData:
    """What :func:`write_open_data` wrote, for the Data page."""

    package_name: str
    resources: tuple[Resource, ...]
    files: tuple[DownloadFile, ...]
    license: str
    citation: str

    def file(self, path: str) -> DownloadFile | None:
        return next((f for f in self.files if f.path == path), None)


def resource_name(model) -> str:
    return f"{model._meta.app_label}_{model._meta.model_name}"


@dataclass(frozen=True)
class _Table:
    """One resource to export: its description, its rows (read when called) and the
    models whose tables decide them (for the cache key)."""

    resource: Resource
    rows: Callable[[], Iterator[tuple]]
    models_read: tuple


def write_open_data(
    view: AudienceView,
    model_list: list,
    out_dir: Path,
    *,
    title: str,
    license: str = "",
    citation: str = "",
    progress: Callable[[int], None] | None = None,
    cache: BuildCache | None = None,
) -> OpenData:
    """Write the downloads of ``model_list`` as ``view`` sees them into ``out_dir``,
    reusing what ``cache`` holds of tables that did not change."""
    cache = cache or BuildCache(None)
    progress = progress or (lambda rows: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    package_name = slugify(title) or "data"
    visible = sorted((m for m in model_list if view.sees_model(m)), key=resource_name)
    package_key = cache.key("downloads", view, visible, title, license, citation)
    stored = cache.load(package_key)
    if stored is not None:
        link_tree(cache.files(package_key), out_dir)
        progress(sum(resource.rows for resource in stored.resources))
        return stored
    # Named as a build's staging folder: the next build removes it if this one is killed.
    work = make_staging(out_dir.parent)
    try:
        parts = [
            _resource_files(view, table, work, cache, progress) for table in _tables(view, visible)
        ]
        for resource, folder in parts:
            for extension in FORMATS:
                name = f"{resource.name}.{extension}"
                link_file(folder / name, out_dir / name)
        sqlite_name = f"{package_name}.sqlite"
        _assemble_sqlite(out_dir / sqlite_name, parts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    resources = [resource for resource, _ in parts]
    package = _datapackage(package_name, title, license, citation, resources, out_dir)
    (out_dir / "datapackage.json").write_text(json.dumps(package, indent=2, ensure_ascii=False))
    files = _checksums(out_dir, [*_data_files(resources), sqlite_name, "datapackage.json"])
    open_data = OpenData(package_name, tuple(resources), tuple(files), license, citation)
    cache.store(f"downloads {view.name}", package_key, open_data, files=out_dir)
    return open_data


def _tables(view: AudienceView, visible: list) -> Iterator[_Table]:
    """The resources of the ``visible`` models: each model, then its many-to-many
    relations whose other end is visible."""
    for model in visible:
        yield _Table(
            _model_resource(view, model), functools.partial(_model_rows, view, model), (model,)
        )
        for m2m in view.visible_fields(model):
            if m2m.many_to_many:
                yield _Table(
                    _m2m_resource(model, m2m),
                    functools.partial(_m2m_rows, view, model, m2m),
                    (model, m2m.related_model, m2m.remote_field.through),
                )


def _resource_files(
    view: AudienceView, table: _Table, work: Path, cache: BuildCache, progress
) -> tuple[Resource, Path]:
    """The exported resource and the folder holding its files (and a SQLite database of
    its one table): from the cache, or written into ``work``."""
    key = cache.key("download", view, table.models_read, table.resource)
    stored = cache.load(key)
    if stored is not None:
        progress(stored.rows)
        return stored, cache.files(key)
    folder = work / table.resource.name
    folder.mkdir()
    database = sqlite3.connect(folder / TABLE_DATABASE)
    try:
        resource = _export(table.resource, table.rows(), folder, database, progress)
        database.commit()
    finally:
        database.close()
    cache.store(f"download {view.name} {resource.name}", key, resource, files=folder)
    return resource, folder


def _assemble_sqlite(path: Path, parts: list[tuple[Resource, Path]]) -> None:
    """One SQLite file of every resource, copied from their own databases."""
    path.unlink(missing_ok=True)
    database = sqlite3.connect(path)
    try:
        for resource, folder in parts:
            _create_sqlite_table(database, resource)
            database.commit()  # ATTACH is refused inside a transaction
            database.execute("ATTACH DATABASE ? AS part", (str(folder / TABLE_DATABASE),))
            database.execute(
                f'INSERT INTO main."{resource.name}" SELECT * FROM part."{resource.name}"'
            )
            database.commit()
            database.execute("DETACH DATABASE part")
    finally:
        database.close()


# -- what is exported ---------------------------------------------------------------


def _model_resource(view: AudienceView, model) -> Resource:
    columns = []
    for field in view.visible_fields(model):
        if field.many_to_many:
            continue
        references = None
        if field.is_relation:
            references = (resource_name(field.related_model), field.target_field.attname)
        columns.append(
            Column(
                name=field.name if not field.is_relation else field.attname,
                attname=field.attname,
                type=frictionless_type(field),
                description=str(field.help_text or field.verbose_name),
                required=not field.null,
                references=references,
            )
        )
    pk = model._meta.pk
    primary_key = (pk.attname,) if any(c.attname == pk.attname for c in columns) else ()
    return Resource(
        name=resource_name(model),
        # Django's default plural only appends an "s" ("hisqs"): the class name then.
        title=str(model._meta.verbose_name_plural)
        if "verbose_name_plural" in model._meta.original_attrs
        else model.__name__,
        description=" ".join(model_doc(model).split()),
        columns=tuple(columns),
        primary_key=primary_key,
        rows=0,
    )


def _m2m_resource(model, m2m) -> Resource:
    source = m2m.m2m_column_name()
    target = m2m.m2m_reverse_name()
    columns = (
        Column(
            source,
            source,
            "integer",
            f"{model._meta.verbose_name} id",
            True,
            (resource_name(model), model._meta.pk.attname),
        ),
        Column(
            target,
            target,
            "integer",
            f"{m2m.related_model._meta.verbose_name} id",
            True,
            (resource_name(m2m.related_model), m2m.related_model._meta.pk.attname),
        ),
    )
    return Resource(
        name=f"{resource_name(model)}_{m2m.name}",
        title=f"{model._meta.verbose_name} ↔ {m2m.verbose_name}",
        description=str(m2m.help_text or f"Many-to-many relation {m2m.name}."),
        columns=columns,
        primary_key=(source, target),
        rows=0,
    )


def _model_rows(view: AudienceView, model) -> Iterator[tuple]:
    attnames = [f.attname for f in view.visible_fields(model) if not f.many_to_many]
    queryset = view.queryset(model).order_by("pk").values_list(*attnames)
    return queryset.iterator(chunk_size=CHUNK_ROWS)


def _m2m_rows(view: AudienceView, model, m2m) -> Iterator[tuple]:
    """Links whose both ends are visible rows."""
    through = m2m.remote_field.through
    source, target = m2m.m2m_column_name(), m2m.m2m_reverse_name()
    links = through._default_manager.all()
    for column, end in ((source, model), (target, m2m.related_model)):
        visible = view.queryset(end)
        if visible.query.has_filters():
            # EXISTS, one look-up per link: with `IN` on both columns SQLite searches the
            # link index for every pair of visible ends (hours for 50,000 by 150,000).
            links = links.filter(Exists(visible.filter(pk=OuterRef(column))))
    return (
        links.order_by(source, target).values_list(source, target).iterator(chunk_size=CHUNK_ROWS)
    )


#: Frictionless field types of the value kinds (any other kind is a string).
FRICTIONLESS_TYPES = {
    "bool": "boolean",
    "int": "integer",
    "float": "number",
    "datetime": "datetime",
    "date": "date",
    "json": "object",
}


def frictionless_type(field) -> str:
    """The Frictionless type of a column: from its value kind, else its Django type;
    any other field (UUID, binary, file, IP address, custom) is ``any``, written as text."""
    while field.is_relation:  # a child's parent link points to the parent's link, ...
        field = field.target_field
    kind = field_kind(field)
    if kind == "text":
        return "string"
    return FRICTIONLESS_TYPES.get(kind) or INTERNAL_TYPES.get(field.get_internal_type(), "any")


# -- writing ------------------------------------------------------------------------

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
#: Types whose values :func:`_plain` may change (all but text, integers and booleans).
CONVERTED_TYPES = frozenset(
    {"datetime", "date", "number", "object", "array", "duration", "time", "any"}
)
#: zlib's default level: level 9 took twice the time for a few percent smaller files.
GZIP_LEVEL = 6


def _export(
    resource: Resource, rows: Iterator[tuple], out_dir: Path, database, progress
) -> Resource:
    names = [c.name for c in resource.columns]
    types = [c.type for c in resource.columns]
    schema = pa.schema(
        [pa.field(c.name, ARROW_TYPES[c.type], nullable=not c.required) for c in resource.columns]
    )
    _create_sqlite_table(database, resource)
    insert = f'INSERT INTO "{resource.name}" VALUES ({", ".join("?" for _ in names)})'
    # Only columns whose values may need it are converted: a call per value costs more
    # than writing all four formats.
    converted = [i for i, c in enumerate(resource.columns) if c.type in CONVERTED_TYPES]
    texts = [i for i, c in enumerate(resource.columns) if c.type in ("string", "object")]
    count = 0
    with (
        gzip.GzipFile(
            out_dir / f"{resource.name}.csv.gz", "wb", compresslevel=GZIP_LEVEL, mtime=0
        ) as csv_gzip,
        io.TextIOWrapper(csv_gzip, encoding="utf-8", newline="") as csv_text,
        open(out_dir / f"{resource.name}.json", "w", encoding="utf-8") as json_file,
        pq.ParquetWriter(out_dir / f"{resource.name}.parquet", schema) as parquet,
    ):
        # RFC 4180 line ends: the writer then quotes a value holding a lone \r too.
        writer = csv.writer(csv_text, lineterminator="\r\n")
        writer.writerow(names)
        json_file.write("[")
        while chunk := list(islice(rows, CHUNK_ROWS)):
            plain = [_plain_row(row, converted) for row in chunk] if converted else chunk
            writer.writerows(_spreadsheet_safe(plain, texts) if texts else plain)
            objects = json.dumps(
                [dict(zip(names, row, strict=True)) for row in plain], ensure_ascii=False
            )
            json_file.write(("," if count else "") + objects[1:-1])
            parquet.write_table(_arrow_table(schema, types, chunk))
            database.executemany(insert, plain)
            count += len(chunk)
            if progress:
                progress(len(chunk))
        json_file.write("]\n")
        if not count:
            parquet.write_table(schema.empty_table())
    return Resource(
        resource.name,
        resource.title,
        resource.description,
        resource.columns,
        resource.primary_key,
        count,
    )


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


def _create_sqlite_table(database, resource: Resource) -> None:
    columns = ", ".join(
        f'"{c.name}" {SQLITE_TYPES.get(c.type, "TEXT")}{"" if not c.required else " NOT NULL"}'
        for c in resource.columns
    )
    key = ", ".join(f'"{name}"' for name in resource.primary_key)
    primary = f", PRIMARY KEY ({key})" if key else ""
    database.execute(f'CREATE TABLE "{resource.name}" ({columns}{primary})')


def _data_files(resources: list[Resource]) -> list[str]:
    return [f"{r.name}.{extension}" for r in resources for extension in FORMATS]


def _datapackage(name, title, license, citation, resources, out_dir: Path) -> dict:
    package = {
        "profile": "tabular-data-package",
        "name": name,
        "title": title,
        "resources": [_resource_descriptor(r, out_dir, resources) for r in resources],
    }
    if license:
        package["licenses"] = [{"name": license} if " " not in license else {"title": license}]
    if citation:
        package["citation"] = citation
    return package


def _resource_descriptor(resource: Resource, out_dir: Path, resources: list[Resource]) -> dict:
    path = f"{resource.name}.csv.gz"
    schema: dict = {
        "fields": [
            {
                "name": c.name,
                "type": c.type,
                "description": c.description,
                **({"constraints": {"required": True}} if c.required else {}),
            }
            for c in resource.columns
        ]
    }
    if resource.primary_key:
        schema["primaryKey"] = list(resource.primary_key)
    # A reference is declared only where its target column is published too.
    published = {(r.name, c.name) for r in resources for c in r.columns}
    foreign_keys = [
        {"fields": c.name, "reference": {"resource": c.references[0], "fields": c.references[1]}}
        for c in resource.columns
        if c.references in published
    ]
    if foreign_keys:
        schema["foreignKeys"] = foreign_keys
    return {
        "profile": "tabular-data-resource",
        "name": resource.name,
        "title": resource.title,
        "description": resource.description,
        "path": path,
        "format": "csv",
        "compression": "gz",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "bytes": (out_dir / path).stat().st_size,
        "hash": f"sha256:{_sha256(out_dir / path)}",
        "schema": schema,
    }


def _checksums(out_dir: Path, names: list[str]) -> list[DownloadFile]:
    files = [
        DownloadFile(name, (out_dir / name).stat().st_size, _sha256(out_dir / name))
        for name in sorted(names)
    ]
    (out_dir / "SHA256SUMS").write_text("".join(f"{f.sha256}  {f.path}\n" for f in files))
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
