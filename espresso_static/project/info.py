"""``espresso-static info``: what a user pastes into a bug report."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from espresso_static.project.apps import project_app
from espresso_static.project.config import ProjectConfig

PACKAGES = ("espresso-static", "Django", "pandas", "mkdocs", "mkdocs-material", "matplotlib")


def project_info(config: ProjectConfig, database: str) -> str:
    """Versions, the database (password hidden), apps, models and their row counts."""

    lines = [f"project: {config.name} ({config.root})", f"python: {platform.python_version()}"]
    lines += [f"{name}: {_version(name)}" for name in PACKAGES]
    lines.append(f"database: {database} (from {config.database_source})")
    for app_name in config.apps:
        app_config = project_app(app_name)
        lines.append(f"app {app_name} (label {app_config.label}):")
        for model in sorted(app_config.get_models(), key=lambda m: m.__name__):
            lines.append(f"  {model.__name__}: {model._default_manager.count()} rows")
    return "\n".join(lines)


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"
