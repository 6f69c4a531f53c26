"""A parent-class row reached through a foreign key or many-to-many reads, writes and
saves its specialization's columns, as in EspressoDB, lazily: at most one query per
instance, none for rows never read that way, constant for loops with
``prefetch_specializations``."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from espresso_static.exceptions import ConsistencyError, EspressoStaticError
from tests.portapp.models import (
    Action,
    CoherentSeq,
    Ensemble,
    GaugeConfig,
    Hisq,
    Measure,
    OneToAll,
    Propagator,
    Staggered,
    Unsmeared,
)

pytestmark = pytest.mark.django_db


def make_config(config: int = 1, stream: str = "a", nx: int = 24) -> Hisq:
    params = {"short_tag": "a12m310", "stream": stream, "config": config, "nx": nx}
    params |= {"light.quark_mass": "0.0102", "light.quark_tag": "light"}
    params |= {"strange.quark_mass": "0.0509", "strange.quark_tag": "strange"}
    tree = {"light": "Staggered", "light.smear": "Unsmeared"}
    tree |= {"strange": "Staggered", "strange.smear": "Unsmeared"}
    hisq, _ = Hisq.get_or_create_from_parameters(params, tree=tree)
    return hisq


def make_propagator(origin_x: int = 3, config: int = 1) -> OneToAll:
    hisq = make_config(config)
    return OneToAll.objects.create(gaugeconfig=hisq, action=hisq.light, origin_x=origin_x)


def queries(function) -> tuple[object, int]:
    with CaptureQueriesContext(connection) as captured:
        result = function()
    return result, len(captured.captured_queries)


def test_subclass_columns_read_through_a_foreign_key_cost_one_query_once():
    propagator = OneToAll.objects.get(pk=make_propagator().pk)
    parent = propagator.gaugeconfig  # a GaugeConfig: the column type of the key
    assert type(parent) is GaugeConfig
    nx, first = queries(lambda: parent.nx)
    (tag, long_tag), again = queries(lambda: (parent.short_tag, parent.long_tag))
    assert (nx, tag, long_tag) == (24, "a12m310", "l24a12m310")
    assert (first, again) == (1, 0)
    assert parent.type == "Hisq" and str(parent).startswith("Hisq[GaugeConfig](")


def test_instances_are_built_without_queries_and_missing_names_fail_plainly():
    make_propagator()
    rows, count = queries(lambda: list(GaugeConfig.objects.all()))
    assert count == 1
    with pytest.raises(AttributeError, match="'GaugeConfig' object has no attribute 'nope'"):
        rows[0].nope  # noqa: B018
    bare = GaugeConfig.objects.create()
    assert not hasattr(bare, "nx")  # no specialization: a plain AttributeError
    with pytest.raises(AttributeError, match="has no specialization defining it"):
        bare.nx  # noqa: B018


def test_a_property_raising_attribute_error_shows_its_own_error():
    parent = GaugeConfig.objects.get(pk=make_config().pk)
    for row in (parent, parent.specialization):
        with pytest.raises(AttributeError, match="no attribute 'no_such_column'"):
            row.broken  # noqa: B018


def test_writes_through_the_parent_reach_the_child_and_save_runs_its_checks():
    hisq = make_config()
    parent = GaugeConfig.objects.get(pk=hisq.pk)
    parent.short_tag = "a09m310"
    parent.tag = "renamed"
    parent.save()
    stored = Hisq.objects.get(pk=hisq.pk)
    assert (stored.short_tag, stored.tag) == ("a09m310", "renamed")
    assert parent.last_modified == stored.last_modified
    # Saving through the parent runs the child's check (its light quark must be light).
    parent.light = Staggered.objects.get(quark_tag="strange")
    with pytest.raises(ConsistencyError, match="light/strange"), transaction.atomic():
        parent.save()
    parent.refresh_from_db()
    assert parent.light.quark_tag == "light"  # the refresh forgot the unsaved write
    parent.save(save_instance_only=True)  # parent tables only, no child check


def test_the_stored_rows_of_a_parent_class_all_resave():
    make_propagator()
    for model in (GaugeConfig, Propagator, Action):
        for row in model.objects.all():
            row.save()
    assert OneToAll.objects.get().origin_x == 3


def test_m2m_adds_of_parent_instances_run_checks_over_their_subclass_columns():
    first, second = make_config(1), make_config(2)
    other_stream = make_config(3, stream="b")
    ensemble = Ensemble.objects.create(label="a12m310_a")
    ensemble.configurations.add(*GaugeConfig.objects.filter(pk__in=[first.pk, second.pk]))
    with pytest.raises(ConsistencyError, match="another ensemble"), transaction.atomic():
        ensemble.configurations.add(GaugeConfig.objects.get(pk=other_stream.pk))
    copy = Ensemble.objects.create(label="copy")
    with pytest.raises(ConsistencyError, match="has these configurations"), transaction.atomic():
        copy.configurations.add(first, second)


def test_prefetch_specializations_makes_loops_constant():
    for number in range(1, 6):
        make_propagator(origin_x=number, config=number * 2)

    def loop():
        rows = OneToAll.objects.order_by("pk").prefetch_specializations("gaugeconfig")
        return [(p.gaugeconfig.nx, p.gaugeconfig.short_tag) for p in rows]

    values, count = queries(loop)
    assert values == [(24, "a12m310")] * 5
    assert count == 2  # the rows with their gauge configurations, then every specialization
    mixed, count = queries(
        lambda: [p.origin_x for p in Propagator.objects.prefetch_specializations()]
    )
    assert sorted(mixed) == [1, 2, 3, 4, 5] and count == 2


def test_prefetch_follows_a_foreign_key_a_subclass_declares():
    """LatteDB's correlators: ``propagator0__gaugeconfig`` where the key lives on the
    propagator's subclass. Here ``source`` is declared on CoherentSeq, not Propagator;
    Django refused the path, and spelling the subclass out cost queries per row."""
    for number in range(1, 6):
        source = make_propagator(origin_x=number, config=number * 2)
        sequential = CoherentSeq.objects.create(
            gaugeconfig=source.gaugeconfig, action=source.action, source=source
        )
        Measure.objects.create(propagator=sequential, status="done")
    Measure.objects.create(propagator=source, status="todo")  # a OneToAll: no source

    def loop():
        rows = Measure.objects.order_by("pk").prefetch_specializations(
            "propagator", "propagator__source", "propagator__source__gaugeconfig"
        )
        return [
            (m.propagator.source.origin_x, m.propagator.source.gaugeconfig.nx)
            if m.status == "done"
            else m.propagator.origin_x
            for m in rows
        ]

    values, count = queries(loop)
    assert values == [(1, 24), (2, 24), (3, 24), (4, 24), (5, 24), 5]
    # The measures with their propagators; every propagator's specialization with the
    # sources; the sources' specializations with their gauge configurations; those.
    assert count == 4
    with pytest.raises(
        EspressoStaticError,
        match=r"^prefetch_specializations\('propagator__"
        r"sorce'\): Propagator and its subclasses have no foreign key 'sorce'\.$",
    ):
        list(Measure.objects.prefetch_specializations("propagator__sorce"))
    with pytest.raises(
        EspressoStaticError,
        match=r"Propagator and its subclasses have no "
        r"foreign key 'origin_x'",
    ):
        list(Measure.objects.prefetch_specializations("propagator__origin_x"))


def test_recursion_traps_pickle_deferred_fields_and_refresh():
    parent = GaugeConfig.objects.get(pk=make_config().pk)
    assert parent.nx == 24
    clone = pickle.loads(pickle.dumps(parent))
    assert "_specialization" not in clone.__dict__ and clone.nx == 24
    deferred = GaugeConfig.objects.only("pk").get(pk=parent.pk)
    assert deferred.short_tag == "a12m310" and deferred.tag is None
    Hisq.objects.filter(pk=parent.pk).update(nx=32)
    parent.refresh_from_db()
    assert parent.nx == 32
    unsaved = GaugeConfig()
    with pytest.raises(AttributeError):
        unsaved.nx  # noqa: B018
    assert Unsmeared.objects.count() == 1 and Decimal(str(parent.light.quark_mass)) > 0


def test_a_child_check_reading_the_key_s_subclass_column_passes():
    with pytest.raises(ConsistencyError, match="outside nx"):
        make_propagator(origin_x=30)
