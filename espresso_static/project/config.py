"""Project configuration: the one place a user configures espresso-static, declared
once in :data:`SCHEMA` — each option with its type, default, validation and help, in
the manner of MkDocs' ``config_options`` (the building blocks are in
:mod:`espresso_static.project.options`). The README's table of options is generated
from :data:`SCHEMA` (:func:`options_reference`) and tested against it.

A project is a folder whose ``pyproject.toml`` has a ``[tool.espresso-static]``
table; an unknown key, a value of the wrong type or one not allowed is refused with
one line naming the key (``audiences.internal.helth``). Every problem of the table is
collected (``ConfigError.problems``, shown by ``espresso-static check``); the error
names the first.

The environment variable ``DATABASE_URL`` overrides ``database``. Supported URLs:
``sqlite:///relative/path.sqlite3``, ``sqlite:////absolute/path.sqlite3`` (with
``?timeout=SECONDS``: how long to wait for a lock another process holds) and
``postgresql://user:password@host:port/dbname?option=value`` (``postgres://`` too;
query parameters are passed to libpq, e.g. ``sslmode=require``).
"""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from espresso_static.declare.access import (
    ALL_AUDIENCES,
    DEFAULT_AUDIENCE,
    DEFAULT_AUDIENCES,
    Audience,
)
from espresso_static.exceptions import ConfigError
from espresso_static.project.options import (
    NOT_ALLOWED,
    NOT_AN_IDENTIFIER,
    WRONG_TYPE,
    Invalid,
    Option,
    Problem,
    check_id,
    choice,
    described,
    list_of,
    matching,
    of_type,
    path_text,
    text,
    toml_key,
    validate_table,
)

CONFIG_TABLE = "espresso-static"
DEFAULT_DATABASE = "sqlite:///espresso.sqlite3"
#: The query parameter of an SQLite URL: seconds to wait for another process's lock
#: (Python's sqlite3 waits 5).
SQLITE_TIMEOUT = "timeout"

#: Audience names end up in folder names and URLs: nothing that could leave a folder.
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
FEATURE_REFERENCE = re.compile(rf"{IMPORT_PATH.pattern}:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def database_url(value) -> str:
    text(value)
    try:
        parse_database_url(value, Path("/"))
    except ConfigError as error:
        raise Invalid(_as_problem(error)) from None
    return value


def _as_problem(error: ConfigError) -> str:
    """A URL error as a problem's message: the error line that names it adds the period."""
    return str(error).removesuffix(".")


#: The options of one audience (``[tool.espresso-static.audiences.NAME]``).
AUDIENCE_SCHEMA: dict[str, Option] = {
    "default": Option(
        "string",
        '"deny": sees only the models, columns and rows declared for it; "allow": sees '
        "everything not hidden from it",
        default="deny",
        check=choice("deny", "allow"),
    ),
    "site_dir": Option(
        "path",
        "where its builds publish",
        default_doc='site_dir for default_audience, else "<site_dir>-<name>"',
        check=path_text,
    ),
    "health": Option(
        "boolean",
        'whether its builds publish the "Data health" page',
        default_doc='true for "allow", false for "deny"',
        check=of_type(bool),
    ),
}

#: Every key of ``[tool.espresso-static]``.
SCHEMA: dict[str, Option] = {
    "name": Option("string", "site title", default_doc="the project folder's name", check=text),
    "description": Option("string", "what the database holds (home page)", "", check=text),
    "apps": Option(
        "array of strings",
        'the Django apps (import paths) holding the models, e.g. ["models.demo"]',
        required=True,
        check=list_of(matching(IMPORT_PATH, "an import path such as models.demo"), True),
    ),
    "database": Option(
        "string",
        "database URL (relative SQLite paths are inside the project); DATABASE_URL overrides it",
        DEFAULT_DATABASE,
        check=database_url,
    ),
    "site_dir": Option("path", "where build-site publishes", "site", check=path_text),
    "docs_dir": Option(
        "path",
        "MkDocs docs_dir: hand-written and generated pages (a folder inside the project)",
        "site_src",
        check=path_text,
    ),
    "mkdocs_config": Option("path", "the MkDocs configuration", "mkdocs.yml", check=path_text),
    "license": Option(
        "string", "licence of the published data (Data page, datapackage.json)", "", check=text
    ),
    "citation": Option(
        "string", "how to cite the data (Data page, datapackage.json)", "", check=text
    ),
    "site_url": Option(
        "string",
        "where the site is published (Base.get_doc_url links there)",
        "",
        check=matching(re.compile(r"(https?://\S+)?"), "an http(s):// address"),
    ),
    "default_audience": Option(
        "string",
        "the audience plain `build-site` builds (one of audiences)",
        DEFAULT_AUDIENCE,
        check=text,
    ),
    "audiences": Option(
        "table of tables",
        "the audiences by name, each with the options audiences.NAME.* (a string is "
        'short for its default: public = "deny")',
        default_doc="public (deny) and internal (allow)",
    ),
    "silenced_checks": Option(
        "array of strings",
        "check ids `check` and `build-site` do not report (Django's SILENCED_SYSTEM_CHECKS)",
        (),
        check=list_of(check_id),
    ),
    "features": Option(
        "array of strings",
        'the project\'s own site features, each "package.module:Class" (see "Your own kind '
        'of page")',
        (),
        check=list_of(matching(FEATURE_REFERENCE, 'a "package.module:Class" reference')),
    ),
}


# -- Validation ---------------------------------------------------------------------------


def validate_audiences(
    raw, root: Path, site_dir: Path, default_audience: str
) -> tuple[dict[str, Audience], list[Problem]]:
    """The audiences of ``audiences`` (default: public and internal), and the problems."""
    if raw is None:
        raw = dict(DEFAULT_AUDIENCES)
    if not isinstance(raw, dict):
        return {}, [Problem(WRONG_TYPE, "audiences", f"must be a table, not {described(raw)}")]
    audiences, problems = {}, []
    for name, options in raw.items():
        prefix = f"audiences.{toml_key(name)}."
        if not IDENTIFIER.fullmatch(name) or name == ALL_AUDIENCES:
            problems.append(
                Problem(
                    NOT_AN_IDENTIFIER,
                    prefix[:-1],
                    "an audience name must be a plain identifier (a letter, then letters, "
                    f"digits, _ and -) other than {ALL_AUDIENCES!r}",
                )
            )
            continue
        # A string is short for the audience's default: public = "deny".
        table = {"default": options} if isinstance(options, str) else options
        if not isinstance(table, dict):
            problems.append(
                Problem(WRONG_TYPE, prefix[:-1], f"must be a table, not {described(options)}")
            )
            continue
        values, found = validate_table(table, AUDIENCE_SCHEMA, prefix)
        problems += found
        default = values.get("default", "deny")
        if "site_dir" in values:
            folder = site_folder(root, values["site_dir"])
            if not folder.name:
                problems.append(
                    Problem(NOT_ALLOWED, f"{prefix}site_dir", f"must name a folder, not {folder}")
                )
        elif name == default_audience:
            folder = site_dir
        else:
            folder = site_dir.with_name(f"{site_dir.name}-{name}")
        audiences[name] = Audience(name, default, folder, values.get("health", default == "allow"))
    if default_audience not in raw:
        problems.append(
            Problem(
                NOT_ALLOWED,
                "default_audience",
                f"{default_audience!r} is not among the audiences ({', '.join(raw)})",
            )
        )
    return audiences, problems


def site_folder(root: Path, value: str) -> Path:
    """The folder a ``site_dir`` names: relative to the project, ``~`` the user's home
    (as a shell reads it: not a folder named ``~`` in the project)."""
    return root / Path(value).expanduser()


def configured_audiences(table: Mapping, root: Path, site_dir: Path) -> dict[str, Audience]:
    """The audiences of a ``[tool.espresso-static]`` table (ConfigError naming the key)."""
    default_audience = table.get("default_audience", DEFAULT_AUDIENCE)
    audiences, problems = validate_audiences(
        table.get("audiences"), root, site_dir, default_audience
    )
    if problems:
        raise ConfigError(f"[tool.{CONFIG_TABLE}] {problems[0]}.", problems)
    return audiences


def options_reference() -> str:
    """The Markdown table of every option (the README's, tested to be equal)."""
    lines = ["| key | type | default | what it is |", "| --- | --- | --- | --- |"]
    rows = [*SCHEMA.items(), *((f"audiences.NAME.{k}", o) for k, o in AUDIENCE_SCHEMA.items())]
    for key, option in rows:
        lines.append(f"| `{key}` | {option.kind} | {option.documented_default} | {option.help} |")
    return "\n".join(lines)


# -- The project --------------------------------------------------------------------------


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
    default_audience: str = DEFAULT_AUDIENCE
    #: Licence of the published data (an SPDX id or a sentence), for the Data pages.
    license: str = ""
    #: How to cite the data, for the Data pages.
    citation: str = ""
    #: Where the site is published (``Base.get_doc_url`` links there).
    site_url: str = ""
    #: Check ids not reported (Django's ``SILENCED_SYSTEM_CHECKS``).
    silenced_checks: tuple[str, ...] = ()
    #: The project's own site features, ``"package.module:Class"`` each
    #: (see :mod:`espresso_static.website.feature`).
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
    values, problems = validate_table(table, SCHEMA)
    site_dir = site_folder(root, values.get("site_dir", SCHEMA["site_dir"].default))
    if not site_dir.name:  # the file system's root: a build would replace everything
        problems.append(Problem(NOT_ALLOWED, "site_dir", f"must name a folder, not {site_dir}"))
        site_dir = root / SCHEMA["site_dir"].default
    docs_name = values.get("docs_dir", SCHEMA["docs_dir"].default)
    docs_dir = root / docs_name
    # build-site writes there (a missing home page, the generated pages): never outside.
    if not docs_dir.resolve().is_relative_to(root) or docs_dir.resolve() == root:
        problems.append(
            Problem(
                NOT_ALLOWED,
                "docs_dir",
                f"must name a folder inside the project {root}, not {docs_name!r}",
            )
        )
    default_audience = values.get("default_audience", DEFAULT_AUDIENCE)
    audiences, found = validate_audiences(table.get("audiences"), root, site_dir, default_audience)
    problems += found
    if environ.get("DATABASE_URL"):
        database_url, source = environ["DATABASE_URL"], "DATABASE_URL"
        try:
            parse_database_url(database_url, root)  # fail early on a malformed URL
        except ConfigError as error:
            problems.insert(0, Problem(NOT_ALLOWED, "DATABASE_URL", _as_problem(error)))
    elif "database" in values:
        database_url, source = values["database"], "pyproject.toml"
    else:
        database_url, source = DEFAULT_DATABASE, "default"
    if problems:
        more = f" (and {len(problems) - 1} more: `espresso-static check` lists them)"
        where = (  # DATABASE_URL comes from the environment, not from the file
            "The environment variable"
            if problems[0].key == "DATABASE_URL"
            else f"{root / 'pyproject.toml'} [tool.{CONFIG_TABLE}]"
        )
        raise ConfigError(f"{where} {problems[0]}" + (more if len(problems) > 1 else "."), problems)
    return ProjectConfig(
        root=root,
        name=values.get("name") or root.name,
        description=values.get("description", ""),
        apps=values["apps"],
        database_url=database_url,
        database_source=source,
        site_dir=site_dir,
        docs_dir=docs_dir,
        mkdocs_config=root / values.get("mkdocs_config", SCHEMA["mkdocs_config"].default),
        audiences=audiences,
        default_audience=default_audience,
        license=values.get("license", ""),
        citation=values.get("citation", ""),
        site_url=values.get("site_url", "").rstrip("/"),
        silenced_checks=values.get("silenced_checks", ()),
        features=values.get("features", ()),
    )


def parse_database_url(url: str, root: Path) -> dict:
    """Turn a database URL into a Django DATABASES entry (relative SQLite paths are
    resolved inside the project folder ``root``)."""
    parts = _split(url, url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        if not url.startswith("sqlite:///") or len(url) <= len("sqlite:///"):
            raise ConfigError(
                f"Malformed SQLite URL {redact(url)!r}: use sqlite:///relative/file.sqlite3 "
                "or sqlite:////absolute/file.sqlite3."
            )
        # A "?" starts the options: one in a file name is written %3F.
        path, _, query = url[len("sqlite:///") :].partition("?")
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(root / unquote(path))}
        if options := _sqlite_options(url, query):
            database["OPTIONS"] = options
        return database
    if scheme in {"postgresql", "postgres", "pgsql"}:
        # A password is read up to the last "@" (as redact() hides it): one holding
        # "/", "#" or "?" unescaped works instead of breaking the address apart.
        user, password = parts.username, parts.password
        if credentials := _CREDENTIALS.match(url):
            user = credentials.group("start").split("://", 1)[1]
            password = credentials.group("password")
            parts = _split(f"{scheme}://{url[credentials.end() :]}", url)
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
            "USER": unquote(user or ""),
            "PASSWORD": unquote(password or ""),
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


def _sqlite_options(url: str, query: str) -> dict:
    """The options of an SQLite URL's ``query``: ``timeout`` alone, refused otherwise
    (a misspelt option would have been part of the file name, a new empty database)."""
    options = dict(parse_qsl(query, keep_blank_values=True))
    if unknown := sorted(options.keys() - {SQLITE_TIMEOUT}):
        raise ConfigError(
            f"Unknown option {unknown[0]!r} in the SQLite URL {redact(url)!r}: the one option "
            f"is {SQLITE_TIMEOUT}=SECONDS (a '?' in a file name is written %3F)."
        )
    if SQLITE_TIMEOUT not in options:
        return {}
    value = options[SQLITE_TIMEOUT]
    with contextlib.suppress(ValueError):
        if 0 <= (seconds := float(value)) < float("inf"):
            return {SQLITE_TIMEOUT: seconds}
    raise ConfigError(
        f"Bad {SQLITE_TIMEOUT} {value!r} in the SQLite URL {redact(url)!r}: seconds to "
        "wait for another process's lock, a number of 0 or more."
    )


def _split(address: str, url: str):
    """``urlsplit(address)`` (part of ``url``), its ValueError (e.g. a host's "[" not
    closed) one line naming ``url`` without its password, not a bare 'Invalid IPv6 URL'."""
    try:
        return urlsplit(address)
    except ValueError as error:
        raise ConfigError(f"Malformed database URL {redact(url)!r}: {error}.") from None


#: A URL's ``scheme://user:password@``: the password runs to the last ``@`` of the
#: text, whatever it holds (``/``, ``#``, ``?``, ``@``, ``%``...), so an unescaped one
#: is hidden whole. Over-hiding (an ``@`` later in the text) is the safe side.
_CREDENTIALS = re.compile(r"(?P<start>[a-zA-Z][\w+.-]*://[^:@/\s]*):(?P<password>\S*)@")


def redact(text: str) -> str:
    """``text`` (a URL or a message holding URLs) with every URL's password replaced
    by ``***``. Works on the raw text, so it hides the password of a malformed URL too."""
    return _CREDENTIALS.sub(lambda m: f"{m.group('start')}:***@", str(text))
