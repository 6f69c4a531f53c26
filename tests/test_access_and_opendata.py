"""Audience views over the demo models and the open-data downloads they produce."""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from espresso_static.access import ALL, Access, Audience, AudienceView, configured_audiences
from espresso_static.exceptions import ConfigError
from espresso_static.website.features.opendata import write_open_data
from models.demo import data
from models.demo.models import (
    Correlator,
    DataFile,
    Ensemble,
    FermionAction,
    GaugeConfig,
    MobiusDomainWall,
    Propagator,
)

DEMO_MODELS = [
    Ensemble,
    GaugeConfig,
    FermionAction,
    MobiusDomainWall,
    Propagator,
    Correlator,
    DataFile,
]
PUBLIC = AudienceView(Audience("public", "deny", Path("site-public")))
INTERNAL = AudienceView(Audience("internal", "allow", Path("site")))


@pytest.fixture
def demo_rows(db):
    data.generate(files=300, seed=3)


def test_public_is_default_deny_and_internal_sees_everything():
    assert [m.__name__ for m in DEMO_MODELS if PUBLIC.sees_model(m)] == [
        "Ensemble",
        "GaugeConfig",
        "FermionAction",
        "MobiusDomainWall",
        "DataFile",
    ]
    assert all(INTERNAL.sees_model(m) for m in DEMO_MODELS)
    public_files = [f.name for f in PUBLIC.visible_fields(DataFile)]
    assert (
        "machine" not in public_files and "user" not in public_files and "tag" not in public_files
    )
    assert "file_name" in public_files and "ensemble" in public_files
    assert "machine" in [f.name for f in INTERNAL.visible_fields(DataFile)]
    # auth.User is not an app of the project: the user column is hidden from deny audiences
    assert "user" not in [f.name for f in PUBLIC.visible_fields(Ensemble)]


def test_rows_follow_released_ensembles_through_foreign_keys(demo_rows):
    released = set(Ensemble.objects.filter(released=True).values_list("pk", flat=True))
    assert set(PUBLIC.queryset(Ensemble).values_list("pk", flat=True)) == released
    public_files = PUBLIC.queryset(DataFile)
    assert set(public_files.values_list("ensemble_id", flat=True)) == released
    assert public_files.count() == DataFile.objects.filter(ensemble__released=True).count()
    assert INTERNAL.queryset(DataFile).count() == DataFile.objects.count() == 300


def test_hidden_fields_and_hidden_from():
    class Secretive:
        access = Access(hidden_from=["internal"])

    view = AudienceView(Audience("internal", "allow", Path("x")))
    assert not view.sees_model(Secretive)
    hidden = Access(
        audiences=["public"], fields={"public": ALL}, hidden_fields={"internal": ["nx"]}
    )
    Ensemble.access, saved = hidden, Ensemble.access
    try:
        assert "nx" not in [f.name for f in INTERNAL.visible_fields(Ensemble)]
        assert "nx" in [f.name for f in PUBLIC.visible_fields(Ensemble)]
    finally:
        Ensemble.access = saved


def test_audience_configuration(tmp_path):
    audiences = configured_audiences({}, tmp_path, tmp_path / "site")
    assert {n: (a.default, a.site_dir.name) for n, a in audiences.items()} == {
        "public": ("deny", "site-public"),
        "internal": ("allow", "site"),
    }
    custom = configured_audiences(
        {
            "audiences": {
                "collab": {"default": "deny", "site_dir": "out/collab"},
                "internal": "allow",
            }
        },
        tmp_path,
        tmp_path / "site",
    )
    assert custom["collab"].site_dir == tmp_path / "out" / "collab"
    with pytest.raises(ConfigError, match="must be"):
        configured_audiences({"audiences": {"x": {"default": "maybe"}}}, tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="default_audience"):
        configured_audiences({"audiences": {"x": "deny"}}, tmp_path, tmp_path)


def written(view, tmp_path) -> tuple:
    out = tmp_path / view.name
    result = write_open_data(
        view, DEMO_MODELS, out, title="LQCD demo campaign", license="CC-BY-4.0", citation="Cite us."
    )
    return result, out


def test_downloads_round_trip(demo_rows, tmp_path):
    result, out = written(PUBLIC, tmp_path)
    expected = (
        PUBLIC.queryset(DataFile)
        .order_by("pk")
        .to_dataframe([f.name for f in PUBLIC.visible_fields(DataFile)])
    )
    expected = expected.rename(columns={"ensemble": "ensemble_id"})
    as_csv = pd.read_csv(out / "demo_datafile.csv.gz", parse_dates=["produced", "last_modified"])
    as_parquet = pd.read_parquet(out / "demo_datafile.parquet")
    as_json = pd.read_json(out / "demo_datafile.json.gz", dtype=False)
    with sqlite3.connect(out / "lqcd-demo-campaign.sqlite") as db:
        as_sqlite = pd.read_sql(
            "SELECT * FROM demo_datafile", db, parse_dates=["produced", "last_modified"]
        )
    for frame in (as_csv, as_parquet, as_json, as_sqlite):
        assert list(frame.columns) == list(expected.columns)
        assert frame["file_name"].tolist() == expected["file_name"].tolist()
        assert frame["ensemble_id"].tolist() == expected["ensemble_id"].tolist()
        assert (
            frame["size"].fillna(-1).astype("int64").tolist()
            == expected["size"].fillna(-1).tolist()
        )
        for column in ("produced", "last_modified"):
            times = pd.to_datetime(frame[column], utc=True, format="ISO8601")
            assert times.tolist() == expected[column].tolist(), column
    assert {r.name: r.rows for r in result.resources}["demo_datafile"] == len(expected)


def test_datapackage_and_checksums(demo_rows, tmp_path):
    import frictionless

    result, out = written(INTERNAL, tmp_path)
    package = json.loads((out / "datapackage.json").read_text())
    names = [r["name"] for r in package["resources"]]
    assert "demo_correlator_propagators" in names and "demo_propagator" in names
    files = {r["name"]: r for r in package["resources"]}
    assert files["demo_datafile"]["schema"]["primaryKey"] == ["id"]
    assert {
        "fields": "ensemble_id",
        "reference": {"resource": "demo_ensemble", "fields": "id"},
    } in (files["demo_datafile"]["schema"]["foreignKeys"])
    assert package["licenses"] == [{"name": "CC-BY-4.0"}]
    report = frictionless.validate(out / "datapackage.json")
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]
    for line in (out / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert len(result.files) == len((out / "SHA256SUMS").read_text().splitlines())


def test_public_downloads_hold_no_private_data(demo_rows, tmp_path):
    for ensemble in Ensemble.objects.filter(released=False):
        ensemble.name = f"CANARY-{ensemble.pk}"
        ensemble.save()
    DataFile.objects.update(machine="summit")
    result, out = written(PUBLIC, tmp_path)
    names = {r.name for r in result.resources}
    assert names == {
        "demo_ensemble",
        "demo_gaugeconfig",
        "demo_fermionaction",
        "demo_mobiusdomainwall",
        "demo_datafile",
    }
    for path in out.iterdir():
        raw = path.read_bytes()
        text = gzip.decompress(raw) if path.suffix == ".gz" else raw
        assert b"CANARY" not in text, path
        assert b"summit" not in text, path


def test_output_is_deterministic(demo_rows, tmp_path):
    _, first = written(PUBLIC, tmp_path / "a")
    _, second = written(PUBLIC, tmp_path / "b")
    assert (first / "SHA256SUMS").read_text() == (second / "SHA256SUMS").read_text()
