"""A status page's history plot (the demo project of test_build_cache, one snapshot) is drawn again only when what it plots changed: a sync
that changes rows but no snapshot reuses it; a new snapshot with other counts, or a
group the audience no longer sees whole, redraws it."""

from __future__ import annotations

from pathlib import Path

import pytest

from espresso_static.data.snapshot import take_snapshot
from espresso_static.declare.access import Audience, AudienceView
from espresso_static.progress import declared
from espresso_static.website.features.status import (
    status_sources,
    status_tables,
    with_history_plots,
)
from models.demo.models import DataFile, Ensemble
from tests.statusapp.models import Baryon2pt
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


def test_an_audience_whose_row_filter_hides_no_row_gets_the_plot(project, tmp_path):  # noqa: F811
    """The public sees data files through the ensembles released (a row filter): with
    every ensemble released it sees every row and gets the plot; with one held back it
    may not see a group whole, and gets none."""
    Ensemble.objects.update(released=True)
    build(project, tmp_path / "all", "--audience", "public")
    assert list((tmp_path / "all").rglob("progress.svg"))
    Ensemble.objects.filter(pk=Ensemble.objects.order_by("pk").first().pk).update(released=False)
    build(project, tmp_path / "held", "--audience", "public")
    assert (tmp_path / "held/generated/status/demo/datafile/index.html").is_file()
    assert not list((tmp_path / "held").rglob("progress.svg"))


def history_page(view, model):
    """The status page of ``model`` for ``view``, with its history plot."""
    sources = [source for source in status_sources(view) if source.item.model is model]
    (page,) = with_history_plots(view, sources, status_tables(view, sources))
    return page


def test_a_model_without_group_by_gets_its_plot():
    Baryon2pt.objects.create(name="proton", status="done")
    Baryon2pt.objects.create(name="neutron")
    take_snapshot(declared(Baryon2pt))
    page = history_page(AudienceView(Audience("internal", "allow", Path("site"))), Baryon2pt)
    assert page.plot_by is None and set(page.plots) == {"progress.svg", "progress.png"}
