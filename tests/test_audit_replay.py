"""The data-health audit replays a failing check as when its row was written: a
uniqueness check that finds the stored row itself is not a failure; a real duplicate
written past the checks still is."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db.models import Q

from espresso_static.access import Access
from espresso_static.data.audit import audit_data, count_rows
from espresso_static.declare.access import Audience, AudienceView
from espresso_static.website.features.health import collect_health
from tests.portapp.models import Ensemble, GaugeConfig, Label
from tests.test_specialization_through_parents import make_config

pytestmark = pytest.mark.django_db


def result_of(results, check):
    return next(result for result in results if result.check == check)


def test_a_uniqueness_check_finding_the_row_itself_passes_as_written():
    Label.objects.create(name="a12m310")
    Label.objects.create(name="a09m310")
    result = result_of(audit_data([Label]), "check_consistency")
    assert (result.checked, result.failing, result.passed_as_written) == (2, 0, 2)
    Label.objects.bulk_create([Label(name="a12m310")])  # a duplicate past the checks
    result = result_of(audit_data([Label]), "check_consistency")
    assert (result.failing, result.passed_as_written) == (2, 1)
    assert {row.pk for row in result.rows} == set(
        Label.objects.filter(name="a12m310").values_list("pk", flat=True)
    )
    assert Label.objects.count() == 3  # the replays deleted nothing


def test_an_m2m_uniqueness_check_is_replayed_with_the_relation_empty():
    first, second = make_config(1), make_config(2)
    ensemble = Ensemble.objects.create(label="a12m310_a")
    ensemble.configurations.add(*GaugeConfig.objects.filter(pk__in=[first.pk, second.pk]))
    Ensemble.objects.create(label="empty")  # no members: its m2m check never ran
    result = result_of(audit_data([Ensemble]), "check_m2m_consistency(configurations)")
    assert (result.checked, result.failing, result.passed_as_written) == (1, 0, 1)
    copy = Ensemble.objects.create(label="copy")
    through = Ensemble.configurations.through
    through.objects.bulk_create(
        through(ensemble=copy, gaugeconfig_id=pk) for pk in (first.pk, second.pk)
    )
    result = result_of(audit_data([Ensemble]), "check_m2m_consistency(configurations)")
    assert result.failing == 2 and "has these configurations" in result.rows[0].message
    assert set(ensemble.configurations.values_list("pk", flat=True)) == {first.pk, second.pk}


def test_the_page_and_the_check_command_count_the_same_rows_with_members():
    """LatteDB: with one bad link injected, the Data health page said "1 of 7 rows" and
    ``check --tag data`` "1 of 6": the page counted the ensemble without members, which
    its m2m check never ran for."""
    first, second, other = make_config(1), make_config(2), make_config(3, stream="b")
    for label, members in (("a12m310_a", [first, second]), ("mixed", [first, other])):
        through = Ensemble.configurations.through
        ensemble = Ensemble.objects.create(label=label)
        through.objects.bulk_create(through(ensemble=ensemble, gaugeconfig=m) for m in members)
    Ensemble.objects.create(label="empty")
    check = "check_m2m_consistency(configurations)"
    command = result_of(audit_data([Ensemble]), check)
    view = AudienceView(Audience("internal", "allow", Path("site")))
    page = result_of(collect_health([Ensemble], view), check)
    assert (page.checked, page.failing) == (command.checked, command.failing) == (2, 1)
    assert count_rows([Ensemble]) == 2  # the progress bar's total: the rows the audit reads


def test_the_page_counts_rows_passing_as_written_among_the_rows_the_audience_sees(monkeypatch):
    """A count over every stored row beside "2 rows checked" told the public of the
    rows it does not see."""
    public_rows = Q(name__startswith="a")
    access = Access(audiences=["public"], fields={"public": ["name"]}, rows={"public": public_rows})
    monkeypatch.setattr(Label, "access", access, raising=False)
    for name in ("a12m310", "a09m310", "hidden1", "hidden2", "hidden3"):
        Label.objects.create(name=name)  # each check finds its own row: passes as written
    public = AudienceView(Audience("public", "deny", Path("site")))
    result = result_of(collect_health([Label], public), "check_consistency")
    assert (result.checked, result.failing, result.passed_as_written) == (2, 0, 2)
    internal = AudienceView(Audience("internal", "allow", Path("site")))
    result = result_of(collect_health([Label], internal), "check_consistency")
    assert (result.checked, result.passed_as_written) == (5, 5)
