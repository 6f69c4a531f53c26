"""Everything an ingest prepares once: the columns it writes and how, the SQL, the
defaults of new rows, and what each column accepts (type, NULL, length, range)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace

from django.db import connections, models
from django.db.backends.base.operations import BaseDatabaseOperations

from espresso_static.exceptions import EspressoStaticError

DEFAULT_BATCH_SIZE = 5_000
#: Python types a column's values may have to be passed to the driver unchanged
#: (``get_db_prep_save`` is the identity for them); other values are converted.
PASS_THROUGH_TYPES: tuple[tuple[type[models.Field], frozenset[type]], ...] = (
    (models.BooleanField, frozenset({bool, type(None)})),
    (models.IntegerField, frozenset({int, type(None)})),
    (models.AutoField, frozenset({int, type(None)})),
    (models.FloatField, frozenset({float, int, type(None)})),
    (models.CharField, frozenset({str, type(None)})),
    (models.TextField, frozenset({str, type(None)})),
)
#: What number and truth columns hold: a value that is not text (from JSON, Parquet or
#: Python rows) is checked against it, as the field's own int() and float() would turn
#: 24.5 into 24 and True into 1.
VALUE_KINDS: tuple[tuple[type[models.Field], str], ...] = (
    (models.BooleanField, "boolean"),
    (models.IntegerField, "integer"),
    (models.AutoField, "integer"),
    (models.FloatField, "number"),
    (models.DecimalField, "number"),
)


@dataclass
class Column:
    """A column the ingest writes."""

    field: models.Field
    attname: str
    #: Driver-ready value of one Python value (the field's ``get_db_prep_save``).
    prepare: Callable
    #: Types passed through unconverted; empty: always convert.
    pass_through: frozenset[type]
    #: Stored value -> Python value (Django's converters), to complete partial rows.
    from_db: Callable
    #: What the database accepts, checked before the model's checks run (SQLite would
    #: store a too long text, the driver raise on a too large integer).
    null: bool
    #: Text (CharField, TextField).
    is_text: bool
    max_length: int | None
    #: (lowest, highest) integer the field's type holds on PostgreSQL; None: not an
    #: integer column.
    int_range: tuple[int, int] | None
    #: Text or another Python value -> the field's Python value (``to_python``).
    to_python: Callable
    #: The stored values a field with ``choices`` allows (as its form would), else None.
    choices: frozenset | None
    #: "integer", "number" or "boolean" (see ``VALUE_KINDS``); None for other columns.
    value_kind: str | None = None


@dataclass
class Plan:
    """Everything about the model and the database prepared once per ingest."""

    model: type[models.Model]
    alias: str
    vendor: str
    key: tuple[str, ...]  # attnames
    #: Written columns, in the order of stored rows (after the id) and of the INSERT.
    columns: list[Column]
    last_modified: Column | None
    #: Values of a new instance before the row's values (defaults, current user).
    defaults: dict
    callable_defaults: list[tuple[str, Callable]]
    #: auto_now columns (besides last_modified): set to now on update unless given.
    auto_now: dict[str, Callable]
    required: frozenset[str]
    field_names: dict[str, models.Field]  # name or attname a row may use -> field
    foreign_keys: dict[str, models.ForeignKey]  # cache name -> field
    run_hooks: bool
    insert_sql: str
    update_sql: str
    max_lookup_params: int
    placeholder: str
    shapes: dict[tuple, RowShape] = field(default_factory=dict)

    def __post_init__(self):
        #: attname -> position in a stored row (the id first, then the written columns)
        self.stored_at = {c.attname: i + 1 for i, c in enumerate(self.columns)}
        self.by_attname = {c.attname: c for c in self.columns}
        self.key_names = {c.attname: c.field.name for c in self.columns}
        #: A row's key: the value for a one-column key, else a tuple.
        self.key_of = operator.itemgetter(*self.key)


@dataclass
class RowShape:
    """How to read rows with one particular tuple of names (cached: rows from one
    source all look alike)."""

    renamed: dict[str, str]  # given name -> attname, for foreign keys given by field name
    key_defaults: dict  # key columns the row leaves out that have a static default
    missing: tuple[str, ...]  # written attnames the row does not give
    missing_required: tuple[str, ...]  # ... of which a new row cannot do without
    stamped: tuple[int, ...]  # positions in ``Plan.columns`` of auto_now columns left out


@dataclass
class Batch:
    """Consecutive rows read from the input, normalised, not yet written."""

    start: int  # index of the first row in the input
    values: list[dict] = field(default_factory=list)  # attname -> value, as given
    shapes: list[RowShape] = field(default_factory=list)
    keys: list = field(default_factory=list)


def make_plan(model, key: tuple[str, ...], alias: str) -> Plan:
    _refuse_unsupported(model)
    connection = connections[alias]
    connection.ensure_connection()
    opts = model._meta
    key_fields = [_field_named(model, name) for name in key]
    _require_unique(model, key_fields)
    last_modified = next(
        (
            f
            for f in opts.concrete_fields
            if f.name == "last_modified" and getattr(f, "auto_now", False)
        ),
        None,
    )
    written = [f for f in opts.concrete_fields if not f.primary_key and f is not last_modified]
    base = is_base(model)
    defaults, callable_defaults = _defaults(model, written, alias, base)
    if last_modified is not None:
        defaults[last_modified.attname] = None
    placeholder = "?" if connection.vendor == "sqlite" else "%s"
    quote = connection.ops.quote_name
    names = [quote(f.column) for f in written]
    if last_modified is not None:
        names.append(quote(last_modified.column))
    # Plain INSERT and UPDATE-by-id: the batch's lookup already told new rows from
    # stored ones (in this transaction), and SQLite runs INSERT ... ON CONFLICT
    # DO UPDATE three to four times slower than a plain INSERT.
    insert_sql = (
        f"INSERT INTO {quote(opts.db_table)} ({', '.join(names)}) "
        f"VALUES ({', '.join([placeholder] * len(names))})"
    )
    if connection.vendor == "postgresql":
        # Another ingest may insert the same key after our lookup (SQLite lets one
        # writer at a time in): upsert instead of failing on the unique key.
        conflict = ", ".join(quote(f.column) for f in key_fields)
        assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in names)
        insert_sql += f" ON CONFLICT ({conflict}) DO UPDATE SET {assignments}"
    update_sql = (
        f"UPDATE {quote(opts.db_table)} SET "
        f"{', '.join(f'{name} = {placeholder}' for name in names)} "
        f"WHERE {quote(opts.pk.column)} = {placeholder}"
    )
    return Plan(
        model=model,
        alias=alias,
        vendor=connection.vendor,
        key=tuple(f.attname for f in key_fields),
        columns=[_column(f, connection) for f in written],
        last_modified=_column(last_modified, connection) if last_modified else None,
        defaults=defaults,
        callable_defaults=callable_defaults,
        auto_now={f.attname: _now_of(f) for f in written if getattr(f, "auto_now", False)},
        required=frozenset(
            f.attname
            for f in written
            if not (f.null or f.has_default() or f.attname in defaults or _is_auto_time(f))
        ),
        field_names={**{f.name: f for f in written}, **{f.attname: f for f in written}},
        foreign_keys={f.cache_name: f for f in written if f.is_relation},
        run_hooks=base,
        insert_sql=insert_sql,
        update_sql=update_sql,
        max_lookup_params=_max_lookup_params(connection),
        placeholder=placeholder,
    )


def _refuse_unsupported(model) -> None:
    opts = model._meta
    if opts.abstract or opts.proxy:
        raise EspressoStaticError(
            f"Cannot ingest into {opts.label}: it is {'abstract' if opts.abstract else 'a proxy'}."
        )
    if opts.parents:
        parents = ", ".join(parent.__name__ for parent in opts.get_parent_list())
        raise EspressoStaticError(
            f"Cannot ingest into {opts.label}: its rows span several tables (multi-table "
            f"inheritance from {parents}); create them with get_or_create_from_parameters or save()."
        )


def _field_named(model, name: str) -> models.Field:
    try:
        found = model._meta.get_field(name)
    except Exception:
        found = next((f for f in model._meta.concrete_fields if f.attname == name), None)
    if found is None or not getattr(found, "concrete", False) or found.many_to_many:
        columns = ", ".join(f.name for f in model._meta.concrete_fields)
        raise EspressoStaticError(
            f"{model._meta.label} has no column {name!r} to key on; columns: {columns}."
        )
    return found


def _require_unique(model, key_fields: list) -> None:
    """ON CONFLICT needs a unique constraint on exactly the key columns."""
    wanted = {f.name for f in key_fields}
    opts = model._meta
    candidates = [{f.name} for f in opts.concrete_fields if f.unique]
    candidates += [set(together) for together in opts.unique_together]
    candidates += [
        set(constraint.fields)
        for constraint in opts.constraints
        if isinstance(constraint, models.UniqueConstraint)
        and constraint.fields
        and constraint.condition is None
    ]
    if wanted not in candidates:
        raise EspressoStaticError(
            f"Key ({', '.join(sorted(wanted))}) of {opts.label} is not a unique constraint; "
            "key on a unique field, a unique_together or a UniqueConstraint."
        )


def _column(model_field, connection) -> Column:
    target = target_field(model_field)
    pass_through = next(
        (types for kind, types in PASS_THROUGH_TYPES if isinstance(target, kind)),
        frozenset(),
    )
    prepare = _fast_datetime(connection) if _is_plain_datetime(model_field, connection) else None
    if prepare is None:

        def prepare(value, _field=model_field):
            return _field.get_db_prep_save(value, connection)

    is_text = isinstance(target, models.CharField | models.TextField)
    int_range = None
    if isinstance(target, models.IntegerField | models.AutoField):
        # The range of the field's type whatever the database (PostgreSQL's): SQLite
        # stores any 64-bit integer, and a sync tried on it would fail on PostgreSQL. A
        # custom integer field may have an internal type with no known range.
        int_range = BaseDatabaseOperations.integer_field_ranges.get(target.get_internal_type())
    return Column(
        field=model_field,
        attname=model_field.attname,
        prepare=prepare,
        pass_through=pass_through,
        from_db=_from_db(model_field, connection),
        null=model_field.null,
        is_text=is_text,
        max_length=target.max_length if is_text else None,
        int_range=int_range,
        to_python=target.to_python,
        choices=_choice_values(model_field),
        value_kind=next((kind for cls, kind in VALUE_KINDS if isinstance(target, cls)), None),
    )


def _choice_values(model_field) -> frozenset | None:
    if not model_field.choices:
        return None
    try:
        return frozenset(value for value, _ in model_field.flatchoices)
    except TypeError:  # an unhashable choice (a JSON value): left to the model's checks
        return None


def target_field(model_field):
    """The field whose values a column holds (a foreign key holds its target's)."""
    return model_field.target_field if model_field.is_relation else model_field


def _is_plain_datetime(model_field, connection) -> bool:
    return (
        connection.vendor == "sqlite"
        and type(model_field) is models.DateTimeField
        and connection.timezone == UTC
    )


def _fast_datetime(connection) -> Callable:
    """SQLite's storage of an aware datetime (Django's ``adapt_datetimefield_value``
    for a UTC connection), without its per-value overhead; others go through Django."""
    slow = connection.ops.adapt_datetimefield_value

    def prepare(value):
        if type(value) is datetime and value.tzinfo is not None:
            if value.tzinfo is not UTC:
                value = value.astimezone(UTC)
            return str(value.replace(tzinfo=None))
        return slow(value)

    return prepare


def _from_db(model_field, connection) -> Callable:
    column = model_field.get_col(model_field.model._meta.db_table)
    converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)

    def convert(value):
        for converter in converters:
            value = converter(value, column, connection)
        return value

    return convert


def is_base(model) -> bool:
    from espresso_static.models import Base

    return issubclass(model, Base)


def _defaults(model, written, alias: str, base: bool) -> tuple[dict, list]:
    """Values of a new row before the given ones: static defaults once, callables per row."""
    static = {model._meta.pk.attname: None}
    per_row = []
    for model_field in written:
        if _is_auto_time(model_field):
            per_row.append((model_field.attname, _now_of(model_field)))
        elif model_field.has_default() and callable(model_field.default):
            per_row.append((model_field.attname, model_field.get_default))
        elif model_field.has_default() or model_field.null:
            static[model_field.attname] = model_field.get_default()
    if base:
        from espresso_static.models.parameters import current_user

        static["user_id"] = current_user(alias).pk
    return static, per_row


def _is_auto_time(model_field) -> bool:
    """A date or time field Django sets itself on save (``auto_now``, ``auto_now_add``)."""
    return getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False)


def _now_of(model_field) -> Callable:
    """The value ``save()`` gives the auto_now(_add) ``model_field``: its own ``pre_save``
    (the current date, time or aware datetime), on a stand-in for the instance."""
    return lambda: model_field.pre_save(SimpleNamespace(), add=True)


def _max_lookup_params(connection) -> int:
    if connection.vendor == "sqlite":
        import sqlite3

        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - 1
    return 30_000  # well below PostgreSQL's 65,535 parameters per statement
