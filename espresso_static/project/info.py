"""``espresso-static info``: what a user pastes into a bug report."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from espresso_static.project.apps import model_row_counts, project_app, total_rows
from espresso_static.project.config import ProjectConfig

PACKAGES = ("espresso-static", "Django", "pandas", "mkdocs", "mkdocs-material", "matplotlib")


def project_info(config: ProjectConfig, database: str) -> str:
    """Versions, the database (password hidden), apps, models and their row counts."""

    lines = [f"project: {config.name} ({config.root})", f"python: {platform.python_version()}"]
    lines += [f"{name}: {_version(name)}" for name in PACKAGES]
    lines.append(f"database: {database} (from {config.database_source})")
    counts = []
    for app_name in config.apps:
        app_config = project_app(app_name)
        lines.append(f"app {app_name} (label {app_config.label}):")
        models = sorted(app_config.get_models(), key=lambda m: m.__name__)
        for model, count in zip(models, model_row_counts(models), strict=True):
            lines.append(f"  {model.__name__}: {count:,} row{'s' if count != 1 else ''}")
            counts.append(count)
    lines.append(f"rows in all: {total_rows(counts):,}")
    return "\n".join(lines)


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"
