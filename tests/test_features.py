"""Site features: a project registers its own from its configuration, and it appears
in the build like a built-in one (the README's example, tests/largest_files.py)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from espresso_static.cli import cli
from espresso_static.exceptions import ConfigError
from espresso_static.project.config import load_config
from espresso_static.website.feature import Feature, project_features
from models.demo import data
from models.demo.models import DataFile
from tests.test_build import copy_project

REPO = Path(__file__).resolve().parents[1]
FEATURE = "tests.largest_files:LargestFiles"


def demo_project(tmp_path: Path, features: str) -> Path:
    """The repository's demo project registering ``features`` (a TOML list)."""
    folder = tmp_path / "demo"
    folder.mkdir()
    shutil.copy(REPO / "mkdocs.yml", folder / "mkdocs.yml")
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    table = "[tool.espresso-static]\n"
    (folder / "pyproject.toml").write_text(
        pyproject.replace(table, f"{table}features = {features}\n"), encoding="utf-8"
    )
    (folder / "site_src").mkdir()
    return folder


@pytest.mark.django_db
def test_a_project_feature_appears_in_the_build(tmp_path):
    data.generate(files=60, seed=3)
    DataFile.objects.filter(pk=DataFile.objects.order_by("pk").first().pk).update(
        size=10**15, file_name="<b>huge</b>.h5"
    )
    project = demo_project(tmp_path, f'["{FEATURE}"]')
    out = tmp_path / "site"
    result = CliRunner().invoke(cli, ["build-site", "--project", str(project), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert re.search(r"largest files 10 \(", result.output), result.output
    page = BeautifulSoup(
        (out / "generated" / "largest-files" / "index.html").read_text(encoding="utf-8"),
        "html.parser",
    )
    cells = [row.find_all("td") for row in page.find("article").find("tbody").find_all("tr")]
    assert len(cells) == 10
    assert cells[0][0].get_text() == "<b>huge</b>.h5" and not page.find("article").find("b")
    assert cells[0][1].get_text() == f"{10**15:,}"
    sizes = [int(size.get_text().replace(",", "")) for _, size in cells]
    assert sizes == sorted(sizes, reverse=True)
    nav = BeautifulSoup((out / "index.html").read_text(encoding="utf-8"), "html.parser")
    assert any(link.get_text(strip=True) == "Largest files" for link in nav.find_all("a"))


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ('["tests.largest_files"]', r'features\[0\]: must be a "package\.module:Class" reference'),
        ('["tests.no_such_module:X"]', r'cannot import "tests\.no_such_module"'),
        ('["tests.largest_files:Nope"]', r'module "tests\.largest_files" has no "Nope"'),
        ('["tests.largest_files:Largest"]', r"is not a subclass of espresso_static"),
        ('"tests.largest_files:LargestFiles"', r"features: must be an array"),
    ],
)
def test_a_bad_feature_reference_is_one_line_naming_the_key(tmp_path, features, message):
    project = demo_project(tmp_path, features)
    with pytest.raises(ConfigError, match=message) as error:
        project_features(load_config(project))
    assert "features" in str(error.value) and "\n" not in str(error.value)


def test_a_feature_failing_as_it_loads_is_one_line_naming_the_key(tmp_path, monkeypatch):
    code = tmp_path / "code"
    code.mkdir()
    (code / "raises_on_import.py").write_text('raise RuntimeError("no  database")\n')
    (code / "raises_when_made.py").write_text(
        "from espresso_static.website.feature import Feature\n\n"
        "class Made(Feature):\n    def __init__(self):\n        raise KeyError('x')\n"
    )
    monkeypatch.syspath_prepend(str(code))
    cases = (
        (
            '["raises_on_import:X"]',
            'importing "raises_on_import" failed: RuntimeError: no database',
        ),
        ('["raises_when_made:Made"]', '"raises_when_made:Made" failed as it was made: KeyError'),
    )
    for number, (features, message) in enumerate(cases):
        (tmp_path / str(number)).mkdir()
        with pytest.raises(ConfigError) as error:
            project_features(load_config(demo_project(tmp_path / str(number), features)))
        assert "features[0]" in str(error.value) and message in str(error.value)
        assert "\n" not in str(error.value)


@pytest.mark.django_db
def test_check_reports_a_feature_that_does_not_load(tmp_path):
    project = demo_project(tmp_path, '["tests.no_such_module:X", "tests.largest_files:Nope"]')
    args = ["check", "--project", str(project), "--tag", "declarations"]
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 1
    assert [(item["id"], item["obj"]) for item in json.loads(result.stdout)] == [
        ("espresso_static.E003", "features[0]"),
        ("espresso_static.E003", "features[1]"),
    ]
    text = CliRunner().invoke(cli, args).stdout
    assert 'ERROR espresso_static.E003 [features[0]]: cannot import "tests.no_such_module"' in text


def test_the_readme_example_is_the_tested_feature():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = (REPO / "tests" / "largest_files.py").read_text(encoding="utf-8")
    assert f"```python\n{example}```" in readme


class Broken(Feature):
    """A project's feature with a bug in its render step."""

    def on_files(self, site, context, data):
        return {}["missing"]


@pytest.mark.django_db
def test_a_failing_project_feature_is_one_line_naming_it_and_nothing_is_published(tmp_path):
    project = copy_project(tmp_path)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text + 'features = ["tests.test_features:Broken"]\n', encoding="utf-8")
    out = tmp_path / "site"
    result = CliRunner().invoke(cli, ["build-site", "--project", str(project), "--out", str(out)])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: The project's site feature tests.test_features:Broken failed in on_files: "
        "KeyError: 'missing'"
    )
    assert not out.exists()


class FailsOncePublished(Feature):
    """A project's feature whose step after publishing fails (a notifier, say)."""

    def on_published(self, site_dir, context, data):
        raise OSError("mail server unreachable")


@pytest.mark.django_db
def test_a_failure_after_publishing_puts_the_previous_site_back_and_records_nothing(tmp_path):
    from espresso_static.models import BuildRecord

    project = copy_project(tmp_path)
    out = tmp_path / "site"
    build = ["build-site", "--project", str(project), "--out", str(out)]
    assert CliRunner().invoke(cli, build).exit_code == 0
    previous = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    records = BuildRecord.objects.count()
    assert records >= 1
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    feature = "tests.test_features:FailsOncePublished"
    pyproject.write_text(text + f'features = ["{feature}"]\n', encoding="utf-8")
    result = CliRunner().invoke(cli, build)
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"Error: The project's site feature {feature} failed in on_published: "
        "OSError: mail server unreachable"
    )
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == previous
    assert BuildRecord.objects.count() == records  # the Changes page's record rolled back
    assert list(tmp_path.glob(".espresso-static-build-*")) == []
