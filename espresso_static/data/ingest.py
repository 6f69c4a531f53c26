"""Checked bulk ingest: many rows into one table, with the model's checks, near the
speed of the database driver.

``ingest(DataFile, rows, key=("file_name",))`` reads any iterable of dicts batch by
batch (never all rows in memory), runs ``pre_save`` and ``check_consistency`` on a
real model instance for every row (the same methods ``save()`` runs, honouring
``run_pre_save``/``run_checks``), then inserts new rows, updates changed rows and
leaves identical rows untouched (their ``last_modified`` stays), keyed on ``key``.

Why it is fast: Django's per-object machinery (``Model.__init__``, signals,
``save()``) costs far more than the checks themselves. Here an instance is a bare
object whose ``__dict__`` is filled directly, as ``Model.from_db`` does; values are
converted with the fields' ``get_db_prep_save`` only for columns whose Python types
need it (checked column-wise per batch); existing rows are read with one query per
batch, and writes go through the driver's ``executemany``: plain ``INSERT`` for new
rows and ``UPDATE`` by id for changed ones (on PostgreSQL the ``INSERT`` is an
``ON CONFLICT (key) DO UPDATE`` upsert, so concurrent ingests of the same keys
merge instead of failing).

Semantics, in short:

* A row gives column values by field name (``ensemble``: a primary key or an
  instance) or column attribute (``ensemble_id``). Columns a row leaves out keep
  their stored values on existing rows and take their defaults on new ones.
* Key columns must be given in every row; ``key`` must be a unique constraint.
* All or nothing: everything runs in one transaction; the first failing row raises
  :class:`RowConsistencyError` (index, key values, the check's message) and nothing
  is committed.
* ``last_modified`` is set to the time of writing on inserted and updated rows,
  ``user`` to the current database user on new rows (as ``save()`` does).
* Like ``bulk_create``, no ``pre_save``/``post_save`` signals are sent (the checks
  run directly). Multi-table-inheritance children are refused (see
  :func:`ingest`). Values are compared as the database stores them, so a JSON or
  decimal column may count as updated although its value did not change.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connections, models, router, transaction
from django.db.models.base import ModelState
from django.utils import timezone

from espresso_static.exceptions import ConsistencyError, EspressoStaticError

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


@dataclass(frozen=True)
class IngestReport:
    """What an :func:`ingest` did."""

    model: str
    inserted: int
    updated: int
    unchanged: int
    seconds: float

    @property
    def rows(self) -> int:
        return self.inserted + self.updated + self.unchanged

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")

    def __str__(self) -> str:
        return (
            f"{self.model}: {self.inserted:,} inserted, {self.updated:,} updated, "
            f"{self.unchanged:,} unchanged in {self.seconds:.1f} s "
            f"({self.rows_per_second:,.0f} rows/s)"
        )


class RowConsistencyError(ConsistencyError):
    """A row's ``pre_save`` or ``check_consistency`` failed during :func:`ingest`."""

    def __init__(self, error: Exception, instance, row_index: int, key: dict):
        super().__init__(error, instance)
        self.row_index = row_index
        self.key = key
        where = ", ".join(f"{name}={value!r}" for name, value in key.items())
        self.full_message = f"Row {row_index} ({where}): {self.full_message}"
        self.message = self.full_message

    @property
    def one_line(self) -> str:
        """The message without the dump of checked values (for the command line)."""
        return self.full_message.splitlines()[0]


@dataclass
class _Column:
    """A column the ingest writes."""

    field: models.Field
    attname: str
    #: Driver-ready value of one Python value (the field's ``get_db_prep_save``).
    prepare: Callable
    #: Types passed through unconverted; empty: always convert.
    pass_through: frozenset[type]
    #: Stored value -> Python value (Django's converters), to complete partial rows.
    from_db: Callable


@dataclass
class _Plan:
    """Everything about the model and the database prepared once per ingest."""

    model: type[models.Model]
    alias: str
    vendor: str
    key: tuple[str, ...]  # attnames
    #: Written columns, in the order of stored rows (after the id) and of the INSERT.
    columns: list[_Column]
    last_modified: _Column | None
    #: Values of a new instance before the row's values (defaults, current user).
    defaults: dict
    callable_defaults: list[tuple[str, Callable]]
    required: frozenset[str]
    field_names: dict[str, models.Field]  # name or attname a row may use -> field
    foreign_keys: dict[str, models.ForeignKey]  # cache name -> field
    run_hooks: bool
    insert_sql: str
    update_sql: str
    max_lookup_params: int
    placeholder: str
    shapes: dict[tuple, _RowShape] = field(default_factory=dict)

    def __post_init__(self):
        #: attname -> position in a stored row (the id first, then the written columns)
        self.stored_at = {c.attname: i + 1 for i, c in enumerate(self.columns)}
        self.by_attname = {c.attname: c for c in self.columns}
        self.key_names = {c.attname: c.field.name for c in self.columns}
        #: A row's key: the value for a one-column key, else a tuple.
        self.key_of = operator.itemgetter(*self.key)


@dataclass
class _RowShape:
    """How to read rows with one particular tuple of names (cached: rows from one
    source all look alike)."""

    renamed: dict[str, str]  # given name -> attname, for foreign keys given by field name
    key_defaults: dict  # key columns the row leaves out that have a static default
    missing: tuple[str, ...]  # written attnames the row does not give
    missing_required: tuple[str, ...]  # ... of which a new row cannot do without


@dataclass
class _Batch:
    """Consecutive rows read from the input, normalised, not yet written."""

    start: int  # index of the first row in the input
    values: list[dict] = field(default_factory=list)  # attname -> value, as given
    shapes: list[_RowShape] = field(default_factory=list)
    keys: list = field(default_factory=list)


def ingest(
    model: type[models.Model],
    rows: Iterable[dict],
    key: Iterable[str],
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    using: str | None = None,
) -> IngestReport:
    """Insert new rows, update changed rows and leave identical rows of ``model``
    alone, matching rows on ``key`` (field names forming a unique constraint), with
    the model's ``pre_save`` and ``check_consistency`` run on every row.

    ``rows`` is any iterable of dicts and is read ``batch_size`` rows at a time.
    Everything happens in one transaction; a failing row raises
    :class:`RowConsistencyError` and nothing is written. ``progress(n)`` is called
    after each batch of ``n`` rows (the command line draws a progress bar with it).

    Multi-table-inheritance children (a model stored in several tables, e.g. a
    subclass of a concrete model) are refused with a :class:`EspressoStaticError`:
    create those rows with ``get_or_create_from_parameters`` or ``save()``.
    """
    started = time.perf_counter()
    alias = using or router.db_for_write(model)
    counts = [0, 0, 0]
    advance = progress or _ignore
    with transaction.atomic(using=alias):
        plan = _make_plan(model, tuple(key), alias)
        cursor = connections[alias].connection.cursor()
        for batch in _batches(plan, rows, max(1, batch_size)):
            for position, count in enumerate(_write_batch(plan, cursor, batch)):
                counts[position] += count
            advance(len(batch.values))
    return IngestReport(model._meta.label, *counts, time.perf_counter() - started)


# -- planning ----------------------------------------------------------------------------


def _make_plan(model, key: tuple[str, ...], alias: str) -> _Plan:
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
    is_base = _is_base(model)
    defaults, callable_defaults = _defaults(model, written, alias, is_base)
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
    return _Plan(
        model=model,
        alias=alias,
        vendor=connection.vendor,
        key=tuple(f.attname for f in key_fields),
        columns=[_column(f, connection) for f in written],
        last_modified=_column(last_modified, connection) if last_modified else None,
        defaults=defaults,
        callable_defaults=callable_defaults,
        required=frozenset(
            f.attname for f in written if not (f.null or f.has_default() or f.attname in defaults)
        ),
        field_names={**{f.name: f for f in written}, **{f.attname: f for f in written}},
        foreign_keys={f.cache_name: f for f in written if f.is_relation},
        run_hooks=is_base,
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


def _column(model_field, connection) -> _Column:
    pass_through = next(
        (types for kind, types in PASS_THROUGH_TYPES if isinstance(_target(model_field), kind)),
        frozenset(),
    )
    prepare = _fast_datetime(connection) if _is_plain_datetime(model_field, connection) else None
    if prepare is None:

        def prepare(value, _field=model_field):
            return _field.get_db_prep_save(value, connection)

    return _Column(
        model_field, model_field.attname, prepare, pass_through, _from_db(model_field, connection)
    )


def _target(model_field):
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


def _is_base(model) -> bool:
    from espresso_static.models import Base

    return issubclass(model, Base)


def _defaults(model, written, alias: str, is_base: bool) -> tuple[dict, list]:
    """Values of a new row before the given ones: static defaults once, callables per row."""
    static = {model._meta.pk.attname: None}
    per_row = []
    for model_field in written:
        if model_field.has_default() and callable(model_field.default):
            per_row.append((model_field.attname, model_field.get_default))
        elif model_field.has_default() or model_field.null:
            static[model_field.attname] = model_field.get_default()
    if is_base:
        from espresso_static.models.parameters import current_user

        static["user_id"] = current_user(alias).pk
    return static, per_row


def _max_lookup_params(connection) -> int:
    if connection.vendor == "sqlite":
        import sqlite3

        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - 1
    return 30_000  # well below PostgreSQL's 65,535 parameters per statement


# -- reading rows --------------------------------------------------------------------------


def _batches(plan: _Plan, rows: Iterable[dict], batch_size: int) -> Iterator[_Batch]:
    """Batches of normalised rows; a key seen twice starts a new batch so that the
    later row is written after (and compared with) the earlier one."""
    key_of, shapes = plan.key_of, plan.shapes
    batch = _Batch(0)
    seen: set = set()
    for index, row in enumerate(rows):
        shape = shapes.get(names := tuple(row))
        if shape is None:
            shape = shapes[names] = _shape_of(plan, names, index)
        values = _renamed(shape, row) if shape.renamed or shape.key_defaults else row
        row_key = key_of(values)
        if row_key in seen or len(seen) >= batch_size:
            yield batch
            batch, seen = _Batch(index), set()
        batch.values.append(values)
        batch.shapes.append(shape)
        batch.keys.append(row_key)
        seen.add(row_key)
    if batch.values:
        yield batch


def _renamed(shape: _RowShape, row: dict) -> dict:
    """The row keyed by attnames, foreign keys given as instances replaced by their
    keys, key columns left out filled with their defaults."""
    values = {shape.renamed.get(name, name): value for name, value in row.items()}
    values.update(shape.key_defaults)
    for attname in shape.renamed.values():
        if isinstance(values[attname], models.Model):
            values[attname] = values[attname].pk
    return values


def _shape_of(plan: _Plan, names: tuple, index: int) -> _RowShape:
    renamed = {}
    for name in names:
        model_field = plan.field_names.get(name)
        if model_field is None:
            known = ", ".join(sorted({f.name for f in plan.field_names.values()}))
            raise EspressoStaticError(
                f"Row {index} of {plan.model._meta.label} has an unknown column {name!r}; "
                f"known columns: {known} (ids and last_modified are set by the ingest)."
            )
        if name != model_field.attname:
            renamed[name] = model_field.attname
    given = {renamed.get(name, name) for name in names}
    key_defaults = {a: plan.defaults[a] for a in plan.key if a not in given and a in plan.defaults}
    missing_key = [a for a in plan.key if a not in given and a not in key_defaults]
    if missing_key:
        raise EspressoStaticError(
            f"Row {index} of {plan.model._meta.label} has no value for the key column(s) "
            f"{', '.join(missing_key)}."
        )
    given.update(key_defaults)
    missing = tuple(c.attname for c in plan.columns if c.attname not in given)
    required = tuple(sorted(plan.required.intersection(missing)))
    return _RowShape(renamed, key_defaults, missing, required)


# -- writing a batch -----------------------------------------------------------------------


def _write_batch(plan: _Plan, cursor, batch: _Batch) -> tuple[int, int, int]:
    """Check every row of ``batch``, insert the new ones and update the changed ones;
    returns (inserted, updated, unchanged)."""
    existing = _existing_rows(plan, cursor, batch.keys)
    stored = [existing.get(row_key) for row_key in batch.keys]
    related = _BatchRelated(plan)
    instances = [
        _instance(plan, batch, position, row, related) for position, row in enumerate(stored)
    ]
    related.instances = instances
    if plan.run_hooks:
        _run_hooks(plan, batch, instances)
    params = _driver_values(plan, instances)
    new = [row for row, was in zip(params, stored, strict=True) if was is None]
    changed = [
        (row, was[0])
        for row, was in zip(params, stored, strict=True)
        if was is not None and row != was[1:]
    ]
    stamp = (plan.last_modified.prepare(timezone.now()),) if plan.last_modified else ()
    with connections[plan.alias].wrap_database_errors:
        if new:
            cursor.executemany(plan.insert_sql, [(*row, *stamp) for row in new] if stamp else new)
        if changed:
            cursor.executemany(plan.update_sql, [(*row, *stamp, pk) for row, pk in changed])
    return len(new), len(changed), len(params) - len(new) - len(changed)


def _existing_rows(plan: _Plan, cursor, keys: list) -> dict:
    """Stored rows with these keys: key -> (id, *written columns as stored)."""
    prepared = _prepared_keys(plan, keys)
    positions = [plan.stored_at[attname] for attname in plan.key]
    single = len(positions) == 1
    per_query = max(1, plan.max_lookup_params // len(positions))
    given_key = dict(zip(prepared, keys, strict=True))  # as stored -> as given
    found = {}
    with connections[plan.alias].wrap_database_errors:
        for start in range(0, len(prepared), per_query):
            chunk = prepared[start : start + per_query]
            cursor.execute(
                _select_sql(plan, len(chunk)), chunk if single else [v for k in chunk for v in k]
            )
            for row in cursor.fetchall():
                row_key = row[positions[0]] if single else tuple(row[i] for i in positions)
                found[given_key.get(row_key, row_key)] = row
    return found


def _prepared_keys(plan: _Plan, keys: list) -> list:
    """The keys as the driver receives (and returns) them."""
    if len(plan.key) == 1:
        return list(_prepared_column(plan.by_attname[plan.key[0]], keys))
    per_column = [
        _prepared_column(plan.by_attname[attname], values)
        for attname, values in zip(plan.key, zip(*keys, strict=True), strict=True)
    ]
    return list(zip(*per_column, strict=True))


def _select_sql(plan: _Plan, count: int) -> str:
    quote = connections[plan.alias].ops.quote_name
    opts = plan.model._meta
    names = [quote(opts.pk.column), *(quote(c.field.column) for c in plan.columns)]
    if plan.vendor == "sqlite":
        # Values as stored: an expression has no declared type, so the driver's
        # datetime/bool converters stay off and values compare as written.
        names = [f"+{name}" for name in names]
    key_names = [quote(plan.by_attname[a].field.column) for a in plan.key]
    if len(key_names) == 1:
        where = f"{key_names[0]} IN ({', '.join([plan.placeholder] * count)})"
    else:
        one = f"({', '.join([plan.placeholder] * len(key_names))})"
        where = f"({', '.join(key_names)}) IN (VALUES {', '.join([one] * count)})"
    return f"SELECT {', '.join(names)} FROM {quote(opts.db_table)} WHERE {where}"


def _instance(
    plan: _Plan, batch: _Batch, position: int, stored: tuple | None, related: _BatchRelated
) -> models.Model:
    """A model instance with every column loaded (no lazy loading in the checks),
    built without ``Model.__init__`` as ``Model.from_db`` would see it."""
    instance = plan.model.__new__(plan.model)
    state = _IngestState()
    state.db = plan.alias
    state.instance = instance
    state.related = related
    if stored is None:
        if batch.shapes[position].missing_required:
            raise EspressoStaticError(
                f"Row {batch.start + position} ({_describe_key(plan, batch, position)}) of "
                f"{plan.model._meta.label} is new and has no value for the required "
                f"column(s) {', '.join(batch.shapes[position].missing_required)}."
            )
        instance.__dict__ = {**plan.defaults, **batch.values[position], "_state": state}
        for attname, default in plan.callable_defaults:
            if attname not in batch.values[position]:
                instance.__dict__[attname] = default()
        return instance
    state.adding = False
    values = {plan.model._meta.pk.attname: stored[0]}
    for attname in batch.shapes[position].missing:
        values[attname] = plan.by_attname[attname].from_db(stored[plan.stored_at[attname]])
    if plan.last_modified is not None:
        # Set on write; not read back for the checks (parsing it would double the cost).
        values[plan.last_modified.attname] = None
    instance.__dict__ = {**values, **batch.values[position], "_state": state}
    return instance


def _run_hooks(plan: _Plan, batch: _Batch, instances: list) -> None:
    """``pre_save`` and ``check_consistency`` of every instance."""
    for position, instance in enumerate(instances):
        try:
            instance.run_save_hooks()
        except Exception as error:
            cause = error.error if isinstance(error, ConsistencyError) else error  # else pre_save
            raise RowConsistencyError(
                cause, instance, batch.start + position, _key_dict(plan, batch, position)
            ) from error


def _key_dict(plan: _Plan, batch: _Batch, position: int) -> dict:
    row_key = batch.keys[position]
    values = (row_key,) if len(plan.key) == 1 else row_key
    return {plan.key_names[a]: v for a, v in zip(plan.key, values, strict=True)}


def _describe_key(plan: _Plan, batch: _Batch, position: int) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in _key_dict(plan, batch, position).items())


def _driver_values(plan: _Plan, instances: list) -> list[tuple]:
    """Rows of driver-ready values, in the order of ``plan.columns``; converted
    column by column, and only where a value's type needs it."""
    take = operator.itemgetter(*(c.attname for c in plan.columns))
    columns = zip(*[take(instance.__dict__) for instance in instances], strict=True)
    converted = [
        _prepared_column(column, values)
        for column, values in zip(plan.columns, columns, strict=True)
    ]
    return list(zip(*converted, strict=True))


def _prepared_column(column: _Column, values) -> tuple | list:
    if column.pass_through and column.pass_through.issuperset(map(type, values)):
        return values
    return [column.prepare(value) for value in values]


class _RelatedRows(dict):
    """``_state.fields_cache`` of an ingested instance: a foreign key the checks
    follow is looked up in rows loaded once per batch, not with a query per row."""

    __slots__ = ("instance", "related")

    def __init__(self, instance, related: _BatchRelated):
        super().__init__()
        self.instance = instance
        self.related = related

    def __missing__(self, cache_name: str):
        row = self.related.get(cache_name, self.instance)
        self[cache_name] = row
        return row


class _RelatedRowsOnFirstUse:
    """Creates the ``_RelatedRows`` of a state the first time Django looks at it
    (most checks never follow a foreign key: no cost for them)."""

    def __get__(self, state, owner=None):
        if state is None:
            return self
        rows = state.__dict__["fields_cache"] = _RelatedRows(state.instance, state.related)
        return rows


class _IngestState(ModelState):
    """``_state`` of an ingested instance: knows its instance and batch for lookups."""

    fields_cache = _RelatedRowsOnFirstUse()


class _BatchRelated:
    """The rows the foreign keys of one batch point to, loaded on first use."""

    def __init__(self, plan: _Plan):
        self.plan = plan
        self.instances: list = []
        self.loaded: dict[str, dict] = {}

    def get(self, cache_name: str, instance):
        foreign_key = self.plan.foreign_keys.get(cache_name)
        if foreign_key is None:
            raise KeyError(cache_name)
        target = instance.__dict__.get(foreign_key.attname)
        if target is None:
            return None
        rows = self.loaded.get(cache_name)
        if rows is None:
            rows = self.loaded[cache_name] = self._load(foreign_key)
        try:
            return rows[target]
        except KeyError:
            related = foreign_key.related_model
            raise related.DoesNotExist(
                f"{related._meta.label} with {foreign_key.target_field.name}={target!r} does not exist."
            ) from None

    def _load(self, foreign_key) -> dict:
        wanted = {i.__dict__.get(foreign_key.attname) for i in self.instances} - {None}
        manager = foreign_key.related_model._base_manager.using(self.plan.alias)
        return manager.in_bulk(wanted, field_name=foreign_key.target_field.name)


def find_model(name: str) -> type[models.Model]:
    """The model named ``app_label.Model`` or, when unambiguous, ``Model``."""
    from django.apps import apps

    matches = [
        model
        for model in apps.get_models()
        if name.lower() in (model._meta.label_lower, model.__name__.lower())
    ]
    if len(matches) != 1:
        known = ", ".join(sorted(m._meta.label for m in apps.get_models() if _is_base(m)))
        what = "Ambiguous" if matches else "Unknown"
        raise EspressoStaticError(f"{what} model {name!r}; use app_label.Model, one of: {known}.")
    return matches[0]


# -- reading files (the command line) -------------------------------------------------------

FILE_FORMATS = ("csv", "jsonl", "parquet")


def read_file(path, model: type[models.Model], file_format: str | None = None) -> Iterator[dict]:
    """Stream the rows of a CSV, JSON Lines or Parquet file as dicts of Python values
    for ``model`` (text from CSV/JSON converted with each field's ``to_python``; an
    empty CSV cell is NULL except in text columns)."""
    from pathlib import Path

    path = Path(path)
    file_format = file_format or path.suffix.lower().lstrip(".")
    readers = {
        "csv": _csv_rows,
        "jsonl": _jsonl_rows,
        "ndjson": _jsonl_rows,
        "parquet": _parquet_rows,
    }
    if file_format not in readers:
        raise EspressoStaticError(
            f"Cannot tell the format of {path.name}: use a .csv, .jsonl or .parquet file "
            "(or --format)."
        )
    return _typed(model, readers[file_format](path))


def _csv_rows(path) -> Iterator[dict]:
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def _jsonl_rows(path) -> Iterator[dict]:
    import json

    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise EspressoStaticError(
                        f"{path}: line {number} is not JSON: {error}"
                    ) from None


def _parquet_rows(path) -> Iterator[dict]:
    import pyarrow.parquet as parquet

    for record_batch in parquet.ParquetFile(path).iter_batches(batch_size=DEFAULT_BATCH_SIZE):
        yield from record_batch.to_pylist()


def _typed(model, rows: Iterable[dict]) -> Iterator[dict]:
    """Rows with text values turned into the Python values of their fields."""
    converters: dict[str, Callable | None] = {}
    for row in rows:
        for name, value in row.items():
            if type(value) is not str:
                continue
            if name not in converters:
                converters[name] = _text_converter(model, name)
            if converters[name] is not None:
                row[name] = converters[name](value)
        yield row


def _text_converter(model, name: str) -> Callable | None:
    """Text -> value for the column ``name`` (None: keep the text)."""
    model_field = next(
        (f for f in model._meta.concrete_fields if name in (f.name, f.attname)), None
    )
    if model_field is None or isinstance(
        _target(model_field), (models.CharField, models.TextField)
    ):
        return None
    target = _target(model_field)

    def convert(text: str):
        return None if text == "" else target.to_python(text)

    return convert


def _ignore(rows: int) -> None:
    return None
