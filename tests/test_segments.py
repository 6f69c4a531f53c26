"""Segments: rows in fixed primary-key ranges, and the segments the change log says
changed (own rows by key, any change elsewhere the output reads: every segment)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection

from espresso_static.data import changelog
from espresso_static.declare.access import Audience, AudienceView
from espresso_static.website import cache_keys, segments
from espresso_static.website.segments import plan_segments, segment_rows, segments_of
from models.demo import data
from models.demo.models import Correlator, DataFile, Ensemble, FermionAction, Hisq

pytestmark = pytest.mark.django_db

PUBLIC = AudienceView(Audience("public", "deny", Path("site-public")))
INTERNAL = AudienceView(Audience("internal", "allow", Path("site")))


@pytest.fixture(autouse=True)
def small_segments(monkeypatch):
    monkeypatch.setattr(segments, "SEGMENT_ROWS", 10)


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def file_pks() -> list[int]:
    return list(DataFile.objects.order_by("pk").values_list("pk", flat=True))


def test_rows_split_into_fixed_key_ranges():
    data.generate(files=40, seed=1)
    pks = file_pks()
    present = segments_of(DataFile.objects.all())
    assert present == sorted({pk // 10 for pk in pks}) and len(present) > 2
    for segment in present:
        rows = segment_rows(DataFile.objects.all(), segment).values_list("pk", flat=True)
        assert sorted(rows) == [pk for pk in pks if pk // 10 == segment]
    # A deleted range leaves its segment out; the others keep their numbers.
    DataFile.objects.filter(pk__lt=(present[1] + 1) * 10, pk__gte=present[1] * 10).delete()
    assert segments_of(DataFile.objects.all()) == [present[0], *present[2:]]


def test_a_table_without_an_integer_key_is_one_segment():
    from django.contrib.sessions.models import Session

    assert not segments.is_segmented(Session)
    assert segments_of(Session.objects.all()) == []
    assert segments.is_segmented(Hisq)  # its key is the parent link, an integer


def test_own_rows_map_to_their_segments_raw_sql_inserts_and_deletes_included():
    data.generate(files=40, seed=1)
    pks = file_pks()
    mark = changelog.current_mark()
    assert plan_segments(mark, DataFile, INTERNAL, [DataFile]).changed == frozenset()
    sql("UPDATE demo_datafile SET size = 7 WHERE id = %s", [pks[0]])
    sql("DELETE FROM demo_datafile WHERE id = %s", [pks[15]])
    copied = [f.column for f in DataFile._meta.local_concrete_fields if not f.primary_key]
    names = ", ".join(copied)
    sql(
        f"INSERT INTO demo_datafile (id, {names}) SELECT 1005, "
        f"{names.replace('file_name', 'file_name || %s')} FROM demo_datafile WHERE id = %s",
        [".new", pks[1]],
    )
    plan = plan_segments(mark, DataFile, INTERNAL, [DataFile])
    assert plan.changed == {pks[0] // 10, pks[15] // 10, 100}
    assert plan.mark != mark
    untouched = next(pk // 10 for pk in pks if pk // 10 not in plan.changed)
    assert plan.redo(100) and not plan.redo(untouched)
    # Nothing since the new mark.
    assert plan_segments(plan.mark, DataFile, INTERNAL, [DataFile]).changed == frozenset()


def test_a_change_in_another_table_the_output_reads_means_every_segment():
    data.generate(files=40, seed=1)
    mark = changelog.current_mark()
    Ensemble.objects.filter(pk=Ensemble.objects.order_by("pk")[0].pk).update(pion_mass=1)
    # The public row filter reads Ensemble (released), the internal rows its foreign key.
    assert plan_segments(mark, DataFile, PUBLIC, [DataFile]).changed is None
    assert plan_segments(mark, DataFile, INTERNAL, [DataFile]).changed is None
    # An output that does not read Ensemble is not concerned.
    assert plan_segments(mark, Hisq, INTERNAL, [Hisq]).changed == frozenset()


def test_a_parents_row_maps_to_the_childs_segment():
    data.generate(files=10, seed=1)
    hisq = Hisq.objects.order_by("pk").first()
    if hisq is None:
        pytest.skip("the demo data made no Hisq row")
    mark = changelog.current_mark()
    FermionAction.objects.filter(pk=hisq.pk).update(quark_mass=0.5)
    assert plan_segments(mark, Hisq, INTERNAL, [Hisq]).changed == {hisq.pk // 10}


def test_links_map_to_their_owners_segment_before_and_after():
    data.generate(files=10, seed=1)
    through = Correlator.propagators.through
    owner = Correlator.propagators.field.m2m_column_name()
    link = through.objects.order_by("pk").first()
    other = Correlator.objects.exclude(pk=link.correlator_id).order_by("-pk").first()
    mark = changelog.current_mark()
    sql(f"UPDATE {through._meta.db_table} SET {owner} = %s WHERE id = %s", [other.pk, link.pk])
    plan = plan_segments(mark, through, INTERNAL, [Correlator], key=owner)
    assert plan.changed == {link.correlator_id // 10, other.pk // 10}


def test_no_mark_or_another_logs_mark_or_an_unlogged_table_means_every_segment():
    data.generate(files=10, seed=1)
    mark = changelog.current_mark()
    vendor, _, position = mark.split(":", 2)
    assert plan_segments(None, DataFile, INTERNAL, [DataFile]).changed is None
    other_log = f"{vendor}:another-log:{position}"
    assert plan_segments(other_log, DataFile, INTERNAL, [DataFile]).changed is None
    table = DataFile._meta.db_table
    if connection.vendor == "postgresql":
        sql(f'DROP TRIGGER {changelog.TRIGGER} ON "{table}"')
    else:
        sql(f'DROP TRIGGER "{changelog.TRIGGER}_u_{table}"')
    assert plan_segments(mark, DataFile, INTERNAL, [DataFile]).changed is None
    changelog.install_triggers([DataFile])


def test_a_build_compiles_the_rows_of_a_table_once_per_view(tmp_path, monkeypatch):
    """A nightly build asks for the tables of every output in turn: the query of a
    view's rows of each table was compiled each time (225 compiles for a 1% sync)."""
    from espresso_static.website import cache as cache_module
    from espresso_static.website.cache import BuildCache

    compiled = []

    def counted(view, model):
        compiled.append((view.name, model._meta.label))
        return cache_keys.rows_read(view, model)

    monkeypatch.setattr(cache_module, "rows_read", counted)
    data.generate(files=20, seed=1)
    cache = BuildCache(tmp_path)
    mark = changelog.current_mark()
    for view in (PUBLIC, INTERNAL):
        cache.key("status", view, [DataFile])
        plan_segments(mark, DataFile, view, [DataFile], tables=cache.output_tables)
        plan_segments(mark, Correlator, view, [Correlator], tables=cache.output_tables)
    assert len(compiled) == len(set(compiled))
    assert ("public", "demo.Ensemble") in compiled
    cache.new_snapshot()  # another read: a row filter's SQL may hold values read then
    cache.key("status", PUBLIC, [DataFile])
    assert compiled.count(("public", "demo.DataFile")) == 2
