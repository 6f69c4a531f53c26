"""Project configuration: where the settings come from and which database they name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from espresso_static.exceptions import ConfigError, EspressoStaticError
from espresso_static.project.config import ProjectConfig, load_config, parse_database_url, redact
from espresso_static.project.django_setup import describe_database, django_settings

PG_URL = "postgresql://alice:s3cret@db.example.org:6543/campaign"


def write_project(folder: Path, table: str = 'apps = ["models.demo"]\n') -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "x"\n\n[tool.espresso-static]\n{table}', encoding="utf-8"
    )
    return folder


def test_defaults_give_an_sqlite_file_inside_the_project(tmp_path):
    config = load_config(write_project(tmp_path / "camp"), environ={})
    assert isinstance(config, ProjectConfig)
    assert config.root == (tmp_path / "camp").resolve()
    assert config.name == "camp"
    assert config.apps == ("models.demo",)
    assert config.database_source == "default"
    assert config.database == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(config.root / "espresso.sqlite3"),
    }
    assert config.site_dir == config.root / "site"
    assert config.docs_dir == config.root / "site_src"
    assert config.mkdocs_config == config.root / "mkdocs.yml"


def test_every_documented_key_is_read(tmp_path):
    table = (
        'name = "My campaign"\ndescription = "What it holds."\napps = ["a.b", "c"]\n'
        'database = "sqlite:///data/db.sqlite3"\nsite_dir = "public"\n'
        'docs_dir = "docs"\nmkdocs_config = "conf/mkdocs.yml"\n'
    )
    config = load_config(write_project(tmp_path, table), environ={})
    assert (config.name, config.description, config.apps) == (
        "My campaign",
        "What it holds.",
        ("a.b", "c"),
    )
    assert config.database_source == "pyproject.toml"
    assert config.database["NAME"] == str(config.root / "data" / "db.sqlite3")
    assert config.site_dir == config.root / "public"
    assert config.docs_dir == config.root / "docs"
    assert config.mkdocs_config == config.root / "conf" / "mkdocs.yml"


def test_database_url_wins_over_pyproject(tmp_path):
    project = write_project(tmp_path, 'apps = ["a"]\ndatabase = "sqlite:///mine.sqlite3"\n')
    config = load_config(project, environ={"DATABASE_URL": PG_URL})
    assert config.database_source == "DATABASE_URL"
    assert config.database_url == PG_URL
    assert config.database["ENGINE"] == "django.db.backends.postgresql"
    # An empty DATABASE_URL is as good as none.
    assert load_config(project, environ={"DATABASE_URL": ""}).database_source == "pyproject.toml"


def test_the_process_environment_is_the_default(tmp_path, monkeypatch):
    project = write_project(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite:////tmp/from-env.sqlite3")
    assert load_config(project).database["NAME"] == "/tmp/from-env.sqlite3"


def test_the_project_is_found_from_a_subfolder(tmp_path, monkeypatch):
    project = write_project(tmp_path / "camp")
    inner = project / "scripts" / "deep"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)
    assert load_config(environ={}).root == project.resolve()


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("sqlite:///espresso.sqlite3", "{root}/espresso.sqlite3"),
        ("sqlite:///sub/dir/x.db", "{root}/sub/dir/x.db"),
        ("sqlite:////var/data/x.db", "/var/data/x.db"),
        ("sqlite:///with%20space.db", "{root}/with space.db"),
    ],
)
def test_sqlite_paths(tmp_path, url, name):
    database = parse_database_url(url, tmp_path)
    assert database == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": name.format(root=tmp_path),
    }


def test_postgresql_url_parts():
    assert parse_database_url(PG_URL, Path("/unused")) == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "campaign",
        "USER": "alice",
        "PASSWORD": "s3cret",
        "HOST": "db.example.org",
        "PORT": "6543",
    }
    minimal = parse_database_url("postgres://localhost/db", Path("/unused"))
    assert (minimal["USER"], minimal["PASSWORD"], minimal["PORT"]) == ("", "", "")
    quoted = parse_database_url("postgresql://a%40b:p%3Aw%2Fd@[::1]:5432/my%20db", Path("/"))
    assert (quoted["USER"], quoted["PASSWORD"], quoted["HOST"], quoted["NAME"]) == (
        "a@b",
        "p:w/d",
        "::1",
        "my db",
    )
    with_options = parse_database_url(f"{PG_URL}?sslmode=require&connect_timeout=3", Path("/"))
    assert with_options["OPTIONS"] == {"sslmode": "require", "connect_timeout": "3"}


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("sqlite://", "Malformed SQLite URL"),
        ("sqlite:///", "Malformed SQLite URL"),
        ("sqlite://relative.db", "Malformed SQLite URL"),
        ("postgresql://alice:s3cret@host:port/db", "bad port"),
        ("postgresql://alice:s3cret@host:5432/", "no database name"),
        ("mysql://alice:s3cret@host/db", "Unsupported database URL"),
        ("just-a-file.sqlite3", "Unsupported database URL"),
    ],
)
def test_malformed_urls_are_named_without_the_password(tmp_path, url, problem):
    with pytest.raises(ConfigError, match=problem) as caught:
        parse_database_url(url, tmp_path)
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)
    project = write_project(tmp_path / "p")
    with pytest.raises(ConfigError, match=problem):
        load_config(project, environ={"DATABASE_URL": url})


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (PG_URL, "postgresql://alice:***@db.example.org:6543/campaign"),
        ("postgresql://alice@host/db", "postgresql://alice@host/db"),
        ("postgresql://:pw@host/db", "postgresql://:***@host/db"),
        ("postgresql://a:p%40ss@[::1]:5432/db", "postgresql://a:***@[::1]:5432/db"),
        ("postgresql://a:pw@host:bad/db", "postgresql://a:***@host:bad/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_redact_hides_only_the_password(url, shown):
    assert redact(url) == shown


def test_describe_database_hides_the_password(tmp_path):
    described = describe_database(parse_database_url(PG_URL, tmp_path))
    assert described == "postgresql://alice:***@db.example.org:6543/campaign"
    sqlite = describe_database(parse_database_url("sqlite:///x.db", tmp_path))
    assert sqlite == f"sqlite:///{tmp_path}/x.db"


def test_django_settings_follow_the_configuration(tmp_path):
    config = load_config(write_project(tmp_path), environ={})
    settings = django_settings(config)
    assert settings["INSTALLED_APPS"][-1] == "models.demo"
    assert "espresso_static" in settings["INSTALLED_APPS"]
    assert settings["DATABASES"]["default"] == config.database
    assert settings["USE_TZ"] is True


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "does not exist: not an espresso-static project"),
        ('[project]\nname = "x"\n', "has no [tool.espresso-static] table"),
        ("[tool.espresso-static\napps = [", "is not valid TOML"),
        ('[tool.espresso-static]\napps = ["a"]\ndatabse = "x"\n', "Unknown key(s) databse"),
        ("[tool.espresso-static]\nname = 'x'\n", "needs `apps ="),
        ("[tool.espresso-static]\napps = []\n", "needs `apps ="),
        ("[tool.espresso-static]\napps = 'models.demo'\n", "needs `apps ="),
    ],
    ids=[
        "no-pyproject",
        "no-table",
        "bad-toml",
        "unknown-key",
        "no-apps",
        "empty-apps",
        "apps-str",
    ],
)
def test_bad_configuration_is_one_clear_line(tmp_path, content, problem):
    if content is not None:
        (tmp_path / "pyproject.toml").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ={})
    message = str(caught.value)
    assert problem in message
    assert "\n" not in message
    assert isinstance(caught.value, EspressoStaticError)


def test_missing_project_folder_and_no_project_above(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nowhere", environ={})
    monkeypatch.chdir(tmp_path)
    if any((folder / "pyproject.toml").exists() for folder in tmp_path.parents):
        pytest.skip("a pyproject.toml above the temporary folder")
    with pytest.raises(ConfigError, match="No espresso-static project here"):
        load_config(environ={})


def test_database_url_is_read_from_os_environ_only_when_not_given(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", PG_URL)
    assert load_config(write_project(tmp_path), environ={}).database_source == "default"
    assert os.environ["DATABASE_URL"] == PG_URL
