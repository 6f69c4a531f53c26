"""One database, one site per audience: the demo's public and internal builds differ
as its models declare; ``--audience`` on the command line; the Data page and its
downloads; the Data health page; the refusal to build over migration drift."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner
from django.test import override_settings

from espresso_static.cli import cli
from espresso_static.models import BuildRecord, Notification
from espresso_static.website.features.statusdata import read_status_data
from models.demo import data

REPO = Path(__file__).resolve().parents[1]
# pytest-django sets the test database up only for a session with a test marked so:
# one of these tests run alone needs it too (its module fixture writes the demo).
pytestmark = pytest.mark.django_db
SITE_PROJECT = REPO / "tests" / "siteproject"
DATAFILE_STATUS = "generated/status/demo/datafile"


def demo_project(tmp_path: Path) -> Path:
    """The repository's demo project (configuration, mkdocs.yml, hand-written pages)."""
    project = tmp_path / "demo"
    project.mkdir()
    for name in ("pyproject.toml", "mkdocs.yml"):
        shutil.copy(REPO / name, project / name)
    shutil.copytree(
        REPO / "site_src", project / "site_src", ignore=shutil.ignore_patterns("generated")
    )
    return project


def build(project: Path, *args: str):
    return CliRunner().invoke(cli, ["build-site", "--project", str(project), *args])


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


@pytest.fixture(scope="module")
def demo_sites(tmp_path_factory, django_db_setup, django_db_blocker):
    """The demo with a little data, built for every audience in one call."""
    tmp_path = tmp_path_factory.mktemp("audiences")
    with django_db_blocker.unblock():
        data.generate(files=150, seed=7)  # one configuration of every ensemble
        data.generate_notifications()
        try:
            result = build(demo_project(tmp_path), "--audience", "all", "--out", str(tmp_path))
            assert result.exit_code == 0, result.output
            yield {"public": tmp_path / "public", "internal": tmp_path / "internal"}, result
        finally:
            # What the fixture and the builds wrote, for the next module.
            data.clear()
            Notification.objects.all().delete()
            BuildRecord.objects.all().delete()


def test_all_audiences_are_built_each_into_its_folder(demo_sites):
    sites, result = demo_sites
    summaries = [line for line in result.output.splitlines() if line.startswith("Site published")]
    assert [line.rsplit("(audience ", 1)[1] for line in summaries] == ["public).", "internal)."]
    assert all((site / "index.html").is_file() for site in sites.values())


def test_public_sees_only_what_the_demo_declares_for_it(demo_sites):
    sites, _ = demo_sites
    public, internal = sites["public"], sites["internal"]
    for site in (public, internal):
        assert (site / "generated/demo/ensemble/index.html").is_file()
    assert not (public / "generated/demo/propagator").exists()
    assert not (public / "generated/demo/correlator").exists()
    assert (internal / "generated/demo/propagator/index.html").is_file()

    def nav(site):  # the app's section is open on a model page
        page = soup(site / "generated/demo/ensemble/index.html")
        return [a.get_text(strip=True) for a in page.select("nav.md-nav--primary a")]

    assert "Ensemble" in nav(public) and "Propagator" not in nav(public)
    assert "Propagator" in nav(internal)

    # Prose (descriptions, public news) may mention propagators; no page of the table
    # is in the search index or the sitemap.
    def searchable(site):
        index = json.loads((site / "search/search_index.json").read_text())
        return {entry["location"].split("#")[0] for entry in index["docs"]}

    assert "generated/demo/propagator/" in searchable(internal)
    assert "generated/demo/propagator/" not in searchable(public)
    assert "demo/propagator" not in (public / "sitemap.xml").read_text()
    # The app page's diagram and table name no hidden model, nor a relation to one.
    app = soup(public / "generated/demo/index.html").find("article")
    assert "Propagator" not in app.get_text() and "Correlator" not in app.get_text()
    # A link to a hidden model would be a plain name; none is left on the page.
    gauge = soup(public / "generated/demo/gaugeconfig/index.html").find("article")
    assert "Propagator" not in gauge.get_text()

    def fields(site):
        page = soup(site / "generated/demo/datafile/index.html").find("article")
        return [code.get_text() for code in page.select("table td:first-child > code")]

    assert "machine" not in fields(public) and "machine" in fields(internal)
    # DataFile needs its (hidden) machine: the public page explains there is no example.
    page = soup(public / "generated/demo/datafile/index.html").find("article")
    example = page.find("h2", id="population-example").find_next("p").get_text()
    assert "not published on this site" in example and "machine" not in example
    assert not (public / "generated/demo/populate_datafile.py").exists()
    assert (internal / "generated/demo/populate_datafile.py").exists()


def test_public_status_data_holds_only_released_ensembles(demo_sites):
    from models.demo.models import Ensemble

    sites, _ = demo_sites
    released = set(Ensemble.objects.filter(released=True).values_list("name", flat=True))
    everyone = set(Ensemble.objects.values_list("name", flat=True))
    assert released and released != everyone
    public = read_status_data(sites["public"] / DATAFILE_STATUS / "data")
    internal = read_status_data(sites["internal"] / DATAFILE_STATUS / "data")
    assert set(public["ensemble"]) <= released
    assert set(internal["ensemble"]) == everyone
    assert len(internal["ensemble"]) == 150 > len(public["ensemble"])
    assert "machine" not in public and "machine" in internal
    summary = soup(sites["public"] / DATAFILE_STATUS / "index.html").find("article")
    rows = summary.find("h2", id=lambda i: i and i.startswith("summary")).find_next("table")
    groups = {tr.find("td").get_text() for tr in rows.find("tbody").find_all("tr")}
    assert groups - {"all", ""} <= released


def test_data_page_lists_downloads_that_exist_and_verify(demo_sites):
    sites, _ = demo_sites
    public = sites["public"]
    page_path = public / "generated/data/index.html"
    page = soup(page_path).find("article")
    links = [a["href"] for a in page.find_all("a", download=True)]
    assert any(link.endswith(".sqlite") for link in links)
    assert any(link.endswith("datapackage.json") for link in links)
    assert any(link.endswith("SHA256SUMS") for link in links)
    for suffix in (".csv.gz", ".parquet", ".json.gz"):
        assert f"downloads/demo_ensemble{suffix}" in links
    assert not any("propagator" in link for link in links)
    for link in links:
        assert (page_path.parent / link).resolve().is_file(), link
    folder = page_path.parent / "downloads"
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
        assert digest in page.get_text()  # the page shows each checksum
    text = page.get_text(" ")
    assert "CC-BY-4.0" in text and "How to cite" in text
    # A table's downloads read apart: "CSV (gzip) 1.2 kB · Parquet 2.1 kB · JSON ...".
    cell = page.find(id="demo_ensemble").find_parent("tr").find_all("td")[-1]
    assert re.fullmatch(
        r"CSV \(gzip\) [\d.]+ \S+ · Parquet [\d.]+ \S+ · JSON \(gzip\) [\d.]+ \S+",
        cell.get_text().strip(),
    )
    # Model pages link to their row of the Data page, whose anchor exists.
    model = soup(public / "generated/demo/ensemble/index.html").find("article")
    href = model.find("a", string="download the rows")["href"]
    target, anchor = href.split("#")
    assert (public / "generated/demo/ensemble" / target / "index.html").resolve() == page_path
    assert page.find(id=anchor) is not None


def test_data_health_page_only_where_configured(demo_sites):
    sites, _ = demo_sites
    assert not (sites["public"] / "generated/health").exists()
    page = soup(sites["internal"] / "generated/health/index.html").find("article")
    checks = [tr.find_all("td")[1].get_text() for tr in page.find("table").find("tbody")("tr")]
    assert "check_consistency" in checks
    assert "check_m2m_consistency(propagators)" in checks


def test_unknown_audience_is_a_one_line_error(tmp_path):
    result = build(SITE_PROJECT, "--audience", "nope", "--out", str(tmp_path / "x"))
    assert result.exit_code == 1
    assert "Unknown audience 'nope': the configured audiences are public, internal" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_drift_refuses_the_build_unless_allowed(tmp_path):
    project, out = demo_project(tmp_path), tmp_path / "site"
    # The tests build tables without migrations (their settings disable them); with
    # the demo's real migrations this test database has them all unapplied.
    with override_settings(MIGRATION_MODULES={}):
        refused = build(project, "--out", str(out))
        assert refused.exit_code == 1
        assert refused.output.strip() == (
            "Error: Not building: App 'demo' has 1 migration(s) not applied to the database: "
            "0001_initial. Run `espresso-static migrate`. Or build anyway with --allow-drift."
        )
        assert not out.exists()
        allowed = build(project, "--out", str(out), "--allow-drift", "--quiet")
    assert allowed.exit_code == 0, allowed.output
    assert (out / "index.html").is_file()
