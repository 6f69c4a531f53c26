"""The status page's data: chunked columnar JSON with dictionary, delta and front coding."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pandas as pd
import pytest
from django.db import models

from espresso_static.progress import Column, find_declared
from espresso_static.website.features.status import (
    META,
    chunk_payload,
    encode_column,
    encode_status_data,
    read_status_data,
    write_status_data,
)
from models.demo import data
from models.demo.models import DataFile


def column(field: models.Field, name: str = "x") -> Column:
    return Column(name, name, name, field)


def test_few_distinct_strings_are_dictionary_codes_with_null_as_an_entry():
    encoded = encode_column(column(models.CharField()), pd.Series(["b", "a", None, "b"] * 3))
    assert encoded.meta["encoding"] == "dict"
    assert encoded.meta["dict"] == ["a", "b", None]
    assert chunk_payload(encoded, 0, 4) == [1, 0, 2, 1]


def test_sequential_integers_become_deltas_and_nulls_stay_null():
    values = pd.Series([10, 11, None, 12, 20], dtype="Int64")
    encoded = encode_column(column(models.IntegerField()), values)
    assert encoded.meta["encoding"] == "delta"
    assert chunk_payload(encoded, 0, 5) == [10, 1, None, 1, 8]
    # A chunk starts from an absolute value.
    assert chunk_payload(encoded, 3, 5) == [12, 8]


def test_distinct_strings_are_front_coded():
    names = pd.Series(["run/a/001.h5", "run/a/002.h5", None, "run/b/001.h5", "x"])
    encoded = encode_column(column(models.CharField()), names)
    assert encoded.meta["encoding"] == "front"
    assert chunk_payload(encoded, 0, 5) == [
        [0, 8, 0, 4, 0],
        ["run/a/001.h5", "2.h5", None, "b/001.h5", "x"],
    ]


def test_datetimes_are_whole_seconds_since_1970_utc():
    times = pd.Series(
        [datetime(2026, 1, 5, tzinfo=UTC), None, datetime(1970, 1, 1, 0, 0, 7, 900, tzinfo=UTC)],
        dtype="datetime64[us, UTC]",
    )
    encoded = encode_column(column(models.DateTimeField()), times)
    assert encoded.meta["type"] == "datetime"
    assert chunk_payload(encoded, 0, 3) == [1767571200, None, 7 - 1767571200]


def test_choices_are_kept_for_labels():
    field = models.CharField(choices=[("on_disk", "on disk"), ("missing", "missing")])
    encoded = encode_column(column(field), pd.Series(["on_disk", "missing"] * 4))
    assert encoded.meta["choices"] == {"on_disk": "on disk", "missing": "missing"}


def test_byte_counts_are_marked_so_the_page_shows_units():
    size = DataFile._meta.get_field("size")
    encoded = encode_column(Column("size", "size", "size", size), pd.Series([1, 2_500_000]))
    assert encoded.meta["unit"] == "bytes"  # DataFile.size: "Size in bytes, when known."
    other = encode_column(column(models.BigIntegerField()), pd.Series([1, 2]))
    assert "unit" not in other.meta


@pytest.mark.django_db
def test_the_demo_table_round_trips_through_chunks(tmp_path):
    data.generate(files=900, seed=3)
    item = find_declared("DataFile")
    encoded = encode_status_data(item, chunk_rows=400)
    assert list(encoded.files) == [
        META,
        "chunk-0000.json.gz",
        "chunk-0001.json.gz",
        "chunk-0002.json.gz",
    ]
    # A stale chunk of a larger earlier table is removed.
    (tmp_path / "chunk-0009.json.gz").write_bytes(b"old")
    write_status_data(encoded, tmp_path)
    assert not (tmp_path / "chunk-0009.json.gz").exists()

    meta = json.loads((tmp_path / META).read_text())
    assert meta["rows"] == 900 and meta["status"] == "status"
    assert [c["rows"] for c in meta["chunks"]] == [400, 400, 100]
    assert meta["categories"]["corrupt"] == "failed"
    encodings = {c["name"]: c["encoding"] for c in meta["columns"]}
    assert encodings["status"] == encodings["ensemble"] == "dict"
    assert encodings["file_name"] == "front"

    decoded = read_status_data(tmp_path)
    frame = DataFile.objects.order_by("pk").to_dataframe(
        ["file_name", "ensemble__name", "configuration", "size", "status", "produced"]
    )
    assert decoded["file_name"] == frame["file_name"].tolist()
    assert decoded["ensemble"] == frame["ensemble__name"].tolist()
    assert decoded["configuration"] == frame["configuration"].tolist()
    assert decoded["size"] == [None if pd.isna(v) else int(v) for v in frame["size"]]
    assert decoded["status"] == frame["status"].tolist()
    expected_seconds = [None if pd.isna(t) else int(t.timestamp()) for t in frame["produced"]]
    assert decoded["produced"] == expected_seconds

    # Chunks are real gzip files; their total is what a browser downloads.
    for name in encoded.files:
        if name != META:
            assert gzip.decompress((tmp_path / name).read_bytes()).startswith(b"[")
    assert encoded.compressed_bytes < encoded.raw_bytes / 4


@pytest.mark.django_db
def test_an_empty_table_has_no_chunk():
    data.clear()
    encoded = encode_status_data(find_declared("DataFile"))
    assert list(encoded.files) == [META]
    assert json.loads(encoded.files[META])["rows"] == 0
