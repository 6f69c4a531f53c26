"""The render step: escaping of user text, pages, diagrams and population scripts."""

from __future__ import annotations

import ast
import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import markdown
import pytest
from bs4 import BeautifulSoup

from espresso_static.exceptions import EspressoStaticError
from espresso_static.project.config import load_config
from espresso_static.website.collect import collect_site
from espresso_static.website.context import Asset, BuildOptions, Page, Provenance, RenderContext
from espresso_static.website.feature import Feature, render_features
from espresso_static.website.features.docs import ModelDocs, er_diagram
from espresso_static.website.features.news import NewsFeature
from espresso_static.website.population import population_scripts
from espresso_static.website.sanitize import code_html, inline_text, prose_html

SITE_PROJECT = Path(__file__).parent / "siteproject"
HOSTILE = (
    '{{ x }} <script>alert("x")</script> <img src=x onerror=alert(1)> '
    "[click](javascript:alert(1)) {: onclick=alert(1) } --8<-- /etc/passwd"
)


def to_html(text: str) -> BeautifulSoup:
    """Markdown → HTML with the extensions of the built site."""
    converter = markdown.Markdown(
        extensions=[
            "tables",
            "attr_list",
            "md_in_html",
            "pymdownx.arithmatex",
            "pymdownx.superfences",
        ],
        extension_configs={"pymdownx.arithmatex": {"generic": True}},
    )
    return BeautifulSoup(converter.convert(text), "html.parser")


def assert_harmless(soup: BeautifulSoup) -> None:
    assert not soup.find_all(["script", "img"])
    for element in soup.find_all(True):
        assert not any(name.startswith("on") for name in element.attrs), element
    assert not any("javascript:" in a.get("href", "") for a in soup.find_all("a"))


def test_hostile_user_text_is_shown_not_interpreted():
    soup = to_html(inline_text(HOSTILE))
    assert_harmless(soup)
    text = soup.get_text()
    assert '<script>alert("x")</script>' in text
    assert "{{ x }}" in text and "[click](javascript:alert(1))" in text


def test_hostile_prose_is_rendered_then_sanitized():
    soup = to_html(f"Before\n\n{prose_html(HOSTILE)}\n\nAfter\n")
    assert not soup.find("script") and soup.find("img").attrs == {"src": "x"}
    assert not any(name.startswith("on") for e in soup.find_all(True) for name in e.attrs)
    assert "{{ x }}" in soup.get_text() and "--8<-- /etc/passwd" in soup.get_text()
    assert soup.find("a").get_text() == "click"  # the link stays, its javascript: URL not


def test_code_spans_and_math_are_kept():
    soup = to_html(inline_text(r"Name `a12m310`, mass $m_\pi < 300$ MeV"))
    assert soup.find("code").get_text() == "a12m310"
    assert soup.find(class_="arithmatex").get_text() == r"\(m_\pi < 300\)"


def test_pipes_in_a_table_cell_do_not_split_it():
    cell = inline_text(r"a | b, `c|d` and $|\psi|$")
    soup = to_html(f"| x | y |\n| --- | --- |\n| {cell} | last |\n")
    cells = soup.find("tbody").find_all("td")
    assert len(cells) == 2 and cells[1].get_text() == "last"
    assert "a | b" in cells[0].get_text()


def test_a_docstring_is_one_block_the_page_does_not_process():
    prose = prose_html("Intro\n\n# Heading\n\n--8<-- 'secret.md'\r--8<-- 'x'\u2028--8<-- y")
    assert "\n" not in prose and "8<" not in prose
    soup = to_html(f"{prose}\n\n$x$\n")
    assert soup.find("div", class_="es-prose").find("h1").get_text() == "Heading"


def test_code_values_are_literal():
    soup = to_html(f"| v |\n| --- |\n| {code_html('*a*_$x$|`<b>')} |\n")
    assert soup.find("td").find("code").get_text() == "*a*_$x$|`<b>"
    assert not soup.find(["em", "b"])


@pytest.fixture
def site():
    return collect_site(load_config(SITE_PROJECT))


@pytest.fixture
def context():
    provenance = Provenance(datetime(2026, 1, 1, tzinfo=UTC), None, "abc123")
    return RenderContext(load_config(SITE_PROJECT), BuildOptions(), provenance)


@pytest.mark.django_db
def test_every_model_gets_a_page_and_a_script(site, context):
    contributions = render_features(site, context, [(ModelDocs(), None)])
    paths = {item.path for item in contributions}
    for model in site.models:
        assert f"siteapp/{model.slug}.md" in paths
        assert f"siteapp/populate_{model.slug}.py" in paths
    assert "siteapp/index.md" in paths and "partials/home.md" in paths
    pages = [item for item in contributions if isinstance(item, Page)]
    assert [p.title for p in pages if p.section] == ["Overview", *(m.name for m in site.models)]


@pytest.mark.django_db
def test_rows_without_a_time_the_site_shows_are_not_no_rows(site, context):
    from espresso_static.website.mkdocs_build import _provenance_extra

    for shows_rows, said in ((False, "no rows yet"), (True, "not shown on this site")):
        provenance = dataclasses.replace(context.provenance, shows_rows=shows_rows)
        shown = dataclasses.replace(context, provenance=provenance)
        home = next(
            item.markdown
            for item in render_features(site, shown, [(ModelDocs(), None)])
            if item.path == "partials/home.md"
        )
        assert f"Database snapshot (latest change): {said}" in home
        assert _provenance_extra(provenance)["snapshot"] == said


@pytest.mark.django_db
def test_user_text_is_not_template_code(site, context):
    page = next(
        item
        for item in render_features(site, context, [(ModelDocs(), None)])
        if isinstance(item, Page) and item.path == "siteapp/instrument.md"
    )
    soup = to_html(page.markdown)
    assert_harmless(soup)
    assert "{{ x }}" in soup.get_text() and "tracker <fast> | {{ kind }}" in soup.get_text()


@pytest.mark.django_db
def test_er_diagram_names_every_relation(site):
    diagram = er_diagram(site, site.apps[0])
    lines = diagram.splitlines()
    for model in site.models:
        for relation in model.relations:
            if relation.direction == "forward":
                target = relation.target.split(".")[-1]
                assert any(
                    line.strip().startswith(model.name)
                    and target in line
                    and f'"{relation.name}"' in line
                    for line in lines
                ), (model.name, relation.name)
    assert '    GainCalibration |o--|| Calibration : "is a"' in lines
    # An abstract base's column is listed (it has no entity), Base's bookkeeping is not.
    instrument = diagram.split("    Instrument {\n", 1)[1].split("    }", 1)[0].split()
    assert "label" in instrument and "name" in instrument
    assert "last_modified" not in instrument and "user" not in instrument


def test_render_refuses_two_contributions_to_one_path(context):
    class One(Feature):
        def on_files(self, site, context, data):
            return [Asset("x.js", b"")]

    class Other(One):
        pass

    with pytest.raises(EspressoStaticError, match=r"One and Other both write generated/x\.js: "):
        render_features(None, context, [(One(), None), (Other(), None)])


def test_render_refuses_two_pages_at_one_address(context):
    class News(Feature):  # a project's feature writing where the built-in News page is
        def on_files(self, site, context, data):
            return [Page("news/index.md", "# Our news", "Our news")]

    with pytest.raises(
        EspressoStaticError,
        match=r"^The site features news and News both write the page generated/news/ "
        r"\(news\.md and news/index\.md\): ",
    ):
        render_features(None, context, [(NewsFeature(), None), (News(), None)])


@pytest.mark.django_db
def test_population_scripts_are_valid_python(site):
    scripts = {script.model_label: script for script in population_scripts(site)}
    assert set(scripts) == {model.label for model in site.models}
    for script in scripts.values():
        ast.parse(script.code)
    measurement = scripts["siteapp.Measurement"].code
    # Dependencies through dotted keys, a tree for the specialized foreign key.
    assert '"calibration.instrument.name": "example",' in measurement
    assert '"calibration": "GainCalibration",' in measurement
    # A many-to-many dependency is created first.
    dataset = scripts["siteapp.Dataset"].code
    assert dataset.index("run, _ = Run.get_or_create") < dataset.index("dataset, created")
    assert '"runs": [run],' in dataset


@pytest.mark.django_db
def test_the_projects_name_stays_text_in_a_scripts_docstring(site):
    """The name is configuration, the script code a reader runs: quotes, backslashes and
    line breaks must not end the docstring, read as escapes or start an encoding cookie."""
    name = 'C:\\x """\nimport os  #\n# -*- coding: utf-7 -*-\u2028\u202e'
    code = population_scripts(dataclasses.replace(site, name=name))[0].code
    module = ast.parse(code)
    shown = " ".join(name.replace("\u202e", " ").split())
    assert ast.get_docstring(module).splitlines()[0].endswith(f" of {shown}.")
    assert [type(node) for node in module.body[:3]] == [ast.Expr, ast.Import, ast.Expr]
    assert code.splitlines()[1] == ""  # line 2, where a coding cookie would be read


def test_a_templates_words_between_values_keep_their_spaces():
    """Every ``{{ }}`` reaches the page as one line of text; a template's own separator
    keeps the spaces around it (they were dropped: "Summary per ensembleandstream")."""
    from espresso_static.website.render import template_environment

    template = template_environment().from_string(
        '{% for c in columns %}{{ c|text }}{{ " and " if not loop.last }}{% endfor %}'
        '{{ " per " ~ by }}'
    )
    assert template.render(columns=["ensemble", "stream"], by="ensemble") == (
        "ensemble and stream per ensemble"
    )
    assert inline_text("a\n\t b") == "a b"


@pytest.mark.django_db
def test_a_status_page_of_one_row_says_row_not_rows():
    from espresso_static.declare.progress import declared
    from tests.portapp.models import Job

    Job.objects.create(number=1, status=0)
    assert "Loading the table of 1 row…" in status_markdown(declared(Job))


def status_markdown(item) -> str:
    """The Markdown of the status page of ``item`` (a DeclaredProgress of portapp.Job)."""
    from types import SimpleNamespace

    from espresso_static.declare.progress import CATEGORY_LABELS, summarize
    from espresso_static.website.render import render_template

    page = SimpleNamespace(
        summary=summarize(item),
        declared=item,
        trends=[],
        plots={},
        plot_by=None,
        snapshots=False,
        not_done_hash="0",
    )
    model = SimpleNamespace(name="Job", doc="A job.")
    return render_template(
        "status.md.j2", page=page, model=model, model_link="job.md", names=CATEGORY_LABELS
    )


@pytest.mark.django_db
def test_a_status_page_names_choices_by_their_labels():
    """The declared status values and a group column's values read as Django shows them
    (a choice's label), a value outside the choices as stored."""
    import dataclasses

    from espresso_static.declare.progress import DeclaredProgress
    from tests.portapp.models import Job

    for number, status in enumerate([2, 0, 7], 1):
        Job.objects.create(number=number, status=status)
    item = DeclaredProgress(Job, dataclasses.replace(Job.progress, group_by=["status"]))
    markdown_text = status_markdown(item)
    assert "*done* is <code>2</code> (finished)&#59;" in markdown_text
    groups = [line.split(" | ")[0] for line in markdown_text.splitlines() if " | 1 | " in line]
    assert groups == ["| queued", "| finished", "| 7"]


def test_the_health_page_counts_one_row_and_one_check_in_the_singular():
    from types import SimpleNamespace

    from espresso_static.website.render import render_template

    result = SimpleNamespace(
        model="portapp.Job",
        check="check_consistency",
        checked=2,
        failing=0,
        passed_as_written=1,
        not_replayable=1,
        not_replayable_reason="",
    )
    markdown_text = render_template(
        "health.md.j2",
        results=[result],
        links={"portapp.Job": "job.md"},
        provenance=SimpleNamespace(snapshot=None),
    )
    assert "</code> (1 row)&#46;" in markdown_text
    assert "1 check could not be replayed" in markdown_text
    assert "</code>: 1 row&#46;" in markdown_text
