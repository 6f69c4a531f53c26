"""startproject/startapp/makemigrations and the migration-drift checks, each in a
fresh process on a project of its own (Django is configured once per process)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml

from espresso_static.exceptions import EspressoStaticError
from espresso_static.project.scaffold import register_app


def run(*args, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "espresso_static", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


@pytest.fixture(scope="module")
def template_project(tmp_path_factory) -> Path:
    """A migrated project made by startproject (made once, copied by tests)."""
    root = tmp_path_factory.mktemp("projects")
    run("startproject", "campaign_db", cwd=root)
    project = root / "campaign_db"
    run("migrate", cwd=project)
    return project


@pytest.fixture
def project(template_project, tmp_path) -> Path:
    copy = tmp_path / "campaign_db"
    shutil.copytree(template_project, copy)
    return copy


def check_ids(project: Path) -> tuple[int, set[str]]:
    result = run("check", "--format", "json", cwd=project, ok=False)
    return result.returncode, {finding["id"] for finding in json.loads(result.stdout)}


def assert_silenced(project: Path, ids: set[str]) -> None:
    """With ``ids`` in ``silenced_checks``, ``check`` reports nothing and passes."""
    pyproject = project / "pyproject.toml"
    configured = pyproject.read_text()
    listed = ", ".join(f'"{check_id}"' for check_id in sorted(ids))
    pyproject.write_text(
        configured.replace(
            "[tool.espresso-static]\n", f"[tool.espresso-static]\nsilenced_checks = [{listed}]\n"
        )
    )
    assert check_ids(project) == (0, set())
    pyproject.write_text(configured)


def test_startproject_writes_a_working_project(template_project):
    config = tomllib.loads((template_project / "pyproject.toml").read_text())
    assert config["tool"]["espresso-static"]["apps"] == ["models.campaign"]
    for path in (
        "mkdocs.yml",
        "site_src/about.md",
        "README.md",
        "models/campaign/models.py",
        "models/campaign/migrations/0001_initial.py",
    ):
        assert (template_project / path).is_file(), path
    assert check_ids(template_project) == (0, set())
    info = run("info", cwd=template_project).stdout
    assert "Ensemble: 0 rows" in info and "sqlite:///" in info


def test_a_title_with_quotes_and_backslashes_is_written_as_it_reads(tmp_path):
    title = 'He said "hi" \\ ok: #1 — ünï'
    run("startproject", "quoted", "--title", title, cwd=tmp_path)
    project = tmp_path / "quoted"
    assert (
        tomllib.loads((project / "pyproject.toml").read_text())["tool"]["espresso-static"]["name"]
        == title
    )
    assert yaml.safe_load((project / "mkdocs.yml").read_text())["site_name"] == title


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--app", "auth"), "Invalid app name 'auth': every project has an app of that name"),
        (("--title", "two\nlines"), "a title is one line of text"),
    ],
)
def test_startproject_refuses_before_writing_anything(tmp_path, args, says):
    """An app named as Django's and a title of two lines failed once the files were written."""
    refused = run("startproject", "refused", *args, cwd=tmp_path, ok=False)
    assert refused.returncode == 1 and says in refused.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_stopped_startproject_removes_the_folder_it_made(tmp_path):
    """Stopped halfway (here Ctrl-C during its makemigrations), it left a folder a
    retry refused as "exists and is not empty"."""
    from tests.conftest import ctrl_c_as_at_a_terminal

    process = subprocess.Popen(
        [sys.executable, "-m", "espresso_static", "startproject", "stopped"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=ctrl_c_as_at_a_terminal,
    )
    models = tmp_path / "stopped" / "models" / "campaign" / "models.py"
    deadline = time.monotonic() + 60
    while not models.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)  # makemigrations, a second process, takes seconds
    process.communicate(timeout=60)
    assert process.returncode != 0 and models.exists() is False
    assert list(tmp_path.iterdir()) == []
    run("startproject", "stopped", cwd=tmp_path)


@pytest.mark.parametrize(
    ("direct_url", "line"),
    [
        # pip install git+https://…@commit: that commit (a token in the URL left out).
        (
            {
                "url": "https://ci-bot:ghp_secret@github.com/lab/espresso-static.git",
                "vcs_info": {"vcs": "git", "commit_id": "4b1f73e0" * 5},
            },
            "espresso-static[postgres] @ git+https://github.com/lab/espresso-static.git"
            "@" + "4b1f73e0" * 5,
        ),
        # A release archive on a web server.
        (
            {
                "url": "https://user:pw@files.lab.org/espresso_static-0.1.0.tar.gz",
                "archive_info": {"hashes": {"sha256": "00"}},
            },
            "espresso-static[postgres] @ https://files.lab.org/espresso_static-0.1.0.tar.gz",
        ),
        # A local clone (pip install -e ., or git+file://): the CI cannot reach it;
        # said so, and the release pinned.
        (
            {"url": "file:///home/me/espresso-static", "dir_info": {"editable": True}},
            "espresso-static[postgres]==0.1.0",
        ),
        (
            {
                "url": "file:///home/me/espresso-static",
                "vcs_info": {"vcs": "git", "commit_id": "4b1f73e0" * 5},
            },
            "espresso-static[postgres]==0.1.0",
        ),
        # From the package index: no direct_url.json.
        (None, "espresso-static[postgres]==0.1.0"),
    ],
)
def test_the_nightly_job_installs_espresso_static_from_where_it_came(direct_url, line):
    """A nightly job installing ==0.1.0 from PyPI failed for every project set up
    from a clone or a Git URL: no such release is published there."""
    from packaging.requirements import Requirement

    from espresso_static import __version__
    from espresso_static.project.scaffold_ci import requirement

    text = requirement(direct_url)
    *comments, installed = text.splitlines()
    assert installed == line.replace("0.1.0", __version__)
    assert Requirement(installed).extras == {"postgres"}
    assert "secret" not in text and "pw" not in text
    local = direct_url is not None and direct_url["url"].startswith("file:")
    assert all(c.startswith("# ") for c in comments) and bool(comments) == local
    if local:
        assert "file:///home/me/espresso-static" in comments[0]


def test_startproject_requires_espresso_static_as_installed_here(template_project):
    from espresso_static.project.scaffold_ci import installed_source, requirement

    written = (template_project / "requirements.txt").read_text()
    assert written == requirement(installed_source())


def test_startproject_leaves_no_database_and_ignores_what_builds_write(tmp_path):
    run("startproject", "fresh", cwd=tmp_path)
    project = tmp_path / "fresh"
    assert not list(project.glob("*.sqlite3"))  # migrate creates it, not startproject
    ignored = (project / ".gitignore").read_text().split()
    assert {"/site/", "/site-*/", ".espresso-static-cache/", "*.sqlite3"} <= set(ignored)
    assert len(ignored) == len(set(ignored))  # each pattern once
    mkdocs = yaml.safe_load((project / "mkdocs.yml").read_text())
    assert "content.code.copy" in mkdocs["theme"]["features"]
    assert {"admonition", "pymdownx.details", "pymdownx.superfences"} <= {
        next(iter(e)) if isinstance(e, dict) else e for e in mkdocs["markdown_extensions"]
    }


def test_the_scaffold_readme_names_real_commands(template_project):
    from espresso_static.cli import cli

    readme = (template_project / "README.md").read_text()
    commands = re.findall(r"^espresso-static (\w+)", readme, re.MULTILINE)
    commands += re.findall(r"`espresso-static (\w+)", readme)
    assert {"migrate", "ingest", "serve", "check"} <= set(commands)
    assert set(commands) <= set(cli.commands)
    scripts = re.findall(r"^(?:python|\./)\s*(\S+)", readme, re.MULTILINE)
    assert all((template_project / script).exists() for script in scripts), scripts


def test_the_scaffold_readme_ingest_runs_as_written(project):
    readme = (project / "README.md").read_text()
    (command,) = re.findall(r"^espresso-static (ingest .*?)\s+#", readme, re.MULTILINE)
    assert "2 inserted" in run(*shlex.split(command), cwd=project).stdout


def test_info_counts_one_row_in_the_singular(project):
    (project / "one.csv").write_text("name,nx,nt\na09m130,48,96\n")
    run("ingest", "Ensemble", "one.csv", "--key", "name", cwd=project)
    assert "  Ensemble: 1 row\n" in run("info", cwd=project).stdout


def test_demo_in_a_project_of_ones_own_points_to_ingest(project):
    result = run("demo", cwd=project, ok=False)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "espresso-static ingest" in result.stderr and str(project) in result.stderr
    assert "add" not in result.stderr  # no advice to install the demo app


def test_a_status_column_without_progress_gets_a_hint(project):
    models_py = project / "models" / "campaign" / "models.py"
    models_py.write_text(
        models_py.read_text() + "\n\nclass Job(Base):\n    status = models.CharField(max_length=9, "
        "choices=[('queued', 'queued'), ('done', 'done')])\n"
    )
    run("makemigrations", cwd=project)
    run("migrate", cwd=project)
    built = run("build-site", cwd=project)
    assert "warning: campaign.Job.status looks like a status column" in built.stderr
    checked = run("check", cwd=project)  # a warning: exit code 0
    assert "WARNING espresso_static.W401 [campaign.Job]" in checked.stdout
    assert 'Add progress = Progress(status="status", done=[...])' in checked.stdout


def test_startproject_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("keep me")
    result = run("startproject", "taken", cwd=tmp_path, ok=False)
    assert result.returncode == 1
    assert "not empty" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "taken" / "notes.txt").read_text() == "keep me"


def test_model_change_without_migration_then_unapplied_migration(project):
    models_py = project / "models" / "campaign" / "models.py"
    models_py.write_text(
        models_py.read_text() + "\n    tag2 = models.CharField(max_length=5, default='')\n"
    )
    assert check_ids(project) == (1, {"espresso_static.E102", "espresso_static.W201"})
    assert_silenced(project, {"espresso_static.E102", "espresso_static.W201"})
    # migrate cannot bring in a change without a migration: it says what to run.
    said = run("migrate", cwd=project).stdout
    assert "has model changes without a migration" in said and "is up to date" not in said
    assert "Run `espresso-static makemigrations`, then `espresso-static migrate`." in said
    run("makemigrations", cwd=project)
    assert check_ids(project) == (1, {"espresso_static.E103", "espresso_static.W201"})
    assert_silenced(project, {"espresso_static.E103", "espresso_static.W201"})
    assert "espresso-static migrate" in run("check", cwd=project, ok=False).stdout
    run("migrate", cwd=project)
    assert check_ids(project) == (0, set())


def test_a_progress_declaration_added_after_migrate_asks_for_migrate(project):
    """Declaring a status column creates no migration, but the change log's triggers
    must record it: check and build-site say to migrate until it was run."""
    models_py = project / "models" / "campaign" / "models.py"
    models_py.write_text(
        models_py.read_text()
        + "\n\nclass Job(Base):\n"
        + "    status = models.CharField(max_length=5, choices=[('todo', 'todo'), ('done', 'done')])\n"
    )
    run("makemigrations", cwd=project)
    run("migrate", cwd=project)
    # A status column without a declaration: check suggests one (no status page).
    assert check_ids(project) == (0, {"espresso_static.W401"})
    models_py.write_text(
        "from espresso_static.progress import Progress\n"
        + models_py.read_text().replace(
            "class Job(Base):\n",
            "class Job(Base):\n    progress = Progress(status='status', done=['done'], missing=['todo'])\n",
        )
    )
    assert check_ids(project) == (1, {"espresso_static.E106"})
    assert_silenced(project, {"espresso_static.E106"})
    refused = run("build-site", cwd=project, ok=False)
    assert refused.returncode == 1
    assert "campaign_job" in refused.stderr and "espresso-static migrate" in refused.stderr
    run("migrate", cwd=project)
    assert check_ids(project) == (0, set())


def test_database_ahead_of_code(project):
    migration = project / "models" / "campaign" / "migrations" / "0002_extra.py"
    migration.write_text(
        "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
        "    dependencies = [('campaign', '0001_initial')]\n    operations = []\n"
    )
    run("migrate", cwd=project)
    migration.unlink()
    assert check_ids(project) == (1, {"espresso_static.E104", "espresso_static.W201"})
    assert_silenced(project, {"espresso_static.E104", "espresso_static.W201"})


def test_conflicting_migrations(project):
    for name in ("0002_left", "0002_right"):
        (project / "models" / "campaign" / "migrations" / f"{name}.py").write_text(
            "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
            "    dependencies = [('campaign', '0001_initial')]\n    operations = []\n"
        )
    code, ids = check_ids(project)
    assert code == 1 and "espresso_static.E105" in ids
    assert_silenced(project, ids)


def test_startapp_registers_the_app_and_keeps_comments(project):
    run("startapp", "jobs", cwd=project)
    text = (project / "pyproject.toml").read_text()
    assert tomllib.loads(text)["tool"]["espresso-static"]["apps"] == [
        "models.campaign",
        "models.jobs",
    ]
    assert "# database =" in text  # the user's comments survive
    assert (project / "models" / "jobs" / "migrations" / "__init__.py").is_file()
    assert check_ids(project) == (0, set())


def test_register_app_without_apps_is_a_clear_error(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.espresso-static]\nname = "x"\n')
    with pytest.raises(EspressoStaticError, match="No `apps"):
        register_app(pyproject, "models.jobs")


@pytest.mark.parametrize("name", ["My-App", "class", "1abc"])
def test_bad_app_names_are_refused(project, name):
    result = run("startapp", name, cwd=project, ok=False)
    assert result.returncode == 1 and "Invalid app name" in result.stderr


def test_app_without_migrations_folder(project):
    run("startapp", "jobs", cwd=project)
    models_py = project / "models" / "jobs" / "models.py"
    models_py.write_text(
        models_py.read_text() + "\n\nclass Job(Base):\n    name = models.CharField(max_length=9)\n"
    )
    shutil.rmtree(project / "models" / "jobs" / "migrations")
    result = run("check", cwd=project, ok=False)
    assert result.returncode == 1 and "has models but no migrations" in result.stdout
    assert "ERROR espresso_static.E101 [jobs]" in result.stdout
    assert_silenced(project, {"espresso_static.E101", "espresso_static.W201"})
    refused = run("build-site", cwd=project, ok=False)
    assert refused.returncode == 1 and "Not building" in refused.stderr
    run("makemigrations", cwd=project)
    run("migrate", cwd=project)
    assert check_ids(project) == (0, set())


def test_the_next_step_is_a_command_a_shell_runs_as_shown(tmp_path):
    """The folder's name is quoted for the shell: `cd my campaign` would fail."""
    said = run("startproject", "my campaign", cwd=tmp_path).stdout
    (command,) = [line.strip() for line in said.splitlines() if line.strip().startswith("cd ")]
    assert command == "cd 'my campaign' && espresso-static migrate && build-site"
    assert shlex.split(command)[1] == "my campaign"
