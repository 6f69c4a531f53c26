"""Project configuration: the one documented place a user configures espresso-static.

A project is a folder whose ``pyproject.toml`` has a ``[tool.espresso-static]``
table::

    [tool.espresso-static]
    name = "My campaign"                  # site title (default: folder name)
    description = "What this database holds."
    apps = ["models.demo"]                # Django apps (import paths) holding the models
    database = "sqlite:///espresso.sqlite3"  # default; relative paths are inside the project
    site_dir = "site"                     # where build-site publishes
    docs_dir = "site_src"                 # MkDocs docs_dir: hand-written + generated pages
    mkdocs_config = "mkdocs.yml"
    license = "CC-BY-4.0"                 # licence of the published data (Data page, datapackage.json)
    citation = "Who (2026): what."        # how to cite the data (Data page, datapackage.json)
    default_audience = "internal"         # what plain `build-site` builds
    features = ["mypkg.features:LargestFiles"]  # the project's own site features

    [tool.espresso-static.audiences.public]   # default: public (deny) and internal (allow)
    default = "deny"                      # sees only what models declare for it
    site_dir = "site-public"              # default: "<site_dir>-<name>"
    health = false                        # the "Data health" page (default: allow-audiences)

Who sees which models, columns and rows is declared on the models
(:mod:`espresso_static.declare.access`); ``build-site --audience NAME`` builds one audience's
site, ``--audience all`` every one.

The environment variable ``DATABASE_URL`` overrides ``database``. Supported URLs:
``sqlite:///relative/path.sqlite3``, ``sqlite:////absolute/path.sqlite3`` and
``postgresql://user:password@host:port/dbname?option=value`` (``postgres://`` too;
query parameters are passed to libpq, e.g. ``sslmode=require``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from espresso_static.declare.access import DEFAULT_AUDIENCE, configured_audiences
from espresso_static.exceptions import ConfigError

CONFIG_TABLE = "espresso-static"
DEFAULT_DATABASE = "sqlite:///espresso.sqlite3"
KNOWN_KEYS = {
    "name",
    "description",
    "apps",
    "database",
    "site_dir",
    "docs_dir",
    "mkdocs_config",
    "audiences",
    "default_audience",
    "license",
    "citation",
    "features",
}


@dataclass(frozen=True)
class ProjectConfig:
    """Everything espresso-static needs to know about a project, resolved."""

    root: Path
    name: str
    description: str
    apps: tuple[str, ...]
    database_url: str
    #: Where ``database_url`` came from: "DATABASE_URL", "pyproject.toml" or "default".
    database_source: str
    site_dir: Path
    docs_dir: Path
    mkdocs_config: Path
    #: Audiences by name (see :mod:`espresso_static.declare.access`).
    audiences: dict = field(default_factory=dict)
    #: The audience plain ``build-site`` builds.
    default_audience: str = "internal"
    #: Licence of the published data (an SPDX id or a sentence), for the Data pages.
    license: str = ""
    #: How to cite the data, for the Data pages.
    citation: str = ""
    #: The project's own site features, ``"package.module:Class"`` each
    #: (see :mod:`espresso_static.site.feature`).
    features: tuple[str, ...] = ()

    @property
    def database(self) -> dict:
        """The Django ``DATABASES['default']`` entry for ``database_url``."""
        return parse_database_url(self.database_url, self.root)


def find_project_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` whose pyproject.toml configures us."""
    for folder in [start, *start.parents]:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and CONFIG_TABLE in _read_tool_tables(pyproject):
            return folder
    return None


def load_config(project: Path | str | None = None, environ: dict | None = None) -> ProjectConfig:
    """Read the configuration of the project at ``project`` (default: the current folder
    or the nearest parent that has one)."""
    environ = os.environ if environ is None else environ
    if project is None:
        root = find_project_root(Path.cwd().resolve())
        if root is None:
            raise ConfigError(
                f"No espresso-static project here: no pyproject.toml with a [tool.{CONFIG_TABLE}] "
                f"table in {Path.cwd()} or its parents (use --project DIR, or "
                "`espresso-static startproject NAME`)."
            )
    else:
        root = Path(project).resolve()
        if not root.is_dir():
            raise ConfigError(f"Project folder {root} does not exist.")
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        raise ConfigError(f"{pyproject} does not exist: not an espresso-static project.")
    table = _read_tool_tables(pyproject).get(CONFIG_TABLE)
    if table is None:
        raise ConfigError(f"{pyproject} has no [tool.{CONFIG_TABLE}] table.")
    return _config_from_table(root, table, environ)


def _read_tool_tables(pyproject: Path) -> dict:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{pyproject} is not valid TOML: {error}") from None
    return data.get("tool", {})


def _config_from_table(root: Path, table: dict, environ) -> ProjectConfig:
    where = f"[tool.{CONFIG_TABLE}] in {root / 'pyproject.toml'}"
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"Unknown key(s) {', '.join(unknown)} in {where}; known: {', '.join(sorted(KNOWN_KEYS))}."
        )
    apps = table.get("apps")
    if not apps or not isinstance(apps, list) or not all(isinstance(a, str) for a in apps):
        raise ConfigError(
            f'{where} needs `apps = ["package.app", ...]`, the Django apps to publish.'
        )
    if environ.get("DATABASE_URL"):
        database_url, source = environ["DATABASE_URL"], "DATABASE_URL"
    elif "database" in table:
        database_url, source = str(table["database"]), "pyproject.toml"
    else:
        database_url, source = DEFAULT_DATABASE, "default"
    parse_database_url(database_url, root)  # fail early on a malformed URL
    site_dir = root / table.get("site_dir", "site")
    features = table.get("features", [])
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise ConfigError(f'{where}: `features` must be a list like ["package.module:Class"].')
    return ProjectConfig(
        root=root,
        name=str(table.get("name") or root.name),
        description=str(table.get("description", "")),
        apps=tuple(apps),
        database_url=database_url,
        database_source=source,
        site_dir=site_dir,
        docs_dir=root / table.get("docs_dir", "site_src"),
        mkdocs_config=root / table.get("mkdocs_config", "mkdocs.yml"),
        audiences=configured_audiences(table, root, site_dir),
        default_audience=table.get("default_audience", DEFAULT_AUDIENCE),
        license=str(table.get("license", "")),
        citation=str(table.get("citation", "")),
        features=tuple(features),
    )


def parse_database_url(url: str, root: Path) -> dict:
    """Turn a database URL into a Django DATABASES entry (relative SQLite paths are
    resolved inside the project folder ``root``)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        if not url.startswith("sqlite:///") or len(url) <= len("sqlite:///"):
            raise ConfigError(
                f"Malformed SQLite URL {url!r}: use sqlite:///relative/file.sqlite3 "
                "or sqlite:////absolute/file.sqlite3."
            )
        path = Path(unquote(url[len("sqlite:///") :]))
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(root / path)}
    if scheme in {"postgresql", "postgres", "pgsql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ConfigError(f"Malformed PostgreSQL URL {redact(url)!r}: no database name.")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"Malformed PostgreSQL URL {redact(url)!r}: bad port.") from None
        database = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
        }
        # Query parameters are libpq connection options, e.g. ?sslmode=require.
        options = dict(parse_qsl(parts.query))
        if options:
            database["OPTIONS"] = options
        return database
    raise ConfigError(
        f"Unsupported database URL {redact(url)!r}: use sqlite:///path or "
        "postgresql://user:password@host/dbname."
    )


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and `info`).

    Works on the raw text of the address, so it also hides the password of a URL that
    is malformed elsewhere (a bad port, say) and keeps IPv6 brackets.
    """
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))
