"""Status data after a sync: only the segments holding changed rows are encoded again,
and the files are byte for byte those of a build without the cache."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from django.db import connection

from espresso_static.data.raw_rows import resolve_lookup, vectorised
from espresso_static.declare.access import Audience, AudienceView
from espresso_static.declare.progress import DeclaredProgress, Progress
from espresso_static.website import segments
from espresso_static.website.cache import BuildCache
from espresso_static.website.features import statusdata
from espresso_static.website.features.status import status_sources, status_tables
from espresso_static.website.features.statuspatch import _plain, read_plain_rows
from models.demo import data
from models.demo.models import DataFile
from tests.portapp.models import Kinds
from tests.siteapp.models import Instrument, Run

pytestmark = pytest.mark.django_db

VIEWS = [
    AudienceView(Audience("internal", "allow", Path("site"))),
    AudienceView(Audience("public", "deny", Path("site-public"))),
]


@pytest.fixture(autouse=True)
def small_segments(monkeypatch):
    monkeypatch.setattr(segments, "SEGMENT_ROWS", 100)
    monkeypatch.setattr(statusdata, "SEGMENTS_PER_PART", 2)


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def insert_copy(pk: int, new_pk: int) -> None:
    """A new file row ``new_pk`` (raw SQL, as a sync script may), like row ``pk``."""
    copied = [f.column for f in DataFile._meta.local_concrete_fields if not f.primary_key]
    names = ", ".join(copied)
    values = names.replace("file_name", "file_name || '.new'")
    sql(
        f"INSERT INTO demo_datafile (id, {names}) SELECT %s, {values} FROM demo_datafile WHERE id = %s",
        [new_pk, pk],
    )


def build(view: AudienceView, cache: BuildCache) -> tuple[dict[str, bytes], int, int]:
    """The files of the DataFile status page, and (segments encoded, segments)."""
    sources = [s for s in status_sources(view) if s.item.label == "demo.DataFile"]
    counts = []
    cache.new_snapshot()
    (page,) = status_tables(view, sources, cache=cache, report=lambda *n: counts.extend(n))
    return page.data.files, *counts


@pytest.mark.parametrize("view", VIEWS, ids=lambda view: view.name)
def test_a_sync_encodes_its_segments_again_and_nothing_else(view, tmp_path):
    data.generate(files=900, seed=5)
    cache = BuildCache(tmp_path / "cache")
    _, encoded, total = build(view, cache)
    assert encoded == total > 4

    # Nothing changed: every segment reused.
    assert build(view, cache)[1] == 0

    pks = list(DataFile.objects.order_by("pk").values_list("pk", flat=True))
    first, last = pks[0] // 100, pks[-1] // 100
    sql("UPDATE demo_datafile SET status = 'corrupt', size = NULL WHERE id = %s", [pks[3]])
    sql("DELETE FROM demo_datafile WHERE id = %s", [pks[-1]])
    insert_copy(pks[5], pks[-1] + 1000)  # a new segment, after the others
    files, encoded, _ = build(view, cache)
    if view.name == "internal":  # the segments left with rows, of the three changed
        left = {pk // 100 for pk in DataFile.objects.values_list("pk", flat=True)}
        assert encoded == len({first, last, (pks[-1] + 1000) // 100} & left) >= 2
    assert files == build(view, BuildCache(None))[0]  # as without the cache

    # A whole segment deleted: it is gone from the data, the others are kept.
    sql("DELETE FROM demo_datafile WHERE id >= %s AND id < %s", [first * 100, first * 100 + 100])
    files, encoded, total = build(view, cache)
    assert files == build(view, BuildCache(None))[0]
    if view.name == "internal":
        left = DataFile.objects.values_list("pk", flat=True)
        assert encoded == 0 and total == len({pk // 100 for pk in left})


def test_a_change_in_a_table_the_rows_show_encodes_every_segment(tmp_path):
    data.generate(files=900, seed=5)
    view = VIEWS[0]
    cache = BuildCache(tmp_path / "cache")
    build(view, cache)
    sql(
        "UPDATE demo_ensemble SET name = name || 'x' WHERE id = (SELECT MIN(id) FROM demo_ensemble)"
    )
    files, encoded, total = build(view, cache)
    assert encoded == total
    assert files == build(view, BuildCache(None))[0]


def test_a_sync_of_many_rows_reads_the_changed_segments_whole(tmp_path):
    data.generate(files=900, seed=5)
    view = VIEWS[0]
    cache = BuildCache(tmp_path / "cache")
    build(view, cache)
    pks = list(DataFile.objects.order_by("pk").values_list("pk", flat=True))
    # 1 row in 9 changed, in the first half: more than the rows read alone (PATCH_SHARE).
    for pk in pks[: len(pks) // 2 : 9]:
        sql("UPDATE demo_datafile SET status = 'corrupt' WHERE id = %s", [pk])
    files, encoded, total = build(view, cache)
    assert encoded == len({pk // 100 for pk in pks[: len(pks) // 2 : 9]}) < total
    assert files == build(view, BuildCache(None))[0]


def held_bytes(value) -> Iterator[bytes]:
    """Every ``bytes`` value holds: in its dataclass fields, mappings and sequences."""
    if isinstance(value, bytes):
        yield value
    elif dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            yield from held_bytes(getattr(value, field.name))
    elif isinstance(value, dict):
        for item in value.items():
            yield from held_bytes(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from held_bytes(item)


def test_each_segment_is_an_entry_of_its_own_and_a_lost_one_means_encoding_all(tmp_path):
    """A sync reads and writes the cache entries of the segments it encodes (and of
    the part files written again), not the whole table's; a build needing a segment's
    entry the cache lost encodes every segment, with the same bytes."""
    from espresso_static.website.features.status import StatusState

    data.generate(files=900, seed=5)
    view = VIEWS[0]
    cache = BuildCache(tmp_path / "cache")
    _, _, total = build(view, cache)
    (state_file,) = [
        path
        for path in (tmp_path / "cache" / "entries").glob("*/*/value.pickle")
        if isinstance(cache.load(path.parent.name, counted=False), StatusState)
    ]
    state = cache.load(state_file.parent.name, counted=False)
    entries = state.entries
    assert len(entries) == total > 4
    # The state names its segments' entries: it holds none of their frames. (Not a
    # search of its bytes: a data file it holds may store a small frame as it is,
    # deflate keeping incompressible bytes uncompressed.)
    kept = [cache.load(key, counted=False) for key in entries.values()]
    frames = {frame for segment in kept for frame in segment.frames}
    assert all(len(frame) > 16 for frame in frames)
    held = list(held_bytes(state))
    assert held and frames.isdisjoint(held)  # it holds the data files, none of the frames

    pks = list(DataFile.objects.order_by("pk").values_list("pk", flat=True))
    sql("UPDATE demo_datafile SET status = 'corrupt' WHERE id = %s", [pks[3]])
    files, encoded, _ = build(view, cache)
    assert encoded == 1
    assert files == build(view, BuildCache(None))[0]

    (state,) = [
        value
        for path in (tmp_path / "cache" / "entries").glob("*/*/value.pickle")
        if isinstance(value := cache.load(path.parent.name, counted=False), StatusState)
    ]
    shutil.rmtree(cache._entry(state.entries[pks[-1] // 100]))
    sql("UPDATE demo_datafile SET status = 'on_tape' WHERE id = %s", [pks[-1]])
    files, encoded, total = build(view, cache)
    assert encoded == total
    assert files == build(view, BuildCache(None))[0]


def kinds_rows() -> None:
    """Rows with a value and a null of each kind the tables below have."""
    first = Instrument.objects.create(name="cal-1", channels=64, active=True, weight=2.5)
    second = Instrument.objects.create(name="trk <2>", kind="trk", comment="ü € 😀\nline")
    Run.objects.create(instrument=first, number=1, energy=13.6, note="first")
    Run.objects.create(instrument=second, number=2, energy=None)
    # The first and last times Python holds (float64 rounds the last one's microseconds).
    for instrument, moment in ((first, datetime.datetime.min), (second, datetime.datetime.max)):
        moment = moment.replace(tzinfo=datetime.UTC)
        Instrument.objects.filter(pk=instrument.pk).update(last_modified=moment)
    day, span = datetime.date(1969, 12, 31), datetime.timedelta(days=1, microseconds=5)
    Kinds.objects.create(decimal=decimal.Decimal("2.125"), day=day, duration=span)
    Kinds.objects.create(decimal=decimal.Decimal("-0.001"), json=[1, "a"], day=None)


@pytest.mark.parametrize(
    ("model", "columns", "by_pandas"),
    [
        (
            Instrument,
            ["kind", "active", "channels", "weight", "name", "comment", "last_modified"],
            False,
        ),
        (
            Run,
            [
                "note",
                "instrument",
                "instrument__active",
                "instrument__last_modified",
                "energy",
                "number",
            ],
            False,
        ),
        (Kinds, ["tag", "decimal", "day"], False),
        # Kinds Django converts (durations, JSON, UUIDs, times, ...): read by pandas.
        (Kinds, ["tag", "duration", "json", "uuid", "moment", "address", "day"], True),
    ],
    ids=["numbers-and-texts", "relations", "decimals-and-dates", "other-kinds"],
)
def test_a_patch_reads_the_values_encoding_the_whole_table_reads(model, columns, by_pandas):
    """The changed rows a patch reads (without pandas where it can: a nightly build
    then never imports it) are the values an encoding of the whole table reads."""
    kinds_rows()
    item = DeclaredProgress(model, Progress(status=columns[0], done=["x"], columns=columns))
    fields = [resolve_lookup(model, column.lookup)[0] for column in item.columns]
    assert vectorised(fields) is not by_pandas
    rows = model.objects.all()
    pks, values = read_plain_rows(rows, item.columns)
    whole_pks, series = statusdata.read_rows(rows, item.columns, True)
    assert pks.tolist() == whole_pks.tolist() and len(pks) == 2
    for column, got, whole in zip(item.columns, values, series, strict=True):
        want = _plain(column, whole)
        assert got.dtype == want.dtype, column.name
        same = [
            a == b or (a != a and b != b) for a, b in zip(got.tolist(), want.tolist(), strict=True)
        ]
        assert all(same) and [type(v) for v in got] == [type(v) for v in want], column.name


OLD_TEXTS = ["cal-1", "ü € 😀", "", None, "trk <2>", "a\u2028b", "x" * 40, "😀😀", "cal-1", "z"]


@pytest.mark.parametrize(
    ("old", "new", "fast"),
    [
        # Non-ASCII and astral characters (their JavaScript lengths), nulls, empty texts.
        (OLD_TEXTS, ["ß", None, "", "new 😀", "cal-1"], True),
        (OLD_TEXTS, [], True),  # rows removed alone
        (OLD_TEXTS, ["two\nlines"], False),  # a value with a line break: encoded whole
        ([*OLD_TEXTS[:4], "one\nbreak"], ["plain"], False),
        (list("abcdef"), ["a", "a"], False),  # few values now (a, c, d, f): a dictionary
    ],
    ids=["hostile", "removed", "new-break", "old-break", "dictionary-now"],
)
def test_a_patched_text_column_is_what_encoding_its_values_whole_writes(
    monkeypatch, old, new, fast
):
    """A text column is patched as UTF-8 lines, its kept rows never decoded: byte for
    byte the frame an encoding of the segment's values whole writes."""
    from espresso_static.website.features import statuspatch

    monkeypatch.setattr(statusdata, "DICT_MAX", 4)
    monkeypatch.setattr(statuspatch, "DICT_MAX", 4)
    item = DeclaredProgress(Instrument, Progress(status="kind", done=["x"], columns=["name"]))
    column = item.columns[1]
    before = np.array(old, dtype=object)
    old_frame, dictionary = statusdata.encode_column(column, before)
    assert dictionary is None  # a text frame
    keep = np.array([i % 3 != 1 for i in range(len(old))])
    added = np.array(new, dtype=object)
    # The new rows' keys fall between the kept ones'.
    keys = np.concatenate([np.arange(len(old))[keep] * 10, np.arange(len(new)) * 7 + 3])
    order = np.argsort(keys, kind="stable")
    whole = statusdata.encode_column(column, np.concatenate([before[keep], added])[order])
    assert statuspatch.patched_column(column, old_frame, keep, added, order) == whole
    header, body = next(statusdata.iter_frames(old_frame))
    patched = statuspatch._patched_texts(header, body, keep, added, order)
    assert (patched is not None) is fast
