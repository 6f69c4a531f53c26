"""Downloads in segments: after a change only the segments holding changed rows are
exported again (counted by the cache), and every file is byte for byte what a build
without the cache writes — after updates (ORM and raw SQL), inserts, deletes, link
changes, and changes in a related table or one an audience's row filter reads."""

from __future__ import annotations

import csv
import gzip
import io
import json
import sqlite3
from pathlib import Path

import pytest
from django.db import connection

from espresso_static.access import Audience, AudienceView
from espresso_static.website import segments
from espresso_static.website.cache import BuildCache
from espresso_static.website.features import download_parts, opendata
from espresso_static.website.features.opendata import write_open_data
from models.demo import data
from models.demo.models import (
    Correlator,
    DataFile,
    Ensemble,
    FermionAction,
    GaugeConfig,
    Propagator,
)

pytestmark = pytest.mark.django_db

MODELS = [Ensemble, GaugeConfig, FermionAction, Propagator, Correlator, DataFile]
PUBLIC = AudienceView(Audience("public", "deny", Path("site-public")))
INTERNAL = AudienceView(Audience("internal", "allow", Path("site")))
#: Rows per segment in these tests: the 120 files are 6 segments.
ROWS = 20


@pytest.fixture(autouse=True)
def small_segments(monkeypatch):
    monkeypatch.setattr(segments, "SEGMENT_ROWS", ROWS)


@pytest.fixture
def files(db) -> list[int]:
    data.generate(files=120, seed=4)
    return list(DataFile.objects.order_by("pk").values_list("pk", flat=True))


@pytest.fixture
def builds(tmp_path, monkeypatch):
    """Builds of the downloads with one cache folder, counting the parts encoded."""
    return Downloads(tmp_path, monkeypatch)


class Downloads:
    """Builds of the downloads of an audience with one cache folder; each segment
    encoded (a call of ``write_part`` or ``patch_part``) and each row encoded are
    counted."""

    def __init__(self, folder: Path, monkeypatch):
        self.folder, self.builds, self.encoded, self.rows = folder, 0, 0, 0
        for name in ("write_part", "patch_part"):
            monkeypatch.setattr(opendata, name, self.counted(getattr(opendata, name)))
        encode = download_parts.Encoder.encode

        def rows_counted(encoder, keys, rows):
            self.rows += len(rows)
            return encode(encoder, keys, rows)

        monkeypatch.setattr(download_parts.Encoder, "encode", rows_counted)

    def counted(self, function):
        def counted(*args):
            self.encoded += 1
            return function(*args)

        return counted

    def write(self, view, cache_folder: Path | None) -> tuple[dict[str, bytes], BuildCache]:
        self.builds += 1
        out = self.folder / f"out{self.builds}" / "downloads"
        cache = BuildCache(cache_folder)
        write_open_data(view, MODELS, out, title="Demo data", cache=cache)
        return {p.name: p.read_bytes() for p in sorted(out.iterdir())}, cache

    def incremental(self, view=INTERNAL) -> tuple[dict[str, bytes], list, int]:
        """The files, the cache's outcomes (the package's, then each resource's) and the
        segments encoded of a cached build, checked byte for byte equal to a build
        without the cache."""
        self.encoded = self.rows = 0
        cached, cache = self.write(view, self.folder / "cache")
        encoded, self.rows_encoded = self.encoded, self.rows
        fresh, _ = self.write(view, None)
        assert cached.keys() == fresh.keys()
        assert [name for name in cached if cached[name] != fresh[name]] == []
        return cached, cache.outcomes, encoded


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def segment_count(rows) -> int:
    return len({pk // ROWS for pk in rows})


def visible(model, view: AudienceView = INTERNAL) -> list[int]:
    return list(view.queryset(model).values_list("pk", flat=True))


def links() -> int:
    """The segments of the correlators' links (by their owner)."""
    through = Correlator.propagators.through
    return segment_count(through.objects.values_list("correlator_id", flat=True))


def test_updates_in_raw_sql_and_the_orm_reexport_their_segments_only(files, builds):
    before, outcomes, exported = builds.incremental()
    assert exported == sum(segment_count(visible(m)) for m in MODELS) + links()
    assert outcomes == [("rebuilt", "")] * (1 + len(MODELS) + 1)  # the package, 7 resources
    sql("UPDATE demo_datafile SET size = 12345 WHERE id = %s", [files[3]])
    DataFile.objects.filter(pk=files[-1]).update(status="corrupt")
    after, outcomes, exported = builds.incremental()
    assert exported == segment_count([files[3], files[-1]]) == 2
    # Their segments are patched: only the two changed rows are read and encoded.
    assert builds.rows_encoded == 2
    updated = ("updated", f"2 of {segment_count(files)} segments")
    assert sorted(outcomes) == sorted([("rebuilt", ""), updated, *[("reused", "")] * 6])
    changed = {name for name in after if after[name] != before[name]}
    # The file table's formats, the package database and the checksums; nothing else.
    assert changed == {
        "demo_datafile.csv.gz",
        "demo_datafile.json.gz",
        "demo_datafile.parquet",
        "demo-data.sqlite",
        "datapackage.json",
        "SHA256SUMS",
    }
    # Nothing changed since: the package is reused whole.
    assert builds.incremental()[1:] == ([("reused", "")], 0)


def test_inserts_and_deletes_make_and_drop_segments(files, builds):
    builds.incremental()
    gone = [pk for pk in files if pk // ROWS == files[40] // ROWS]
    DataFile.objects.filter(pk__in=gone).delete()  # a whole segment
    DataFile.objects.filter(pk=files[80]).delete()
    names = [f.column for f in DataFile._meta.local_concrete_fields if not f.primary_key]
    copied = ", ".join(names).replace("file_name", "file_name || '.copy'")
    sql(
        f"INSERT INTO demo_datafile (id, {', '.join(names)}) "
        f"SELECT id + 1000, {copied} FROM demo_datafile WHERE id = %s",
        [files[0]],
    )
    after, _, exported = builds.incremental()
    # The segment deleted whole (patched to nothing), the one row deleted of its
    # segment, and the new segment: only the new row is read and encoded.
    assert (exported, builds.rows_encoded) == (3, 1)
    database = sqlite3.connect(":memory:")
    database.deserialize(after["demo-data.sqlite"])
    rows = [pk for (pk,) in database.execute("SELECT id FROM demo_datafile ORDER BY id")]
    kept = [pk for pk in files if pk not in gone and pk != files[80]]
    assert rows == [*kept, files[0] + 1000]


def test_changed_links_reexport_their_owners_segments(files, builds):
    before, _, _ = builds.incremental()
    through = Correlator.propagators.through
    link = through.objects.order_by("pk").first()
    # Raw SQL: the ORM's removal also saves the correlator (every segment then).
    sql(f"DELETE FROM {through._meta.db_table} WHERE id = %s", [link.pk])
    after, _, exported = builds.incremental()
    # The owner's segment of the links; the correlators' table counts its links as
    # read (the cache's bound), so all of its segments.
    assert exported == 1 + segment_count(visible(Correlator))
    assert (
        after["demo_correlator_propagators.csv.gz"] != before["demo_correlator_propagators.csv.gz"]
    )


def test_a_change_in_a_related_table_or_one_a_row_filter_reads_reexports_every_segment(
    files, builds
):
    before, _, _ = builds.incremental(PUBLIC)
    # Unreleasing an ensemble hides its files from the public: the file table's row
    # filter reads the ensembles' table, which no file row's log entry names.
    ensemble = Ensemble.objects.filter(released=True).order_by("pk").first()
    sql("UPDATE demo_ensemble SET released = %s WHERE id = %s", [False, ensemble.pk])
    after, outcomes, exported = builds.incremental(PUBLIC)
    # The ensemble's own segment (patched: its row dropped, the segment with it if no
    # row of it is still shown), every segment of the tables reading ensembles; the
    # actions' table is reused.
    reading = [GaugeConfig, DataFile]
    assert exported == 1 + sum(segment_count(visible(m, PUBLIC)) for m in reading)
    assert outcomes.count(("reused", "")) == 1
    assert after["demo_datafile.csv.gz"] != before["demo_datafile.csv.gz"]
    # A value of a related row: every segment of the tables reading it.
    released = Ensemble.objects.filter(released=True).order_by("pk").first()
    Ensemble.objects.filter(pk=released.pk).update(pion_mass=311.5)
    assert builds.incremental(PUBLIC)[2] == 1 + sum(
        segment_count(visible(m, PUBLIC)) for m in (GaugeConfig, DataFile)
    )


def test_parts_of_another_segment_size_are_not_reused(files, builds, monkeypatch):
    builds.incremental()
    monkeypatch.setattr(segments, "SEGMENT_ROWS", ROWS * 2)  # e.g. a new release's size
    DataFile.objects.filter(pk=files[0]).update(status="corrupt")
    _, outcomes, exported = builds.incremental()
    assert exported == sum(len({pk // (ROWS * 2) for pk in visible(m)}) for m in MODELS) + len(
        {
            pk // (ROWS * 2)
            for pk in Correlator.propagators.through.objects.values_list("correlator_id", flat=True)
        }
    )
    assert ("reused", "") not in outcomes


def cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


@pytest.mark.parametrize(
    ("damaged", "damage"),
    [
        (download_parts.PART_ARROW, cut_short),
        (download_parts.PART_SQLITE, cut_short),
        (download_parts.PART_ARROW, Path.unlink),
        ("demo_ensemble.csv.gz", cut_short),  # a download of a table reused as it is
    ],
)
def test_a_damaged_cached_file_is_written_again_not_a_failure(files, builds, damaged, damage):
    """A part's file cut short (a copy stopped halfway) or gone, read when its segment
    is patched (the Arrow file) or the package is put together (the SQLite table), or
    a reused table's download cut short: the downloads are written again from the
    database; the next build patches the parts written then."""
    builds.incremental()
    for part in (builds.folder / "cache").glob(f"entries/*/*/files/{damaged}"):
        damage(part)
    DataFile.objects.filter(pk=files[3]).update(status="corrupt")
    _, outcomes, _ = builds.incremental()
    assert outcomes[0][0] == "rebuilt"
    assert outcomes[0][1].startswith("a cached file could not be read (")
    assert outcomes[1:] == [("rebuilt", "")] * (len(MODELS) + 1)
    DataFile.objects.filter(pk=files[4]).update(status="corrupt")
    assert builds.incremental()[2] == 1


def test_a_reused_package_cut_short_in_the_cache_is_written_again(files, builds):
    builds.incremental()
    for part in (builds.folder / "cache").glob("entries/*/*/files/demo-data.sqlite"):
        cut_short(part)
    _, outcomes, _ = builds.incremental()  # nothing changed: the package was reused
    assert outcomes[0][1].startswith("a cached file could not be read (")


def test_each_json_download_is_one_array_of_its_rows(files, builds, monkeypatch):
    """A JSON file is put together from its parts' compressed objects and separators
    between parts: one array of the rows, whatever its parts — several segments, a
    part of several chunks, a table without rows."""
    monkeypatch.setattr(download_parts, "CHUNK_ROWS", 7)  # a segment's 20 rows: 3 chunks
    Correlator.objects.all().delete()  # its table and its links' without rows
    written, _ = builds.write(INTERNAL, None)
    arrays = {name: content for name, content in written.items() if name.endswith(".json.gz")}
    assert len(arrays) == len(MODELS) + 1  # and the correlators' links
    for name, content in arrays.items():
        rows = json.loads(gzip.decompress(content))
        lines = written[name.replace(".json.gz", ".csv.gz")]
        assert len(rows) == len(list(csv.reader(io.StringIO(gzip.decompress(lines).decode())))) - 1
    assert [
        row["id"] for row in json.loads(gzip.decompress(arrays["demo_datafile.json.gz"]))
    ] == files
    assert json.loads(gzip.decompress(arrays["demo_correlator.json.gz"])) == []
