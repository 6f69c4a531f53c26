"""``startproject`` and ``startapp``: a working project in one command.

A project is laid out like this repository: ``pyproject.toml`` with the
``[tool.espresso-static]`` table, ``mkdocs.yml``, ``site_src/`` and Django apps under
``models/<app>/`` (imported as ``models.<app>``).
"""

from __future__ import annotations

import json
import keyword
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import unicodedata
from pathlib import Path
from textwrap import dedent

from espresso_static.exceptions import EspressoStaticError
from espresso_static.project.scaffold_ci import write_nightly_job

NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*$")


def check_name(name: str, what: str) -> None:
    if not NAME_PATTERN.match(name) or keyword.iskeyword(name):
        raise EspressoStaticError(
            f"Invalid {what} name {name!r}: use lower-case letters, digits and underscores "
            "(a Python identifier), e.g. `my_campaign`."
        )


def check_app_name(app: str) -> None:
    """A Python identifier that is not the label of an app every project installs."""
    from espresso_static.project.django_setup import BUILTIN_APPS

    check_name(app, "app")
    taken = {name.rpartition(".")[2] for name in BUILTIN_APPS}
    if app in taken:
        raise EspressoStaticError(
            f"Invalid app name {app!r}: every project has an app of that name already "
            f"({', '.join(sorted(taken))}); choose another, e.g. `{app}_data`."
        )


def check_title(title: str) -> None:
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in title):
        raise EspressoStaticError(
            f"Invalid title {title!r}: a title is one line of text, without control characters."
        )


def start_project(target: Path, name: str, app: str) -> list[Path]:
    """Write a complete project into ``target`` (which must not exist or be empty),
    with one app holding an example model and its initial migration; if that fails,
    what it wrote is removed (a new ``target`` with it), so that it can be run again."""
    check_app_name(app)
    check_title(name)
    if target.exists() and any(target.iterdir()):
        raise EspressoStaticError(f"{target} exists and is not empty: choose a new folder.")
    created = not target.exists()
    try:
        return _write_project(target, name, app)
    except BaseException:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        elif target.is_dir():  # it was empty: empty again
            for entry in target.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        raise


def _write_project(target: Path, name: str, app: str) -> list[Path]:
    # The title as a string of each file's language: JSON's double-quoted string (no
    # control character left to escape) is one of TOML and of YAML too.
    files = {
        "pyproject.toml": _PYPROJECT.format(
            name=json.dumps(name, ensure_ascii=False),
            description=json.dumps(f"The database of the {name} campaign.", ensure_ascii=False),
            app=app,
        ),
        "mkdocs.yml": _MKDOCS.format(name=json.dumps(name, ensure_ascii=False)),
        "site_src/about.md": _ABOUT.format(name=name),
        "README.md": _README.format(name=name, app=app),
        ".gitignore": _GITIGNORE,
        "models/__init__.py": "",
    }
    written = [_write(target / path, text) for path, text in files.items()]
    written += _write_app(target, app, _EXAMPLE_MODELS)
    make_migrations(target)
    written += write_nightly_job(target)
    return written


def start_app(project_root: Path, app: str) -> list[Path]:
    """Add ``models/<app>/`` to the project and register ``models.<app>`` in its apps."""
    check_app_name(app)
    folder = project_root / "models" / app
    if folder.exists():
        raise EspressoStaticError(f"{folder} exists already.")
    if not (project_root / "models" / "__init__.py").exists():
        _write(project_root / "models" / "__init__.py", "")
    written = _write_app(project_root, app, _EMPTY_MODELS)
    register_app(project_root / "pyproject.toml", f"models.{app}")
    return written


def register_app(pyproject: Path, app: str) -> None:
    """Append ``app`` to ``apps = [...]`` of ``[tool.espresso-static]``, keeping the
    rest of the file (comments, layout) as it is."""
    text = pyproject.read_text(encoding="utf-8")
    table = re.search(r"^\[tool\.espresso-static\]\s*$", text, re.MULTILINE)
    apps = re.compile(r"^apps\s*=\s*\[(?P<items>[^\]]*)\]", re.MULTILINE | re.DOTALL)
    match = apps.search(text, table.end()) if table else None
    if match is None:
        raise EspressoStaticError(f"No `apps = [...]` in [tool.espresso-static] of {pyproject}.")
    items = match.group("items").rstrip().rstrip(",")
    joined = f"{items}, {app!r}".replace("'", '"') if items.strip() else f'"{app}"'
    updated = text[: match.start()] + f"apps = [{joined.strip()}]" + text[match.end() :]
    if app not in tomllib.loads(updated)["tool"]["espresso-static"]["apps"]:
        raise EspressoStaticError(f"Could not register {app} in {pyproject}; add it by hand.")
    pyproject.write_text(updated, encoding="utf-8")


def make_migrations(project_root: Path) -> None:
    """Run ``espresso-static makemigrations`` for the project in a fresh process (Django
    can be configured once per process, and this one may serve another project).

    Django's makemigrations opens the database to check the migration history, which
    would leave an empty SQLite file in the new project: it gets a throwaway one."""
    with tempfile.TemporaryDirectory(prefix="espresso-static-scaffold-") as scratch:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{Path(scratch) / 'scratch.sqlite3'}"}
        result = subprocess.run(
            [
                *(sys.executable, "-m", "espresso_static", "makemigrations"),
                *("--project", str(project_root)),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
    if result.returncode != 0:
        raise EspressoStaticError(
            f"makemigrations failed in {project_root}: {result.stderr.strip() or result.stdout}"
        )


def _write_app(root: Path, app: str, models_source: str) -> list[Path]:
    base = root / "models" / app
    label = app
    return [
        _write(base / "__init__.py", ""),
        _write(base / "apps.py", _APPS.format(app=app, label=label, verbose=app.replace("_", " "))),
        _write(base / "models.py", models_source),
        _write(base / "migrations" / "__init__.py", ""),
    ]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text).lstrip(), encoding="utf-8")
    return path


_PYPROJECT = """
    [tool.espresso-static]
    name = {name}
    description = {description}
    apps = ["models.{app}"]
    # database = "sqlite:///espresso.sqlite3"   # the default; DATABASE_URL overrides it
"""

_MKDOCS = """
    # MkDocs configuration. build-site adds in memory (this file is never rewritten):
    # the navigation of the generated pages, math, the Mermaid fence and the footer.
    site_name: {name}
    docs_dir: site_src
    theme:
      name: material
      font: false  # no Google Fonts: the site works offline
      features:
        - navigation.indexes
        - navigation.prune
        - navigation.top
        - search.suggest
        - search.highlight
        - content.code.copy  # a copy button on every code block
    plugins:
      - search
    markdown_extensions:
      - admonition  # the Data health page's verdict boxes
      - attr_list
      - md_in_html
      - tables
      - toc:
          permalink: true
      - pymdownx.details
      - pymdownx.highlight
      - pymdownx.superfences
"""

_ABOUT = """
    # About {name}

    This page is hand-written: edit `site_src/about.md`. Every other page of the site
    is generated by `build-site` from the models and the data.
"""

_README = """
    # {name}

    A database of computing jobs and their outputs, published as a static site with
    [espresso-static](https://pypi.org/project/espresso-static/).

    ```bash
    espresso-static migrate                  # create the tables (SQLite file espresso.sqlite3)
    espresso-static ingest {app}.Ensemble ci/ensembles.csv --key name   # load rows from a file
    build-site                               # publish the site into site/
    espresso-static serve                    # look at it on http://127.0.0.1:8000/
    ```

    Models live in `models/{app}/models.py`; after changing them run
    `espresso-static makemigrations && espresso-static migrate`. Rows also come from a
    Python script: `import espresso_static; espresso_static.setup()`, then your models'
    `get_or_create_from_parameters`. A model with `progress = Progress(...)` gets a
    status page. `espresso-static check` reports migration drift and rows that fail
    their consistency checks.
"""

_GITIGNORE = """
    /site/
    /site-*/
    /site_src/generated/
    .espresso-static-cache/
    .espresso-static-build-*/
    *.sqlite3
    *.sqlite3-journal
    __pycache__/
"""

_APPS = """
    from django.apps import AppConfig


    class Config(AppConfig):
        name = "models.{app}"
        label = "{label}"
        verbose_name = "{verbose}"
"""

_EXAMPLE_MODELS = '''
    """Tables of the campaign. Each model is one table; its docstring and the fields'
    help_text become the documentation on the site."""

    from django.core.exceptions import ValidationError
    from django.db import models

    from espresso_static.models import Base


    class Ensemble(Base):
        """A gauge-field ensemble."""

        name = models.CharField(max_length=40, unique=True, help_text="Short name, e.g. `a12m310`.")
        nx = models.PositiveIntegerField(help_text="Spatial lattice size $N_x$.")
        nt = models.PositiveIntegerField(help_text="Temporal lattice size $N_t$.")

        def check_consistency(self):
            """The lattice is at least as long in time as in space: $N_t \\\\ge N_x$."""
            if self.nt < self.nx:
                raise ValidationError(f"nt={self.nt} is smaller than nx={self.nx}.")
'''

_EMPTY_MODELS = '''
    """Tables of this app: add models deriving from espresso_static.models.Base."""

    from django.db import models  # noqa: F401

    from espresso_static.models import Base  # noqa: F401
'''
