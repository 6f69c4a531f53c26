"""The command line: help, one-line errors for bad configurations (each in a fresh
process, since Django can be configured once per process), and migrate + demo on a
copy of the demo project."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from espresso_static import __version__
from espresso_static.cli import build_site_command, cli

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = Path(sys.executable).parent
DEMO_TABLE = '[tool.espresso-static]\nname = "Copy"\napps = ["models.demo"]\n'


def run_cli(*args: str, cwd: Path, env: dict | None = None, script: str = "espresso-static"):
    """Run the installed console script in a fresh process, without the caller's
    DATABASE_URL unless ``env`` gives one."""
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environ.update(env or {})
    executable = shutil.which(script, path=str(SCRIPTS)) or shutil.which(script)
    assert executable, f"console script {script} is not installed"
    return subprocess.run(
        [executable, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=300
    )


def run_python(script: str, env: dict, cwd: Path | None = None):
    """Run ``script`` in a fresh interpreter with the environment ``env``."""
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_project(folder: Path, table: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(table, encoding="utf-8")
    return folder


def write_demo_project(folder: Path, extra: str = "") -> Path:
    """A project folder holding a copy of the demo app ``models.demo``."""
    project = write_project(folder, DEMO_TABLE + extra)
    shutil.copytree(
        REPO / "models", project / "models", ignore=shutil.ignore_patterns("__pycache__")
    )
    return project


def assert_one_line_error(result, *expected: str, hidden: str = "s3cret") -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert hidden not in result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


# -- help ---------------------------------------------------------------------------------


def test_help_lists_the_subcommands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:")[1]
    for name in ("migrate", "demo", "build-site"):
        assert f"  {name} " in listed
    assert set(cli.commands) <= {line.split()[0] for line in listed.strip().splitlines()}


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_subcommand_has_help(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: cli {name}" in result.output
    assert "--debug" in result.output
    if name != "startproject":  # the README: every command but startproject
        assert "--project" in result.output


def test_the_readme_names_every_command_with_the_options_it_has():
    section = (REPO / "README.md").read_text().split("## Commands", 1)[1].split("\n#", 1)[0]
    rows = dict(re.findall(r"^\| `(?:espresso-static )?([\w-]+)([^`]*)`", section, re.MULTILINE))
    assert set(rows) == set(cli.commands)
    shared = {"--project", "--debug", "--help"}  # said once, under the table
    for name, usage in rows.items():
        params = cli.commands[name].params
        options = {option for param in params for option in param.opts if option.startswith("--")}
        assert set(re.findall(r"--[\w-]+", usage)) == options - shared, name


def test_build_site_script_has_help_and_version():
    result = CliRunner().invoke(build_site_command, ["--help"], prog_name="build-site")
    assert result.exit_code == 0
    assert "Usage: build-site [OPTIONS]" in result.output
    version = CliRunner().invoke(cli, ["--version"])
    assert version.exit_code == 0 and __version__ in version.output


def test_wrong_usage_exits_2():
    result = CliRunner().invoke(cli, ["demo", "--rows", "-5"])
    assert result.exit_code == 2
    assert CliRunner().invoke(cli, ["no-such-command"]).exit_code == 2


def test_the_console_scripts_are_installed(tmp_path):
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0 and "build-site" in result.stdout
    result = run_cli("-h", cwd=tmp_path, script="build-site")  # -h as espresso-static's
    assert result.returncode == 0 and "Usage: build-site" in result.stdout


# -- bad configurations: one line, exit code 1, no traceback -------------------------------


def test_unknown_app(tmp_path):
    project = write_project(tmp_path, '[tool.espresso-static]\napps = ["no_such_app.models"]\n')
    assert_one_line_error(
        run_cli("migrate", cwd=project), "Unknown app 'no_such_app.models'", "pyproject.toml"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os\nimport no_such_module_anywhere\n", "line 2: ModuleNotFoundError"),
        ("import os\n\nx = = 3\n", "line 3: SyntaxError"),
    ],
)
def test_an_app_that_fails_to_import_is_named_by_file_and_line(tmp_path, source, expected):
    project = write_project(tmp_path, '[tool.espresso-static]\napps = ["broken"]\n')
    (project / "broken").mkdir()
    (project / "broken" / "__init__.py").write_text("")
    (project / "broken" / "models.py").write_text(source)
    assert_one_line_error(
        run_cli("migrate", cwd=project),
        f"Loading the Django apps failed: broken/models.py, {expected}",
    )


def test_migrate_refuses_an_app_without_migrations_and_says_what_to_run(tmp_path):
    """An EspressoDB project ported with its old migrations removed (LatteDB's name
    EspressoDB's Base): Django would migrate the other apps, say nothing of this one and
    create none of its tables."""
    project = write_demo_project(tmp_path, extra='database = "sqlite:///db.sqlite3"\n')
    config = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(
        config.replace('"models.demo"', '"models.demo", "runs"')
    )
    (project / "runs").mkdir()
    (project / "runs" / "__init__.py").write_text("")
    (project / "runs" / "models.py").write_text(
        "from django.db import models\n\nfrom espresso_static.models import Base\n\n\n"
        "class Run(Base):\n    number = models.IntegerField()\n"
    )
    line = assert_one_line_error(
        run_cli("migrate", cwd=project), "App 'runs' of", "has models but no migrations folder"
    )
    assert line.endswith("Run `espresso-static makemigrations`, then `espresso-static migrate`.")
    assert not (project / "db.sqlite3").exists() or not table_rows(
        project / "db.sqlite3", "SELECT name FROM sqlite_master WHERE name = 'runs_run'"
    )
    # Django's options pass through, their values too (not taken for app labels).
    assert run_cli("makemigrations", "-n", "first_runs", cwd=project).returncode == 0
    assert (project / "runs" / "migrations" / "0001_first_runs.py").is_file()
    migrated = run_cli("migrate", cwd=project)
    assert migrated.returncode == 0, migrated.stderr
    assert table_rows(
        project / "db.sqlite3", "SELECT name FROM sqlite_master WHERE name = 'runs_run'"
    )


def write_self_setup_project(folder: Path) -> Path:
    """A demo project whose package sets Django up when imported, as EspressoDB projects
    do in their ``__init__`` (LatteDB: ``django.setup()``; ported:
    ``espresso_static.setup()``)."""
    project = write_demo_project(folder)
    (project / "models" / "__init__.py").write_text(
        "import espresso_static\n\nespresso_static.setup()\n"
    )
    return project


def test_an_app_package_that_sets_django_up_when_imported(tmp_path):
    """The command's own set-up imports the package, which calls
    ``espresso_static.setup()``: Django is configured once, not refused twice."""
    project = write_self_setup_project(tmp_path)
    migrated = run_cli("migrate", cwd=project)
    assert migrated.returncode == 0, migrated.stderr
    script = (
        "import models\nfrom models.demo.models import Ensemble\nprint(Ensemble.objects.count())"
    )
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    used = run_python(script, {**environ, "PYTHONPATH": str(project)}, cwd=project)
    assert used.returncode == 0 and used.stdout.strip() == "0", used.stderr


def demo_tables(database: Path) -> list:
    return table_rows(database, "SELECT name FROM sqlite_master WHERE name = 'demo_ensemble'")


@pytest.mark.parametrize("elsewhere", ["no project", "another project"])
def test_a_self_setting_up_package_takes_the_project_given_from_any_folder(tmp_path, elsewhere):
    """The package's ``setup()`` runs inside the set-up of ``--project``: it takes that
    project, not one looked for from the current folder (none there, or another)."""
    project = write_self_setup_project(tmp_path / "project")
    current = tmp_path / "current"
    if elsewhere == "another project":
        write_project(current, DEMO_TABLE)
    current.mkdir(exist_ok=True)
    migrated = run_cli("migrate", "--project", str(project), cwd=current)
    assert migrated.returncode == 0, migrated.stderr
    assert demo_tables(project / "espresso.sqlite3")
    assert not (current / "espresso.sqlite3").exists()
    listed = run_cli("info", "--project", str(project), cwd=current)
    assert listed.returncode == 0, listed.stderr
    assert "Ensemble: 0 rows" in listed.stdout


SETUP_FROM_ELSEWHERE = """
import espresso_static
from espresso_static.exceptions import ConfigError
project, other = {project!r}, {other!r}
config = espresso_static.setup(project)
import models
from models.demo.models import Ensemble
assert espresso_static.setup(project) is config and espresso_static.setup() is config
print(Ensemble.objects.count(), config.name)
try:
    espresso_static.setup(other)
except ConfigError as error:
    print(error)
"""


def test_setup_of_a_self_setting_up_project_from_another_folder(tmp_path):
    """``setup(DIR)`` works from any folder; once set up, the same project again is a
    no-op and another one is refused in one line."""
    project = write_self_setup_project(tmp_path / "project")
    assert run_cli("migrate", cwd=project).returncode == 0
    other = write_project(tmp_path / "other", DEMO_TABLE)
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    script = SETUP_FROM_ELSEWHERE.format(project=str(project), other=str(other))
    result = run_python(script, environ, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    counted, refused = result.stdout.strip().splitlines()
    assert counted == "0 Copy"
    assert refused == (
        f"This process is set up for the espresso-static project {project.resolve()}: it "
        f"cannot also set up {other.resolve()} (one project per process)."
    )


def test_a_failing_app_is_named_not_the_app_whose_package_set_django_up(tmp_path):
    """Importing the first app's package sets Django up, which imports every app's
    models: the error names the module that failed, and the app whose import started it."""
    project = write_self_setup_project(tmp_path)
    (project / "pyproject.toml").write_text(
        DEMO_TABLE.replace('["models.demo"]', '["models.demo", "models.broken"]')
    )
    (project / "models" / "broken").mkdir()
    (project / "models" / "broken" / "__init__.py").write_text("")
    (project / "models" / "broken" / "models.py").write_text("import not_installed_module\n")
    line = assert_one_line_error(
        run_cli("info", cwd=project),
        "models/broken/models.py, line 1: ModuleNotFoundError: No module named "
        "'not_installed_module' (while importing app 'models.demo')",
    )
    assert "App 'models.demo'" not in line


def test_unreachable_postgresql(tmp_path):
    project = write_demo_project(tmp_path)
    # Nothing listens on port 1: the connection is refused at once.
    url = "postgresql://alice:s3cret@127.0.0.1:1/campaign?connect_timeout=5"
    line = assert_one_line_error(
        run_cli("migrate", cwd=project, env={"DATABASE_URL": url}),
        "Cannot connect to the database postgresql://alice:***@127.0.0.1:1/campaign",
    )
    assert "refused" in line.lower() or "failed" in line.lower()


def test_postgresql_without_its_driver_says_what_to_install(tmp_path):
    project = write_demo_project(tmp_path)
    # Modules of these names that fail to import stand in for an install without them.
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    for driver in ("psycopg", "psycopg2"):
        (blocked / f"{driver}.py").write_text("raise ImportError('not installed')\n")
    url = "postgresql://alice:s3cret@127.0.0.1:5432/campaign"
    env = {"DATABASE_URL": url, "PYTHONPATH": str(blocked)}
    assert_one_line_error(
        run_cli("migrate", cwd=project, env=env),
        "pip install 'espresso-static[postgres]'",
        "postgresql://alice:***@127.0.0.1:5432/campaign",
    )


def test_unreachable_sqlite_file(tmp_path):
    project = write_demo_project(tmp_path, 'database = "sqlite:///no/such/folder/db.sqlite3"\n')
    assert_one_line_error(
        run_cli("migrate", cwd=project), "Cannot connect to the database", "no/such/folder"
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://alice:s3cret@host:port/db", "bad port"),
        ("sqlite://relative.db", "Malformed SQLite URL"),
        ("mysql://alice:s3cret@host/db", "Unsupported database URL"),
        ("postgresql://alice:s3cret@[::1/db", "Malformed database URL"),
    ],
)
def test_malformed_database_url(tmp_path, url, problem):
    project = write_project(tmp_path, DEMO_TABLE)
    assert_one_line_error(run_cli("migrate", cwd=project, env={"DATABASE_URL": url}), problem)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('[project]\nname = "x"\n', "has no [tool.espresso-static] table"),
        (DEMO_TABLE + 'databse = "sqlite:///x.db"\n', "databse: unknown key"),
        ("[tool.espresso-static]\napps = [\n", "is not valid TOML"),
    ],
    ids=["missing-table", "unknown-key", "bad-toml"],
)
def test_bad_pyproject(tmp_path, table, problem):
    project = write_project(tmp_path / "p", table)
    assert_one_line_error(run_cli("migrate", "--project", str(project), cwd=tmp_path), problem)


def test_no_project_here(tmp_path):
    assert_one_line_error(run_cli("demo", cwd=tmp_path), "No espresso-static project here")


def test_debug_shows_the_traceback(tmp_path):
    project = write_project(tmp_path, '[tool.espresso-static]\napps = ["no_such_app"]\n')
    result = run_cli("migrate", "--debug", cwd=project)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ConfigError" in result.stderr


# -- migrate and demo on a copy of the demo project ---------------------------------------


@pytest.fixture
def demo_copy(tmp_path) -> Path:
    return write_demo_project(tmp_path / "campaign")


def table_rows(database: Path, sql: str) -> list:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


@pytest.mark.slow
def test_migrate_then_demo_fill_the_embedded_sqlite_database(demo_copy):
    migrated = run_cli("migrate", cwd=demo_copy)
    assert migrated.returncode == 0, migrated.stderr
    database = demo_copy / "espresso.sqlite3"
    assert "Database sqlite:///espresso.sqlite3 (default) is up to date." in migrated.stdout
    applied = table_rows(database, "SELECT app FROM django_migrations")
    assert ("demo",) in applied and ("espresso_static",) in applied

    filled = run_cli("demo", "--rows", "200", cwd=demo_copy)
    assert filled.returncode == 0, filled.stderr
    assert "200 data files" in filled.stdout
    assert table_rows(database, "SELECT COUNT(*) FROM demo_datafile") == [(200,)]
    first = table_rows(database, "SELECT file_name, status, size FROM demo_datafile ORDER BY 1")

    # Deterministic: a second run replaces the rows with the same data.
    again = run_cli("demo", "--rows", "200", "--project", str(demo_copy), cwd=demo_copy.parent)
    assert again.returncode == 0, again.stderr
    assert table_rows(database, "SELECT file_name, status, size FROM demo_datafile ORDER BY 1") == (
        first
    )
    users = table_rows(database, "SELECT DISTINCT user_id FROM demo_ensemble")
    assert users and None not in {user for (user,) in users}


def test_database_url_wins_over_the_pyproject_database(tmp_path):
    project = write_demo_project(tmp_path, 'database = "sqlite:///from-pyproject.sqlite3"\n')
    result = run_cli("migrate", cwd=project, env={"DATABASE_URL": "sqlite:///from-env.sqlite3"})
    assert result.returncode == 0, result.stderr
    assert "Database sqlite:///from-env.sqlite3 (DATABASE_URL) is up to date." in result.stdout
    assert (project / "from-env.sqlite3").is_file()
    assert not (project / "from-pyproject.sqlite3").exists()


CHECK_MIGRATIONS = """
from espresso_static.project.config import load_config
from espresso_static.project.django_setup import setup_django
setup_django(load_config())
from django.core.management import call_command
call_command("makemigrations", "demo", "espresso_static", check=True, dry_run=True)
"""


def test_migrations_match_the_models(demo_copy):
    """The demo's and the package's migrations describe their models exactly (the test
    suite itself builds tables from the models, without migrations)."""
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = run_python(CHECK_MIGRATIONS, environ, cwd=demo_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout


THREADS_AFTER_NUMPY = """
import os, sys
from espresso_static.cli import main
sys.argv = ["espresso-static", "--version"]
try:
    main()
except SystemExit:
    pass
import numpy
print(len(os.listdir("/proc/self/task")))
"""


@pytest.mark.skipif(
    not Path("/proc/self/task").is_dir() or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux and two CPUs (OpenBLAS starts no thread on one)",
)
@pytest.mark.parametrize(("setting", "threads"), [(None, 1), ("2", 2)])
def test_numpy_starts_no_spinning_threads_in_a_command(setting, threads):
    environ = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if setting:  # the user's own setting is kept
        environ["OPENBLAS_NUM_THREADS"] = setting
    ran = run_python(THREADS_AFTER_NUMPY, environ)
    assert ran.returncode == 0, ran.stderr
    assert int(ran.stdout.split()[-1]) == threads
