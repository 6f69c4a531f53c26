"""One consistent view of the database for everything a build reads.

``build-site`` reads many tables one query at a time (row counts, status rows, news).
An ingest committing in between would make the pages disagree: a home page count
that is not the status page's, status counts that do not add up to the total.
:func:`consistent_read` runs those reads in one transaction, rolled back, that sees a
single snapshot of the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, transaction

#: PostgreSQL: the snapshot is taken at the transaction's first query and kept to its end.
#: Not READ ONLY: the data-health audit replays failing checks as when their rows were
#: written, in savepoints it rolls back; the whole transaction is rolled back too.
POSTGRESQL_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"


@contextmanager
def consistent_read(using: str = "default") -> Iterator[None]:
    """Run the block's queries in one read transaction on one snapshot.

    PostgreSQL: REPEATABLE READ. SQLite: one (deferred) transaction, whose
    first read fixes what later reads see. Inside an already open transaction (a test,
    a caller's ``atomic``) the block simply joins it: its isolation cannot change
    after its first query.
    """
    connection = connections[using]
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(POSTGRESQL_SNAPSHOT)
        yield
        # Nothing was written: ending with a rollback says so (and is never a conflict).
        transaction.set_rollback(True, using=using)
