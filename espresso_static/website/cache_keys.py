"""What a cache key is made of (:mod:`espresso_static.website.cache`): the tables an
output reads, the content of each, what of a model's definition and of an audience's
view an output shows, and espresso-static's own code."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from functools import cache
from importlib import metadata, resources
from pathlib import Path

from django.db import connections, models

from espresso_static import __version__

#: Libraries whose version changes the bytes of an output.
LIBRARIES = ("django", "numpy", "pandas", "pyarrow", "matplotlib", "deflate")
#: Packages whose files (code, templates, scripts) decide the outputs.
CODE_PACKAGES = ("espresso_static", "espresso_static.templates")
FETCH_ROWS = 20_000
#: Memory addresses in a ``repr`` differ from process to process.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


# -- what an output reads ----------------------------------------------------------------


def tables_read(models_read: Iterable) -> list:
    """``models_read``, their concrete parents, many-to-many tables and, transitively,
    the models their foreign keys point to."""
    found: dict[str, type[models.Model]] = {}
    todo = list(models_read)
    while todo:
        model = todo.pop()
        if model._meta.label in found:
            continue
        found[model._meta.label] = model
        todo.extend(model._meta.get_parent_list())
        todo.extend(f.related_model for f in model._meta.concrete_fields if f.related_model)
        for m2m in model._meta.many_to_many:
            todo.extend((m2m.remote_field.through, m2m.related_model))
    return list(found.values())


def output_tables(view, models_read: Iterable, read_by=None) -> list:
    """The models whose tables an output of ``models_read`` that ``view`` sees reads:
    :func:`tables_read`, and the tables the audience's row filters read (found by
    ``read_by(view, model)``, default :func:`rows_read`)."""
    read = tables_read(models_read)
    if view is not None:  # a row filter may read other tables (Q(mem__released=True))
        read_by = read_by or rows_read
        read = tables_read([*read, *(t for model in read for t in read_by(view, model))])
    return read


def rows_read(view, model) -> list:
    """The models whose tables the query of the rows ``view`` sees of ``model`` reads
    (its row filters' joins and subqueries included), found in the query's SQL."""
    from django.apps import apps
    from django.core.exceptions import EmptyResultSet

    if model._meta.auto_created or not view.sees_model(model):
        return []
    try:
        sql, _ = view.queryset(model).query.sql_with_params()
    except EmptyResultSet:
        return []
    quoted = set(re.findall(r'"([^"]+)"', sql))
    return [m for m in apps.get_models(include_auto_created=True) if m._meta.db_table in quoted]


def table_fingerprint(model) -> str:
    """A hash of every row and column of ``model``'s own table, in primary-key order."""
    connection = connections[model._default_manager.db]
    meta = model._meta
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    if connection.vendor == "postgresql":
        # Hashed in the server (64-bit hashes of each row's text, two seeds): no transfer.
        sql = (
            f"SELECT count(*), sum(hashtextextended(t::text, 0)::numeric), "
            f"sum(hashtextextended(t::text, 1)::numeric) FROM {table} AS t"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return repr(cursor.fetchone())
    # SQLite's quote() is an unambiguous literal of any value (NULL, text, number, blob);
    # text, not values: the driver would parse every date in Python.
    row = " || ',' || ".join(f"quote({quote(f.column)})" for f in meta.local_concrete_fields)
    digest = hashlib.blake2b(digest_size=20)
    with connection.chunked_cursor() as cursor:
        cursor.execute(f"SELECT {row} FROM {table} ORDER BY {pk}")
        while rows := cursor.fetchmany(FETCH_ROWS):
            digest.update("\n".join(text for (text,) in rows).encode())
            digest.update(b"\n")
    return digest.hexdigest()


# -- signatures ---------------------------------------------------------------------------


def model_signature(model) -> str:
    """What of a model's definition an output may show or depend on."""
    meta = model._meta
    fields = [
        (
            f.name,
            f.column,
            type(f).__name__,
            f.null,
            f.blank,
            f.unique,
            f.primary_key,
            getattr(f, "max_length", None),
            str(f.verbose_name),
            str(f.help_text),
            [(str(value), str(label)) for value, label in f.flatchoices] if f.choices else [],
            f.related_model._meta.label if f.related_model else None,
            _default(f),
        )
        for f in [*meta.concrete_fields, *meta.many_to_many]
    ]
    parts = (
        meta.label,
        meta.db_table,
        str(meta.verbose_name),
        str(meta.verbose_name_plural),
        model.__doc__ or "",
        fields,
        repr(getattr(model, "progress", None)),
        # Checks, declarations and examples: the source of every module of its classes.
        sorted({_module_fingerprint(cls.__module__) for cls in model.__mro__}),
    )
    return _ADDRESS.sub("", repr(parts))


def _default(f) -> str:
    if not f.has_default():
        return ""
    default = f.default
    return getattr(default, "__qualname__", None) or repr(default)


def visibility_signature(view, model) -> str:
    """The columns and the SQL of the rows of ``model`` that ``view`` sees; where that
    SQL may select other rows with no table changing (:func:`untracked_rows`), the
    rows it selects now too."""
    if view is None:
        return ""
    if not model._meta.auto_created and not view.sees_model(model):
        return "hidden"
    columns = [f.name for f in view.visible_fields(model)] if not model._meta.auto_created else []
    queryset = model._default_manager.all() if model._meta.auto_created else view.queryset(model)
    try:
        sql, params = queryset.query.sql_with_params()
    except Exception as error:  # EmptyResultSet: no row can match
        sql, params = type(error).__name__, ()
    selected = _keys_digest(queryset) if untracked_rows(sql, params) else ""
    return _ADDRESS.sub("", repr((columns, sql, [repr(p) for p in params], selected)))


#: The words Django writes in the SQL of an ORM query (keywords, types, the functions of
#: lookups and of django.db.models.functions that give the same answer for the same
#: rows; aliases like U0 aside). Any other bare word came from SQL the ORM did not write.
_ORM_WORDS = """SELECT FROM WHERE AND OR NOT IN IS NULL AS INNER LEFT RIGHT OUTER FULL CROSS JOIN
    ON EXISTS LIMIT OFFSET ORDER BY ASC DESC NULLS FIRST LAST GROUP HAVING DISTINCT LIKE
    ILIKE GLOB REGEXP ESCAPE BETWEEN CASE WHEN THEN ELSE END CAST TRUE FALSE UNION ALL
    INTERSECT EXCEPT COLLATE ANY SOME AT TIME ZONE INTERVAL INTEGER INT BIGINT SMALLINT
    NUMERIC DECIMAL REAL FLOAT DOUBLE PRECISION TEXT VARCHAR CHAR BOOLEAN BOOL DATE
    TIMESTAMP TIMESTAMPTZ WITH WITHOUT JSON JSONB BYTEA BLOB UUID COALESCE NULLIF UPPER
    LOWER LENGTH CHAR_LENGTH SUBSTR SUBSTRING TRIM LTRIM RTRIM REPLACE CONCAT CONCAT_WS
    ABS ROUND CEIL CEILING FLOOR MOD POWER SQRT GREATEST LEAST MAX MIN COUNT SUM AVG
    INSTR STRPOS REVERSE LPAD RPAD REPEAT EXTRACT DATE_TRUNC JSON_EXTRACT
    JSON_TYPE HAS_KEY"""
ORM_WORDS = frozenset(_ORM_WORDS.split())
#: Functions of Django's SQLite backend, deterministic for the same arguments.
_DJANGO_SQLITE = re.compile(r"django_\w+")
_ALIAS = re.compile(r"[A-Z]\d+")
_QUOTED_NAME = re.compile(r'"(?:[^"]|"")*"')
_TEXT = re.compile(r"'(?:[^']|'')*'")
_WORD = re.compile(r"\b[A-Za-z_][\w$]*")
#: Calls that read the clock when given no time (SQLite's ``date()``, ``strftime(f)``):
#: the types of the same names (``CAST(x AS DATE)``) are no calls.
_CLOCK_CALL = re.compile(r"\b(?:DATE|TIME|DATETIME|TIMESTAMP|JULIANDAY|UNIXEPOCH)\s*\(", re.I)
#: Texts a database reads as a time that depends on the clock (PostgreSQL's special
#: date and time inputs, SQLite's time value).
_CLOCK_TEXTS = frozenset({"now", "today", "tomorrow", "yesterday"})


def untracked_rows(sql: str, params) -> bool:
    """Whether the rows a query selects may change while no table's content does: it
    reads the clock (``Now()``: SQLite's ``'now'``, PostgreSQL's
    ``STATEMENT_TIMESTAMP()``; SQLite's ``date()`` and ``strftime(f)`` without a time;
    PostgreSQL's ``'today'``) or a random source, or holds SQL the ORM did not write
    (``RawSQL``, ``extra()``), whose tables the change log cannot be asked about. Any
    word this cannot place counts: a key it makes needlessly costs a query, a key it
    misses publishes rows an audience no longer sees."""
    texts = [text[1:-1].replace("''", "'") for text in _TEXT.findall(sql)]
    texts += [p for p in params if isinstance(p, str)]
    if any(text.strip().lower() in _CLOCK_TEXTS for text in texts):
        return True
    bare = _TEXT.sub(" ", _QUOTED_NAME.sub(" ", sql)).replace("%s", " ")
    return bool(_CLOCK_CALL.search(bare)) or any(
        word.upper() not in ORM_WORDS
        and not _ALIAS.fullmatch(word)
        and not _DJANGO_SQLITE.fullmatch(word)
        for word in _WORD.findall(bare)
    )


def _keys_digest(queryset) -> str:
    """A digest of the primary keys of the rows ``queryset`` selects."""
    digest = hashlib.blake2b(digest_size=20)
    keys = queryset.order_by("pk").values_list("pk", flat=True)
    for key in keys.iterator(chunk_size=FETCH_ROWS):
        digest.update(f"{key}\n".encode())
    return digest.hexdigest()


def audience_signature(view) -> str:
    if view is None:
        return ""
    audience = view.audience
    return repr((audience.name, audience.default, audience.health))


@cache
def code_fingerprint() -> str:
    """espresso-static's version, sources and templates, and the library versions."""
    digest = hashlib.blake2b(digest_size=20)
    digest_update(digest, __version__)
    for name in LIBRARIES:
        digest_update(digest, f"{name}={_version(name)}")
    for package in CODE_PACKAGES:
        folder = Path(str(resources.files(package)))
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest_update(digest, f"{package}/{path.relative_to(folder).as_posix()}")
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


@cache
def _module_fingerprint(module_name: str) -> str:
    import sys

    module = sys.modules.get(module_name)
    source = getattr(module, "__file__", None)
    if not source or not Path(source).is_file():
        return module_name
    return hashlib.blake2b(Path(source).read_bytes(), digest_size=20).hexdigest()


def digest_update(digest, part) -> None:
    text = part if isinstance(part, str) else _ADDRESS.sub("", repr(part))
    digest.update(text.encode())
    digest.update(b"\0")
