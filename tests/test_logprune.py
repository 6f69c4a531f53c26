"""Pruning the change log: a kept mark gets the answer it got before pruning, an older
one gets "cannot say" (None), never a wrong answer; fingerprints stay what they were,
so two different contents never share one; ``prune-log`` keeps what the latest build
of every site needs. SQLite and (DATABASE_URL) PostgreSQL; committed transactions, as
in production (on PostgreSQL a prune removes only rows of ended transactions)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from django.db import connection

from espresso_static.cli import cli
from espresso_static.data import changelog
from espresso_static.data.logprune import build_marks, prune_log
from espresso_static.models import Change
from tests.leakapp.models import Lot, Membership, Sample

pytestmark = pytest.mark.django_db(transaction=True)
TABLES = ["leakapp_sample", "leakapp_lot", "leakapp_membership"]


@pytest.fixture(autouse=True)
def change_log():
    """A transactional test starts on emptied tables, the log's identity row too: put
    the log in place as ``migrate`` does."""
    from django.apps import apps

    changelog.install_triggers(changelog.logged_models(apps.get_app_configs()))


def answer(mark: str) -> dict | None:
    """What ``changes_since(mark)`` says, comparable."""
    changes = changelog.changes_since(mark, TABLES)
    if changes is None:
        return None
    return {t: (c.reset, dict(c.first), set(c.deleted)) for t, c in changes.items()}


def fingerprints() -> dict[str, str]:
    return {table: changelog.log_fingerprint(table) for table in TABLES}


def test_a_kept_mark_is_answered_as_before_and_an_older_one_cannot_say():
    old = changelog.current_mark()
    Sample.objects.create(name="s1", batch="b")
    lot = Lot.objects.create(name="l1")
    kept = changelog.current_mark()
    Sample.objects.filter(name="s1").update(status="done")
    with connection.cursor() as cursor:  # raw SQL is logged too
        cursor.execute("DELETE FROM leakapp_sample WHERE name = 's1'")
    Membership.objects.create(lot=lot, released=True)
    expected, before = answer(kept), fingerprints()
    assert expected["leakapp_sample"][2], "the deleted row is in the answer"
    logged = Change.objects.count()

    result = prune_log([kept])
    assert result.rows > 0 and Change.objects.count() < logged
    assert answer(kept) == expected
    assert answer(old) is None  # rows it needs are gone: cannot say, never wrong
    assert fingerprints() == before  # pruning changes no fingerprint
    # A second prune to the same point removes nothing.
    assert prune_log([kept]).rows == 0 and answer(kept) == expected


def test_a_later_mark_whose_last_row_was_pruned_is_answered():
    """A mark taken after a prune (its rows come last) names the last row another,
    earlier mark saw too: pruning to the earlier mark removes that row, and the later
    mark, past the point pruned to, is still answered."""
    Sample.objects.create(name="s1", batch="b")
    oldest = changelog.current_mark()
    Sample.objects.create(name="s2", batch="b")
    earlier = changelog.current_mark()
    assert prune_log([oldest]).rows > 0  # s2's row stays, the prune's own rows follow
    later = changelog.current_mark()
    assert changelog.mark_point(later) > changelog.mark_point(earlier)
    Lot.objects.create(name="l1")
    expected = answer(later)
    assert expected is not None and expected["leakapp_lot"][1]
    assert prune_log([earlier, later]).rows > 0  # s2's row goes
    assert answer(later) == expected


def test_fingerprints_of_different_contents_never_meet_after_pruning():
    seen = {}
    for n in range(3):
        # Each round writes the table, then prunes everything: its log rows all go.
        Lot.objects.create(name=f"lot-{n}")
        prune_log([])
        fingerprint = changelog.log_fingerprint("leakapp_lot")
        assert fingerprint not in seen, (
            f"round {n} has the fingerprint of round {seen.get(fingerprint)}"
        )
        seen[fingerprint] = n
        assert not Change.objects.filter(table="leakapp_lot").exclude(kind="P").exists()
    # An untouched table keeps its fingerprint through every prune.
    untouched = changelog.log_fingerprint("leakapp_sample")
    prune_log([])
    assert changelog.log_fingerprint("leakapp_sample") == untouched
    # A write after the prune is seen from the mark the prune kept.
    mark = changelog.current_mark()
    prune_log([mark])
    Lot.objects.create(name="after")
    assert changelog.changes_since(mark, ["leakapp_lot"])["leakapp_lot"].rows
    assert changelog.log_fingerprint("leakapp_lot") not in seen


def test_prune_log_keeps_what_the_latest_build_of_every_site_needs(tmp_path):
    from datetime import UTC, datetime

    from espresso_static.models import BuildRecord

    def record(site: str) -> str:
        mark = changelog.current_mark()
        BuildRecord.objects.create(
            audience="public", site=site, mark=mark, built_at=datetime.now(UTC), summary=""
        )
        return mark

    for name in ("site-a", "site-b"):
        (tmp_path / name).mkdir()
    older = record(str(tmp_path / "site-a"))
    Sample.objects.create(name="s1", batch="b")
    site_b = record(str(tmp_path / "site-b"))
    Sample.objects.create(name="s2", batch="b")
    site_a = record(str(tmp_path / "site-a"))  # site-a's latest build
    record(str(tmp_path / "scratch"))  # a one-off build since removed: it keeps nothing
    Sample.objects.create(name="s3", batch="b")
    assert sorted(build_marks()) == sorted([site_a, site_b])
    expected = answer(site_b)

    result = CliRunner().invoke(cli, ["prune-log"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "kept what the latest builds of 2 sites need" in result.output
    assert answer(site_b) == expected and answer(site_a) is not None
    assert answer(older) is None
    assert {"s1", "s2", "s3"} <= set(Sample.objects.values_list("name", flat=True))


def test_an_older_mark_is_answered_about_tables_none_of_whose_pruned_rows_it_missed():
    lot = Lot.objects.create(name="l0")
    old = changelog.current_mark()
    Sample.objects.create(name="s1", batch="b")
    kept = changelog.current_mark()
    Lot.objects.filter(pk=lot.pk).update(name="l1")
    result = prune_log([kept])
    assert result.rows > 0
    # The lot's row written before the mark went; its row after the kept mark is there.
    assert changelog.changes_since(old, ["leakapp_lot"])["leakapp_lot"].rows == {str(lot.pk)}
    assert not changelog.changes_since(old, ["leakapp_membership"])["leakapp_membership"]
    # The sample written after the mark was pruned: cannot say, alone or with others.
    assert changelog.changes_since(old, ["leakapp_sample"]) is None
    assert answer(old) is None
    # A row of removed rows from a version that did not keep the newest: taken as
    # newer than any mark before the point, so the answer is "cannot say" again.
    row = Change.objects.get(table="leakapp_lot", kind="P")
    row.row = ":".join(row.row.split(":")[:3])
    row.save()
    assert changelog.changes_since(old, ["leakapp_lot"]) is None
    assert changelog.changes_since(kept, ["leakapp_lot"])["leakapp_lot"].rows == {str(lot.pk)}


def test_downloads_left_as_they_were_are_not_rebuilt_after_nights_of_pruning(tmp_path):
    """The nightly routine: a build, a prune, a night's sync changing the file table
    alone, a build (the other tables' downloads reused, their states keeping the first
    build's mark), a prune past that mark, another night: they are reused again, not
    rebuilt whole."""
    from espresso_static.access import Audience, AudienceView
    from espresso_static.website.cache import BuildCache
    from espresso_static.website.features.opendata import write_open_data
    from models.demo import data
    from models.demo.models import Correlator, DataFile, Ensemble, GaugeConfig, Propagator

    data.generate(files=60, seed=2)
    view = AudienceView(Audience("internal", "allow", tmp_path / "site"))
    models = [Ensemble, GaugeConfig, Propagator, Correlator, DataFile]

    def night(number: int) -> list:
        cache = BuildCache(tmp_path / "cache")
        mark = changelog.current_mark()
        write_open_data(view, models, tmp_path / f"out{number}", title="Demo", cache=cache)
        prune_log([mark])
        return sorted(cache.outcomes)

    assert night(1) == [("rebuilt", "")] * 7  # the package, 5 models, the links
    for number in (2, 3):
        changed = DataFile.objects.order_by("pk")[number]
        DataFile.objects.filter(pk=changed.pk).update(status="corrupt")
        updated = ("updated", "1 of 1 segments")
        assert night(number) == sorted([("rebuilt", ""), updated, *[("reused", "")] * 5])
