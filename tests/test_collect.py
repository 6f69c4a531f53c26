"""The collect step: introspection of tests.siteapp into dataclasses."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from espresso_static.project.config import load_config
from espresso_static.website.collect import collect_site

SITE_PROJECT = Path(__file__).parent / "siteproject"


@pytest.fixture
def site():
    return collect_site(load_config(SITE_PROJECT))


def fields(site, label):
    return {f.name: f for f in site.model(label).fields}


@pytest.mark.django_db
def test_every_concrete_model_is_collected_in_declaration_order(site):
    assert [m.name for m in site.models] == [
        "Instrument",
        "Run",
        "RunSummary",
        "Dataset",
        "Calibration",
        "GainCalibration",
        "PedestalCalibration",
        "Measurement",
    ]
    assert site.apps[0].doc.startswith("A small detector campaign")


@pytest.mark.django_db
def test_falsy_defaults_are_kept_as_defaults(site):
    instrument = fields(site, "siteapp.Instrument")
    assert (instrument["channels"].has_default, instrument["channels"].default) == (True, "0")
    assert instrument["active"].default == "False"
    assert instrument["comment"].default == "''"
    assert instrument["weight"].default == "0.0"
    assert fields(site, "siteapp.Measurement")["status"].default == "''"
    assert not instrument["name"].has_default and instrument["name"].default is None


@pytest.mark.django_db
def test_required_choices_unique_and_help(site):
    instrument = fields(site, "siteapp.Instrument")
    assert instrument["name"].required and instrument["name"].unique
    assert not instrument["channels"].required  # has a default
    assert not fields(site, "siteapp.Run")["energy"].required  # nullable
    assert instrument["kind"].choices == (
        ("cal", "calorimeter"),
        ("trk", "tracker <fast> | {{ kind }}"),
    )
    assert "{{ x }}" in instrument["name"].help_text
    assert instrument["name"].max_length == 30


@pytest.mark.django_db
def test_constraints_and_indexes(site):
    assert site.model("siteapp.Run").unique_together == (("instrument", "number"),)
    assert site.model("siteapp.Instrument").indexes == (("kind", "active"),)


@pytest.mark.django_db
def test_relations_in_both_directions(site):
    run = {(r.direction, r.name): r for r in site.model("siteapp.Run").relations}
    assert run["forward", "instrument"].target == "siteapp.Instrument"
    assert run["forward", "instrument"].kind == "foreign key"
    assert run["reverse", "datasets"].kind == "many-to-many"
    assert run["reverse", "summary"].kind == "one-to-one"
    assert run["reverse", "measurement_set"].target == "siteapp.Measurement"
    dataset = {r.name: r for r in site.model("siteapp.Dataset").relations}
    assert dataset["runs"].direction == "forward" and dataset["runs"].kind == "many-to-many"
    # Relations to undocumented models (Base.user → auth.User) are not listed.
    assert all(r.target.startswith("siteapp.") for m in site.models for r in m.relations)


@pytest.mark.django_db
def test_inheritance_parents_children_and_abstract_bases(site):
    calibration = site.model("siteapp.Calibration")
    assert calibration.children == ("siteapp.GainCalibration", "siteapp.PedestalCalibration")
    gain = site.model("siteapp.GainCalibration")
    assert gain.parents == ("siteapp.Calibration",)
    assert fields(site, "siteapp.GainCalibration")["value"].inherited_from == "siteapp.Calibration"
    instrument = site.model("siteapp.Instrument")
    assert instrument.abstract_bases == (
        "tests.siteapp.models.Labelled",
        "espresso_static.models.Base",
    )
    instrument_fields = fields(site, "siteapp.Instrument")
    assert instrument_fields["label"].inherited_from == "Labelled"
    assert instrument_fields["id"].inherited_from == "Base"
    # The model's own columns come first.
    assert instrument.fields[0].name == "name"
    # Inheritance links are not relations.
    assert not any(r.name.endswith("_ptr") for r in gain.relations)


@pytest.mark.django_db
def test_checks_and_docstrings(site):
    checks = {c.method: c for c in site.model("siteapp.Instrument").checks}
    assert set(checks) == {"check_consistency"}
    assert checks["check_consistency"].doc.startswith("At most 1024 channels")
    dataset_checks = {c.method for c in site.model("siteapp.Dataset").checks}
    assert dataset_checks == {"check_m2m_consistency"}
    assert site.model("siteapp.Run").doc == "A data-taking run of one instrument."


@pytest.mark.django_db
def test_row_counts_and_latest_change(site):
    from tests.siteapp.models import Instrument, Run

    assert site.model("siteapp.Instrument").row_count == 0
    assert site.last_modified is None
    first = Instrument.objects.create(name="ecal")
    Run.objects.create(instrument=first, number=1)
    Run.objects.create(instrument=first, number=2)
    again = collect_site(load_config(SITE_PROJECT))
    assert again.model("siteapp.Run").row_count == 2
    assert again.last_modified == Run.objects.latest("last_modified").last_modified


@pytest.mark.django_db
def test_example_parameters_must_be_literals(site, monkeypatch):
    from espresso_static.exceptions import EspressoStaticError
    from tests.siteapp.models import Run

    monkeypatch.setattr(Run, "example_parameters", {"number": object()}, raising=False)
    with pytest.raises(EspressoStaticError, match="not a Python literal"):
        collect_site(load_config(SITE_PROJECT))


@pytest.mark.django_db
def test_unknown_app_is_a_clear_error():
    from espresso_static.exceptions import EspressoStaticError

    config = dataclasses.replace(load_config(SITE_PROJECT), apps=("no.such.app",))
    with pytest.raises(EspressoStaticError, match="not installed"):
        collect_site(config)
