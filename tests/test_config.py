"""Project configuration: where the settings come from and which database they name."""

from __future__ import annotations

import os
import re
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
        ("sqlite:///why%3F.db", "{root}/why?.db"),
        ("sqlite:///no-options.db?&", "{root}/no-options.db"),
    ],
)
def test_sqlite_paths(tmp_path, url, name):
    database = parse_database_url(url, tmp_path)
    assert database == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": name.format(root=tmp_path),
    }


def test_an_sqlite_url_sets_how_long_to_wait_for_a_lock(tmp_path):
    database = parse_database_url("sqlite:///x.db?timeout=30", tmp_path)
    assert database["NAME"] == f"{tmp_path}/x.db"
    assert database["OPTIONS"] == {"timeout": 30.0}


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
        # Once part of the file name: a new, empty database.
        ("sqlite:///x.db?mode=ro", "Unknown option 'mode' in the SQLite URL"),
        ("sqlite:///x.db?timeout=soon", "Bad timeout 'soon'"),
        ("sqlite:///x.db?timeout=-1", "Bad timeout '-1'"),
        ("sqlite:///x.db?timeout=nan", "Bad timeout 'nan'"),
        ("postgresql://alice:s3cret@host:port/db", "bad port"),
        ("postgresql://alice:s3cret@host:5432/", "no database name"),
        ("postgresql://alice:s3cret@[::1/db", "Malformed database URL .*Invalid IPv6 URL"),
        ("postgres://[::1:5432/db", "Malformed database URL"),
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
        ('[tool.espresso-static]\napps = ["a"]\ndatabse = "x"\n', "databse: unknown key"),
        ("[tool.espresso-static]\nname = 'x'\n", "apps: missing"),
        ("[tool.espresso-static]\napps = []\n", "apps: must not be empty"),
        ("[tool.espresso-static]\napps = 'models.demo'\n", "apps: must be an array"),
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


@pytest.mark.parametrize(
    ("table", "check_id", "named"),
    [
        ('apps = ["a"]\nsite_dir = 5\n', "E002", "site_dir: must be a string, not 5"),
        ('apps = ["a"]\nname = true\n', "E002", "name: must be a string, not True"),
        ('apps = ["a", 3]\n', "E002", "apps[1]: must be a string"),
        ('apps = ["a/b"]\n', "E003", "apps[0]: must be an import path"),
        ('apps = ["a"]\nsite_dir = ""\n', "E003", "site_dir: must name a path"),
        ('apps = ["a"]\ndatabase = "mysql://x/y"\n', "E003", "database: Unsupported"),
        ('apps = ["a"]\ndocs_dir = "/etc"\n', "E003", "docs_dir: must name a folder inside"),
        ('apps = ["a"]\ndocs_dir = "../pages"\n', "E003", "docs_dir: must name a folder inside"),
        ('apps = ["a"]\ndocs_dir = "."\n', "E003", "docs_dir: must name a folder inside"),
        ('apps = ["a"]\nhelth = true\n', "E001", "helth: unknown key"),
        (
            'apps = ["a"]\n[tool.espresso-static.audiences.internal]\ndefault = "allow"\nhelth = true\n',
            "E001",
            "audiences.internal.helth: unknown key (known: default, site_dir, health)",
        ),
        (
            'apps = ["a"]\n[tool.espresso-static.audiences.internal]\nhealth = "yes"\n',
            "E002",
            "audiences.internal.health: must be a boolean",
        ),
        (
            'apps = ["a"]\n[tool.espresso-static.audiences.internal]\ndefault = "maybe"\n',
            "E003",
            "audiences.internal.default: must be 'deny' or 'allow', not 'maybe'",
        ),
        (
            'apps = ["a"]\ndefault_audience = "x"\n[tool.espresso-static.audiences."../../x"]\n',
            "E004",
            'audiences."../../x": an audience name must be a plain identifier',
        ),
        (
            'apps = ["a"]\n[tool.espresso-static.audiences.2026]\n',
            "E004",
            "audiences.2026: an audience name must be a plain identifier",
        ),
        (
            'apps = ["a"]\n[tool.espresso-static.audiences.all]\n',
            "E004",
            "audiences.all: an audience name must be a plain identifier",
        ),
        ('apps = ["a"]\naudiences = 3\n', "E002", "audiences: must be a table"),
        ('apps = ["a"]\ndefault_audience = "team"\n', "E003", "default_audience: 'team' is not"),
        (
            'apps = ["a"]\nsilenced_checks = ["espresso_static.W999"]\n',
            "E003",
            "silenced_checks[0]: 'espresso_static.W999' is not an espresso-static check id",
        ),
        (
            'apps = ["a"]\nsilenced_checks = ["nosuch"]\n',
            "E003",
            "silenced_checks[0]: 'nosuch' is not a check id such as espresso_static.W501",
        ),
        (
            'apps = ["a"]\nsilenced_checks = ["espresso_static.E001"]\n',
            "E003",
            "silenced_checks[0]: 'espresso_static.E001' is a configuration error",
        ),
        (
            'apps = ["a"]\nfeatures = ["pages.Largest"]\n',
            "E003",
            'features[0]: must be a "package.module:Class" reference',
        ),
    ],
)
def test_each_bad_option_is_one_line_naming_its_key(tmp_path, table, check_id, named):
    with pytest.raises(ConfigError) as caught:
        load_config(write_project(tmp_path, table), environ={})
    message = str(caught.value)
    assert f"[tool.espresso-static] {named}" in message
    assert "\n" not in message
    assert caught.value.problems[0].id == f"espresso_static.{check_id}"


def test_docs_dir_through_a_symbolic_link_must_stay_inside_the_project(tmp_path):
    # build-site writes a missing home page there: never into a folder elsewhere.
    project = write_project(tmp_path / "camp")
    (tmp_path / "elsewhere").mkdir()
    (project / "site_src").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match=r"docs_dir: must name a folder inside the project"):
        load_config(project, environ={})
    (project / "site_src").unlink()
    (project / "pages").mkdir()
    (project / "site_src").symlink_to(project / "pages")  # inside: fine
    assert load_config(project, environ={}).docs_dir == project.resolve() / "site_src"


@pytest.mark.parametrize(
    ("table", "environ"),
    [('apps = ["a"]\ndatabase = "mysql://x/y"\n', {}), ('apps = ["a"]\n', {"DATABASE_URL": "x"})],
)
def test_a_bad_database_url_is_one_sentence(tmp_path, table, environ):
    with pytest.raises(ConfigError) as caught:
        load_config(write_project(tmp_path, table), environ=environ)
    assert str(caught.value).endswith("postgresql://user:password@host/dbname.")
    # Named where it was set: the file, or the environment.
    from_environment = str(caught.value).startswith("The environment variable DATABASE_URL: ")
    assert from_environment == bool(environ), str(caught.value)


def test_every_problem_is_collected(tmp_path):
    table = 'apps = "x"\nsite_dir = 5\nhelth = 1\n'
    with pytest.raises(
        ConfigError, match=r"\(and 2 more: `espresso-static check` lists them\)"
    ) as caught:
        load_config(write_project(tmp_path, table), environ={})
    assert {problem.key for problem in caught.value.problems} == {"apps", "site_dir", "helth"}


def test_silenced_checks_and_features_are_read(tmp_path):
    table = (
        'apps = ["a"]\nsilenced_checks = ["espresso_static.W501", "fields.E304"]\n'
        'features = ["pages.largest:LargestFiles"]\n'
    )
    config = load_config(write_project(tmp_path, table), environ={})
    assert config.silenced_checks == ("espresso_static.W501", "fields.E304")
    assert config.features == ("pages.largest:LargestFiles",)
    assert django_settings(config)["SILENCED_SYSTEM_CHECKS"] == list(config.silenced_checks)


def test_the_readme_documents_every_option_of_the_schema():
    """The README's table of options is the one :func:`options_reference` generates
    from the schema: every option documented, nothing documented that is not one."""
    from espresso_static.project.config import AUDIENCE_SCHEMA, SCHEMA, options_reference

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert options_reference() in readme, (
        "README's configuration table differs from the schema: paste "
        "`python -c 'from espresso_static.project.config import options_reference as o; print(o())'`"
    )
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([\w.]+)` \|", section, re.MULTILINE))
    options = {*SCHEMA, *(f"audiences.NAME.{key}" for key in AUDIENCE_SCHEMA)}
    assert documented == options


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('apps = ["a"]\nsite_dir = "/"\n', "site_dir"),
        (
            'apps = ["a"]\naudiences = { internal = {}, public = { site_dir = "/" } }\n',
            "audiences.public.site_dir",
        ),
    ],
)
def test_a_site_dir_must_name_a_folder(tmp_path, table, key):
    with pytest.raises(ConfigError) as caught:
        load_config(write_project(tmp_path, table), environ={})
    assert [str(p) for p in caught.value.problems] == [f"{key}: must name a folder, not /"]


def test_a_site_dir_starting_with_a_tilde_is_in_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    project = write_project(tmp_path / "p", 'apps = ["a"]\nsite_dir = "~/sites/campaign"\n')
    config = load_config(project, environ={})
    assert config.site_dir == tmp_path / "home" / "sites" / "campaign"
    assert config.audiences["public"].site_dir == tmp_path / "home" / "sites" / "campaign-public"
