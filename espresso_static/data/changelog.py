"""The change log: which rows of which table changed, kept by the database itself.

``espresso-static migrate`` (after the apps' migrations) puts triggers on every table
of the installed apps, on SQLite and PostgreSQL. Each inserted, updated or deleted row
appends one row to ``espresso_static_change`` (:class:`~espresso_static.models.Change`)
whoever writes it — the ORM, ``bulk_create``, ``QuerySet.update``, an ingest or raw
SQL — with its primary key and, for tables with a progress declaration, the status
before the change (many-to-many tables: the owner's id before). A table whose
triggers were missing (new, or remade by a migration) gets an ``R`` (reset) row when
they are installed: before it, anything may have changed. So does a PostgreSQL
``TRUNCATE`` (it fires no row trigger).

``build-site`` reads the log instead of every row: a table's *fingerprint* is a
digest of its log rows (one indexed query), and an output stores the
:func:`current_mark` it was computed at and redoes only the rows
:func:`changes_since` that mark names. A table without triggers is read whole, as
before. On SQLite writers are serialised, so log ids grow in commit order and a mark
is the highest id a read saw; on PostgreSQL ids are not committed in order, so a
mark is the reader's snapshot and "since" means "written by a transaction that
snapshot did not see". A restored backup rewinds the log and new writes reuse its ids:
each log row holds a random number the database draws, and a mark, like a fingerprint,
names its last row's, so that log is not taken for the one the mark read.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connections

LOG_TABLE = "espresso_static_change"
#: Trigger names: SQLite ``es_change_<i|u|d>_<table>``; PostgreSQL ``es_change`` on each table
#: (its rows) and ``es_change_truncate`` (TRUNCATE, which fires no row trigger).
TRIGGER = "es_change"
TRUNCATE_TRIGGER = f"{TRIGGER}_truncate"
PG_FUNCTION = "espresso_static_log_change"
#: The ``table`` of the row naming the log itself (its identity, written once).
IDENTITY_TABLE = ""
#: ``kind`` of the rows pruning leaves (:mod:`espresso_static.data.logprune`): with
#: ``table`` "" the point up to which rows were removed; with a table's name
#: ``count:sum:highest id:newest`` of that table's removed rows — the first three keep
#: its fingerprint as it was, the last (a :func:`mark_point`: SQLite the highest id,
#: PostgreSQL the highest txid) tells which marks its removed rows were written after.
PRUNED = "P"
#: Before a mark's witness: the id and random number of its last row (:func:`_witness_kept`).
WITNESS = "#"
#: The condition of the partial index on the rows of kind PRUNED (migration 0006).
PRUNED_CONDITION = f"kind = '{PRUNED}'"

_PG_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  new_row jsonb;
  old_row jsonb;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    -- Every row may be gone, none logged: as when the log restarts.
    INSERT INTO {LOG_TABLE} ("table", kind, txid) VALUES (TG_TABLE_NAME, 'R', txid_current());
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO {LOG_TABLE} ("table", "row", kind, txid)
    VALUES (TG_TABLE_NAME, to_jsonb(NEW) ->> TG_ARGV[0], 'I', txid_current());
  ELSIF TG_OP = 'UPDATE' THEN
    new_row := to_jsonb(NEW);
    old_row := to_jsonb(OLD);
    INSERT INTO {LOG_TABLE} ("table", "row", kind, before, txid)
    VALUES (TG_TABLE_NAME, new_row ->> TG_ARGV[0], 'U', old_row ->> TG_ARGV[1], txid_current());
    IF new_row ->> TG_ARGV[0] IS DISTINCT FROM old_row ->> TG_ARGV[0] THEN
      INSERT INTO {LOG_TABLE} ("table", "row", kind, before, txid)
      VALUES (TG_TABLE_NAME, old_row ->> TG_ARGV[0], 'D', old_row ->> TG_ARGV[1], txid_current());
    END IF;
  ELSE
    old_row := to_jsonb(OLD);
    INSERT INTO {LOG_TABLE} ("table", "row", kind, before, txid)
    VALUES (TG_TABLE_NAME, old_row ->> TG_ARGV[0], 'D', old_row ->> TG_ARGV[1], txid_current());
  END IF;
  RETURN NULL;
END $$;
"""


@dataclass(frozen=True)
class LoggedTable:
    """A table the triggers log: its primary-key column and the tracked column."""

    table: str
    pk: str
    tracked: str | None


def logged_table(model) -> LoggedTable:
    """What the triggers of ``model``'s table record."""
    meta = model._meta
    tracked = None
    if meta.auto_created:  # a many-to-many table: the owner's column
        tracked = next(f.column for f in meta.local_concrete_fields if f.is_relation)
    else:
        progress = getattr(model, "progress", None)
        status = getattr(progress, "status", None)
        local = {f.name: f.column for f in meta.local_concrete_fields}
        tracked = local.get(status) if status else None
    return LoggedTable(meta.db_table, meta.pk.column, tracked)


#: Tables never logged: the log itself, and the record of builds (a build's own
#: bookkeeping is no change of the data).
UNLOGGED_TABLES = frozenset({LOG_TABLE, "espresso_static_buildrecord"})


def logged_models(app_configs: Iterable) -> list:
    """The concrete tables of ``app_configs`` the triggers log (many-to-many tables
    included)."""
    found = []
    for app in app_configs:
        for model in app.get_models(include_auto_created=True):
            meta = model._meta
            if meta.proxy or not meta.managed or meta.db_table in UNLOGGED_TABLES:
                continue
            found.append(model)
    return found


def install_triggers(models_to_log: Iterable, using: str = "default") -> list[str]:
    """(Re)create the triggers of ``models_to_log``; a table that had none gets a reset
    row. Returns the tables that were newly logged."""
    connection = connections[using]
    tables = [logged_table(model) for model in models_to_log]
    already = logged_tables(using)
    started = []
    txid = "txid_current()" if connection.vendor == "postgresql" else "NULL"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_FUNCTION_SQL)
        if not _identity(cursor):
            # The log's identity: marks of another database's log never match it.
            cursor.execute(
                f'INSERT INTO {LOG_TABLE} ("table", "row", kind, txid) VALUES (%s, %s, %s, {txid})',
                [IDENTITY_TABLE, uuid.uuid4().hex, "R"],
            )
        for table in tables:
            for statement in _trigger_sql(connection, table):
                cursor.execute(statement)
            if table.table not in already:
                cursor.execute(
                    f'INSERT INTO {LOG_TABLE} ("table", kind, txid) VALUES (%s, %s, {txid})',
                    [table.table, "R"],
                )
                started.append(table.table)
    return started


def _trigger_sql(connection, table: LoggedTable) -> list[str]:
    quote = connection.ops.quote_name
    name, pk = quote(table.table), quote(table.pk)
    if connection.vendor == "postgresql":
        arguments = ", ".join(_literal(value) for value in (table.pk, table.tracked or ""))
        return [
            f"CREATE OR REPLACE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {name} "
            f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}({arguments})",
            f"CREATE OR REPLACE TRIGGER {TRUNCATE_TRIGGER} AFTER TRUNCATE ON {name} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()",
        ]
    if connection.vendor != "sqlite":
        return []
    literal = _literal(table.table)
    old = f"OLD.{quote(table.tracked)}" if table.tracked else "NULL"
    log = f'INSERT INTO {LOG_TABLE} ("table", "row", kind, before)'
    bodies = {
        "i": f"AFTER INSERT ON {name} BEGIN {log} VALUES ({literal}, NEW.{pk}, 'I', NULL); END",
        "u": (
            f"AFTER UPDATE ON {name} BEGIN {log} VALUES ({literal}, NEW.{pk}, 'U', {old}); "
            f"{log} SELECT {literal}, OLD.{pk}, 'D', {old} WHERE OLD.{pk} IS NOT NEW.{pk}; END"
        ),
        "d": f"AFTER DELETE ON {name} BEGIN {log} VALUES ({literal}, OLD.{pk}, 'D', {old}); END",
    }
    statements = []
    for kind, body in bodies.items():
        trigger = quote(f"{TRIGGER}_{kind}_{table.table}")
        statements += [f"DROP TRIGGER IF EXISTS {trigger}", f"CREATE TRIGGER {trigger} {body}"]
    return statements


def stale_triggers(models_to_check: Iterable, using: str = "default") -> list[str]:
    """The tables of ``models_to_check`` whose triggers are in place but are not those
    :func:`install_triggers` would put there now: they record another status column
    than the model's progress declaration names (declared or changed since the last
    ``migrate``, which creates no migration), so the log's statuses before a change
    would be wrong."""
    connection = connections[using]
    installed = _installed_triggers(connection)
    stale = []
    for table in map(logged_table, models_to_check):
        if table.table in installed and installed[table.table] != _expected(connection, table):
            stale.append(table.table)
    return sorted(stale)


def _installed_triggers(connection) -> dict[str, tuple]:
    """Per logged table, what tells its triggers apart: SQLite their statements,
    PostgreSQL the arguments its row trigger passes (the key and tracked columns), of
    the tables that also log TRUNCATE (one installed before that is not logged: its
    truncations went unseen)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, t.tgname, t.tgargs FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname IN (%s, %s)",
                [TRIGGER, TRUNCATE_TRIGGER],
            )
            found = cursor.fetchall()
            truncate_logged = {name for name, trigger, _ in found if trigger == TRUNCATE_TRIGGER}
            return {
                name: tuple(bytes(arguments).decode().split("\0")[:-1])
                for name, trigger, arguments in found
                if trigger == TRIGGER and name in truncate_logged
            }
        if connection.vendor != "sqlite":
            return {}
        cursor.execute(
            "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND substr(name, 1, %s) = %s",
            [len(TRIGGER) + 1, f"{TRIGGER}_"],
        )
        found: dict[str, list] = {}
        for name, statement in cursor.fetchall():
            found.setdefault(name, []).append(statement)
        return {name: tuple(sorted(statements)) for name, statements in found.items()}


def _expected(connection, table: LoggedTable) -> tuple:
    if connection.vendor == "postgresql":
        return (table.pk, table.tracked or "")
    return tuple(
        sorted(s for s in _trigger_sql(connection, table) if s.startswith("CREATE TRIGGER"))
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def logged_tables(using: str = "default") -> frozenset[str]:
    """The tables whose triggers are in place (all three, on SQLite)."""
    connection = connections[using]
    installed = _installed_triggers(connection)
    if connection.vendor == "sqlite":
        return frozenset(table for table, triggers in installed.items() if len(triggers) == 3)
    return frozenset(installed)


def _identity(cursor) -> str | None:
    cursor.execute(
        f'SELECT "row" FROM {LOG_TABLE} WHERE "table" = %s ORDER BY id LIMIT 1', [IDENTITY_TABLE]
    )
    row = cursor.fetchone()
    return row[0] if row else None


# -- reading the log --------------------------------------------------------------------


def current_mark(using: str = "default") -> str | None:
    """Where the log is for the current read: what :func:`changes_since` starts from
    (None: no log in this database)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        identity = _identity(cursor)
        if identity is None:
            return None
        if connection.vendor == "postgresql":
            # The snapshot, and the last id for writes of this very transaction (which
            # its own snapshot lists as unfinished).
            cursor.execute(
                f"SELECT txid_current_snapshot()::text || '/' || coalesce(max(id), 0) "
                f"FROM {LOG_TABLE} WHERE txid = txid_current_if_assigned()"
            )
        else:
            cursor.execute(f"SELECT coalesce(max(id), 0) FROM {LOG_TABLE}")
        position = cursor.fetchone()[0]
        # The last row the read sees (pruning rewrites its own rows, not others) and the
        # point from which pruning removes it: SQLite its id, PostgreSQL its txid + 1.
        cursor.execute(
            f"SELECT id, nonce, txid FROM {LOG_TABLE} WHERE kind <> %s ORDER BY id DESC LIMIT 1",
            [PRUNED],
        )
        last, nonce, txid = cursor.fetchone()  # the identity's row at least
        point = last if connection.vendor != "postgresql" else (txid or 0) + 1
        witness = f"{WITNESS}{last}={float(nonce)!r}={point}"
        return f"{connection.vendor}:{identity}:{position}{witness}"


def _witness_kept(cursor, mark: str) -> bool:
    """Whether the last log row ``mark`` saw is still the same row: a log rewound (a
    backup restored) and written again reuses ids, not random numbers. A row pruned
    since cannot tell (:func:`_pruned_since` judges); an older mark names none."""
    _, found, witness = mark.partition(WITNESS)
    if not found:
        return True
    row_id, nonce, removed_from = witness.split("=")
    cursor.execute(f"SELECT nonce FROM {LOG_TABLE} WHERE id = %s", [int(row_id)])
    row = cursor.fetchone()
    if row is not None:
        return repr(float(row[0])) == nonce
    point = pruned_point(cursor)
    return point is not None and point >= int(removed_from)


@dataclass
class TableChanges:
    """What happened to one table since a mark."""

    table: str
    #: The log was (re)started: rows may have changed unseen, redo the whole table.
    reset: bool = False
    #: Every row written, by primary key (text) → the first change's kind and the
    #: tracked value before it (the value at the mark).
    first: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    #: Rows whose last change deleted them.
    deleted: set[str] = field(default_factory=set)
    #: Every tracked value before a change (e.g. each owner a link had).
    before_values: set[str] = field(default_factory=set)

    @property
    def rows(self) -> set[str]:
        return set(self.first)

    def __bool__(self) -> bool:
        return self.reset or bool(self.first)


def changes_since(mark: str | None, tables: Iterable[str], using: str = "default"):
    """``{table: TableChanges}`` of ``tables`` written after ``mark`` (as the current
    read sees them); None when ``mark`` cannot say (no mark, or another log's)."""
    connection = connections[using]
    current = current_mark(using)
    if mark is None or current is None or not same_log(mark, current):
        return None
    if mark_point(current) < mark_point(mark):
        return None  # the log is behind the mark (rolled back, a backup restored)
    tables = list(tables)
    with connection.cursor() as cursor:
        if not _witness_kept(cursor, mark):
            return None  # rewound, then written again past the mark
        if _pruned_since(cursor, mark, tables):
            return None  # rows of these tables written after the mark are gone
        if connection.vendor == "postgresql" and not _own_writes_kept(cursor, mark):
            return None  # the mark saw its own transaction's writes, since rolled back
    position = mark.partition(WITNESS)[0].split(":", 2)[2]
    logged = logged_tables(using)
    # A table without triggers may have changed in any way.
    changes = {table: TableChanges(table, reset=table not in logged) for table in tables}
    if not tables:
        return changes
    marks = ", ".join("%s" for _ in tables)
    if connection.vendor == "postgresql":
        snapshot, last_own = position.split("/")
        since = (
            "(txid >= %s AND NOT txid_visible_in_snapshot(txid, %s::txid_snapshot) "
            "AND txid IS DISTINCT FROM txid_current_if_assigned()) "
            "OR (txid = txid_current_if_assigned() AND id > %s)"
        )
        parameters = [*tables, int(snapshot.split(":")[0]), snapshot, int(last_own)]
    else:
        since, parameters = "id > %s", [*tables, int(position)]
    sql = (
        f'SELECT "table", "row", kind, before FROM {LOG_TABLE} '
        f'WHERE "table" IN ({marks}) AND kind <> %s AND ({since}) ORDER BY id'
    )
    parameters.insert(len(tables), PRUNED)
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        while rows := cursor.fetchmany(20_000):
            for table, row, kind, before in rows:
                found = changes[table]
                if kind == "R":
                    found.reset = True
                    continue
                found.first.setdefault(row, (kind, before))
                if before is not None:
                    found.before_values.add(before)
                if kind == "D":
                    found.deleted.add(row)
                else:
                    found.deleted.discard(row)
    return changes


def _pruned_since(cursor, mark: str, tables: list[str]) -> bool:
    """Whether pruning removed rows of ``tables`` that ``mark`` had not seen. Per
    table: an output over tables that did not change keeps its answer however far the
    log was pruned since (a night changing other tables does not make it rebuilt)."""
    point = pruned_point(cursor)
    if point is None or mark_point(mark) >= point or not tables:
        return False  # nothing pruned, or only rows the mark had seen
    marks = ", ".join("%s" for _ in tables)
    cursor.execute(
        f'SELECT "row" FROM {LOG_TABLE} WHERE {PRUNED_CONDITION} AND "table" IN ({marks})',
        tables,
    )
    # SQLite: ids up to a mark's were seen; PostgreSQL: txids from its xmin on may not be.
    unseen_from = mark_point(mark) + (1 if cursor.db.vendor != "postgresql" else 0)
    for (row,) in cursor.fetchall():
        newest = Removed.parse(row).newest
        if (point if newest is None else newest) >= unseen_from:  # None: at most the point
            return True
    return False


def _own_writes_kept(cursor, mark: str) -> bool:
    """Whether the last log row a PostgreSQL mark's own transaction had written (if
    any) is still there: a rolled-back transaction leaves none, and what was computed
    at the mark saw writes that never happened."""
    last_own = int(mark.partition(WITNESS)[0].split(":", 2)[2].split("/")[1])
    if not last_own:
        return True
    cursor.execute(f"SELECT 1 FROM {LOG_TABLE} WHERE id = %s", [last_own])
    return cursor.fetchone() is not None


def same_log(mark: str, current: str) -> bool:
    """Whether two marks are of the same log (database)."""
    return mark.split(":", 2)[:2] == current.split(":", 2)[:2]


def mark_point(mark: str) -> int:
    """Where ``mark`` is, as pruning counts: SQLite the last id it saw; PostgreSQL its
    snapshot's ``xmin`` (every older transaction had ended)."""
    return int(mark.partition(WITNESS)[0].split(":", 2)[2].split("/")[0].split(":")[0])


def pruned_point(cursor) -> int | None:
    """The point up to which rows were pruned (a :func:`mark_point`; None: never)."""
    rows = pruned_rows(cursor, IDENTITY_TABLE)
    return int(rows[-1][1]) if rows else None


@dataclass(frozen=True)
class Removed:
    """A table's rows removed by pruning, as its row of kind :data:`PRUNED` keeps them."""

    count: int
    #: The sum and the highest of their ids.
    total: int
    highest: int
    #: The :func:`mark_point` of the newest (None: pruned by a version that did not keep
    #: it; at most the point pruned to then).
    newest: int | None
    #: The random number of the highest (None: pruned before the log drew them).
    nonce: float | None = None

    @classmethod
    def parse(cls, row: str) -> Removed:
        parts = row.split(":")
        numbers = [int(n) for n in parts[:4]]
        nonce = float(parts[4]) if len(parts) > 4 and parts[4] != "None" else None
        return cls(*numbers[:3], numbers[3] if len(numbers) > 3 else None, nonce)

    def row(self) -> str:
        return f"{self.count}:{self.total}:{self.highest}:{self.newest}:{self.nonce!r}"


def pruned_rows(cursor, table: str) -> list[tuple[int, str]]:
    """The ``(id, row)`` of ``table``'s rows of kind :data:`PRUNED`, in id order. The
    kind is written literally: a partial index holds these rows, and SQLite uses it
    only for a query whose condition it can see."""
    cursor.execute(
        f'SELECT id, "row" FROM {LOG_TABLE} WHERE "table" = %s AND {PRUNED_CONDITION} ORDER BY id',
        [table],
    )
    return cursor.fetchall()


def log_fingerprint(table: str, using: str = "default") -> str:
    """A digest of ``table``'s log rows: any write to the table changes it (a new log
    row), whatever else happened. Rows pruned count as they did (the count, sum and
    highest id pruning kept of them): pruning never changes a fingerprint, so it never
    makes two different contents' fingerprints equal."""
    connection = connections[using]
    with connection.cursor() as cursor:
        identity = _identity(cursor)
        # Count and sum over every row of the table read the (table, id) index alone;
        # the few pruned rows are taken out after.
        cursor.execute(
            f'SELECT count(*), coalesce(sum(id), 0) FROM {LOG_TABLE} WHERE "table" = %s',
            [table],
        )
        count, total = (int(value) for value in cursor.fetchone())
        cursor.execute(
            f'SELECT id, nonce FROM {LOG_TABLE} WHERE "table" = %s AND kind <> %s '
            "ORDER BY id DESC LIMIT 1",
            [table, PRUNED],
        )
        last = cursor.fetchone()
        highest, nonce = (int(last[0]), float(last[1])) if last else (0, None)
        for row_id, row in pruned_rows(cursor, table):
            removed = Removed.parse(row)
            count, total = count - 1 + removed.count, total - row_id + removed.total
            if removed.highest > highest:
                highest, nonce = removed.highest, removed.nonce
    # The highest row's random number: a log rewound and written again as many rows
    # has the same count, sum and highest id.
    counts = (count, highest, total, nonce)
    return hashlib.blake2b(repr((identity, counts)).encode(), digest_size=20).hexdigest()


def install_after_migrate(sender, using="default", **_) -> None:
    """``post_migrate`` handler: log the tables of the app ``sender`` (the signal
    follows all migrations; a migrate of some apps sends it for every app, so only
    tables that exist are logged)."""
    existing = set(connections[using].introspection.table_names())
    if LOG_TABLE not in existing:
        return
    models_to_log = [m for m in logged_models([sender]) if m._meta.db_table in existing]
    if models_to_log:
        install_triggers(models_to_log, using)
