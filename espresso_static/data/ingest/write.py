"""Writing: the ingest's transaction, batch by batch — existing rows looked up, model
instances built for the checks without ``Model.__init__``, new rows inserted and
changed rows updated through the driver's ``executemany``."""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import connections, models, router, transaction
from django.db.models.base import ModelState
from django.utils import timezone

from espresso_static.data.ingest.errors import RowConsistencyError
from espresso_static.data.ingest.plan import (
    DEFAULT_BATCH_SIZE,
    Batch,
    Column,
    Plan,
    is_base,
    make_plan,
)
from espresso_static.data.ingest.rows import batches, check_batch, row_error
from espresso_static.exceptions import ConsistencyError, EspressoStaticError


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
    Everything happens in one transaction and nothing is written when a row fails:
    a value the column cannot hold (wrong type, empty but required, too long, out of
    range, pointing to no row) or a key given twice raises :class:`RowError` before
    the model's checks run; a failing ``pre_save`` or ``check_consistency``,
    :class:`RowConsistencyError`. Both name the row (``row_index``, 0-based) and the
    column. ``progress(n)`` is called after each batch of ``n`` rows (the command line
    draws a progress bar with it).

    Multi-table-inheritance children (a model stored in several tables, e.g. a
    subclass of a concrete model) are refused with a :class:`EspressoStaticError`:
    create those rows with ``get_or_create_from_parameters`` or ``save()``.
    """
    started = time.perf_counter()
    alias = using or router.db_for_write(model)
    counts = [0, 0, 0]
    first_rows: dict = {}  # key -> its row: a key given twice is refused
    advance = progress or _ignore
    with transaction.atomic(using=alias):
        plan = make_plan(model, tuple(key), alias)
        cursor = connections[alias].connection.cursor()
        for batch in batches(plan, rows, max(1, batch_size)):
            check_batch(plan, batch, first_rows)
            for position, count in enumerate(_write_batch(plan, cursor, batch)):
                counts[position] += count
            advance(len(batch.values))
    return IngestReport(model._meta.label, *counts, time.perf_counter() - started)


def _write_batch(plan: Plan, cursor, batch: Batch) -> tuple[int, int, int]:
    """Check every row of ``batch``, insert the new ones and update the changed ones;
    returns (inserted, updated, unchanged)."""
    existing = _existing_rows(plan, cursor, batch.keys)
    stored = [existing.get(row_key) for row_key in batch.keys]
    related = BatchRelated(plan)
    instances = [
        _instance(plan, batch, position, row, related) for position, row in enumerate(stored)
    ]
    related.instances = instances
    if plan.run_hooks:
        _run_hooks(plan, batch, instances)
    params = _driver_values(plan, batch, instances)
    new = [row for row, was in zip(params, stored, strict=True) if was is None]
    changed = [
        (_stamped(plan, batch.shapes[position].stamped, row), was[0])
        for position, (row, was) in enumerate(zip(params, stored, strict=True))
        if was is not None and row != was[1:]
    ]
    stamp = (plan.last_modified.prepare(timezone.now()),) if plan.last_modified else ()
    with connections[plan.alias].wrap_database_errors:
        if new:
            cursor.executemany(plan.insert_sql, [(*row, *stamp) for row in new] if stamp else new)
        if changed:
            cursor.executemany(plan.update_sql, [(*row, *stamp, pk) for row, pk in changed])
    return len(new), len(changed), len(params) - len(new) - len(changed)


def _stamped(plan: Plan, positions: tuple[int, ...], row: tuple) -> tuple:
    """``row`` with the auto_now columns it left out set to now, as ``save()`` does
    (they kept their stored values until the row was found changed)."""
    if not positions:
        return row
    values = list(row)
    for position in positions:
        column = plan.columns[position]
        values[position] = column.prepare(plan.auto_now[column.attname]())
    return tuple(values)


def _existing_rows(plan: Plan, cursor, keys: list) -> dict:
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


def _prepared_keys(plan: Plan, keys: list) -> list:
    """The keys as the driver receives (and returns) them."""
    if len(plan.key) == 1:
        return list(_prepared_column(plan.by_attname[plan.key[0]], keys))
    per_column = [
        _prepared_column(plan.by_attname[attname], values)
        for attname, values in zip(plan.key, zip(*keys, strict=True), strict=True)
    ]
    return list(zip(*per_column, strict=True))


def _select_sql(plan: Plan, count: int) -> str:
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
    plan: Plan, batch: Batch, position: int, stored: tuple | None, related: BatchRelated
) -> models.Model:
    """A model instance with every column loaded (no lazy loading in the checks),
    built without ``Model.__init__`` as ``Model.from_db`` would see it."""
    instance = plan.model.__new__(plan.model)
    state = _IngestState()
    state.db = plan.alias
    state.instance = instance
    state.related = related
    if stored is None:
        missing = batch.shapes[position].missing_required
        if missing:
            raise row_error(
                plan,
                batch,
                position,
                "is new and has no value for "
                + ("these required columns" if len(missing) > 1 else "this required column"),
                ", ".join(plan.key_names.get(attname, attname) for attname in missing),
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


def _run_hooks(plan: Plan, batch: Batch, instances: list) -> None:
    """``pre_save`` and ``check_consistency`` of every instance."""
    for position, instance in enumerate(instances):
        try:
            instance.run_save_hooks()
        except Exception as error:
            cause = error.error if isinstance(error, ConsistencyError) else error  # else pre_save
            raise RowConsistencyError(
                cause, instance, batch.start + position, _key_dict(plan, batch, position)
            ) from error


def _key_dict(plan: Plan, batch: Batch, position: int) -> dict:
    row_key = batch.keys[position]
    values = (row_key,) if len(plan.key) == 1 else row_key
    return {plan.key_names[a]: v for a, v in zip(plan.key, values, strict=True)}


def _driver_values(plan: Plan, batch: Batch, instances: list) -> list[tuple]:
    """Rows of driver-ready values, in the order of ``plan.columns``; converted
    column by column, and only where a value's type needs it."""
    take = operator.itemgetter(*(c.attname for c in plan.columns))
    columns = zip(*[take(instance.__dict__) for instance in instances], strict=True)
    converted = [
        _prepared_values(plan, batch, column, values)
        for column, values in zip(plan.columns, columns, strict=True)
    ]
    return list(zip(*converted, strict=True))


def _prepared_values(plan: Plan, batch: Batch, column: Column, values) -> tuple | list:
    """:func:`_prepared_column`; a value the field cannot convert names its row."""
    try:
        return _prepared_column(column, values)
    except Exception:
        for position, value in enumerate(values):
            try:
                column.prepare(value)
            except Exception as error:
                reason = " ".join(getattr(error, "messages", None) or [str(error)])
                raise row_error(plan, batch, position, reason, column) from error
        raise


def _prepared_column(column: Column, values) -> tuple | list:
    if column.pass_through and column.pass_through.issuperset(map(type, values)):
        return values
    return [column.prepare(value) for value in values]


class _RelatedRows(dict):
    """``_state.fields_cache`` of an ingested instance: a foreign key the checks
    follow is looked up in rows loaded once per batch, not with a query per row."""

    __slots__ = ("instance", "related")

    def __init__(self, instance, related: BatchRelated):
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


class BatchRelated:
    """The rows the foreign keys of one batch point to, loaded on first use."""

    def __init__(self, plan: Plan):
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
    if len(matches) == 1:
        return matches[0]
    if matches:  # the same class name in several apps: only these are meant
        candidates = ", ".join(sorted(m._meta.label for m in matches))
        raise EspressoStaticError(f"Ambiguous model {name!r}; use one of: {candidates}.")
    known = ", ".join(sorted(m._meta.label for m in apps.get_models() if is_base(m)))
    raise EspressoStaticError(f"Unknown model {name!r}; use app_label.Model, one of: {known}.")


def _ignore(rows: int) -> None:
    return None
