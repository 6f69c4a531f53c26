"""Zensical (mkdocs-material's successor) builds the generated docs folder too: the
generated pages are plain Markdown with extensions both read, so its pages say what
MkDocs' pages say. (The README says what differs.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from espresso_static.website.mkdocs_build import REQUIRED_EXTENSIONS
from espresso_static.website.render import GENERATED, PARTIALS
from tests.test_build import build, copy_project, rows  # noqa: F401  (a fixture)

ZENSICAL = shutil.which("zensical")

pytestmark = pytest.mark.skipif(ZENSICAL is None, reason="zensical is not installed")


def zensical_config(docs_dir: str, site_dir: str) -> str:
    """A Zensical configuration (MkDocs' format) with the Markdown extensions build-site
    merges into mkdocs.yml, and its Mermaid fence."""
    extensions = []
    for name, settings in REQUIRED_EXTENSIONS:
        if name == "pymdownx.snippets":
            settings = {**settings, "base_path": [docs_dir]}
        if name == "pymdownx.superfences":
            continue  # below: the Mermaid fence names a Python function
        extensions.append({name: settings} if settings else name)
    config = {
        "site_name": "Zensical",
        "docs_dir": docs_dir,
        "site_dir": site_dir,
        "exclude_docs": f"/{GENERATED}/{PARTIALS}/",
        "markdown_extensions": extensions,
    }
    # markdown_extensions last: the superfences entry is appended to its list.
    return yaml.safe_dump(config, sort_keys=False) + (
        "- pymdownx.superfences:\n"
        "    custom_fences:\n"
        "    - name: mermaid\n"
        "      class: mermaid\n"
        "      format: !!python/name:pymdownx.superfences.fence_code_format\n"
    )


def article(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").find("article")


def what_it_says(page: BeautifulSoup) -> dict:
    """Headings, table cells, math and diagrams of a page's article."""
    return {
        "headings": [h.get_text(" ", strip=True) for h in page.find_all(["h1", "h2", "h3"])],
        "cells": [cell.get_text(" ", strip=True) for cell in page.find_all(["th", "td"])],
        "math": [math.get_text() for math in page.select(".arithmatex")],
        "diagrams": [diagram.get_text() for diagram in page.select(".mermaid")],
    }


@pytest.mark.django_db
def test_zensical_builds_the_generated_docs_folder(tmp_path, rows):  # noqa: F811
    project = copy_project(tmp_path)
    mkdocs_site = tmp_path / "mkdocs-site"
    assert build(project, mkdocs_site).exit_code == 0
    (project / "zensical.yml").write_text(zensical_config("docs", "zensical-site"))
    run = subprocess.run(
        [ZENSICAL, "build", "--strict", "-f", "zensical.yml"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    zensical_site = project / "zensical-site"
    pages = sorted(
        page.relative_to(mkdocs_site)
        for page in mkdocs_site.rglob("*.html")
        if page.name != "404.html" and "assets" not in page.parts
    )
    assert len(pages) > 10
    for page in pages:
        assert (zensical_site / page).is_file(), page
        expected = what_it_says(article(mkdocs_site / page))
        assert what_it_says(article(zensical_site / page)) == expected, page
    app_page = what_it_says(article(zensical_site / GENERATED / "siteapp" / "index.html"))
    assert app_page["diagrams"] and app_page["math"]
