"""A status page's history plot (the demo project of test_build_cache, one snapshot) is drawn again only when what it plots changed: a sync
that changes rows but no snapshot reuses it; a new snapshot with other counts redraws
it. An audience a row filter may hide rows from gets no plot: snapshots count every row."""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.db.models import Q

from espresso_static.access import Access
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


def test_an_audience_with_a_row_filter_gets_no_plot_even_seeing_every_row(project, tmp_path):  # noqa: F811
    """The public sees data files through the ensembles released (a row filter): with
    every ensemble released it sees every row, but an earlier snapshot may have counted
    rows hidden then (and deleted since), so it gets no plot, and the page says why."""
    Ensemble.objects.update(released=True)
    build(project, tmp_path / "all", "--audience", "public")
    page = tmp_path / "all/generated/status/demo/datafile/index.html"
    assert "No history plot on this site" in BeautifulSoup(page.read_text(), "html.parser").text
    assert not list((tmp_path / "all").rglob("progress.svg"))


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


def test_an_audience_a_row_filter_may_hide_rows_from_gets_no_plot(monkeypatch):
    """Hidden rows counted by earlier snapshots and deleted since: the public sees every
    row now, but its plot would start at 5 of 6 done, counting them."""
    access = Access(
        audiences=["public"],
        fields={"public": ["name", "status"]},
        rows={"public": Q(name__startswith="pub")},
    )
    monkeypatch.setattr(Baryon2pt, "access", access, raising=False)
    Baryon2pt.objects.create(name="pub-proton")
    for number in range(5):
        Baryon2pt.objects.create(name=f"hidden-{number}", status="done")
    take_snapshot(declared(Baryon2pt))
    Baryon2pt.objects.filter(name__startswith="hidden").delete()
    take_snapshot(declared(Baryon2pt))
    public = history_page(AudienceView(Audience("public", "deny", Path("site"))), Baryon2pt)
    assert (public.plots, public.snapshots) == ({}, True)  # the page says why: no plot
    internal = history_page(AudienceView(Audience("internal", "allow", Path("site"))), Baryon2pt)
    assert set(internal.plots) == {"progress.svg", "progress.png"}
