"""Configure Django from a :class:`~espresso_static.project.config.ProjectConfig`.

A user never writes a Django settings file: the package configures Django itself.
When Django is already configured (espresso-static used as a library inside an
existing Django project, or under pytest-django), the existing settings are used
as long as they install every app the project names.

A project's package may set Django up when imported (EspressoDB projects do in their
``__init__``; ported, ``espresso_static.setup()``): while the apps are imported, that
call takes the project being set up, with its settings (the admin's too), not one
found from the current folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import secrets
import sys
import traceback
from pathlib import Path

import django
from django.conf import settings

from espresso_static.declare.access import DEFAULT_AUDIENCE
from espresso_static.exceptions import ConfigError, one_line_text
from espresso_static.project.config import (
    ProjectConfig,
    load_config,
    redact,
    validate_audiences,
)

BUILTIN_APPS = ("django.contrib.contenttypes", "django.contrib.auth", "espresso_static")


def django_settings(config: ProjectConfig) -> dict:
    """The Django settings for ``config`` (also used by the test suite)."""
    return {
        "INSTALLED_APPS": [*BUILTIN_APPS, *config.apps],
        "DATABASES": {"default": config.database},
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
        # Only the optional local admin uses sessions; nothing is ever published signed.
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ESPRESSO_STATIC_PROJECT": config,
        "SILENCED_SYSTEM_CHECKS": list(config.silenced_checks),
    }


#: Only the optional local admin GUI (``espresso-static admin``) needs these.
ADMIN_APPS = (
    # SimpleAdminConfig: the admin's URLconf imports the apps' admin modules itself,
    # after every app is loaded, so a user's own registrations win over automatic ones.
    "django.contrib.admin.apps.SimpleAdminConfig",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
)


def admin_settings(config: ProjectConfig) -> dict:
    """:func:`django_settings` plus what the local admin GUI needs (also used by the
    test suite, so the admin is tested on the project's models)."""
    base = django_settings(config)
    context_processors = [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]
    return {
        **base,
        "INSTALLED_APPS": [*base["INSTALLED_APPS"], *ADMIN_APPS],
        "MIDDLEWARE": [
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": context_processors},
            }
        ],
        "ROOT_URLCONF": "espresso_static.admin",
        # A server error (HTTP 500) logs its traceback on stderr; Django's default
        # logs it only with DEBUG on.
        "LOGGING": {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"stderr": {"class": "logging.StreamHandler"}},
            "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
        },
        "STATIC_URL": "/static/",
        "ALLOWED_HOSTS": ["127.0.0.1", "localhost", "testserver"],
    }


#: The projects :func:`setup_django` is importing the apps of (a stack: the set-up an
#: app's package starts when imported nests), each with whether the admin's apps are wanted.
_being_set_up: list[tuple[ProjectConfig, bool]] = []
#: The project :func:`setup_django` configured Django from (None: not yet, or Django was
#: configured by a host, such as the test suite, whose settings any project may use).
_configured_from: ProjectConfig | None = None


def setup_project(project: Path | str | None = None, admin: bool = False) -> ProjectConfig:
    """Configure Django from the project at ``project`` (default: the nearest folder at
    or above the current one with a ``[tool.espresso-static]`` table) and return its
    configuration. Once this has set a project up, or while it does (an app's package
    calling ``espresso_static.setup()`` when imported), that project is the process's:
    asked for again (or for no project in particular) it is returned as it is, and
    another project is refused."""
    active = _being_set_up[-1][0] if _being_set_up else _configured_from
    if active is None:
        config = load_config(project)
        setup_django(config, admin)
        return config
    if project is not None and Path(project).resolve() != active.root:
        raise ConfigError(
            f"This process is set up for the espresso-static project {active.root}: it "
            f"cannot also set up {Path(project).resolve()} (one project per process)."
        )
    if not settings.configured:  # nested in the set-up of ``active``: finish it here
        setup_django(*_being_set_up[-1])
    return active


def setup_django(config: ProjectConfig, admin: bool = False) -> None:
    """Make the project's apps importable, configure Django and load the apps (with
    ``admin``, also those of the local admin GUI)."""
    global _configured_from
    if str(config.root) not in sys.path:
        sys.path.insert(0, str(config.root))
    if settings.configured:
        missing = [app for app in config.apps if app not in settings.INSTALLED_APPS]
        if missing:
            raise ConfigError(
                f"Django is already configured without the app(s) {', '.join(missing)}."
            )
        django.setup()
        return
    _being_set_up.append((config, admin))
    try:
        for app in config.apps:
            _check_importable(app, config)
    finally:
        _being_set_up.pop()
    if settings.configured:  # an app's package sets Django up when imported (as EspressoDB's did)
        setup_django(config, admin)
        return
    _check_driver(config)
    settings.configure(**(admin_settings(config) if admin else django_settings(config)))
    try:
        django.setup()
    except Exception as error:  # an app's models module failing to import
        raise ConfigError(
            f"Loading the Django apps failed: {_raised_at(error, config.root)}"
            f"{type(error).__name__}: {one_line_text(error)}"
        ) from error
    _configured_from = config


def project_audiences() -> dict:
    """The configured audiences (the default ones when Django was configured without
    espresso-static's settings, e.g. inside a host Django project)."""
    project = getattr(settings, "ESPRESSO_STATIC_PROJECT", None)
    if project is not None:
        return project.audiences
    # Only the names and defaults matter to the callers, not where the sites would go.
    audiences, _ = validate_audiences(None, Path(), Path("site"), DEFAULT_AUDIENCE)
    return audiences


def _raised_at(error: BaseException, root: Path) -> str:
    """``models/jobs/models.py, line 12: ``: the innermost line of the project's own
    code that raised ``error`` (for a SyntaxError the line it names), else ''. Without
    it the user is left to guess which of the apps' modules is at fault."""
    places = [(frame.filename, frame.lineno) for frame in traceback.extract_tb(error.__traceback__)]
    if isinstance(error, SyntaxError) and error.filename:
        places.append((error.filename, error.lineno))
    for filename, line in reversed(places):
        path = Path(filename)
        if path.is_relative_to(root) and "site-packages" not in path.parts:
            return f"{path.relative_to(root)}, line {line}: "
    return ""


def _check_importable(app: str, config: ProjectConfig) -> None:
    try:
        found = importlib.util.find_spec(app) is not None
    except ConfigError as error:
        # The package on the way set Django up when imported, and that set-up failed:
        # its error names the module at fault; say which app's import started it.
        raise ConfigError(f"{error} (while importing app {app!r})", error.problems) from error
    except ModuleNotFoundError as error:
        if error.name and not _is_package_of(error.name, app):
            # A package on the way (its __init__) imports something missing: say so.
            raise _cannot_import(app, config, error) from error
        found = False
    except ValueError:
        found = False
    except Exception as error:  # a package __init__ on the way raised
        raise _cannot_import(app, config, error) from error
    if not found:
        raise ConfigError(
            f"Unknown app {app!r} in [tool.espresso-static] apps of {config.root / 'pyproject.toml'}: "
            f"no importable package {app!r} (looked in {config.root} and the Python path)."
        )


def _cannot_import(app: str, config: ProjectConfig, error: Exception) -> ConfigError:
    return ConfigError(
        f"App {app!r} in [tool.espresso-static] apps of {config.root / 'pyproject.toml'} "
        f"cannot be imported: {_raised_at(error, config.root)}"
        f"{type(error).__name__}: {one_line_text(error)}"
    )


def _check_driver(config: ProjectConfig) -> None:
    """PostgreSQL needs a driver the base install leaves out; say which."""
    if not config.database["ENGINE"].endswith("postgresql"):
        return
    for driver in ("psycopg", "psycopg2"):
        try:
            importlib.import_module(driver)
            return
        except ImportError:
            continue
    raise ConfigError(
        f"The database {describe_database(config.database)} is PostgreSQL, whose driver is "
        "not installed: pip install 'espresso-static[postgres]'."
    )


def _is_package_of(name: str, app: str) -> bool:
    """Whether module ``name`` is ``app`` or one of the packages containing it."""
    return app == name or app.startswith(f"{name}.")


def check_database(alias: str = "default") -> None:
    """Connect once, turning a driver error into a one-line :class:`ConfigError`."""
    from django.db import connections

    connection = connections[alias]
    try:
        connection.ensure_connection()
    except Exception as error:
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        )
        raise ConfigError(
            f"Cannot connect to the database {describe_database(connection.settings_dict)}: "
            f"{first_line} (is the server running, and the address right? It comes from "
            "DATABASE_URL or database in pyproject.toml.)"
        ) from error


#: Where a project's database URL came from (``ProjectConfig.database_source``), as said.
_DATABASE_ORIGINS = {
    "DATABASE_URL": "from DATABASE_URL",
    "pyproject.toml": "from database in {pyproject}",
    "default": "the default: no DATABASE_URL, no database in {pyproject}",
}


def require_existing_sqlite(config: ProjectConfig, alias: str = "default") -> None:
    """Refuse a SQLite file that does not exist, as connecting would create it empty:
    a misspelt path (or ``sqlite:///:memory:``, then a file of that name) was told as
    tables missing, and an empty file was left behind. ``migrate`` creates it."""
    from django.db import connections

    connection = connections[alias]
    name = connection.settings_dict["NAME"]
    if connection.vendor != "sqlite" or connection.is_in_memory_db() or Path(name).exists():
        return
    origin = _DATABASE_ORIGINS[config.database_source].format(
        pyproject=config.root / "pyproject.toml"
    )
    raise ConfigError(
        f"The database {describe_database(connection.settings_dict)} ({origin}) does not "
        "exist; run `espresso-static migrate` to create it, or correct the path."
    )


def describe_database(settings_dict: dict) -> str:
    """A human name of a database (password hidden)."""
    engine = settings_dict["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = ":secret" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "localhost"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return redact(f"postgresql://{user}{password}@{host}{port}/{settings_dict['NAME']}")
