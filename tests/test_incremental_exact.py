"""Incremental never means stale: after each of several syncs (ORM and raw-SQL inserts,
updates and deletes, and a change to the table a public row filter reads; the change
log pruned before two of them), the build that reuses its cache publishes, for every
audience, exactly the files a ``--no-cache`` build of the same data publishes — byte
for byte, but for what states the build time.

What is left out of the comparison, and why (:func:`comparable`):

* the footer's ``Built <time>`` of each HTML page: the time of the build itself;
* ``<lastmod>`` of ``sitemap.xml`` and the gzip header of ``sitemap.xml.gz``: MkDocs
  writes the build's date there (the gzip member is compared decompressed).

Both builds follow the same earlier builds (the reference site is given the
incremental site's build records), so their Changes pages must agree too.
"""

from __future__ import annotations

import gzip
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.db import connection

from espresso_static.cli import cli
from espresso_static.data import changelog
from espresso_static.data.logprune import build_marks, prune_log
from tests.test_leak import LEAK_PROJECT

pytestmark = pytest.mark.django_db(transaction=True)

AUDIENCES = ("public", "internal")
START = datetime(2026, 1, 1, tzinfo=UTC)
#: Primary keys far apart: rows of one table in several primary-key segments.
SPREAD = 250_000
_BUILT_AT = re.compile(r"(espresso-static-provenance\">\s*Built )[^\n<]*? ·".encode())
_LASTMOD = re.compile(rb"<lastmod>[^<]*</lastmod>")


def comparable(relative: str, content: bytes) -> bytes:
    """``content`` without what states the build time (see the module's documentation)."""
    if relative.endswith(".html"):
        return _BUILT_AT.sub(lambda match: match[1] + "(time) ·".encode(), content)
    if relative.endswith("sitemap.xml"):
        return _LASTMOD.sub(b"<lastmod/>", content)
    if relative.endswith("sitemap.xml.gz"):
        return _LASTMOD.sub(b"<lastmod/>", gzip.decompress(content))
    return content


def site_files(site: Path) -> dict[str, bytes]:
    return {
        path.relative_to(site).as_posix(): comparable(path.name, path.read_bytes())
        for path in sorted(site.rglob("*"))
        if path.is_file()
    }


def first_difference(
    name: str,
    built: bytes,
    expected: bytes,
    labels: tuple[str, str] = ("incremental", "--no-cache"),
) -> str:
    """Where ``built`` first differs from ``expected``: the line (text) or byte offset;
    for gzip files, of the decompressed content (or that only the compression differs)."""
    ours, theirs = labels
    if name.endswith(".gz") and built[:2] == expected[:2] == b"\x1f\x8b":
        built, expected = gzip.decompress(built), gzip.decompress(expected)
        if built == expected:
            return f"{name}: the same content, compressed differently"
        name += " (decompressed)"
    try:
        lines = built.decode().splitlines(), expected.decode().splitlines()
    except UnicodeDecodeError:
        at = next(
            (i for i, (a, b) in enumerate(zip(built, expected, strict=False)) if a != b),
            min(len(built), len(expected)),
        )
        return (
            f"{name}: bytes differ from offset {at} ({ours} {built[at : at + 24]!r}, "
            f"{theirs} {expected[at : at + 24]!r}; {len(built)} vs {len(expected)} bytes)"
        )
    for number, (a, b) in enumerate(zip(*lines, strict=False), start=1):
        if a != b:
            return f"{name} line {number}:\n  {ours}: {a[:300]}\n  {theirs}: {b[:300]}"
    return f"{name}: {len(lines[0])} lines ({ours}), {len(lines[1])} lines ({theirs})"


def assert_same_sites(
    built: Path,
    expected: Path,
    when: str = "",
    labels: tuple[str, str] = ("incremental", "--no-cache"),
) -> None:
    """Every file of ``built`` is the one of ``expected``; a failure names each differing
    file and where the first few first differ."""
    built_files, expected_files = site_files(built), site_files(expected)
    only = sorted(set(built_files) ^ set(expected_files))
    assert not only, f"{when}files in only one of {built} and {expected}: {only}"
    assert len(built_files) > 20, "the comparison must see the whole site"
    differing = [name for name in built_files if built_files[name] != expected_files[name]]
    if differing:
        details = "\n".join(
            first_difference(
                f"{built.name}/{name}", built_files[name], expected_files[name], labels
            )
            for name in differing[:5]
        )
        pytest.fail(f"{when}{len(differing)} files differ: {differing}\n{details}", pytrace=False)


def build_all(project: Path, out: Path, *options: str) -> str:
    result = CliRunner().invoke(
        cli,
        ["build-site", "--project", str(project), "--audience", "all", "--out", str(out), *options],
    )
    assert result.exit_code == 0, result.output
    return result.output


def share_history(incremental: Path, reference: Path) -> None:
    """Give the reference sites the build records of the incremental ones: both builds
    then follow the same earlier builds (their Changes pages compare the same marks)."""
    from espresso_static.models import BuildRecord

    for audience in AUDIENCES:
        site, copy = (_site_key(folder / audience) for folder in (incremental, reference))
        BuildRecord.objects.filter(audience=audience, site=copy).delete()
        for record in BuildRecord.objects.filter(audience=audience, site=site).order_by("id"):
            record.pk, record.site = None, copy
            record.save()


def _site_key(site: Path) -> str:
    return site.resolve().as_posix()


def execute(sql: str, parameters=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)


def first_rows():
    from espresso_static.data.snapshot import take_snapshot
    from espresso_static.notify import Notifier
    from espresso_static.progress import declared
    from tests.leakapp.models import Child, Lot, Membership, Node, Sample, Use

    Use.objects.create(used=Child.objects.create(cfield="child"))
    for n in range(6):
        Sample.objects.create(
            pk=1 + n * SPREAD,
            name=f"sample-{n}",
            batch=f"b{n % 2}",
            status="done" if n % 3 == 0 else "todo",
            released=n % 2 == 0,
        )
    for n in range(4):
        lot = Lot.objects.create(pk=1 + n * SPREAD, name=f"lot-{n}")
        Membership.objects.create(lot=lot, released=n < 2)
    # Two released memberships: the row filter's join must still give the lot once.
    Membership.objects.create(lot_id=1, released=True)
    Node.objects.create(name="node-a", released=True)
    take_snapshot(declared(Sample), now=START)
    Notifier().info("First sync", audience="public", timestamp=START)


def sync_one():
    """ORM writes: inserts, an update through save() and through QuerySet.update, a
    delete; a released membership makes its lot public."""
    from espresso_static.data.snapshot import take_snapshot
    from espresso_static.progress import declared
    from tests.leakapp.models import Lot, Membership, Sample

    Sample.objects.create(pk=2 * SPREAD + 7, name="sample-new", batch="b1", released=True)
    sample = Sample.objects.get(name="sample-1")
    sample.status = "done"
    sample.save()
    Sample.objects.filter(batch="b0").update(status="done")
    Sample.objects.get(name="sample-5").delete()
    Membership.objects.filter(lot__name="lot-3").update(released=True)
    Lot.objects.create(pk=3 * SPREAD + 9, name="lot-new")
    take_snapshot(declared(Sample), now=START + timedelta(days=1))


def sync_two():
    """Raw SQL the ORM never sees: an insert, updates, a delete, and the row filter's
        table changed (a lot becomes hidden, another visible), a subclass's column a check of
    another table reads."""
    execute(
        "INSERT INTO leakapp_sample (id, name, batch, status, released, cnryprivfield, "
        "last_modified) VALUES (%s, 'sample-raw', 'b0', 'todo', %s, '', %s)",
        [4 * SPREAD + 3, True, START],
    )
    execute("UPDATE leakapp_sample SET status = 'todo' WHERE name = 'sample-0'")
    execute("UPDATE leakapp_sample SET released = %s WHERE name = 'sample-1'", [False])
    execute("DELETE FROM leakapp_sample WHERE name = 'sample-2'")
    # A subclass's column a check reads through the base: its row fails now.
    execute("UPDATE leakapp_child SET cfield = 'broken'")
    execute(
        "UPDATE leakapp_membership SET released = %s WHERE lot_id = %s", [False, 1 + 0 * SPREAD]
    )
    execute(
        "INSERT INTO leakapp_membership (lot_id, released, last_modified) VALUES (%s, %s, %s)",
        [3 * SPREAD + 9, True, START],
    )


def sync_three():
    """A sync that leaves the snapshots alone: one status moves, a lot is deleted with
    its memberships, a row changes only in a column the public does not see."""
    from tests.leakapp.models import Lot, Sample

    Sample.objects.filter(name="sample-3").update(status="done")
    Lot.objects.filter(name="lot-1").delete()
    Sample.objects.filter(name="sample-4").update(cnryprivfield="private note")


def test_incremental_builds_equal_no_cache_builds_byte_for_byte(tmp_path):
    from django.apps import apps

    # A transactional test starts on emptied tables (the log's identity row too):
    # put the log in place as `migrate` does.
    changelog.install_triggers(changelog.logged_models(apps.get_app_configs()))
    project = tmp_path / "project"
    shutil.copytree(LEAK_PROJECT, project)
    incremental, reference = tmp_path / "incremental", tmp_path / "reference"
    first_rows()
    build_all(project, incremental)
    # Before the second sync the log is pruned to what the latest builds need, before
    # the third of everything: outputs older than the pruned point are rebuilt whole.
    rounds = ((sync_one, None), (sync_two, build_marks), (sync_three, list))
    for number, (sync, keep) in enumerate(rounds, start=1):
        if keep is not None:
            assert prune_log(keep()).rows > 0
        sync()
        share_history(incremental, reference)
        output = build_all(project, incremental)
        assert "reused" in output, "the rebuild must reuse something, or it tests nothing"
        shutil.rmtree(reference, ignore_errors=True)
        build_all(project, reference, "--no-cache")
        for audience in AUDIENCES:
            assert_same_sites(
                incremental / audience, reference / audience, f"after sync {number}: "
            )
