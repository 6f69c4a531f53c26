"""Every Django field type is exported in every download format (CSV, Parquet, JSON,
SQLite, with a Frictionless type): PostgreSQL's arrays and ranges included there. A
column never fails a build."""

from __future__ import annotations

import datetime
import decimal
import gzip
import io
import json
import sqlite3
import uuid
from pathlib import Path

import pandas as pd
import pytest

from espresso_static.access import Audience, AudienceView
from espresso_static.data.plain_values import plain_value
from espresso_static.data.todo import TodoList, write_todo
from espresso_static.website.features.download_parts import _json_object
from espresso_static.website.features.opendata import write_open_data
from tests.baseapp.models import Sample
from tests.portapp import models as port

pytestmark = pytest.mark.django_db
INTERNAL = AudienceView(Audience("internal", "allow", Path("site")))
KEY = uuid.UUID("12345678-1234-5678-1234-567812345678")


def exported(model, tmp_path) -> tuple[dict, dict]:
    """The one row of ``model`` as each format holds it, and the datapackage types."""
    write_open_data(INTERNAL, [model], tmp_path, title="port")
    name = f"portapp_{model.__name__.lower()}"
    frames = {
        "csv": pd.read_csv(tmp_path / f"{name}.csv.gz", dtype=str),
        "parquet": pd.read_parquet(tmp_path / f"{name}.parquet"),
        "json": pd.DataFrame(
            json.loads(gzip.decompress((tmp_path / f"{name}.json.gz").read_bytes()))
        ),
    }
    with sqlite3.connect(tmp_path / "port.sqlite") as database:
        frames["sqlite"] = pd.read_sql(f"SELECT * FROM {name}", database)
    package = json.loads((tmp_path / "datapackage.json").read_text())
    resource = next(r for r in package["resources"] if r["name"] == name)
    types = {f["name"]: f["type"] for f in resource["schema"]["fields"]}
    return {fmt: frame.iloc[0].to_dict() for fmt, frame in frames.items()}, types


def test_portable_field_types_in_every_format(tmp_path):
    port.Kinds.objects.create(
        decimal=decimal.Decimal("2.125"),
        duration=datetime.timedelta(hours=1, seconds=3),
        uuid=KEY,
        binary=b"\x00\x01",
        document="docs/run.log",
        json={"tmin": 3, "tmax": [12, 14]},
        address="10.0.0.1",
        day=datetime.date(2026, 1, 2),
        moment=datetime.time(12, 30),
    )
    rows, types = exported(port.Kinds, tmp_path)
    assert types["duration"] == "duration" and types["moment"] == "time"
    assert types["uuid"] == types["binary"] == types["address"] == "any"
    for fmt, row in rows.items():
        assert str(row["uuid"]) == str(KEY), fmt
        assert row["duration"] == "P0DT01H00M03S", fmt
        assert row["binary"] == "AAE=", fmt
        assert row["document"] == "docs/run.log", fmt
        assert json.loads(row["json"]) == {"tmin": 3, "tmax": [12, 14]}, fmt
        assert float(row["decimal"]) == 2.125 and row["moment"] == "12:30:00", fmt


def test_postgresql_arrays_and_ranges_in_every_format(tmp_path, on_postgresql):
    if not on_postgresql:
        pytest.skip("ArrayField and range fields exist on PostgreSQL only")
    from django.db.backends.postgresql.psycopg_any import NumericRange

    port.PgKinds.objects.create(
        values=[0.5, 1.5], nested=[[1, 2], [3, 4]], window=NumericRange(3, 12)
    )
    rows, types = exported(port.PgKinds, tmp_path)
    assert types["values"] == types["nested"] == "array" and types["window"] == "object"
    for fmt, row in rows.items():
        assert json.loads(row["values"]) == [0.5, 1.5], fmt
        assert json.loads(row["nested"]) == [[1, 2], [3, 4]], fmt
        assert json.loads(row["window"]) == {"lower": 3, "upper": 12, "bounds": "[)"}, fmt


def test_the_json_download_is_strict_json_a_float_not_finite_as_null(tmp_path):
    # JSON has no NaN or infinity: a reader's strict parser must accept the file.
    # (SQLite stores a NaN as NULL; PostgreSQL keeps it.)
    for count, ratio in enumerate((float("inf"), float("-inf"), float("nan"), 0.5)):
        Sample.objects.create(count=count, ratio=ratio)
    write_open_data(INTERNAL, [Sample], tmp_path, title="samples")
    text = gzip.decompress((tmp_path / "baseapp_sample.json.gz").read_bytes()).decode()
    rows = json.loads(text, parse_constant=_refuse)
    assert [row["ratio"] for row in rows] == [None, None, None, 0.5]


def test_a_json_object_beyond_what_orjson_encodes_falls_back_to_the_standard_library():
    # An integer beyond 64 bits (a custom field may give one) is written whole.
    values = {"big": 2**70, "ratio": float("nan"), "name": "ü"}
    assert _json_object(values) == '{"big":1180591620717411303424,"ratio":null,"name":"ü"}'


def test_json_text_in_a_cell_and_the_todo_json_are_strict_json_too():
    # A JSON field, array or range holding a float that is not finite (PostgreSQL
    # keeps one in a float array, a decimal may be infinite) is a cell of JSON text.
    value = {
        "tmin": float("nan"),
        "tmax": [float("inf"), 1.5],
        "step": decimal.Decimal("-Infinity"),
    }
    text = plain_value(value)
    assert json.loads(text, parse_constant=_refuse) == {
        "step": None,
        "tmax": [None, 1.5],
        "tmin": None,
    }
    assert plain_value((0.5, float("-inf"))) == "[0.5, null]"
    out = io.StringIO()
    todo = TodoList(["id", "ratio"], iter([(1, float("inf")), (2, float("nan")), (3, 0.5)]))
    assert write_todo(todo, out, "json") == 3
    rows = json.loads(out.getvalue(), parse_constant=_refuse)
    assert [row["ratio"] for row in rows] == [None, None, 0.5]


def _refuse(constant):
    raise ValueError(f"not JSON: {constant}")
