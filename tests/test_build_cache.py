"""The build cache: an unchanged rebuild reuses every expensive output and publishes
the same site; a changed row, a changed access declaration and another audience each
rebuild what they decide, never serving stale output; ``--no-cache`` bypasses it."""

from __future__ import annotations

import csv
import os
import re
import shutil
import time
from datetime import timedelta
from pathlib import Path

import jinja2
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner
from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Now
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from espresso_static.access import ALL, Access
from espresso_static.cli import cli
from espresso_static.data.snapshot import take_snapshot
from espresso_static.progress import declared
from espresso_static.website.cache import CACHE_DIR, TRASH, BuildCache, open_cache
from espresso_static.website.features.statusdata import read_status_data
from espresso_static.website.render import template_environment
from models.demo import data
from models.demo.models import Correlator, DataFile

REPO = Path(__file__).resolve().parents[1]
DOWNLOADS = "generated/data/downloads"
STATUS = "generated/status/demo/datafile/data"
#: The parts of the collect step whose outputs are cached.
CACHED_PARTS = ("status data", "plots", "downloads", "data health")

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(tmp_path) -> Path:
    """The repository's demo project, with a little data."""
    folder = tmp_path / "demo"
    folder.mkdir()
    for name in ("pyproject.toml", "mkdocs.yml"):
        shutil.copy(REPO / name, folder / name)
    shutil.copytree(
        REPO / "site_src", folder / "site_src", ignore=shutil.ignore_patterns("generated")
    )
    data.generate(files=300, seed=5)
    take_snapshot(declared(DataFile))  # a history plot to cache
    return folder


def build(project: Path, out: Path, *args: str) -> dict[str, str]:
    """Build; the parts of the collect line by name (``status data``: ``... (reused, 0.0 s)``)."""
    result = CliRunner().invoke(
        cli, ["build-site", "--project", str(project), "--out", str(out), *args]
    )
    assert result.exit_code == 0, result.output
    collect = next(line for line in result.output.splitlines() if line.startswith("collect"))
    parts = collect.removeprefix("collect").strip().split("; ")
    return {_part_name(part): part for part in parts}


def _part_name(part: str) -> str:
    if re.search(r"\bplots?\b", part):  # "1 plot", "2 plots"
        return "plots"
    for name in (*CACHED_PARTS, "fingerprints", "news"):
        if name in part:
            return name
    return "models"


def outcomes(part: str) -> dict[str, int]:
    """How many outputs of one part of the collect line were reused, updated and rebuilt
    (``reused``: one; ``9 reused, 1 updated (3 of 40 segments), 2 rebuilt``)."""
    found = dict.fromkeys(("reused", "updated", "rebuilt"), 0)
    for number, outcome in re.findall(r"(?:(\d+) )?\b(reused|updated|rebuilt)\b", part):
        found[outcome] += int(number or 1)
    return found


def reused(part: str) -> tuple[int, int]:
    """(reused, outputs) of one part of the collect line ((0, -1): nothing reused)."""
    counts = outcomes(part)
    return (counts["reused"], sum(counts.values())) if counts["reused"] else (0, -1)


def all_reused(part: str) -> bool:
    done, outputs = reused(part)
    return done == outputs


def some_rebuilt(part: str) -> bool:
    done, outputs = reused(part)
    return done < outputs or outputs == -1


def site_files(site: Path) -> dict[str, bytes]:
    """Every file of a built site; pages without their provenance (build time)."""
    files = {}
    for path in sorted(p for p in site.rglob("*") if p.is_file()):
        content = path.read_bytes()
        if path.suffix == ".html":
            page = BeautifulSoup(content, "html.parser")
            for provenance in page.select(".espresso-static-provenance"):
                provenance.decompose()
            content = str(page).encode()
        files[path.relative_to(site).as_posix()] = content
    return files


def csv_header(site: Path, resource: str) -> list[str]:
    import gzip

    with gzip.open(site / DOWNLOADS / f"{resource}.csv.gz", "rt", encoding="utf-8") as text:
        return text.readline().strip().split(",")


def test_unchanged_rebuild_reuses_every_output_and_publishes_the_same_site(project, tmp_path):
    first = build(project, tmp_path / "first")
    assert all(reused(first[name]) == (0, -1) for name in CACHED_PARTS)
    assert all(outcomes(first[name])["rebuilt"] >= 1 for name in CACHED_PARTS), first
    assert (project / CACHE_DIR).is_dir()
    again = build(project, tmp_path / "again")
    for name in CACHED_PARTS[:-1]:
        done, outputs = reused(again[name])
        assert done == outputs >= 1, again[name]
    # The audit is brought up to date from the change log: nothing to re-check.
    assert "0 rows checked (changed inputs)" in again["data health"]
    fresh = build(project, tmp_path / "fresh", "--no-cache")
    assert all(reused(fresh[name]) == (0, -1) for name in CACHED_PARTS)
    assert "fingerprints" not in fresh  # no cache, no fingerprints to take
    files = site_files(tmp_path / "first")
    assert any(name.endswith(".sqlite") for name in files)
    assert site_files(tmp_path / "again") == files
    assert site_files(tmp_path / "fresh") == files


def test_compiled_templates_are_kept_and_a_changed_template_is_compiled_again(project, tmp_path):
    """The theme's and the pages' compiled templates are kept in the cache (one folder
    per Jinja environment), and a template whose source changed is not served from it."""
    mkdocs_yml = project / "mkdocs.yml"
    mkdocs_yml.write_text(
        mkdocs_yml.read_text().replace("theme:\n", "theme:\n  custom_dir: overrides\n", 1)
    )
    main = project / "overrides" / "main.html"
    main.parent.mkdir()
    template_environment().cache.clear()  # as a new process: nothing compiled yet
    for marker in ("first-title", "second-title"):
        main.write_text(
            '{% extends "base.html" %}{% block htmltitle %}<title>'
            + marker
            + "</title>{% endblock %}"
        )
        build(project, tmp_path / marker)
        home = BeautifulSoup((tmp_path / marker / "index.html").read_text(), "html.parser")
        assert home.title.string == marker
    environments = sorted((project / CACHE_DIR / "templates").iterdir())
    assert len(environments) == 2  # MkDocs' theme and our pages
    assert all(any(folder.glob("*.cache")) for folder in environments)


def test_a_rebuild_compiles_no_template(project, tmp_path, monkeypatch):
    """Every environment of the theme keeps its compiled templates, those that
    mkdocs-material's search plugin makes of its own too."""
    build(project, tmp_path / "first")
    compiled = []
    compile_template = jinja2.Environment.compile

    def counted(env, source, name=None, *args, **kwargs):
        compiled.append(name)
        return compile_template(env, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counted)
    build(project, tmp_path / "second")
    assert compiled == []


def test_a_compiled_template_cut_short_is_compiled_again(project, tmp_path):
    build(project, tmp_path / "first")
    kept = list((project / CACHE_DIR / "templates").glob("*/*.cache"))
    for path in kept:
        path.write_bytes(path.read_bytes()[:20])  # Jinja's header and part of a digest
    template_environment().cache.clear()  # as a new process: nothing compiled yet
    build(project, tmp_path / "second")
    assert site_files(tmp_path / "second") == site_files(tmp_path / "first")
    assert all(len(path.read_bytes()) > 20 for path in kept)


def test_environments_that_compile_differently_keep_their_templates_apart(tmp_path):
    cache = BuildCache(tmp_path)
    environments = (
        jinja2.Environment(),
        jinja2.Environment(trim_blocks=True),
        jinja2.Environment(extensions=["jinja2.ext.i18n"]),
        jinja2.Environment(finalize=str),
        jinja2.Environment(),  # as the first: the same folder
    )
    folders = [cache.compiled_templates(env).directory for env in environments]
    assert len(set(folders)) == 4 and folders[0] == folders[-1]
    assert BuildCache(None).compiled_templates(environments[0]) is None


def test_no_cache_neither_reads_nor_writes_the_cache(project, tmp_path):
    build(project, tmp_path / "site", "--no-cache")
    assert not (project / CACHE_DIR).exists()


def test_a_row_changed_in_raw_sql_rebuilds_what_reads_its_table(project, tmp_path):
    build(project, tmp_path / "before")
    row = DataFile.objects.filter(status="on_disk").order_by("pk").first()
    with connection.cursor() as cursor:  # last_modified stays: only the content tells
        cursor.execute("UPDATE demo_datafile SET size = %s WHERE id = %s", [123_456_789, row.pk])
    after = build(project, tmp_path / "after")
    assert some_rebuilt(after["status data"])
    assert some_rebuilt(after["data health"])
    done, outputs = reused(after["downloads"])
    assert 0 < done < outputs, after["downloads"]  # the other tables' downloads are reused
    sizes = read_status_data(tmp_path / "after" / STATUS)["size"]
    assert 123_456_789 in sizes
    fresh = build(project, tmp_path / "fresh", "--no-cache")
    assert site_files(tmp_path / "after") == site_files(tmp_path / "fresh")
    assert fresh


def test_only_a_changed_table_is_counted_again(project, tmp_path):
    """Counting reads every row of a table: a rebuild counts only the tables whose
    content changed, and shows what counting them all shows."""
    build(project, tmp_path / "before", "--serial")
    DataFile.objects.filter(pk=DataFile.objects.order_by("pk").first().pk).delete()
    with CaptureQueriesContext(connection) as queries:
        build(project, tmp_path / "after", "--serial")
    counted = {q["sql"].split(" FROM ", 1)[1].split()[0] for q in queries if "MAX(" in q["sql"]}
    assert counted == {'"demo_datafile"'}
    fresh = build(project, tmp_path / "fresh", "--no-cache", "--serial")
    home = BeautifulSoup((tmp_path / "after" / "index.html").read_text(), "html.parser")
    assert (
        home.find("article").get_text()
        == BeautifulSoup((tmp_path / "fresh" / "index.html").read_text(), "html.parser")
        .find("article")
        .get_text()
    )
    assert fresh


def test_a_table_no_status_page_reads_leaves_the_status_data_reused(project, tmp_path):
    build(project, tmp_path / "before")
    Correlator.objects.filter(pk=Correlator.objects.order_by("pk").first().pk).update(momentum=1)
    after = build(project, tmp_path / "after")
    assert all_reused(after["status data"])
    assert all_reused(after["plots"])
    assert "1 rows checked (changed inputs)" in after["data health"]  # the correlator
    assert site_files(tmp_path / "after") == site_files(_fresh(project, tmp_path / "fresh"))


def test_a_changed_access_declaration_rebuilds_that_audiences_outputs(
    project, tmp_path, monkeypatch
):
    build(project, tmp_path / "before", "--audience", "public")
    assert "size" in csv_header(tmp_path / "before", "demo_datafile")
    without_size = dict(DataFile.access.fields)
    without_size["public"] = [name for name in without_size["public"] if name != "size"]
    monkeypatch.setattr(DataFile, "access", Access(audiences=["public"], fields=without_size))
    after = build(project, tmp_path / "after", "--audience", "public")
    assert some_rebuilt(after["status data"])
    assert "size" not in csv_header(tmp_path / "after", "demo_datafile")
    assert "size" not in read_status_data(tmp_path / "after" / STATUS)
    # Tables whose declaration did not change keep their downloads.
    assert reused(after["downloads"])[0] > 0
    everything = Access(audiences=["public"], fields={"public": ALL})
    monkeypatch.setattr(DataFile, "access", everything)
    exposed = build(project, tmp_path / "exposed", "--audience", "public")
    assert some_rebuilt(exposed["status data"])
    assert "machine" in csv_header(tmp_path / "exposed", "demo_datafile")


def test_each_audience_has_its_own_outputs(project, tmp_path):
    internal = build(project, tmp_path / "internal")
    public = build(project, tmp_path / "public", "--audience", "public")
    assert some_rebuilt(public["status data"])
    assert reused(public["downloads"]) == (0, -1)
    assert "machine" in csv_header(tmp_path / "internal", "demo_datafile")
    assert "machine" not in csv_header(tmp_path / "public", "demo_datafile")
    # The public build did not evict the internal one's outputs.
    again = build(project, tmp_path / "again")
    assert all_reused(again["status data"])
    assert all_reused(again["downloads"])
    assert internal


def _fresh(project: Path, out: Path) -> Path:
    build(project, out, "--no-cache")
    return out


def test_a_replaced_entry_is_removed_and_what_a_build_left_in_the_trash_too(tmp_path):
    # Removal runs in the background (unlinking large files takes time on a busy disk):
    # a replaced entry is moved out of the entries at once, removed soon after; what
    # an earlier build left in the trash (it ended first) the next one removes.
    cache = open_cache(tmp_path)
    files = tmp_path / "files"
    files.mkdir()
    (files / "part.arrow").write_bytes(b"x" * 1000)
    cache.store("slot", "a" * 40, 1, files=files)
    cache.store("slot", "b" * 40, 2, files=files)
    assert not cache.has("a" * 40) and cache.load("b" * 40) == 2
    left = tmp_path / CACHE_DIR / TRASH / "left-by-a-killed-build"
    (left / "files").mkdir(parents=True)
    open_cache(tmp_path)
    trash = tmp_path / CACHE_DIR / TRASH
    deadline = time.monotonic() + 10
    while any(trash.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(trash.iterdir()) == []
    entries = tmp_path / CACHE_DIR / "entries"
    assert [p.name for p in entries.glob("*/*")] == ["b" * 40]


def test_a_slot_points_to_its_entry_by_a_symbolic_link_and_reads_an_earlier_file_too(tmp_path):
    # A link, not a file written and renamed: ext4 flushes such a file to disk before
    # the rename, milliseconds each on a busy disk. A pointer file written by an earlier
    # version still names its entry: found by load_state, discarded when replaced.
    cache = open_cache(tmp_path)
    cache.store_state("downloads", "state-key", "first")
    (pointer,) = (tmp_path / CACHE_DIR / "slots").iterdir()
    assert pointer.is_symlink()
    first = Path(os.readlink(pointer)).name
    assert pointer.resolve() == (tmp_path / CACHE_DIR / "entries" / first[:2] / first).resolve()
    assert cache.load_state("downloads", "state-key")[0] == "first"

    pointer.unlink()
    pointer.write_text(first + "\n")  # the earlier format
    assert cache.load_state("downloads", "state-key")[0] == "first"
    cache.store_state("downloads", "state-key", "second")
    assert pointer.is_symlink() and not cache.has(first)
    assert cache.load_state("downloads", "state-key")[0] == "second"
    assert [p.name for p in (tmp_path / CACHE_DIR / "slots").iterdir()] == [pointer.name]


def test_a_cache_copied_with_its_links_followed_is_still_used(project, tmp_path):
    """``cp -rL`` (or an archive without links) turns each slot's link into a copy of
    its entry: a build replacing such a slot failed with IsADirectoryError."""
    build(project, tmp_path / "site")
    cache = project / CACHE_DIR
    shutil.copytree(cache, tmp_path / "copied")  # links followed: folders in the slots
    shutil.rmtree(cache)
    shutil.move(tmp_path / "copied", cache)
    assert not any(slot.is_symlink() for slot in (cache / "slots").iterdir())
    DataFile.objects.filter(pk=DataFile.objects.order_by("pk")[0].pk).update(status="corrupt")
    after = build(project, tmp_path / "after")
    assert some_rebuilt(after["status data"]) and reused(after["plots"]) == (1, 1)
    assert site_files(tmp_path / "after") == site_files(_fresh(project, tmp_path / "fresh"))
    slots = list((cache / "slots").iterdir())
    assert any(slot.is_symlink() for slot in slots)  # the slots replaced link again


def _shown_files(site: Path) -> set[str]:
    """The file names of the public DataFile rows a site shows (status data, downloads)."""
    import gzip

    with gzip.open(site / DOWNLOADS / "demo_datafile.csv.gz", "rt", encoding="utf-8") as text:
        downloaded = {row["file_name"] for row in csv.DictReader(text)}
    assert set(read_status_data(site / STATUS)["file_name"]) == downloaded
    return downloaded


def _public_rows(monkeypatch, row_filter: Q) -> None:
    monkeypatch.setattr(
        DataFile,
        "access",
        Access(audiences=["public"], fields={"public": ALL}, rows={"public": row_filter}),
    )


def test_a_row_filter_in_sql_the_orm_did_not_write_is_asked_again(project, tmp_path, monkeypatch):
    """A row filter in raw SQL may read a table the change log cannot name (here one
    that is no model's): a rebuild asks which rows it selects, and a row it no longer
    selects is no longer published (it was, from the cache)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE embargo_lifted (file_id integer)")
        cursor.execute("INSERT INTO embargo_lifted SELECT id FROM demo_datafile")
    _public_rows(monkeypatch, Q(id__in=RawSQL("SELECT file_id FROM embargo_lifted", [])))
    build(project, tmp_path / "before", "--audience", "public")
    embargoed = DataFile.objects.filter(ensemble__released=True).order_by("pk").first()
    assert embargoed.file_name in _shown_files(tmp_path / "before")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM embargo_lifted WHERE file_id = %s", [embargoed.pk])
    after = build(project, tmp_path / "after", "--audience", "public")
    assert some_rebuilt(after["status data"]) and some_rebuilt(after["downloads"])
    assert embargoed.file_name not in _shown_files(tmp_path / "after")
    build(project, tmp_path / "fresh", "--audience", "public", "--no-cache")
    assert site_files(tmp_path / "after") == site_files(tmp_path / "fresh")
    # Nothing changed since: what the cache holds is what the filter selects.
    again = build(project, tmp_path / "again", "--audience", "public")
    assert all_reused(again["status data"]) and all_reused(again["downloads"])


def test_a_row_filter_reading_the_clock_is_asked_again(project, tmp_path, monkeypatch):
    """``Now()`` in a row filter selects other rows as time passes, no table changing:
    a file shown until its time has passed is not published after it from the cache."""
    shown = DataFile.objects.filter(ensemble__released=True).order_by("pk")
    expiring = shown.first()
    shown.update(produced=timezone.now() + timedelta(days=1))
    expires = timezone.now() + timedelta(seconds=1)
    DataFile.objects.filter(pk=expiring.pk).update(produced=expires)
    _public_rows(monkeypatch, Q(produced__gt=Now()))
    build(project, tmp_path / "before", "--audience", "public")
    assert expiring.file_name in _shown_files(tmp_path / "before")
    time.sleep(max(0.0, (expires - timezone.now()).total_seconds()) + 0.1)
    build(project, tmp_path / "after", "--audience", "public")
    assert expiring.file_name not in _shown_files(tmp_path / "after")
    assert len(_shown_files(tmp_path / "after")) == shown.count() - 1


def _clock_and_raw_filters() -> dict:
    from django.db.models import CharField, DateField, Exists, Func, OuterRef, Value
    from django.db.models.functions import Cast

    from models.demo.models import Ensemble

    released = Ensemble.objects.filter(pk=OuterRef("ensemble"), released=True)
    return {
        "untracked": [
            Q(produced__gt=Now()),
            Q(id__in=RawSQL("SELECT file_id FROM embargo_lifted", [])),
            Q(produced__gt=Func(Value("%Y-%m-%d"), function="STRFTIME", output_field=CharField())),
            Q(produced__date__lte=Func(function="DATE", output_field=DateField())),
            Q(produced__date__lte=Cast(Value("today"), DateField())),
        ],
        "tracked": [
            Q(ensemble__released=True),
            Q(produced__year=2020),
            Q(file_name__icontains="now"),
            Q(Exists(released)),
            Q(size__in=[1, 2]) & ~Q(status="corrupt"),
        ],
    }


@pytest.mark.django_db
def test_a_filter_reading_the_clock_or_raw_sql_is_untracked_and_an_orm_filter_is_not():
    from espresso_static.website.cache_keys import untracked_rows

    for expected, filters in _clock_and_raw_filters().items():
        for row_filter in filters:
            sql, params = DataFile.objects.filter(row_filter).query.sql_with_params()
            assert untracked_rows(sql, params) == (expected == "untracked"), sql
