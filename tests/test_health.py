"""The data-health audit finds rows that bypassed the save-time checks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.db import connection

from espresso_static.checks.report import run_project_checks
from espresso_static.cli import cli
from espresso_static.data.audit import audit_data, audited_models
from espresso_static.project.config import load_config
from models.demo import data
from models.demo.models import Correlator, DataFile, Ensemble, GaugeConfig, Propagator

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def demo_rows():
    data.generate(files=120, seed=7)


def failing(results, model, check="check_consistency"):
    return next(r for r in results if r.model == model and r.check == check)


def test_clean_demo_data_passes(demo_rows):
    results = audit_data(audited_models(["demo"]))
    assert {r.model for r in results} >= {"demo.Ensemble", "demo.DataFile", "demo.Correlator"}
    assert all(r.failing == 0 for r in results)
    assert failing(results, "demo.DataFile").checked == 120
    assert run_project_checks(load_config(REPO), ["data"]) == []


def test_rows_from_bulk_create_raw_sql_and_update_are_found(demo_rows):
    ensemble = Ensemble.objects.get(name="a12m310")
    Ensemble.objects.bulk_create(
        [Ensemble(name="tiny", beta=6, nx=32, nt=8, lattice_spacing=0.1, pion_mass=300)]
    )
    DataFile.objects.filter(pk=DataFile.objects.order_by("pk")[0].pk).update(file_name="broken.txt")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE demo_datafile SET status = 'on_disk', size = NULL WHERE id = %s",
            [DataFile.objects.order_by("pk")[1].pk],
        )
    results = audit_data(audited_models(["demo"]))
    ensembles = failing(results, "demo.Ensemble")
    assert (ensembles.failing, ensembles.rows[0].row) == (1, str(Ensemble.objects.get(name="tiny")))
    assert "nt=8 is smaller than nx=32" in ensembles.rows[0].message
    files = failing(results, "demo.DataFile")
    assert files.failing == 2
    messages = " ".join(row.message for row in files.rows)
    assert "not an .h5 file" in messages and "needs a positive size" in messages
    assert ensemble.pk not in {row.pk for row in ensembles.rows}


def test_m2m_relation_written_around_the_check_is_found(demo_rows):
    correlator = Correlator.objects.order_by("pk").first()
    other_config = (
        GaugeConfig.objects.exclude(pk=correlator.propagators.first().gaugeconfig_id)
        .filter(propagator__isnull=False)
        .first()
    )
    stray = Propagator.objects.filter(gaugeconfig=other_config).first()
    # The through table written directly: no m2m_changed signal, no check.
    Correlator.propagators.through.objects.create(correlator=correlator, propagator=stray)
    result = failing(
        audit_data(audited_models(["demo"])),
        "demo.Correlator",
        "check_m2m_consistency(propagators)",
    )
    assert result.failing == 1 and result.rows[0].pk == correlator.pk
    assert "2 gauge configurations" in result.rows[0].message
    # The same through `check`: its own id, silenced through the configuration.
    config = load_config(REPO)
    assert [m.id for m in run_project_checks(config, ["data"])] == ["espresso_static.E202"]
    silenced = dataclasses.replace(config, silenced_checks=("espresso_static.E202",))
    assert run_project_checks(silenced, ["data"]) == []


def test_the_audit_reads_related_rows_per_batch_not_per_row(demo_rows):
    """The queries of the audit grow with its batches, not its rows: the rows a check
    follows (foreign keys, m2m members) are read once per batch."""
    from django.test.utils import CaptureQueriesContext

    for model, tables in ((Correlator, 2), (Propagator, 4)):  # its own, then each followed
        with CaptureQueriesContext(connection) as queries:
            (result,) = audit_data([model], batch_size=10)
        assert result.checked >= 30 and result.failing == 0
        assert len(queries) <= tables * -(-result.checked // 10), model


def test_an_m2m_check_gets_its_members_as_a_queryset_it_can_query(demo_rows, monkeypatch):
    """The audit hands an m2m check its members already read, as a queryset: iterated,
    it runs no query; a query made from it still runs (as the m2m signal's does)."""
    seen = []

    def check(self, instances, column=None):
        seen.append((sorted(p.pk for p in instances), instances.filter(source_t__gte=0).count()))

    monkeypatch.setattr(Correlator, "check_m2m_consistency", check)
    results = audit_data([Correlator])
    assert results[0].checked == Correlator.objects.count() == len(seen)
    expected = {
        tuple(sorted(c.propagators.values_list("pk", flat=True))) for c in Correlator.objects.all()
    }
    assert {tuple(pks) for pks, _ in seen} == expected
    assert all(count == len(pks) for pks, count in seen)


@pytest.mark.django_db(transaction=True)
def test_check_command_reports_json_and_fails(demo_rows):
    Ensemble.objects.bulk_create(
        [Ensemble(name="tiny", beta=6, nx=32, nt=8, lattice_spacing=0.1, pion_mass=300)]
    )
    result = CliRunner().invoke(cli, ["check", "--tag", "data", "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert [f["id"] for f in report] == ["espresso_static.E201"]
    assert report[0]["obj"] == "demo.Ensemble" and report[0]["details"]["failing"] == 1
