"""``QuerySet.specialized()`` resolves the most specialized row of many mixed-subclass
rows in a constant number of queries (EspressoDB issues queries per row and subclass)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from models.demo.models import DomainWall, FermionAction, Hisq, MobiusDomainWall

pytestmark = pytest.mark.django_db
ROWS = 10_000
#: The concrete class of row i is KINDS[i % 4]; the parent tables it has rows in follow.
KINDS = (FermionAction, DomainWall, MobiusDomainWall, Hisq)


def insert_mixed_actions(count: int) -> None:
    """``count`` actions of the four kinds in turn, written table by table (Django's
    bulk_create refuses multi-table children; this is the quick way to 10,000)."""
    parents = FermionAction.objects.bulk_create(
        FermionAction(quark_mass=0.01 + i * 1e-6) for i in range(count)
    )
    ids = [parent.pk for parent in parents]
    kinds = [KINDS[i % len(KINDS)] for i in range(count)]
    domain_walls = [pk for pk, kind in zip(ids, kinds, strict=True) if issubclass(kind, DomainWall)]
    mobius = [pk for pk, kind in zip(ids, kinds, strict=True) if kind is MobiusDomainWall]
    hisq = [pk for pk, kind in zip(ids, kinds, strict=True) if kind is Hisq]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {DomainWall._meta.db_table} (fermionaction_ptr_id, l5, m5) "
            "VALUES (%s, 8, 1.3)",
            [(pk,) for pk in domain_walls],
        )
        cursor.executemany(
            f"INSERT INTO {MobiusDomainWall._meta.db_table} (domainwall_ptr_id, b5, c5) "
            "VALUES (%s, 1.5, 0.5)",
            [(pk,) for pk in mobius],
        )
        cursor.executemany(
            f"INSERT INTO {Hisq._meta.db_table} (fermionaction_ptr_id, naik_epsilon) "
            "VALUES (%s, 0.0)",
            [(pk,) for pk in hisq],
        )


def specialized_with_queries(count: int) -> tuple[list, int]:
    with CaptureQueriesContext(connection) as queries:
        rows = FermionAction.objects.order_by("pk")[:count].specialized()
    return rows, len(queries.captured_queries)


def test_specialization_of_10000_mixed_rows_takes_a_constant_number_of_queries():
    insert_mixed_actions(ROWS)
    few, few_queries = specialized_with_queries(8)
    rows, queries = specialized_with_queries(ROWS)
    assert queries == few_queries == 1
    assert [type(row) for row in rows] == [KINDS[i % len(KINDS)] for i in range(ROWS)]
    assert [type(row) for row in few] == list(KINDS) * 2
    mobius = rows[2]
    with CaptureQueriesContext(connection) as reading:
        assert (mobius.l5, mobius.b5, mobius.quark_mass) == (8, 1.5, pytest.approx(0.010002))
    assert len(reading.captured_queries) == 0
