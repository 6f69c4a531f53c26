"""The status page's data: binary columns per primary-key segment (dictionary codes,
int32, float64, UTF-8 text), decoded by the reference decoder."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from django.db import models

from espresso_static.progress import Column, find_declared
from espresso_static.website.features.statusdata import (
    META,
    NULL_INT32,
    assemble,
    column_values,
    decode_segment_file,
    encode_segment,
    encode_segments,
    encode_status_data,
    read_status_data,
    segment_file,
)
from models.demo import data
from models.demo.models import DataFile


def column(field: models.Field, name: str = "x") -> Column:
    return Column(name, name, name, field)


def one_file(field: models.Field, values: list) -> tuple[dict, bytes, list]:
    """The header, body and decoded values of one column's segment file."""
    col = column(field)
    segment = encode_segment(0, [column_values(col, pd.Series(values))], [col])
    payload = gzip.decompress(segment.files[0])
    size = int.from_bytes(payload[:4], "little")
    assert (4 + size) % 8 == 0  # the body is aligned for typed-array views
    return json.loads(payload[4 : 4 + size]), payload[4 + size :], decode_segment_file(payload)


def test_few_distinct_strings_are_codes_into_the_segments_sorted_dictionary():
    header, body, decoded = one_file(models.CharField(), ["b", "a", None, "b"])
    assert header["encoding"] == "codes" and header["width"] == 1
    assert header["dict"] == ["a", "b", None]
    assert list(body) == [1, 0, 2, 1]
    assert decoded == ["b", "a", None, "b"]


def test_more_than_256_values_take_two_byte_codes():
    values = [f"v{i:04d}" for i in range(300)]
    header, body, decoded = one_file(models.CharField(), values)
    assert header["width"] == 2
    assert np.frombuffer(body, "<u2").tolist() == list(range(300))
    assert decoded == values


def test_integers_are_int32_with_a_null_marker_and_large_ones_float64():
    header, body, decoded = one_file(models.IntegerField(), [10, None, -3])
    assert header["encoding"] == "i32"
    assert np.frombuffer(body, "<i4").tolist() == [10, NULL_INT32, -3]
    assert decoded == [10, None, -3]
    header, body, decoded = one_file(models.BigIntegerField(), [2**31, None])
    assert header["encoding"] == "f64"  # exact up to 2**53, like any number in JavaScript
    assert decoded == [2**31, None]


def test_many_distinct_strings_are_text_with_utf16_lengths():
    values = [f"run/{i}.h5" for i in range(5000)] + [None, "ü𝄞"]
    header, body, decoded = one_file(models.CharField(), values)
    assert header["encoding"] == "text"
    lengths = np.frombuffer(body, "<i4", count=len(values)).tolist()
    assert lengths[:2] == [len("run/0.h5"), len("run/1.h5")]
    assert lengths[-2:] == [-1, 3]  # 𝄞 is two UTF-16 code units in JavaScript
    assert decoded == values


def test_datetimes_are_whole_seconds_since_1970_utc():
    times = pd.Series(
        [datetime(2026, 1, 5, tzinfo=UTC), None, datetime(1970, 1, 1, 0, 0, 7, 900, tzinfo=UTC)],
        dtype="datetime64[us, UTC]",
    )
    col = column(models.DateTimeField())
    segment = encode_segment(0, [column_values(col, times)], [col])
    assert decode_segment_file(gzip.decompress(segment.files[0])) == [1767571200, None, 7]


@pytest.mark.django_db
def test_the_demo_table_round_trips_through_segments(tmp_path):
    data.generate(files=900, seed=3)
    item = find_declared("DataFile")
    first = DataFile.objects.order_by("pk").first().pk
    encoded = encode_status_data(item, segment_rows=400)
    meta = json.loads(encoded.files[META])
    numbers = [number for number, _ in meta["segments"]]
    assert numbers == sorted(numbers) and numbers[0] == first // 400
    assert sum(rows for _, rows in meta["segments"]) == meta["rows"] == 900
    assert list(encoded.files) == [META] + [
        segment_file(number, c) for number in numbers for c in range(len(meta["columns"]))
    ]
    assert meta["status"] == "status" and meta["categories"]["corrupt"] == "failed"
    kinds = {c["name"]: c["kind"] for c in meta["columns"]}
    assert kinds == {
        "status": "codes",
        "file_name": "text",
        "ensemble": "codes",
        "stream": "codes",
        "configuration": "number",
        "source": "codes",
        "machine": "codes",
        "size": "number",
        "produced": "number",
    }
    ensembles = next(c for c in meta["columns"] if c["name"] == "ensemble")["dict"]
    assert ensembles == sorted(DataFile.objects.values_list("ensemble__name", flat=True).distinct())

    for name, content in encoded.files.items():
        (tmp_path / name).write_bytes(content)
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
    assert encoded.compressed_bytes < encoded.raw_bytes / 2


@pytest.mark.django_db
def test_segments_encoded_alone_assemble_to_the_same_bytes():
    data.generate(files=900, seed=3)
    item = find_declared("DataFile")
    rows = DataFile.objects.all()
    whole = encode_segments(item, rows, segment_rows=256)
    some = sorted(whole)[1:3]
    again = encode_segments(item, rows, segment_rows=256, segments=some)
    assert sorted(again) == some
    assert assemble(item, {**whole, **again}).files == assemble(item, whole).files


@pytest.mark.django_db
def test_a_column_turns_to_text_when_its_segments_together_have_too_many_values():
    data.generate(files=900, seed=3)
    item = find_declared("DataFile")
    whole = encode_segments(item, DataFile.objects.all(), segment_rows=64)
    by_name = {c["name"]: c for c in json.loads(assemble(item, whole).files[META])["columns"]}
    # Each segment of 64 rows codes its file names, the table as a whole cannot.
    index = [c.name for c in item.columns].index("file_name")
    assert all(segment.dicts[index] is not None for segment in whole.values())
    assert by_name["file_name"]["kind"] == "text"


@pytest.mark.django_db
def test_an_empty_table_has_no_segment():
    data.clear()
    encoded = encode_status_data(find_declared("DataFile"))
    assert list(encoded.files) == [META]
    assert json.loads(encoded.files[META])["rows"] == 0
