"""EspressoDB's project settings helpers (``espressodb.management.utilities.settings``)
for scripts that import them: ``from espresso_static.settings import ROOT_DIR,
PROJECT_APPS``. Read from the configured project, so ``espresso_static.setup()`` (or
any espresso-static command) must have configured Django first.

- ``ROOT_DIR``: the project folder (str), where its ``pyproject.toml`` is.
- ``PROJECT_APPS``: the configured apps (list of import paths).
- ``PROJECT_NAME``: the top-level package of the apps (``"lattedb"`` for
  ``lattedb.ensemble``), as EspressoDB names the project's Python module.
- ``DB_CONFIG``: the Django ``DATABASES["default"]`` entry.
"""

from __future__ import annotations

from espresso_static.exceptions import ConfigError

NAMES = ("ROOT_DIR", "PROJECT_APPS", "PROJECT_NAME", "DB_CONFIG")


def __getattr__(name: str):
    if name not in NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from django.conf import settings

    config = getattr(settings, "ESPRESSO_STATIC_PROJECT", None) if settings.configured else None
    if config is None:
        raise ConfigError(
            f"espresso_static.settings.{name} needs a configured project: call "
            "espresso_static.setup() before importing it."
        )
    return {
        "ROOT_DIR": str(config.root),
        "PROJECT_APPS": list(config.apps),
        "PROJECT_NAME": config.apps[0].split(".", 1)[0],
        "DB_CONFIG": dict(settings.DATABASES["default"]),
    }[name]
