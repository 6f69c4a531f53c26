"""Pruning the change log (:mod:`espresso_static.data.changelog`): it must not grow
forever, and what it answers must stay right.

``espresso-static prune-log`` removes the rows no *kept mark* needs: the marks of the
latest published build of every site (:class:`~espresso_static.models.BuildRecord`:
the next build of that site asks what changed since), and the current read's. A
mark needs the rows written after it, so the rows at or before the oldest kept mark
go: on SQLite those whose id is at most that mark's last id, on PostgreSQL those
written by transactions that had ended before its snapshot (``txid`` below its
``xmin``). The point pruned to is written in the log, and per table the newest of
its removed rows. A mark older than the point — a site built before, a cache entry
of an older build — asking about tables some of whose removed rows it had not seen
makes :func:`~espresso_static.data.changelog.changes_since` answer "cannot say"
(None), so what asked is rebuilt whole, never answered wrongly; asking about tables
none of whose removed rows are newer than it, it gets the exact answer: an output
left as it was because its tables did not change (its state keeps its older mark)
is not rebuilt whole because a night's prune passed its mark.

Fingerprints are digests of a table's log rows (count, sum and highest id): pruning
folds the removed rows' count, sum and highest id into one row per table, so a
table's fingerprint is what it was before pruning — pruning neither rebuilds every
output nor ever makes the fingerprints of two different contents equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.db import connections, transaction

from espresso_static.data.changelog import (
    IDENTITY_TABLE,
    LOG_TABLE,
    PRUNED,
    PRUNED_CONDITION,
    Removed,
    current_mark,
    mark_point,
    pruned_point,
    pruned_rows,
    same_log,
)

#: pg_advisory_xact_lock key: one prune at a time (writers are never blocked).
PRUNE_LOCK = 0x65735F707275


@dataclass(frozen=True)
class PruneResult:
    """What a prune removed: rows, and the point the log now starts after (None: the
    database has no change log)."""

    rows: int
    point: int | None


def build_marks(using: str = "default") -> list[str]:
    """The marks of the latest published build of every site (audience and folder) that
    is still there: a one-off build (``--out scratch``) removed would otherwise keep
    every log row written since it for good. (Pruning past a site's mark costs only
    whole rebuilds of what its next build cannot be told about.)"""
    from espresso_static.models import BuildRecord

    latest: dict[tuple[str, str], str] = {}
    for audience, site, mark in (
        BuildRecord.objects.using(using).order_by("id").values_list("audience", "site", "mark")
    ):
        latest[(audience, site)] = mark
    return [mark for (_, site), mark in latest.items() if Path(site).is_dir()]


def prune_log(keep: Iterable[str | None], using: str = "default") -> PruneResult:
    """Remove the log rows that no mark of ``keep`` (nor a read starting now) needs.
    Marks of another log (another database) keep nothing."""
    connection = connections[using]
    with transaction.atomic(using=using):
        current = current_mark(using)
        if current is None:
            return PruneResult(0, None)
        marks = [mark for mark in keep if mark and same_log(mark, current)]
        point = min(mark_point(mark) for mark in [*marks, current])
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PRUNE_LOCK])
            before = pruned_point(cursor)
            if before is not None and point <= before:
                return PruneResult(0, before)
            # PostgreSQL: every transaction below the point had ended (rows of aborted
            # ones never were); writers now are above it, so none of their rows goes.
            written = "id <= %s" if connection.vendor != "postgresql" else "txid < %s"
            removed = f'"table" <> %s AND kind <> %s AND {written}'
            parameters = [IDENTITY_TABLE, PRUNED, point]
            newest = "max(id)" if connection.vendor != "postgresql" else "max(txid)"
            cursor.execute(
                f'SELECT "table", count(*), sum(id), max(id), {newest} FROM {LOG_TABLE} '
                f'WHERE {removed} GROUP BY "table"',
                parameters,
            )
            for table, *folded in cursor.fetchall():
                _fold(cursor, table, *(int(n) for n in folded), before or 0)
            cursor.execute(f"DELETE FROM {LOG_TABLE} WHERE {removed}", parameters)
            rows = cursor.rowcount
            cursor.execute(
                f'DELETE FROM {LOG_TABLE} WHERE "table" = %s AND {PRUNED_CONDITION}',
                [IDENTITY_TABLE],
            )
            _insert(cursor, IDENTITY_TABLE, str(point))
    return PruneResult(rows, point)


def _fold(
    cursor, table: str, count: int, total: int, highest: int, newest: int, before: int
) -> None:
    """Add the removed rows of ``table`` to its row of removed rows; ``before``: the
    point the log was pruned to before."""
    cursor.execute(f"SELECT nonce FROM {LOG_TABLE} WHERE id = %s", [highest])
    removed = Removed(count, total, highest, newest, float(cursor.fetchone()[0]))
    for row_id, row in pruned_rows(cursor, table):
        earlier = Removed.parse(row)
        removed = Removed(
            removed.count + earlier.count,
            removed.total + earlier.total,
            max(removed.highest, earlier.highest),
            max(removed.newest, before if earlier.newest is None else earlier.newest),
            removed.nonce if removed.highest > earlier.highest else earlier.nonce,
        )
        cursor.execute(f"DELETE FROM {LOG_TABLE} WHERE id = %s", [row_id])
    _insert(cursor, table, removed.row())


def _insert(cursor, table: str, row: str) -> None:
    txid = "txid_current()" if cursor.db.vendor == "postgresql" else "NULL"
    cursor.execute(
        f'INSERT INTO {LOG_TABLE} ("table", "row", kind, txid) VALUES (%s, %s, %s, {txid})',
        [table, row, PRUNED],
    )
