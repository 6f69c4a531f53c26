"""``build-site`` end to end: real MkDocs builds, HTML parsed, scripts executed."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from espresso_static.cli import cli
from espresso_static.project.config import load_config
from espresso_static.website.collect import collect_site
from espresso_static.website.context import BuildOptions
from espresso_static.website.pipeline import build_site
from espresso_static.website.population import population_scripts
from tests.browser import CHROMIUM, CHROMIUM_ARGS, OPEN_SHADOW_ROOTS

REPO = Path(__file__).resolve().parents[1]
SITE_PROJECT = REPO / "tests" / "siteproject"


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(SITE_PROJECT, project)
    return project


def build(project: Path, out: Path, *extra: str):
    args = ["build-site", "--project", str(project), "--out", str(out), *extra]
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def html(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def article(path: Path) -> BeautifulSoup:
    return html(path).find("article")


@pytest.fixture
def rows():
    """A few rows, so counts and defaults show real values."""
    from tests.siteapp.models import Dataset, GainCalibration, Instrument, Run

    ecal = Instrument.objects.create(name="ecal", channels=64)
    runs = [Run.objects.create(instrument=ecal, number=n) for n in (1, 2, 3)]
    Dataset.objects.create(name="first").runs.set(runs)
    GainCalibration.objects.create(instrument=ecal, value=1.5)


@pytest.fixture
def built(tmp_path, rows):
    project = copy_project(tmp_path)
    result = build(project, tmp_path / "site", "--strict")
    assert result.exit_code == 0, result.output
    return project, tmp_path / "site", result


@pytest.mark.django_db
def test_strict_build_reports_steps_and_where_the_site_is(built):
    project, site, result = built
    lines = result.output.strip().splitlines()
    assert [line.split()[0] for line in lines[:5]] == [
        "collect",
        "render",
        "write",
        "mkdocs",
        "publish",
    ]
    pages = sum(1 for page in site.rglob("*.html") if page.name != "404.html")
    assert lines[-1].startswith(f"Site published to {site}: {pages} pages")
    # The missing home page was created, including the generated overview.
    assert "--8<--" in (project / "docs" / "index.md").read_text()


@pytest.mark.django_db
def test_every_model_has_a_page_with_its_fields(built):
    _, site, _ = built
    from tests.siteapp import models

    for name in ["Instrument", "Run", "RunSummary", "Dataset", "Calibration", "Measurement"]:
        assert (site / "generated" / "siteapp" / name.lower() / "index.html").is_file(), name
    page = article(site / "generated" / "siteapp" / "instrument" / "index.html")
    table = page.find("h2", id="fields").find_next("table")
    header = [th.get_text(strip=True) for th in table.find_all("th")]
    assert header == ["Name", "Type", "Help", "Required", "Default", "Choices / constraints"]
    rows = {
        tr.find("td").find("code").get_text(): [td.get_text(" ", strip=True) for td in tr("td")]
        for tr in table.find("tbody").find_all("tr")
    }
    assert rows["channels"][4] == "0" and rows["active"][4] == "False"
    assert rows["comment"][4] == "''" and rows["weight"][4] == "0.0"
    assert rows["name"][3] == "yes" and rows["channels"][3] == "no"
    assert "unique" in rows["name"][5]
    assert "calorimeter" in rows["kind"][5] and "tracker <fast> | {{ kind }}" in rows["kind"][5]
    assert "from Labelled" in rows["label"][0]
    assert page.find("h1").get_text(strip=True) == "Instrument"
    assert models.Instrument.objects.count() == 1
    assert "1 row" in page.get_text()


@pytest.mark.django_db
def test_hostile_text_is_escaped_everywhere(built):
    _, site, _ = built
    for path in site.rglob("*.html"):
        soup = html(path)
        for script in soup.find_all("script"):
            assert "alert" not in script.get_text(), path
        for element in soup.find_all(True):
            assert not any(a.startswith("on") for a in element.attrs), (path, element.name)
        assert not any("javascript:" in a.get("href", "") for a in soup.find_all("a")), path
    page = article(site / "generated" / "siteapp" / "instrument" / "index.html")
    # The docstring is Markdown prose, sanitized: the script goes, the text and math stay.
    assert "{{ x }}" in page.get_text() and "| pipe & ampersand" in page.get_text()
    assert page.select_one(".es-prose .arithmatex").get_text() == r"\(N_c\)"


#: Front matter values that would add an element or a handler printed raw.
HOSTILE_FRONT_MATTER = """---
description: "\\"><svg onload=alert(1)>"
author: "\\"><img src=x onerror=alert(2)>"
hide: [navigation]
---

Front matter only.
"""


@pytest.mark.django_db
def test_front_matter_is_text_and_chooses_only_the_projects_templates(tmp_path):
    project = copy_project(tmp_path)
    docs = project / "docs"
    (docs / "hostile.md").write_text(HOSTILE_FRONT_MATTER)
    (docs / "redirect.md").write_text(
        "---\ntemplate: redirect.html\nlocation: 'javascript:alert(3)'\n---\n\nStays.\n"
    )
    (docs / "own.md").write_text("---\ntemplate: page.html\n---\n\nOwn template.\n")
    (project / "overrides").mkdir()
    (project / "overrides" / "page.html").write_text(
        '{% extends "main.html" %}{% block content %}<p id="own">own</p>{% endblock %}'
    )
    with (project / "mkdocs.yml").open("a") as mkdocs_yml:
        mkdocs_yml.write("theme:\n  name: material\n  custom_dir: overrides\n")
    result = build(project, tmp_path / "site")
    assert result.exit_code == 0, result.output
    site = tmp_path / "site"

    page = html(site / "hostile" / "index.html")
    assert not page.head.find_all(["svg", "img"]) and not page.find_all("img")
    assert not [e for e in page.find_all(True) if any(a.startswith("on") for a in e.attrs)]
    assert page.find("meta", attrs={"name": "description"})["content"] == (
        '"><svg onload=alert(1)>'
    )
    assert page.find("meta", attrs={"name": "author"})["content"] == (
        '"><img src=x onerror=alert(2)>'
    )
    assert page.select_one(".md-sidebar--primary").has_attr("hidden")  # hide still works

    redirect = html(site / "redirect" / "index.html")
    assert not [s for s in redirect.find_all("script") if "alert" in s.get_text()]
    assert "Stays." in redirect.find("article").get_text()
    warning = "warning: redirect.md: front matter template 'redirect.html' ignored"
    assert warning in result.output
    assert html(site / "own" / "index.html").find(id="own").get_text() == "own"


@pytest.mark.django_db
def test_front_matter_is_text_in_the_tags_plugins_listings_too(tmp_path):
    """mkdocs-material's tags plugin keeps each page's tags and prints them, and the
    pages' titles, raw in its listings and on the page: they reach it escaped."""
    project = copy_project(tmp_path)
    docs = project / "docs"
    (docs / "tagged.md").write_text(
        '---\ntitle: "Tagged <img src=x onerror=alert(1)>"\n'
        'tags: ["<img src=x onerror=alert(2)>", "plain"]\n---\n\nText.\n'
    )
    (docs / "tags.md").write_text("# Tags\n\n<!-- material/tags -->\n")
    with (project / "mkdocs.yml").open("a") as mkdocs_yml:
        mkdocs_yml.write("plugins:\n  - search\n  - tags\n")
    result = build(project, tmp_path / "site")
    assert result.exit_code == 0, result.output
    for path in ("tags/index.html", "tagged/index.html"):
        page = html(tmp_path / "site" / path)
        assert not page.find_all("img"), path
        assert not [e for e in page.find_all(True) if any(a.startswith("on") for a in e.attrs)]
        texts = [tag.get_text(strip=True) for tag in page.select(".md-tag")]
        assert "<img src=x onerror=alert(2)>" in texts and "plain" in texts, (path, texts)
    listing = html(tmp_path / "site" / "tags" / "index.html").find("article")
    assert "Tagged <img src=x onerror=alert(1)>" in listing.get_text()


@pytest.mark.django_db
def test_instant_navigation_is_left_out_as_it_would_load_mermaid_from_a_cdn(tmp_path):
    project = copy_project(tmp_path)
    with (project / "mkdocs.yml").open("a") as mkdocs_yml:
        mkdocs_yml.write(
            "theme:\n  name: material\n  features:\n    - navigation.instant\n"
            "    - navigation.instant.prefetch\n    - navigation.top\n"
        )
    result = build(project, tmp_path / "site")
    assert result.exit_code == 0, result.output
    assert "theme.features navigation.instant, navigation.instant.prefetch ignored" in (
        result.output
    )
    page = html(tmp_path / "site" / "index.html")
    config = json.loads(page.find("script", id="__config").get_text())
    assert config["features"] == ["navigation.top"]
    assert build(project, tmp_path / "strict", "--strict").exit_code == 1


@pytest.mark.django_db
def test_mkdocs_yml_may_inherit_from_another_file(tmp_path):
    """``INHERIT:`` (MkDocs' own) reads the named file beside mkdocs.yml."""
    project = copy_project(tmp_path)
    (project / "base.yml").write_text("copyright: Inherited copyright\n")
    mkdocs_yml = project / "mkdocs.yml"
    mkdocs_yml.write_text("INHERIT: base.yml\nsite_description: Child\n")
    result = build(project, tmp_path / "site")
    assert result.exit_code == 0, result.output
    page = html(tmp_path / "site" / "index.html")
    assert "Inherited copyright" in page.select_one(".md-copyright").get_text()


@pytest.mark.django_db
def test_generated_pages_tell_mkdocs_macros_not_to_render_them(built):
    """Generated pages hold text from the database, which mkdocs-macros would run as a
    Jinja template: each says ``render_macros: false`` in its front matter; a partial,
    included into another page as it is, holds none."""
    from mkdocs.utils.meta import get_data

    from espresso_static.website.context import Page
    from espresso_static.website.write import page_text

    project, _, _ = built
    generated = project / "docs" / "generated"
    pages = sorted(generated.rglob("*.md"))
    partials = [page for page in pages if page.relative_to(generated).parts[0] == "partials"]
    assert partials and len(pages) > len(partials) + 5
    for page in pages:
        text, meta = get_data(page.read_text(encoding="utf-8"))
        if page in partials:
            assert meta == {} and text.startswith("#"), page
        else:
            assert meta.get("render_macros") is False, page
    # A page with front matter of its own (a status page's) keeps it.
    own = Page("status/x/index.md", "---\nhide:\n  - toc\n---\n\n# X\n", "X")
    text, meta = get_data(page_text(own))
    assert meta == {"render_macros": False, "hide": ["toc"]} and text == "# X\n"


@pytest.mark.django_db
def test_front_matter_never_runs_code(tmp_path):
    """Front matter is read as data only (YAML's safe loader, as MkDocs reads it): a
    tag that makes an object of a call would run the command when a build reads it."""
    project = copy_project(tmp_path)
    ran = tmp_path / "ran"
    (project / "docs" / "harmless.md").write_text(
        f'---\ntitle: Harmless\nx: !!python/object/apply:os.system ["touch {ran}"]\n---\n\nText.\n'
    )
    result = build(project, tmp_path / "site")
    assert not ran.exists()
    assert result.exit_code == 1
    assert "harmless.md: unreadable front matter" in result.output
    assert not (tmp_path / "site").exists()


@pytest.mark.django_db
def test_a_notifications_remote_image_is_a_link_not_a_request(tmp_path):
    project = copy_project(tmp_path)
    notify = ["notify", "--project", str(project), "--title", "pixel"]
    tracking = "tracking ![p](https://tracker.example/pixel.png)"
    assert CliRunner().invoke(cli, [*notify, tracking]).exit_code == 0
    assert build(project, tmp_path / "site").exit_code == 0
    news = article(tmp_path / "site" / "generated" / "news" / "index.html")
    assert not news.find_all("img")
    link = news.find("a", string="p")
    assert link["href"] == "https://tracker.example/pixel.png"


@pytest.mark.django_db
def test_relations_inheritance_checks_and_population_example(built):
    _, site, _ = built
    page = article(site / "generated" / "siteapp" / "run" / "index.html")
    links = {a.get_text(): a["href"] for a in page.find("h2", id="relations").find_next("ul")("a")}
    assert links == {
        "Instrument": "../instrument/",
        "Dataset": "../dataset/",
        "Measurement": "../measurement/",
        "RunSummary": "../runsummary/",
    }
    check = page.find("h3", id="check_consistency")
    assert check.find_next("p").get_text() == "Run numbers start at 1."
    gain = article(site / "generated" / "siteapp" / "gaincalibration" / "index.html")
    assert gain.find("a", string="Calibration")["href"] == "../calibration/"
    code = page.find("h2", id="population-example").find_next("pre").get_text()
    assert "Run.get_or_create_from_parameters(" in code
    download = page.find("a", download="populate_run.py")
    script = (site / "generated" / "siteapp" / "run" / download["href"]).resolve()
    assert script.read_text() == code


@pytest.mark.django_db
def test_app_page_diagram_names_every_relation(built):
    _, site, _ = built
    page = article(site / "generated" / "siteapp" / "index.html")
    diagram = page.find(class_="mermaid").get_text()
    for relation in ["instrument", "run", "runs", "calibration", '"is a"']:
        assert f'"{relation.strip(chr(34))}"' in diagram
    tables = [a.get_text() for a in page.find("h2", id="tables").find_next("table")("a")]
    assert tables[:3] == ["Instrument", "Run", "RunSummary"]


@pytest.mark.django_db
def test_home_nav_search_math_and_footer(built):
    _, site, _ = built
    home = html(site / "index.html")
    assert home.find("h1").get_text(strip=True) == "Detector test campaign"
    cards = home.find(class_="grid cards")
    assert cards.find("a", string="Instrument")["href"] == "generated/siteapp/instrument/"
    nav = [a.get_text(" ", strip=True) for a in home.select("nav.md-nav--primary a.md-nav__link")]
    assert nav[0] == "Home" and "Notes" in nav
    assert (site / "search" / "search_index.json").is_file()
    footer = home.find(class_="espresso-static-provenance").get_text(" ", strip=True)
    assert "Built" in footer and "espresso-static" in footer and "data as of" in footer
    assert "Test copyright" in home.find(class_="md-copyright").get_text()
    instrument = html(site / "generated" / "siteapp" / "instrument" / "index.html")
    assert instrument.find(class_="arithmatex")  # math for MathJax, shipped with the site
    assert (site / "generated" / "assets" / "mathjax" / "tex-chtml.js").is_file()
    assert (site / "generated" / "assets" / "mermaid" / "mermaid.min.js").is_file()


@pytest.mark.django_db
def test_pages_load_mathjax_and_mermaid_only_where_they_have_math_or_a_diagram(built, served):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    _, site, _ = built
    base = served(site)
    fetched: list[str] = []

    def only_the_site(route):
        fetched.append(route.request.url.removeprefix(base))
        return route.continue_() if route.request.url.startswith(base) else route.abort()

    def scripts_of(page, path: str, ready: str) -> set[str]:
        fetched.clear()
        page.goto(base + path)
        page.wait_for_selector(ready, state="attached", timeout=30_000)
        return {url.rsplit("/", 1)[-1] for url in fetched if url.endswith(".js")}

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.add_init_script(OPEN_SHADOW_ROOTS)
        page.route("**/*", only_the_site)
        math = scripts_of(page, "generated/siteapp/instrument/", ".arithmatex mjx-container")
        diagram = scripts_of(page, "generated/siteapp/", ".mermaid svg")
        plain = scripts_of(page, "", "article h1")
        browser.close()
    assert "tex-chtml.js" in math and "mermaid.min.js" not in math
    assert "mermaid.min.js" in diagram
    assert {"tex-chtml.js", "mermaid.min.js"}.isdisjoint(plain)


@pytest.mark.django_db
def test_a_failing_build_keeps_the_published_site(built, tmp_path):
    project, site, _ = built
    before = (site / "index.html").read_bytes()
    (project / "docs" / "notes.md").write_text("# Notes\n\n[broken](missing.md)\n")
    result = CliRunner().invoke(
        cli, ["build-site", "--project", str(project), "--out", str(site), "--strict"]
    )
    assert result.exit_code == 1
    assert "MkDocs build failed" in result.output and "missing.md" in result.output
    assert (site / "index.html").read_bytes() == before
    assert not list(tmp_path.glob(".espresso-static-build-*"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "mkdocs_yml, says",
    [
        (
            "site_name: [unclosed\n",
            "MkDocs encountered an error parsing the configuration file: while parsing a "
            "flow sequence at line 1, column 12 expected ',' or ']', but got '<stream end>' "
            "at line 2, column 1",
        ),
        ("- just a list\n", "mkdocs.yml: must be a mapping of settings, not a list"),
        ("just a string\n", "mkdocs.yml: must be a mapping of settings, not a string"),
        (
            "theme:\n  name: no-such-theme\n",
            "is not a usable MkDocs configuration: Config value 'theme': Unrecognised theme "
            "name: 'no-such-theme'.",
        ),
    ],
)
def test_a_broken_mkdocs_yml_is_named_with_what_is_wrong_in_one_line(tmp_path, mkdocs_yml, says):
    project = copy_project(tmp_path)
    (project / "mkdocs.yml").write_text(mkdocs_yml)
    result = build(project, tmp_path / "site")
    assert result.exit_code == 1
    error = result.output.splitlines()[-1]
    assert error.startswith(f"Error: {project / 'mkdocs.yml'}") and says in error


@pytest.mark.django_db
@pytest.mark.parametrize("link", ["broken.png", "images/broken.png"])
def test_a_broken_symbolic_link_in_the_docs_is_named_in_one_line(tmp_path, link):
    project = copy_project(tmp_path)
    path = project / "docs" / link
    path.parent.mkdir(exist_ok=True)
    path.symlink_to("nowhere.png")
    result = build(project, tmp_path / "site")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"Error: {path}: a broken symbolic link (to nowhere.png); restore its target or remove it."
    )
    assert not (tmp_path / "site").exists()


@pytest.mark.django_db
def test_refuses_to_replace_a_folder_that_is_not_a_site(tmp_path):
    project = copy_project(tmp_path)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    result = CliRunner().invoke(
        cli, ["build-site", "--project", str(project), "--out", str(precious)]
    )
    assert result.exit_code == 1 and "refusing to replace it" in result.output
    assert (precious / "thesis.tex").read_text() == "years of work"


@pytest.mark.django_db
def test_the_published_site_is_readable_as_any_new_folder_is(tmp_path, rows):
    """A web server running as another user reads the site: a staging folder made by
    mkdtemp (0700), renamed into place, answered 403, and turned a 755 site into 700."""
    project = copy_project(tmp_path)
    site = tmp_path / "site"
    previous_umask = os.umask(0o022)
    try:
        for _ in range(2):  # a new site, then one replacing it
            assert build(project, site).exit_code == 0
            published = [site, *site.rglob("*"), *(project / "docs" / "generated").rglob("*")]
            assert [path for path in published if not readable_by_others(path)] == []
    finally:
        os.umask(previous_umask)


def readable_by_others(path: Path) -> bool:
    wanted = 0o005 if path.is_dir() else 0o004  # a folder is read and entered
    return path.lstat().st_mode & wanted == wanted


def page_texts(site: Path) -> dict[str, str]:
    """Every HTML page without its provenance footer."""
    texts = {}
    for path in sorted(site.rglob("*.html")):
        soup = html(path)
        for footer in soup.find_all(class_="espresso-static-provenance"):
            footer.decompose()
        texts[path.relative_to(site).as_posix()] = str(soup)
    return texts


@pytest.mark.django_db
def test_same_database_same_pages(tmp_path, rows):
    project = copy_project(tmp_path)
    assert build(project, tmp_path / "one").exit_code == 0
    assert build(project, tmp_path / "two").exit_code == 0
    assert page_texts(tmp_path / "one") == page_texts(tmp_path / "two")
    # Each build wrote its pages into a docs folder of its own, removed after it; the
    # published build's generated Markdown is kept in docs/generated (for Zensical).
    assert not list(tmp_path.glob(".espresso-static-build-*"))
    assert not list(project.glob(".espresso-static-build-*"))
    kept = project / "docs" / "generated"
    assert (kept / "siteapp" / "index.md").is_file() and not kept.is_symlink()


@pytest.mark.django_db
def test_demo_project_builds_strict(tmp_path):
    """The repository's own demo project, with its mkdocs.yml, pages copied to tmp."""
    config = load_config(REPO)
    docs = tmp_path / "site_src"
    shutil.copytree(config.docs_dir, docs, ignore=shutil.ignore_patterns("generated"))
    config = dataclasses.replace(config, docs_dir=docs, site_dir=tmp_path / "site")
    result = build_site(config, config.site_dir, BuildOptions(strict=True, quiet=True))
    for model in ["ensemble", "gaugeconfig", "mobiusdomainwall", "propagator", "datafile"]:
        assert (result.site_dir / "generated" / "demo" / model / "index.html").is_file()
    home = html(result.site_dir / "index.html")
    assert home.find("h1").get_text(strip=True).rstrip("¶") == config.name


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.parametrize("project", [REPO, SITE_PROJECT], ids=["demo", "siteproject"])
def test_every_population_script_runs_on_an_empty_database(tmp_path, project):
    """The docs cannot drift from the models: each script, in a fresh database."""
    config = load_config(project)
    scripts = population_scripts(collect_site(config))
    assert scripts
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    environment["DATABASE_URL"] = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    migrate = (
        "import espresso_static; from django.core.management import call_command; "
        "espresso_static.setup(); call_command('migrate', run_syncdb=True, verbosity=0)"
    )
    run = {"cwd": project, "env": environment, "capture_output": True, "text": True}
    subprocess.run([sys.executable, "-c", migrate], check=True, **run)
    for script in scripts:
        database = tmp_path / f"{script.filename}.sqlite3"
        shutil.copy(tmp_path / "empty.sqlite3", database)
        path = tmp_path / script.filename
        path.write_text(script.code)
        run["env"] = {**environment, "DATABASE_URL": f"sqlite:///{database}"}
        # Twice in one interpreter (start-up is most of the time): creates, then finds.
        twice = f"import runpy; runpy.run_path({str(path)!r}); runpy.run_path({str(path)!r})"
        result = subprocess.run([sys.executable, "-c", twice], **run)
        assert result.returncode == 0, f"{script.filename}:\n{result.stderr}"
        first, second = result.stdout.splitlines()
        assert first.startswith("Created") and second.startswith("Found existing"), result.stdout
