"""``espresso-static ingest`` with the files people have: every bad input ends with one
line naming the file, the row (the line an editor shows, the CSV header is line 1)
and the column, exit code 1, and nothing committed; what spreadsheets write (a
byte-order mark, long cells) is read."""

from __future__ import annotations

import csv
import gzip
import json
import re
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.db import connection
from django.db.models.base import ModelState

from espresso_static.access import Audience, AudienceView
from espresso_static.cli import cli
from espresso_static.data.ingest import RowError
from espresso_static.data.ingest.plan import Batch, make_plan
from espresso_static.data.ingest.rows import _shape_of
from espresso_static.data.ingest.write import BatchRelated, _IngestState, _instance
from espresso_static.website.features.opendata import write_open_data
from models.demo.models import DataFile, Ensemble
from tests.conftest import REPO
from tests.siteapp.models import Instrument

pytestmark = pytest.mark.django_db
INTERNAL = AudienceView(Audience("internal", "allow", Path("site")))
HEADER = "file_name,ensemble,stream,configuration,source,machine,size,status"


@pytest.fixture
def ensemble():
    return Ensemble.objects.create(
        name="a12m310", beta=6.0, nx=24, nt=64, lattice_spacing=0.121, pion_mass=310.0
    )


def good_line(ensemble, number: int) -> str:
    return f"a/{number}.h5,{ensemble.pk},a,{number},x0y0z0t0,summit,100,on_disk"


def typed_row(ensemble, **values) -> dict:
    """A good row as Parquet holds it: numbers as numbers; ``values`` added."""
    row = dict(zip(HEADER.split(","), good_line(ensemble, 1).split(","), strict=True))
    return {**row, "ensemble": ensemble.pk, "configuration": 1, "size": 100, **values}


def ingest(path, model="demo.DataFile", key="file_name"):
    args = ["ingest", model, str(path), "--key", key, "--project", str(REPO)]
    return CliRunner().invoke(cli, args)


def refused(result, model=DataFile) -> str:
    """The one line of a refused ingest (and nothing was written)."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert model.objects.count() == 0
    return lines[0]


def write_csv(tmp_path, ensemble, bad_line: str, before: int = 1) -> object:
    """A CSV file: the header, ``before`` good lines, then ``bad_line``."""
    lines = [HEADER, *(good_line(ensemble, n) for n in range(before)), bad_line]
    path = tmp_path / "files.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("cells", "column", "reason"),
    [
        # A value of the wrong type.
        ("a/x.h5,{e},a,thirty,x0,summit,1,on_disk", "configuration", "must be an integer"),
        # An empty required cell, before the model's check could compare None.
        ("a/x.h5,{e},a,,x0,summit,1,on_disk", "configuration", "requires a value"),
        ("a/x.h5,{e},,7,x0,summit,1,on_disk", "stream", "requires a value"),
        # One cell too many, one too few.
        ("a/x.h5,{e},a,7,x0,summit,1,on_disk,extra", "9 (after status)", "a cell too many"),
        ("a/x.h5,{e},a,7,x0,summit,1", "status", "no cell for this column"),
        # Longer than max_length (SQLite would store it).
        ("a/" + "x" * 250 + ".h5,{e},a,7,x0,summit,1,on_disk", "file_name", "255 characters"),
        # Out of the column's range (the driver would raise OverflowError).
        ("a/x.h5,{e},a,7,x0,summit,99999999999999999999,on_disk", "size", "outside the range"),
        # Out of the field's own range, which PostgreSQL holds to and SQLite does not.
        (
            "a/x.h5,{e},a,99999999999,x0,summit,1,on_disk",
            "configuration",
            "99999999999 is outside the range of the column (0 to 2,147,483,647)",
        ),
        ("a/x.h5,{e},a,-1,x0,summit,1,on_disk", "configuration", "(0 to 2,147,483,647)"),
        # A foreign key to no row.
        ("a/x.h5,999,a,7,x0,summit,1,on_disk", "ensemble", "demo.Ensemble has no row with id=999"),
        # A value outside the column's choices (a misspelt status).
        ("a/x.h5,{e},a,7,x0,summit,1,on_dsik", "status", "'on_dsik' is not one of the column's"),
    ],
)
def test_a_bad_cell_is_named_by_file_line_and_column(tmp_path, ensemble, cells, column, reason):
    path = write_csv(tmp_path, ensemble, cells.format(e=ensemble.pk), before=2)
    line = refused(ingest(path))
    assert line.startswith(f"Error: Nothing ingested: {path}, line 4, column {column}"), line
    assert reason in line


def test_a_nul_character_postgresql_cannot_store_is_named(tmp_path, ensemble):
    from django.db import connection

    path = write_csv(tmp_path, ensemble, f"a/x.h5,{ensemble.pk},a,7,x0\x00y,summit,1,on_disk")
    result = ingest(path)
    if connection.vendor != "postgresql":  # SQLite stores it as it is
        assert result.exit_code == 0, result.output
        assert DataFile.objects.get(file_name="a/x.h5").source == "x0\x00y"
        return
    line = refused(result)
    assert f"{path}, line 3, column source (file_name='a/x.h5'): holds a NUL" in line


def test_a_time_without_its_zone_is_utc_without_a_warning(tmp_path, ensemble):
    from datetime import UTC, datetime

    path = tmp_path / "files.csv"
    path.write_text(f"{HEADER},produced\n{good_line(ensemble, 1)},2026-12-01 10:00:00\n")
    with warnings.catch_warnings():
        # Django's "naive datetime" warning, printed on PostgreSQL for every such value.
        warnings.simplefilter("error", RuntimeWarning)
        result = ingest(path)
    assert result.exit_code == 0, result.output
    assert DataFile.objects.get().produced == datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_a_parquet_time_without_its_zone_is_utc_without_a_warning(tmp_path, ensemble):
    """Parquet hands over datetimes, not text: a timestamp column without a zone."""
    from datetime import UTC, datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    row = typed_row(ensemble, produced=datetime(2026, 12, 1))
    path = tmp_path / "files.parquet"
    pq.write_table(pa.Table.from_pylist([row]), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = ingest(path)
        assert result.exit_code == 0, result.output
        assert "1 unchanged" in ingest(path).output  # compared as stored
    assert DataFile.objects.get().produced == datetime(2026, 12, 1, tzinfo=UTC)


def test_a_parquet_file_of_nanoseconds_ingested_again_changes_nothing(tmp_path, ensemble):
    """pyarrow hands a nanosecond timestamp over as a pandas Timestamp, which no stored
    datetime equals: every night's ingest of the same file rewrote every row."""
    from datetime import UTC, datetime

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = typed_row(ensemble)
    produced = pa.array([pd.Timestamp("2026-12-01 10:00:00.123456789")], pa.timestamp("ns"))
    table = pa.Table.from_pylist([row]).append_column("produced", produced)
    path = tmp_path / "files.parquet"
    pq.write_table(table, path)
    assert "1 inserted" in ingest(path).output
    assert "1 unchanged" in ingest(path).output
    assert DataFile.objects.get().produced == datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)


def test_pandas_times_are_ingested_as_stored(ensemble):
    """A DataFrame's records: a missing time (NaT) is empty, not a failed write."""
    from datetime import UTC, datetime

    import pandas as pd

    import espresso_static

    frame = pd.DataFrame(
        {
            "file_name": ["a/1.h5", "a/2.h5"],
            "ensemble": [ensemble.pk] * 2,
            "stream": ["a"] * 2,
            "configuration": [1, 2],
            "source": ["x0"] * 2,
            "machine": ["summit"] * 2,
            "size": [100] * 2,
            "status": ["on_disk"] * 2,
            "produced": [pd.Timestamp("2026-12-01 10:00", tz="UTC"), pd.NaT],
        }
    )
    rows = frame.to_dict("records")
    assert espresso_static.ingest(DataFile, rows, key=("file_name",)).inserted == 2
    assert espresso_static.ingest(DataFile, rows, key=("file_name",)).unchanged == 2
    produced = dict(DataFile.objects.values_list("file_name", "produced"))
    assert produced == {"a/1.h5": datetime(2026, 12, 1, 10, tzinfo=UTC), "a/2.h5": None}


def test_bytes_that_are_not_utf8_are_named_by_line_and_column(tmp_path, ensemble):
    path = tmp_path / "files.csv"
    path.write_bytes(
        f"{HEADER}\n{good_line(ensemble, 1)}\na/x.h5,{ensemble.pk},a,7,x\xff0,summit,1,on_disk\n".encode(
            "latin-1"
        )
    )
    line = refused(ingest(path))
    assert f"{path}, line 3, column source: not UTF-8 text (byte 0xff after 'x')" in line


def test_a_repeated_key_names_both_lines(tmp_path, ensemble):
    path = write_csv(tmp_path, ensemble, good_line(ensemble, 1), before=3)
    line = refused(ingest(path))
    assert (
        f"{path}, line 5, column file_name: repeats the key file_name='a/1.h5' of {path}, line 3"
        in line
    )


def test_an_empty_file_and_an_unknown_column_are_named(tmp_path, ensemble):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert f"{empty}, line 1: the file is empty" in refused(ingest(empty))
    unknown = write_csv(tmp_path, ensemble, good_line(ensemble, 1))
    unknown.write_text(unknown.read_text().replace("stream", "colour", 1))
    assert f"{unknown}, line 1, column colour: not a column of demo.DataFile" in refused(
        ingest(unknown)
    )


def test_lines_count_as_an_editor_shows_them(tmp_path, ensemble):
    """A quoted cell over two lines and a blank line: the next row is on line 6."""
    rows = [
        HEADER,
        f'"a/1.h5",{ensemble.pk},a,1,"x0\ny0",summit,1,on_disk',
        "",
        f"a/2.h5,{ensemble.pk},a,2,x0,summit,1,on_disk",
        f"a/3.h5,{ensemble.pk},a,three,x0,summit,1,on_disk",
    ]
    path = tmp_path / "files.csv"
    path.write_text("\n".join(rows) + "\n")
    assert f"{path}, line 6, column configuration" in refused(ingest(path))


def test_a_check_failing_names_the_line_and_key(tmp_path, ensemble):
    path = write_csv(tmp_path, ensemble, f"bad.txt,{ensemble.pk},a,7,x0,summit,1,on_disk")
    line = refused(ingest(path))
    assert f"{path}, line 3 (file_name='bad.txt'): Consistency error when checking" in line
    assert "is not an .h5 file" in line


def test_jsonl_and_parquet_name_their_line_or_row(tmp_path, ensemble):
    good = {"file_name": "a/1.h5", "ensemble": ensemble.pk, "stream": "a", "configuration": 1}
    good.update(source="x0", machine="summit", size=1, status="on_disk")
    bad = {**good, "file_name": "a/2.h5", "configuration": "thirty"}
    jsonl = tmp_path / "files.jsonl"
    jsonl.write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n")
    assert f"{jsonl}, line 3, column configuration" in refused(ingest(jsonl))
    jsonl.write_text(json.dumps(good) + "\n{not json\n")
    assert f"{jsonl}, line 2, column 2: not JSON" in refused(ingest(jsonl))

    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "files.parquet"
    pq.write_table(
        pa.Table.from_pylist([good, {**good, "file_name": "a/2.h5", "stream": "x" * 9}]), parquet
    )
    line = refused(ingest(parquet))
    assert f"{parquet}, row 2, column stream (file_name='a/2.h5'): is 9 characters long" in line


ENSEMBLE_ROW = {"name": "a12m310", "beta": 6.0, "nx": 24, "nt": 64}
ENSEMBLE_ROW.update(lattice_spacing=0.121, pion_mass=310.0)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("nx", 24.5, "24.5 is not a whole number; the column holds integers"),
        ("nx", True, "true is a truth value, not an integer"),
        ("nx", [24], "is a list, not an integer"),
        ("beta", False, "false is a truth value, not a number"),
        ("beta", {"v": 6}, "is a dict, not a number"),
        ("beta", "six", "value must be a float"),
        ("released", 2, "value must be either True or False"),
    ],
)
def test_a_json_value_of_the_wrong_type_is_refused_not_converted(tmp_path, column, value, reason):
    """int() and float() would store 24.5 as 24 and true as 1 (as CSV refuses "24.5")."""
    path = tmp_path / "ensembles.jsonl"
    bad = {**ENSEMBLE_ROW, "name": "a09m310", column: value}
    path.write_text(json.dumps(ENSEMBLE_ROW) + "\n" + json.dumps(bad) + "\n")
    line = refused(ingest(path, model="demo.Ensemble", key="name"), model=Ensemble)
    assert line.startswith(f"Error: Nothing ingested: {path}, line 2, column {column} "), line
    assert "(name='a09m310'): " in line and reason in line, line


def test_whole_floats_are_integers_and_other_floats_are_refused(tmp_path):
    """pandas writes an integer column holding a NaN as floats: 24.0 is the integer 24,
    24.5 is refused; a float column takes integers, a truth column 0 and 1 (as CSV "0")."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "ensembles.parquet"
    row = {**ENSEMBLE_ROW, "nx": 24.0, "nt": 64.0, "beta": 6, "released": 1}
    pq.write_table(pa.Table.from_pylist([row]), path)
    assert ingest(path, model="demo.Ensemble", key="name").exit_code == 0
    stored = Ensemble.objects.values_list("nx", "nt", "beta", "released").get()
    assert stored == (24, 64, 6.0, True)

    Ensemble.objects.all().delete()
    pq.write_table(pa.Table.from_pylist([row, {**row, "name": "a09m310", "nx": 32.9}]), path)
    line = refused(ingest(path, model="demo.Ensemble", key="name"), model=Ensemble)
    assert f"{path}, row 2, column nx (name='a09m310'): 32.9 is not a whole number" in line


def test_byte_order_mark_and_long_cells_are_read(tmp_path):
    path = tmp_path / "instruments.csv"
    long_text = "n" * 200_000  # over the csv module's default limit of 131,072
    path.write_text(f"\ufeffname,channels,comment\necal,64,{long_text}\n", encoding="utf-8")
    result = ingest(path, model="siteapp.Instrument", key="name")
    assert result.exit_code == 0, result.output
    assert Instrument.objects.get(name="ecal").comment == long_text


def test_an_empty_csv_cell_is_null_where_the_column_may_be_null(tmp_path):
    """What the CSV download writes ingests back as it was: a NULL tag (an empty cell)
    is NULL again, an empty comment (a text that cannot be NULL) empty; JSON Lines
    keep what they say."""
    Instrument.objects.create(name="ecal", channels=64)  # tag NULL, comment ""
    write_open_data(INTERNAL, [Instrument], tmp_path, title="site")
    with gzip.open(tmp_path / "siteapp_instrument.csv.gz", "rt", newline="") as exported:
        cells = [(row["name"], row["comment"], row["tag"]) for row in csv.DictReader(exported)]
    assert cells == [("ecal", "", "")]
    path = tmp_path / "instruments.csv"
    path.write_text("name,comment,tag\n" + "".join(",".join(c) + "\n" for c in cells))
    Instrument.objects.all().delete()
    assert ingest(path, model="siteapp.Instrument", key="name").exit_code == 0
    assert list(Instrument.objects.values_list("comment", "tag")) == [("", None)]

    lines = tmp_path / "instruments.jsonl"
    lines.write_text('{"name": "ecal", "tag": ""}\n{"name": "hcal", "tag": null}\n')
    assert ingest(lines, model="siteapp.Instrument", key="name").exit_code == 0
    assert dict(Instrument.objects.values_list("name", "tag")) == {"ecal": "", "hcal": None}


def test_the_library_names_row_and_column_too(ensemble):
    import espresso_static

    rows = [{"file_name": "a/1.h5", "ensemble": ensemble, "stream": "a", "configuration": "x"}]
    with pytest.raises(RowError, match=re.escape("demo.DataFile row 1, column configuration")):
        espresso_static.ingest(DataFile, rows, key=["file_name"])


def test_an_integer_code_outside_the_choices_is_refused():
    """LatteDB's status columns are integer codes with choices: a code with no label
    is refused, named as given, with the codes the column allows."""
    import espresso_static
    from tests.portapp.models import Job

    rows = [{"number": 1, "status": "2"}, {"number": 2, "status": "7"}]
    expected = (
        "portapp.Job row 2, column status (number=2): 7 is not one of the column's choices: 0, 1, 2"
    )
    with pytest.raises(RowError, match=re.escape(expected)):
        espresso_static.ingest(Job, rows, key=["number"])
    assert not Job.objects.exists()


def test_the_django_internals_the_ingest_relies_on_are_unchanged(ensemble):
    """The ingest builds instances without Model.__init__ (as Model.from_db would see
    them) and gives them a ModelState whose fields_cache it replaces: a Django upgrade
    that changes either must fail here, not silently in the checks."""
    assert {name for name in vars(ModelState) if not name.startswith("__")} == {
        "db",
        "adding",
        "fields_cache",
    }
    assert hasattr(ModelState.__dict__["fields_cache"], "__get__")  # a lazy descriptor
    stored = DataFile.objects.create(
        file_name="a/1.h5", ensemble=ensemble, stream="a", configuration=1, source="x0",
        machine="summit", size=1, status="on_disk",
    )  # fmt: skip
    loaded = DataFile.objects.get(pk=stored.pk)
    assert set(vars(loaded)) == {"_state"} | {f.attname for f in DataFile._meta.concrete_fields}
    assert set(vars(loaded._state)) <= {"db", "adding", "fields_cache"}

    plan = make_plan(DataFile, ("file_name",), connection.alias)
    row = {"file_name": "a/2.h5", "ensemble_id": ensemble.pk, "stream": "a", "configuration": 2}
    row.update(source="x0", machine="summit")
    batch = Batch(0, values=[row], shapes=[_shape_of(plan, tuple(row), 0)])
    related = BatchRelated(plan)
    built = _instance(plan, batch, 0, None, related)
    related.instances = [built]
    assert set(vars(built)) == set(vars(loaded))
    assert isinstance(built._state, _IngestState) and isinstance(built._state, ModelState)
    # A foreign key the checks follow comes from the batch's rows, through Django's
    # descriptor reading _state.fields_cache.
    assert built.ensemble == ensemble
    built.check_consistency()


def test_a_files_text_reaches_the_terminal_with_its_escapes_written_out(tmp_path, ensemble):
    """An error line quotes the file (a value, a column name): an escape sequence there
    would retitle, recolour or clear the user's terminal (click keeps them on one)."""
    escape = "\x1b]0;owned\x07\x1b[2J\u202e"
    bad_value = f"a/x.h5,{ensemble.pk},a,{escape},x0y0z0t0,summit,1,on_disk"
    bad_header = tmp_path / "header.csv"
    bad_header.write_text(f"{HEADER},{escape}\n{good_line(ensemble, 1)},1\n", encoding="utf-8")
    for path in (write_csv(tmp_path, ensemble, bad_value), bad_header):
        args = ["ingest", "demo.DataFile", str(path), "--key", "file_name", "--project", str(REPO)]
        line = refused(CliRunner().invoke(cli, args, color=True))
        assert "\\x1b]0;owned\\x07\\x1b[2J\\u202e" in line
        assert line.isprintable()


def test_a_huge_value_is_shortened_in_the_error_line(tmp_path, ensemble):
    """A cell of 100,000 digits is not echoed whole: the line keeps where (file, line,
    column) and why, and counts what it leaves out."""
    huge = "9" * 100_000
    path = write_csv(tmp_path, ensemble, f"a/x.h5,{ensemble.pk},a,{huge},x0y0z0t0,summit,1,on_disk")
    line = refused(ingest(path))
    assert len(line) < 1100
    assert line.startswith(f"Error: Nothing ingested: {path}, line 3, column configuration")
    assert line.endswith("value must be an integer.")
    assert re.search(r" … \[\d{2},\d{3} characters\] … ", line)
