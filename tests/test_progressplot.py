"""A status page's history plot (the demo project of test_build_cache, one snapshot) is drawn again only when what it plots changed: a sync
that changes rows but no snapshot reuses it; a new snapshot with other counts, or a
group the audience no longer sees whole, redraws it."""

from __future__ import annotations

import pytest

from espresso_static.data.snapshot import take_snapshot
from espresso_static.progress import declared
from models.demo.models import DataFile
from tests.test_build_cache import build, outcomes, project, site_files  # noqa: F401

pytestmark = pytest.mark.django_db


def test_the_plot_is_redrawn_only_when_its_series_change(project, tmp_path):  # noqa: F811
    item = declared(DataFile)
    first = build(project, tmp_path / "first")
    assert outcomes(first["plots"]) == {"reused": 0, "updated": 0, "rebuilt": 1}, first["plots"]
    plot = (tmp_path / "first/generated/status/demo/datafile/progress.svg").read_bytes()

    # Rows change (the status data is rebuilt), the snapshots do not: the same plot.
    row = DataFile.objects.order_by("pk").first()
    DataFile.objects.filter(pk=row.pk).update(size=row.size + 1)
    after_sync = build(project, tmp_path / "sync")
    assert outcomes(after_sync["status data"])["reused"] == 0, after_sync["status data"]
    assert outcomes(after_sync["plots"]) == {"reused": 1, "updated": 0, "rebuilt": 0}
    assert (tmp_path / "sync/generated/status/demo/datafile/progress.svg").read_bytes() == plot

    # A snapshot with other counts: drawn again, as a build without the cache draws it.
    moved = DataFile.objects.exclude(status="on_disk").filter(size__gt=0).order_by("pk").first()
    DataFile.objects.filter(pk=moved.pk).update(status="on_disk")
    take_snapshot(item)
    after_snapshot = build(project, tmp_path / "snapshot")
    assert outcomes(after_snapshot["plots"]) == {"reused": 0, "updated": 0, "rebuilt": 1}
    fresh = tmp_path / "fresh"
    build(project, fresh, "--no-cache")
    assert site_files(tmp_path / "snapshot") == site_files(fresh)
    assert (fresh / "generated/status/demo/datafile/progress.svg").read_bytes() != plot
