"""Hidden means hidden everywhere: a public and an internal build of tests/leakproject,
every output file scanned for canary strings (after decompressing gzip, reading
Parquet and dumping SQLite). No canary may be in the public site; every canary must
be in the internal one — so the scan provably looks where the canaries would be."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pyarrow.parquet as pq
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from espresso_static.cli import cli
from espresso_static.data.snapshot import take_snapshot
from espresso_static.notify import Notifier
from espresso_static.progress import declared

LEAK_PROJECT = Path(__file__).resolve().parent / "leakproject"
#: Canary → where it is planted.
CANARIES = {
    "cnrymodelalpha": "name of a private model",
    "cnrydocbeta": "docstring of a private model",
    "cnryfieldgamma": "column name in a private model",
    "cnryhelpdelta": "help text in a private model",
    "cnryvalueepsilon": "value in a private model",
    "cnryprivfield": "private column name of a public model",
    "cnryprivhelp": "help text of a private column",
    "cnryprivvalue": "value of a private column in a public row",
    "cnryhiddenrow": "value of a hidden row",
    "cnryhiddenbatch": "progress group of hidden rows only",
    "cnrynoteinternal": "notification for internal",
    "cnrynoteunaddressed": "notification naming no audience",
    "cnrypageinternal": "hand-written page for internal",
    "cnrypagemarkdown": "hand-written .markdown page for internal",
    "cnrypageupper": "hand-written .MD file for internal",
    "cnryautodoccol": "private column named by Django's generated docstring",
    "cnrynoderoot": "hidden row of a self-referencing table",
    "cnrynodechild": "visible row whose parent is hidden (depth 1)",
    "cnrynodegrand": "visible row whose grandparent is hidden (depth 2)",
    "cnrystrvalue": "private value in str(row) and a check message of a visible row",
    "cnrylotrow": "row hidden by a filter reading another table",
    "cnrysecretparent": "private parent of a public table (the owner of its check)",
    "cnryparentcheck": "docstring of a check inherited from a private parent",
    "cnryabstractbase": "abstract base none of whose visible columns the public sees",
    "cnryabstractcheck": "docstring of a check defined on that abstract base",
    "cnryhiddenm2m": "many-to-many column to a private table (its check failing)",
    "cnryprivatefolder": "a folder whose pages are all for internal",
    "cnryprivatepicture": "a picture in that folder, shown by its pages alone",
    "cnrystainhidden": "row whose foreign key, a column the public does not see, is to a hidden row",
    "cnryslicehidden": "specialization, its own access not listing the parent link, of a hidden row",
    "cnrybadgecode": "private column of a public table a to_field foreign key stores",
    "cnrydraftcol": "column of a private through model of a public many-to-many",
    "cnrycoresecret": "private column of a parent table (its own row)",
    "cnryshardsecret": "that column in a specialization showing the public all its columns",
    "cnrycreaturehidden": "parent's part of a row its specialization's row filter hides",
}
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def leak_rows():
    from tests.leakapp.models import (
        Approvedcreature,
        Award,
        Badge,
        Child,
        Cnrymodelalpha,
        Core,
        Creature,
        Draft,
        Job,
        Kit,
        Lot,
        Membership,
        Mention,
        Node,
        Paper,
        Sample,
        Shard,
        Slice,
        Specimen,
        Stain,
        Topic,
    )

    origin = Cnrymodelalpha.objects.create(cnryfieldgamma="cnryvalueepsilon")
    # Bulk writes skip the checks: a row the internal Data health page must report.
    Cnrymodelalpha.objects.bulk_create([Cnrymodelalpha(cnryfieldgamma="bad")])
    Sample.objects.create(name="visible-1", batch="b1", status="done", released=True)
    Sample.objects.create(
        name="visible-2", batch="b1", released=True, cnryprivfield="cnryprivvalue", origin=origin
    )
    Sample.objects.create(name="cnryhiddenrow", batch="b2", status="done")
    Sample.objects.create(name="hidden-2", batch="cnryhiddenbatch")
    item = declared(Sample)
    take_snapshot(item, now=START)
    Sample.objects.filter(name="visible-2").update(status="done")
    take_snapshot(item, now=START + timedelta(days=1))
    Notifier().info("Recalibration cnrynoteinternal", audience="internal", timestamp=START)
    Notifier().warning("Disk cnrynoteunaddressed", audience=None, timestamp=START)
    Notifier().info("Public release of b1", audience="public", timestamp=START)
    # Written past the checks (a failing row for the health pages).
    root = Node.objects.bulk_create([Node(name="cnrynoderoot")])[0]
    child = Node.objects.bulk_create([Node(name="cnrynodechild", released=True, parent=root)])[0]
    Node.objects.bulk_create(
        [
            Node(name="cnrynodegrand", released=True, parent=child),
            Node(name="node-visible", released=True, cnryautodoccol="broken cnrystrvalue"),
        ]
    )
    for name, released in (("cnrylotrow", False), ("lot-public", True)):
        Membership.objects.create(lot=Lot.objects.create(name=name), released=released)
    # Relation paths from public columns to a private column and a private table.
    Job.objects.create(sample=Sample.objects.get(name="visible-2"), origin=origin)
    Child.objects.create(cfield="child-1")
    # A link written past its check (bulk): the m2m check fails on it.
    kit = Kit.objects.create(name="kit-1")
    bad = Cnrymodelalpha.objects.get(cnryfieldgamma="bad")
    Kit.cnryhiddenm2m.through.objects.bulk_create(
        [Kit.cnryhiddenm2m.through(kit=kit, cnrymodelalpha=bad)]
    )
    # Rows hidden through foreign keys the public does not see, and links decided by
    # through models.
    for label, released in (("specimen-public", True), ("specimen-hidden", False)):
        Specimen.objects.create(label=label, released=released)
        Stain.objects.create(specimen_id=label, name=f"stain-of-{label}")
    Stain.objects.filter(name="stain-of-specimen-hidden").update(name="cnrystainhidden")
    Slice.objects.create(label="slice-public", thickness="thin", released=True)
    Slice.objects.create(label="slice-hidden", thickness="cnryslicehidden")
    badge = Badge.objects.create(title="badge-1", code="cnrybadgecode")
    Award.objects.create(badge=badge, note="award-1")
    paper = Paper.objects.create(title="paper-1")
    for name, released in (("topic-shown", True), ("topic-unreleased", False)):
        Mention.objects.create(
            paper=paper, topic=Topic.objects.create(name=name), released=released
        )
    Draft.objects.create(paper=paper, cnrydraftcol=Topic.objects.get(name="topic-unreleased"))
    # Specializations: a parent's private column in a child showing every column, and
    # a child's row filter hiding the parent's part of its hidden rows.
    Core.objects.create(name="core-1", secret="cnrycoresecret")
    Shard.objects.create(name="shard-1", secret="cnryshardsecret", grain="fine")
    Creature.objects.create(label="creature-plain")
    Approvedcreature.objects.create(label="creature-approved", ok=True)
    Approvedcreature.objects.create(label="cnrycreaturehidden")


def file_texts(path: Path) -> list[str]:
    """What ``path`` says, in every form a reader could get at: its bytes as text,
    decompressed when gzip, read as Parquet or dumped as SQLite."""
    raw = path.read_bytes()
    texts = [raw.decode("latin-1")]
    if raw[:2] == b"\x1f\x8b":
        texts.append(gzip.decompress(raw).decode("utf-8", errors="replace"))
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        texts.append(str(table.schema) + str(table.to_pylist()))
    if raw[:16] == b"SQLite format 3\x00":
        with sqlite3.connect(path) as database:
            texts.append("\n".join(database.iterdump()))
    return [text.lower() for text in texts]


def canaries_in(site: Path) -> dict[str, list[str]]:
    """``{canary: [files it is in]}`` over every file of ``site``."""
    found: dict[str, list[str]] = {canary: [] for canary in CANARIES}
    files = [path for path in sorted(site.rglob("*")) if path.is_file()]
    assert len(files) > 20, "the scan must see the whole site"
    for path in files:
        texts = file_texts(path)
        relative = path.relative_to(site).as_posix()
        for canary in CANARIES:
            if any(canary in text for text in texts) or canary in relative.lower():
                found[canary].append(relative)
    return found


@pytest.mark.django_db
def test_public_build_holds_no_canary_and_internal_holds_all(tmp_path, leak_rows):
    project = tmp_path / "project"
    shutil.copytree(LEAK_PROJECT, project)
    result = CliRunner().invoke(
        cli,
        ["build-site", "--project", str(project), "--audience", "all", "--out", str(tmp_path)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    public, internal = tmp_path / "public", tmp_path / "internal"

    leaks = {canary: files for canary, files in canaries_in(public).items() if files}
    assert leaks == {}, f"hidden strings in the public site: {leaks}"
    found = canaries_in(internal)
    missing = [f"{canary} ({CANARIES[canary]})" for canary, files in found.items() if not files]
    assert missing == [], "the internal site must show every canary"

    # The scan covered the kinds of files a leak could hide in, in both builds.
    for site in (public, internal):
        names = {path.name for path in site.rglob("*")}
        assert {"search_index.json", "sitemap.xml", "sitemap.xml.gz", "SHA256SUMS"} <= names
        assert any(name.endswith(".parquet") for name in names)
        assert any(name.endswith(".sqlite") for name in names)
        assert any(name.endswith(".bin.gz") for name in names)  # status data segments
        assert (site / "generated/feeds").is_dir()
    assert list(internal.rglob("progress.svg")), "the internal status page has its plot"
    health = BeautifulSoup((internal / "generated/health/index.html").read_text(), "html.parser")
    assert "1 of 2 rows fail" in health.find("article").get_text(" ")
    assert "bad value" in health.find("article").get_text()
    # Snapshots count every row, and a hidden row may have been in any group before
    # it moved: the public, which does not see every row, gets no history plot.
    assert not list(public.rglob("progress.svg"))


@pytest.mark.django_db
def test_public_pages_show_what_public_may_see(tmp_path, leak_rows):
    project = tmp_path / "project"
    shutil.copytree(LEAK_PROJECT, project)
    out = tmp_path / "public"
    args = ["build-site", "--project", str(project), "--audience", "public", "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--strict"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    page = BeautifulSoup((out / "generated/leakapp/sample/index.html").read_text(), "html.parser")
    fields = [code.get_text() for code in page.select("article table td:first-child > code")]
    assert fields == ["name", "batch", "status", "id", "last_modified"]
    assert "2 rows" in page.get_text()  # the released ones
    # Its example sets only visible columns (the hidden ones are optional).
    script = (out / "generated/leakapp/populate_sample.py").read_text()
    assert '"name":' in script and "released" not in script and "origin" not in script
    nav = {a.get_text(strip=True) for a in page.select("nav.md-nav--primary a")}
    assert "About" in nav and "Internal notes" not in nav
    # Snapshots were taken, but count rows the public does not see: no plot, and the
    # page says so rather than asking its readers to take snapshots.
    status = (out / "generated/status/leakapp/sample/index.html").read_text()
    text = BeautifulSoup(status, "html.parser").find("article").get_text(" ")
    assert "No history plot on this site" in text and "snapshot yet" not in text
    home = BeautifulSoup((out / "index.html").read_text(), "html.parser").get_text(" ")
    assert "no history on this site" in home  # Sample's; Job has no snapshot yet
    # Its health page (declared for it) shows a failing row by its public columns and
    # withholds the check's message, which may name any column.
    health = BeautifulSoup((out / "generated/health/index.html").read_text(), "html.parser")
    rows = [tr.get_text(" ") for tr in health.select("article tbody tr")]
    assert any("name=node-visible" in row and "not shown" in row for row in rows), rows


def build_public(project: Path, out: Path, *options: str):
    args = ["build-site", "--project", str(project), "--audience", "public", "--out", str(out)]
    return CliRunner().invoke(cli, [*args, *options])


def download(site: Path, resource: str) -> list[dict]:
    """The rows of a resource's CSV download."""
    path = site / "generated/data/downloads" / f"{resource}.csv.gz"
    return list(csv.DictReader(io.StringIO(gzip.decompress(path.read_bytes()).decode())))


@pytest.mark.django_db
def test_relations_hide_the_rows_of_hidden_rows_and_keep_the_others(tmp_path, leak_rows):
    from tests.leakapp.models import Mention, Paper, Stain

    project = tmp_path / "project"
    shutil.copytree(LEAK_PROJECT, project)
    site = tmp_path / "site"
    result = build_public(project, site, "--strict")
    assert result.exit_code == 0, result.output
    # Limited through foreign keys whose columns are hidden (one by a to_field).
    stain = Stain.objects.get(name="stain-of-specimen-public")
    assert download(site, "leakapp_stain") == [{"id": str(stain.pk), "name": stain.name}]
    slices = download(site, "leakapp_slice")
    assert slices == [{"label": "slice-public", "thickness": "thin"}]
    # A to_field key stores a column the public does not see: the key is hidden.
    assert [sorted(row) for row in download(site, "leakapp_award")] == [
        ["id", "last_modified", "note", "tag"]
    ]
    # The links are the visible rows of the through model; a private one, none.
    paper = Paper.objects.get()
    shown = Mention.objects.get(released=True)
    links = [{"paper_id": str(paper.pk), "topic_id": str(shown.topic_id)}]
    assert download(site, "leakapp_paper_topics") == links
    assert not list(site.rglob("leakapp_paper_drafts*"))
    data = BeautifulSoup((site / "generated/data/index.html").read_text(), "html.parser")
    counts = {
        cells[0].get_text(" ", strip=True).split()[-1]: cells[1].get_text(strip=True)
        for cells in (tr.find_all("td") for tr in data.select("article tr"))
        if len(cells) == 3
    }
    assert counts["leakapp_stain"] == "1" and counts["leakapp_slice"] == "1"
    assert counts["leakapp_paper_topics"] == "1"
    page = BeautifulSoup((site / "generated/leakapp/paper/index.html").read_text(), "html.parser")
    fields = {code.get_text() for code in page.select("article table td:first-child > code")}
    assert "topics" in fields and "drafts" not in fields


@pytest.mark.django_db
def test_cached_outputs_follow_row_filters_reading_other_tables(tmp_path, leak_rows):
    from tests.leakapp.models import Membership

    project = tmp_path / "project"
    shutil.copytree(LEAK_PROJECT, project)
    assert build_public(project, tmp_path / "one").exit_code == 0
    Membership.objects.filter(lot__name="lot-public").update(released=False)
    assert build_public(project, tmp_path / "two").exit_code == 0  # with the cache
    for site, expected in ((tmp_path / "one", True), (tmp_path / "two", False)):
        found = any(
            "lot-public" in text
            for p in site.rglob("*lot*")
            if p.is_file()
            for text in file_texts(p)
        )
        assert found is expected, site


@pytest.mark.django_db
def test_a_private_page_in_a_linked_folder_stays_private(tmp_path, leak_rows):
    # MkDocs follows a symbolic link to a folder: its pages are in the site.
    project = tmp_path / "project"
    shutil.copytree(LEAK_PROJECT, project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "plan.md").write_text("---\naudiences: [internal]\n---\n# cnrylinkedpage\n")
    (project / "docs" / "linked").symlink_to(elsewhere, target_is_directory=True)
    assert build_public(project, tmp_path / "site").exit_code == 0
    files = [path for path in (tmp_path / "site").rglob("*") if path.is_file()]
    assert not [path for path in files if any("cnrylinkedpage" in t for t in file_texts(path))]


@pytest.mark.django_db
def test_no_site_is_published_inside_the_docs_folder(tmp_path, leak_rows):
    # Every later build, the public's too, would publish it as files of its own.
    project = tmp_path / "project"
    shutil.copytree(LEAK_PROJECT, project)
    inside = project / "docs" / "internal-site"
    args = ["build-site", "--project", str(project), "--audience", "internal", "--out", str(inside)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"Error: Cannot publish into {inside}: it is inside the docs folder {project / 'docs'}, "
        "whose files every build publishes; use a folder outside it."
    )
    assert not inside.exists()


@pytest.mark.django_db
def test_no_site_is_built_from_a_database_inside_the_docs_folder(tmp_path, leak_rows, monkeypatch):
    # MkDocs would copy it, every row, into the public site as a file of the docs.
    monkeypatch.delenv("DATABASE_URL", raising=False)  # the file, not CI's PostgreSQL
    project = tmp_path / "project"
    shutil.copytree(LEAK_PROJECT, project)
    pyproject = project / "pyproject.toml"
    setting = 'docs_dir = "docs"\ndatabase = "sqlite:///docs/db.sqlite3"'
    pyproject.write_text(pyproject.read_text().replace('docs_dir = "docs"', setting))
    with sqlite3.connect(project / "docs" / "db.sqlite3") as database:
        database.execute("CREATE TABLE cnryhiddenrow (x)")
    result = build_public(project, tmp_path / "site")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"Error: Not building: database names the database {project / 'docs' / 'db.sqlite3'}, "
        f"inside the docs folder {project / 'docs'}, whose files every build publishes; "
        "move it outside."
    )
    assert not (tmp_path / "site").exists()


@pytest.mark.django_db
def test_a_nav_in_mkdocs_yml_lists_only_the_audiences_pages(tmp_path, leak_rows):
    project = tmp_path / "project"
    shutil.copytree(LEAK_PROJECT, project)
    nav = ["index.md", "about.md", {"cnrynavtitle": "internal-notes.md"}]
    nav.append({"cnrynavsection": ["./secret.markdown", {"x": "cnryprivatefolder/notes.md"}]})
    (project / "mkdocs.yml").write_text(json.dumps({"nav": nav}))  # JSON is YAML
    assert build_public(project, tmp_path / "site", "--strict").exit_code == 0
    home = (tmp_path / "site" / "index.html").read_text()
    assert "cnrynav" not in home and "About" in home


@pytest.mark.django_db
def test_unreadable_front_matter_stops_the_build(tmp_path, leak_rows):
    project = tmp_path / "project"
    shutil.copytree(LEAK_PROJECT, project)
    (project / "docs" / "Broken.Markdown").write_text("---\naudiences: [internal\n---\ncnry\n")
    result = build_public(project, tmp_path / "site")
    assert result.exit_code == 1
    assert "Broken.Markdown: unreadable front matter" in result.output
    assert not (tmp_path / "site").exists()


def test_names_are_matched_exactly_never_as_substrings(monkeypatch):
    from espresso_static.access import Access
    from espresso_static.declare.access import Audience, AudienceView
    from espresso_static.exceptions import ConfigError
    from espresso_static.models import Notification
    from tests.leakapp.models import Sample

    public = AudienceView(Audience("public", "deny", Path("site")))
    for wrong in (
        Access(audiences=["public"], fields={"public": "beta_nx_name"}),
        Access(audiences="public-team"),
    ):
        monkeypatch.setattr(Sample, "access", wrong)
        with pytest.raises(ConfigError, match=r"leakapp\.Sample: Access"):
            public.sees_field(Sample, "name")
    note = Notification(pk=7, audiences="publication-team")
    with pytest.raises(ConfigError, match="Notification 7: audiences must be a list"):
        public.sees_notification(note)
    assert not public.sees_notification(Notification(pk=8, audiences=["publication-team"]))


def test_a_relation_path_is_followed_only_through_what_the_audience_sees():
    from espresso_static.declare.access import Audience, AudienceView
    from tests.leakapp.models import Job, Paper, Sample, Topic

    public = AudienceView(Audience("public", "deny", Path("site")))
    internal = AudienceView(Audience("internal", "allow", Path("site")))
    assert public.sees_path(Job, "sample__name")
    assert not public.sees_path(Job, "sample__cnryprivfield")  # a private column
    assert not public.sees_path(Job, "origin__cnryfieldgamma")  # a private table
    assert not public.sees_path(Job, "nosuch__name")
    # Back from a sample to its jobs: rows no filter of Sample's limits (the public
    # sees the jobs of released samples only), and a path may reach several.
    assert not public.sees_path(Sample, "job__status")
    assert internal.sees_path(Sample, "job__status")
    assert internal.sees_path(Job, "origin__cnryfieldgamma")
    # To many rows through a through model whose row filter decides the links.
    assert public.sees_path(Paper, "title")
    assert not public.sees_path(Paper, "topics__name")
    assert not public.sees_path(Topic, "papers__title")
    assert internal.sees_path(Paper, "topics__name")


@pytest.mark.parametrize("name", ["../../x", "a/b", "", "x y", ".hidden"])
def test_audience_names_are_identifiers(tmp_path, name):
    from espresso_static.declare.access import Audience
    from espresso_static.exceptions import ConfigError
    from espresso_static.project.config import configured_audiences

    table = {"audiences": {name: {"default": "deny"}, "internal": {"default": "allow"}}}
    with pytest.raises(ConfigError, match="identifier"):
        configured_audiences(table, tmp_path, tmp_path / "site")
    with pytest.raises(ConfigError, match="a name is letters"):  # however it is made
        Audience(name, "deny", tmp_path / "site")


@pytest.mark.slow
def test_concurrent_builds_equal_sequential_ones(tmp_path):
    """Builds of one project, two per audience, as real processes at the same time, give
    exactly the sites one-after-another builds give."""
    from tests.test_faults import cli_env, make_project, run_cli
    from tests.test_incremental_exact import assert_same_sites, site_files

    project = make_project(tmp_path / "project")
    env = cli_env(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert run_cli(project, env, "demo", "--rows", "300").returncode == 0
    audiences = ["public", "internal", "public", "internal"]
    for audience in dict.fromkeys(audiences):
        done = run_cli(
            project,
            env,
            "build-site",
            "--audience",
            audience,
            "--out",
            str(tmp_path / f"seq-{audience}"),
        )
        assert done.returncode == 0, done.stderr
    command = [sys.executable, "-m", "espresso_static", "build-site", "--project", str(project)]
    builds = [
        subprocess.Popen(
            [*command, "--audience", audience, "--out", str(tmp_path / f"con-{n}-{audience}")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, audience in enumerate(audiences)
    ]
    for build in builds:
        _, err = build.communicate(timeout=600)
        assert build.returncode == 0, err
    for n, audience in enumerate(audiences):
        assert_same_sites(
            tmp_path / f"con-{n}-{audience}",
            tmp_path / f"seq-{audience}",
            labels=("concurrent", "sequential"),
        )
    assert site_files(tmp_path / "seq-public") != site_files(tmp_path / "seq-internal")


#: Passwords holding every character that ends a URL's user part early.
PASSWORDS = ["S3cr/et#Pw", "a?b=c", "p@ss@word", "50%off%2F", "x:y/z#w?v@u"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_passwords_are_never_printed(tmp_path, password):
    from espresso_static.project.config import parse_database_url, redact

    # Read up to the last "@", an unescaped password works as it is.
    database = parse_database_url(f"postgresql://rt:{password}@db.example:5432/c", tmp_path)
    assert (database["PASSWORD"], database["HOST"], database["NAME"]) == (
        unquote(password),  # percent-escapes still mean what they mean
        "db.example",
        "c",
    )
    for url in (
        f"postgresql://rt:{password}@db.example:5432/campaign",
        f"postgresql://rt:{password}@db.example:bad/campaign",  # malformed too
        f"postgres://rt:{password}@/campaign?host=/run/pg",
    ):
        assert password not in redact(url) and "rt:***@" in redact(url)
        assert password not in redact(f"could not connect ({url}); retry")
    project = tmp_path / "project"
    shutil.copytree(LEAK_PROJECT, project)
    for url in (
        f"postgresql://rt:{password}@127.0.0.1:1/campaign",  # nobody listens on port 1
        f"postgresql://rt:{password}@127.0.0.1:bad/campaign",
        f"mysql://rt:{password}@host/campaign",
    ):
        for command in (["info"], ["build-site", "--out", str(tmp_path / "site")]):
            result = CliRunner().invoke(
                cli, [*command, "--project", str(project)], env={"DATABASE_URL": url}
            )
            assert password not in result.output, (command, url, result.output)


@pytest.mark.django_db
def test_a_through_model_and_its_owner_keep_counts_of_their_own(tmp_path, leak_rows):
    """Paper and its through model Mention read the same tables: each row count is
    kept under its model, or the second would be given the first's."""
    from espresso_static.declare.access import Audience, AudienceView
    from espresso_static.website.cache import BuildCache
    from espresso_static.website.collect import count_rows
    from espresso_static.website.pipeline import _kept_counts
    from tests.leakapp.models import Mention, Paper

    view = AudienceView(Audience("internal", "allow", tmp_path / "site"))
    assert count_rows(Mention, view)[0] != count_rows(Paper, view)[0]
    count = _kept_counts(BuildCache(tmp_path / "cache"))
    for model in (Paper, Mention, Paper, Mention):  # counted, then kept
        assert count(model, view) == count_rows(model, view), model


@pytest.mark.django_db
def test_snippets_read_this_builds_generated_pages_whatever_base_path_says(tmp_path, leak_rows):
    """A base_path naming the project's docs folder must not make the public home page
    include the generated home partial the internal build published there."""
    project = tmp_path / "project"
    shutil.copytree(LEAK_PROJECT, project)
    (
        project / "mkdocs.yml"
    ).write_text(  # by its full path: snippets reads a relative one from the working directory
        f"markdown_extensions:\n  - pymdownx.snippets:\n      base_path: [{project / 'docs'}]\n"
    )
    args = ["build-site", "--project", str(project)]
    internal = CliRunner().invoke(cli, [*args, "--audience", "internal"])
    assert internal.exit_code == 0, internal.output
    assert "cnrymodelalpha" in (project / "docs/generated/partials/home.md").read_text().lower()
    public = build_public(project, tmp_path / "public")
    assert public.exit_code == 0, public.output
    leaks = {canary: files for canary, files in canaries_in(tmp_path / "public").items() if files}
    assert leaks == {}
