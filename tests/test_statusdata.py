"""The status page's data: binary columns per primary-key segment (dictionary codes,
int32, float64, UTF-8 text) in part files, decoded by the reference decoder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.db import models

from espresso_static.progress import Column, find_declared
from espresso_static.website import segments
from espresso_static.website.features import statusdata
from espresso_static.website.features.statusdata import (
    META,
    NULL_INT32,
    assemble,
    column_values,
    decode_frame,
    encode_column,
    encode_segment,
    encode_segments,
    encode_status_data,
    iter_frames,
    part_file,
    read_status_data,
)
from espresso_static.website.features.statuspatch import patched_column
from models.demo import data
from models.demo.models import DataFile


def column(field: models.Field, name: str = "x") -> Column:
    return Column(name, name, name, field)


@pytest.fixture
def small_segments(monkeypatch):
    """Segments of 100 keys, 2 per part file: a 900-row table has several of both."""
    monkeypatch.setattr(segments, "SEGMENT_ROWS", 100)
    monkeypatch.setattr(statusdata, "SEGMENTS_PER_PART", 2)


def one_file(field: models.Field, values: list) -> tuple[dict, bytes, list]:
    """The header, body and decoded values of one column's frame."""
    col = column(field)
    frame = encode_segment(0, [column_values(col, pd.Series(values))], [col]).frames[0]
    size = int.from_bytes(frame[:4], "little")
    assert (4 + size) % 8 == 0 and len(frame) % 8 == 0  # typed arrays view bodies in place
    header, body = next(iter_frames(frame))
    assert frame[4 + size :].rstrip(b"\0").startswith(body.rstrip(b"\0"))
    return header, body, decode_frame(header, body)


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


def test_datetimes_are_microseconds_and_dates_seconds_since_1970_utc():
    times = pd.Series(
        [datetime(2026, 1, 5, tzinfo=UTC), None, datetime(1970, 1, 1, 0, 0, 7, 900, tzinfo=UTC)],
        dtype="datetime64[us, UTC]",
    )
    col = column(models.DateTimeField())
    frame = encode_segment(0, [column_values(col, times)], [col]).frames[0]
    assert decode_frame(*next(iter_frames(frame))) == [1767571200_000000, None, 7_000900]
    day = column(models.DateField())
    frame = encode_segment(0, [column_values(day, times)], [day]).frames[0]
    assert decode_frame(*next(iter_frames(frame))) == [1767571200, None, 7]


def test_every_time_python_holds_keeps_its_second():
    """Past 2255 float64 cannot hold every microsecond: a time is rounded down, never
    into the next second (the last one Python holds stayed in 9999, not 10000)."""
    times = [
        datetime.max.replace(tzinfo=UTC),
        datetime.min.replace(tzinfo=UTC),
        datetime(2300, 6, 1, 12, 0, 0, 999_999, tzinfo=UTC),
    ]
    col = column(models.DateTimeField())
    series = pd.Series(times, dtype="datetime64[us, UTC]")  # years pandas' ns cannot hold
    frame = encode_segment(0, [column_values(col, series)], [col]).frames[0]
    decoded = decode_frame(*next(iter_frames(frame)))
    stored = [(t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) for t in times]
    assert [v // 1_000_000 for v in decoded] == [v // 1_000_000 for v in stored]
    assert all(0 <= want - got < 64 for got, want in zip(decoded, stored, strict=True))


@pytest.mark.django_db
def test_the_demo_table_round_trips_through_part_files(tmp_path, small_segments):
    data.generate(files=900, seed=3)
    item = find_declared("DataFile")
    pks = list(DataFile.objects.order_by("pk").values_list("pk", flat=True))
    encoded = encode_status_data(item)
    meta = json.loads(encoded.files[META])
    assert [number for number, _ in meta["segments"]] == sorted({pk // 100 for pk in pks})
    assert sum(rows for _, rows in meta["segments"]) == meta["rows"] == 900
    # Parts: consecutive segments two by two, each a file of key columns and one per
    # other column.
    assert [part for part, _, _ in meta["parts"]] == sorted({pk // 200 for pk in pks})
    assert sum(count for _, _, count in meta["parts"]) == len(meta["segments"])
    names = [c["name"] for c in meta["columns"]]
    assert [names[i] for i in meta["key_columns"]] == [
        "status",
        "ensemble",
        "stream",
        "source",
        "machine",
    ]
    others = [i for i in range(len(names)) if i not in meta["key_columns"]]
    assert list(encoded.files) == [META] + [
        part_file(part, group)
        for part, _, _ in meta["parts"]
        for group in ["k", *(f"c{i}" for i in others)]
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
    microseconds = [
        None if pd.isna(t) else (t - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)
        for t in frame["produced"]
    ]
    assert decoded["produced"] == microseconds
    produced = next(c for c in meta["columns"] if c["name"] == "produced")
    assert produced["per_second"] == 1_000_000
    assert encoded.compressed_bytes < encoded.raw_bytes / 2


@pytest.mark.django_db
def test_segments_encoded_alone_assemble_to_the_same_bytes(small_segments):
    data.generate(files=900, seed=3)
    item = find_declared("DataFile")
    rows = DataFile.objects.all()
    whole = encode_segments(item, rows)
    numbers = sorted(whole)
    some = [numbers[1], numbers[2], numbers[4]]  # a run of two, then one after a gap
    again = encode_segments(item, rows, only=some)
    assert sorted(again) == some
    assert all(again[n] == whole[n] for n in some)
    first = assemble(item, whole)
    second = assemble(item, {**whole, **again}, first.compressed)
    assert second.files == first.files
    # Unchanged part files are not compressed again: the same bytes objects.
    assert all(second.files[name] is first.files[name] for name in first.files if name != META)


@pytest.mark.django_db
def test_a_column_turns_to_text_when_its_segments_together_have_too_many_values(monkeypatch):
    monkeypatch.setattr(segments, "SEGMENT_ROWS", 64)
    data.generate(files=900, seed=3)
    item = find_declared("DataFile")
    whole = encode_segments(item, DataFile.objects.all())
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


@pytest.mark.parametrize(
    ("old", "new", "width"),
    [
        # a value new to the segment, a value gone, null kept: the dictionary changes
        (["b", "a", None, "b", "c"], ["d", None], 1),
        # from one-byte to two-byte codes, and back
        ([f"v{i:03d}" for i in range(250)], [f"w{i:02d}" for i in range(20)], 2),
        ([f"v{i:03d}" for i in range(300)], ["a"], 1),
        # booleans
        ([True, False, None, True], [False], 1),
        # more distinct values than a dictionary takes: text, as a fresh encoding gives
        ([f"v{i:04d}" for i in range(statusdata.DICT_MAX)], ["x", "y"], None),
    ],
)
def test_a_patched_codes_frame_is_the_frame_of_its_values_encoded_anew(old, new, width):
    """Rows of a codes frame kept (every third one dropped, as deleted or changed rows
    are), new values added, all put in a new order: the same frame and dictionary as
    the resulting values encoded from scratch."""
    field = models.BooleanField(null=True) if isinstance(old[0], bool) else models.CharField()
    col = column(field)
    old_frame = encode_segment(0, [column_values(col, pd.Series(old))], [col]).frames[0]
    keep = np.arange(len(old)) % 3 != 1
    if width == 2 or width is None:
        keep[:] = True  # keep enough values for two-byte codes or too many for codes
    elif len(old) == 300:
        keep[1:] = False  # 1 of 300 values stays
    values = [*np.array(old, dtype=object)[keep].tolist(), *new]
    order = np.random.default_rng(7).permutation(len(values))
    patched = patched_column(col, old_frame, keep, np.array(new, dtype=object), order)
    fresh = encode_column(col, column_values(col, pd.Series([values[i] for i in order])))
    assert patched == fresh
    header = next(iter_frames(patched[0]))[0]
    assert header.get("width") == width


@pytest.mark.django_db
def test_an_integer_status_with_choices_is_dictionary_coded(tmp_path):
    """LatteDB's integer statuses with choices are codes, as text ones are: the page
    lists their labels in a multi-select; the values stay numbers."""
    from tests.portapp.models import Job

    for number, status in enumerate([2, 0, 7, 2], 1):
        Job.objects.create(number=number, status=status)
    encoded = encode_status_data(find_declared("portapp.Job"))
    status = json.loads(encoded.files[META])["columns"][0]
    assert (status["name"], status["type"], status["kind"]) == ("status", "int", "codes")
    assert status["dict"] == [0, 2, 7]
    assert status["choices"] == {"0": "queued", "1": "running", "2": "finished"}
    for name, content in encoded.files.items():
        (tmp_path / name).write_bytes(content)
    assert read_status_data(tmp_path)["status"] == [2, 0, 7, 2]


def test_a_patch_codes_numbers_with_choices_as_an_encoding_of_them_whole():
    """A patch reads numbers as floats (NaN: null), the whole table as integers: the
    dictionary has one spelling of each, whichever read them."""
    col = column(models.IntegerField(choices=[(0, "queued"), (1, "running")], null=True))
    old = pd.Series([1, 0, None, 1], dtype="Int64")
    old_frame = encode_column(col, column_values(col, old))[0]
    keep = np.array([True, False, True, True])
    new = np.array([5.0, np.nan, 0.0])
    order = np.array([0, 3, 1, 4, 2, 5])
    patched = patched_column(col, old_frame, keep, new, order)
    values = pd.Series([[1, None, 1, 5, None, 0][i] for i in order], dtype="Int64")
    fresh = encode_column(col, column_values(col, values))
    assert patched == fresh
    assert patched[1] == (0, 1, 5, None)
