"""One consistent view of the database for everything a build reads.

``build-site`` reads many tables one query at a time (row counts, status rows, news).
An ingest committing in between would make the pages disagree: a home page count
that is not the status page's, status counts that do not add up to the total.
:func:`consistent_read` runs those reads in one transaction, rolled back, that sees a
single snapshot of the database. Other processes (the build's workers,
:mod:`espresso_static.website.workers`) read the same snapshot with the token of
:meth:`ReadSnapshot.share`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connections, transaction

#: PostgreSQL: the snapshot is taken at the transaction's first query and kept to its end.
#: Not READ ONLY: the data-health audit replays failing checks as when their rows were
#: written, in savepoints it rolls back; the whole transaction is rolled back too.
POSTGRESQL_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"
#: What ``pg_export_snapshot()`` returns (checked: ``SET TRANSACTION SNAPSHOT`` takes no
#: query parameter).
_POSTGRESQL_TOKEN = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")
#: The token of a SQLite snapshot: nothing to pass, the build's lock does the work.
SQLITE_LOCKED = "sqlite: writers wait for the build"
#: SQLite journal modes in which a reader's shared lock keeps every writer out (not WAL,
#: whose writers commit beside readers; not an in-memory database, private to a process).
_LOCKING_JOURNALS = {"delete", "truncate", "persist"}


@dataclass(frozen=True)
class ReadSnapshot:
    """The snapshot of one :func:`consistent_read` block."""

    using: str
    #: The block began the transaction (False: it joined a caller's, which may have
    #: written rows no other process sees).
    own: bool

    def share(self) -> str | None:
        """A token with which another process's ``consistent_read(joining=token)`` reads
        this very snapshot while this block lasts; None where that cannot be."""
        connection = connections[self.using]
        if not self.own:
            return None
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_export_snapshot()")
                return cursor.fetchone()[0]
            if connection.vendor != "sqlite" or connection.is_in_memory_db():
                return None
            cursor.execute("PRAGMA journal_mode")
            if cursor.fetchone()[0].lower() not in _LOCKING_JOURNALS:
                return None
            # A read takes the shared lock (if no read did yet), held to the block's end:
            # no writer commits before then, so any process reads this same data.
            cursor.execute("SELECT count(*) FROM sqlite_master")
            return SQLITE_LOCKED


@contextmanager
def consistent_read(using: str = "default", joining: str | None = None) -> Iterator[ReadSnapshot]:
    """Run the block's queries in one read transaction on one snapshot.

    PostgreSQL: REPEATABLE READ. SQLite: one (deferred) transaction, whose
    first read fixes what later reads see. Inside an already open transaction (a test,
    a caller's ``atomic``) the block simply joins it: its isolation cannot change
    after its first query. ``joining``: the token of another process's snapshot
    (:meth:`ReadSnapshot.share`), read instead of a new one.
    """
    connection = connections[using]
    if connection.in_atomic_block:
        yield ReadSnapshot(using, own=False)
        return
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(POSTGRESQL_SNAPSHOT)
                if joining is not None:
                    if not _POSTGRESQL_TOKEN.fullmatch(joining):
                        raise ValueError(f"not a PostgreSQL snapshot: {joining!r}")
                    cursor.execute(f"SET TRANSACTION SNAPSHOT '{joining}'")
        yield ReadSnapshot(using, own=True)
        # Nothing was written: ending with a rollback says so (and is never a conflict).
        transaction.set_rollback(True, using=using)
