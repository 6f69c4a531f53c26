"""Apps labelled like a folder of the site's features (``status``, ``data``: LatteDB has
a ``status`` app) and titled like a feature's section: a real build keeps the app's
pages and the feature's apart, in their addresses and in the navigation."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from bs4 import BeautifulSoup

from espresso_static.website.context import Page
from espresso_static.website.feature import Feature
from espresso_static.website.paths import FEATURE_FOLDERS, GENERATED
from tests.test_build import build, html

PROJECT = Path(__file__).parent / "sectionproject"


def copy_project(tmp_path: Path, features: str = "") -> Path:
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project)
    if features:
        pyproject = project / "pyproject.toml"
        pyproject.write_text(f"{pyproject.read_text()}features = {features}\n")
    return project


@pytest.fixture
def site(tmp_path) -> Path:
    from tests.dataapp.models import Downloads, Index
    from tests.statusapp.models import Baryon2pt

    Baryon2pt.objects.create(name="proton", status="done")
    Baryon2pt.objects.create(name="neutron")
    Downloads.objects.create(name="first")
    Index.objects.create(name="first")
    result = build(copy_project(tmp_path), tmp_path / "site", "--strict")
    assert result.exit_code == 0, result.output
    return tmp_path / "site"


def page_of(site: Path, address: str) -> BeautifulSoup:
    """The page at ``address`` (from the site's root, as ``get_doc_url`` gives it)."""
    return html(site / address.strip("/") / "index.html")


def sections(site: Path, address: str) -> list[tuple[str, set[str], bool]]:
    """The navigation's sections on the page at ``address``: (title, the addresses of
    its links from the site's root, whether it holds the page)."""
    page = page_of(site, address)
    found = []
    for item in page.select("nav.md-nav--primary > ul > li.md-nav__item--nested"):
        title = item.find(class_="md-nav__link").get_text(" ", strip=True)
        links = {urlparse(urljoin(address, a["href"])).path for a in item.select("a[href]")}
        found.append((title, links, "md-nav__item--active" in item["class"]))
    return found


@pytest.mark.django_db
def test_an_app_labelled_status_has_its_own_folder_and_section(site):
    from tests.statusapp.models import Baryon2pt

    app, model = Baryon2pt.get_app_doc_url(), Baryon2pt.get_doc_url()
    assert (app, model) == ("/generated/status-app/", "/generated/status-app/baryon2pt/")
    assert page_of(site, app).find("h1").get_text(strip=True) == "Status"
    assert page_of(site, model).find("h1").get_text(strip=True) == "Baryon2pt"
    status_page = "/generated/status/status/baryon2pt/"
    to_model = page_of(site, status_page).find("article").find("a", string="Baryon2pt")
    assert urlparse(urljoin(status_page, to_model["href"])).path == model
    # Two sections titled "Status": the app's pages in one, the status pages in the other.
    on_model_page = sections(site, model)
    assert [title for title, _, _ in on_model_page].count("Status") == 2
    (app_links,) = [links for title, links, active in on_model_page if active]
    assert app_links == {app, model}
    (status_links,) = [links for title, links, active in sections(site, status_page) if active]
    assert status_links == {status_page}


@pytest.mark.django_db
def test_an_app_labelled_data_is_apart_from_the_data_page(site):
    from tests.dataapp.models import Downloads, Index

    app, model = Downloads.get_app_doc_url(), Downloads.get_doc_url()
    assert (app, model) == ("/generated/data-app/", "/generated/data-app/downloads/")
    assert page_of(site, app).find("h1").get_text(strip=True) == "Data"  # Django's title
    assert page_of(site, model).find("h1").get_text(strip=True) == "Downloads"
    # A model named like its app's page (index.md) has a page of its own.
    assert Index.get_doc_url() == "/generated/data-app/index-model/"
    assert page_of(site, Index.get_doc_url()).find("h1").get_text(strip=True) == "Index"
    to_index = page_of(site, app).find("article").find("a", string="Index")
    assert urlparse(urljoin(app, to_index["href"])).path == Index.get_doc_url()
    data_page = page_of(site, "/generated/data/")
    assert data_page.find("h1").get_text(strip=True) == "Data"
    to_model = data_page.find("article").find("a", string="Downloads")
    assert urlparse(urljoin("/generated/data/", to_model["href"])).path == model
    assert (site / "generated" / "data" / "downloads" / "data_downloads.csv.gz").is_file()


@pytest.mark.django_db
def test_the_features_write_only_the_folders_no_app_takes(site):
    """Beside the apps' folders, the built-in features write only ``FEATURE_FOLDERS``
    (a page ``news.md`` is the folder ``news/``), in the docs and in the site."""
    docs = site.parent / "project" / "docs" / GENERATED
    written = {path.name.removesuffix(".md") for path in docs.iterdir()}
    written |= {path.name for path in (site / GENERATED).iterdir()}
    assert written - FEATURE_FOLDERS == {"status-app", "data-app"}
    assert written >= FEATURE_FOLDERS


class IntoAnAppsFolder(Feature):
    """A project's feature writing where the app labelled ``status`` has its pages."""

    def on_files(self, site, context, data):
        return [Page("status-app/index.md", "# Mine\n", "Mine")]


@pytest.mark.django_db
def test_a_feature_writing_an_apps_page_is_one_line_naming_the_app(tmp_path):
    project = copy_project(tmp_path, f'["{__name__}:IntoAnAppsFolder"]')
    result = build(project, tmp_path / "site")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: The site features ModelDocs and IntoAnAppsFolder both write "
        "generated/status-app/index.md (the folder of app status's pages): a project's "
        "feature writes its pages in a folder of its own, named like no app and no other "
        "feature's (with a hyphen, a name no app label has)."
    )
