"""Every check id espresso-static reports: one id per condition, in one table.

``E`` ids are errors (``check`` exits 1, ``build-site`` refuses to build), ``W`` ids
warnings. Any of them except the configuration ids (the configuration must load
before anything can be checked) can be silenced with ``silenced_checks = [...]`` in
``[tool.espresso-static]``; Django's own ids (e.g. ``fields.E304``) too. The README's
table of ids is tested against this one.
"""

from __future__ import annotations

PREFIX = "espresso_static."

#: Tags (Django's check tags) of the groups of checks; ``espresso-static check --tag``.
CONFIGURATION = "configuration"
MIGRATIONS = "migrations"
DATA = "data"
DECLARATIONS = "declarations"
NOTIFICATIONS = "notifications"
#: Django's own checks (models, fields, admin, ...).
DJANGO = "django"
#: The tags of ``espresso-static check --tag``, in the order they run (configuration
#: problems stop the project from loading, so they are reported before any of these).
CHECK_TAGS = (DJANGO, DECLARATIONS, MIGRATIONS, NOTIFICATIONS, DATA)

#: ``{id: (tag, what it means)}``.
CHECK_IDS: dict[str, tuple[str, str]] = {
    "espresso_static.E001": (CONFIGURATION, "an unknown key in [tool.espresso-static]"),
    "espresso_static.E002": (CONFIGURATION, "a configuration value of the wrong type"),
    "espresso_static.E003": (
        CONFIGURATION,
        "a configuration value not allowed (a choice, database URL, import path, check id, "
        "default_audience or feature that is not one; a docs_dir outside the project)",
    ),
    "espresso_static.E004": (
        CONFIGURATION,
        "an audience name that is not a plain identifier (a letter, then letters, digits, _ and -) or is all",
    ),
    "espresso_static.E101": (MIGRATIONS, "an app with models but no migrations folder"),
    "espresso_static.E102": (MIGRATIONS, "model changes without a migration"),
    "espresso_static.E103": (MIGRATIONS, "migrations not applied to the database"),
    "espresso_static.E104": (MIGRATIONS, "the database has migrations the code does not have"),
    "espresso_static.E105": (MIGRATIONS, "conflicting migrations (two leaves in one app)"),
    "espresso_static.E106": (
        MIGRATIONS,
        "change-log triggers recording another status column than the progress declaration",
    ),
    "espresso_static.W201": (DATA, "data checks skipped: the database does not match the models"),
    "espresso_static.E201": (DATA, "stored rows failing their model's check_consistency"),
    "espresso_static.E202": (DATA, "stored relations failing check_m2m_consistency"),
    "espresso_static.E301": (DECLARATIONS, "a model's access is not an Access(...)"),
    "espresso_static.E302": (DECLARATIONS, "an Access declaration names an unknown audience"),
    "espresso_static.E303": (DECLARATIONS, "an Access declaration names an unknown field"),
    "espresso_static.E304": (
        DECLARATIONS,
        "an Access declaration has a text where a list (or a mapping) is expected",
    ),
    "espresso_static.E305": (
        DECLARATIONS,
        "an Access row filter that is neither a Q nor a function of the queryset",
    ),
    "espresso_static.E306": (
        DECLARATIONS,
        "an Access row filter (a Q) naming a field or relation the model does not have",
    ),
    "espresso_static.E307": (
        DECLARATIONS,
        "a hand-written page's front matter: audiences not a list of configured audience names, "
        "an audience key, or front matter after blank lines (MkDocs would not read it)",
    ),
    "espresso_static.W301": (
        DECLARATIONS,
        "an Access entry without effect (e.g. fields for an allow-audience)",
    ),
    "espresso_static.W302": (
        DECLARATIONS,
        "a deny-audience sees a model but no column of it (no fields entry for it)",
    ),
    "espresso_static.E401": (DECLARATIONS, "a model's progress is not a Progress(...)"),
    "espresso_static.E402": (DECLARATIONS, "a Progress declaration names an unknown field"),
    "espresso_static.E403": (
        DECLARATIONS,
        "a Progress declaration names a to-many relation (a column: a path reaching several rows)",
    ),
    "espresso_static.E404": (DECLARATIONS, "a Progress declaration without a done value"),
    "espresso_static.E405": (DECLARATIONS, "a status value in more than one Progress category"),
    "espresso_static.E406": (DECLARATIONS, "a status choice no Progress category lists"),
    "espresso_static.E407": (DECLARATIONS, "a Progress value that is not a choice of the status"),
    "espresso_static.E408": (
        DECLARATIONS,
        "a Progress declaration has a text where a list is expected",
    ),
    "espresso_static.W401": (
        DECLARATIONS,
        "a status-like column with choices but no Progress declaration (no status page)",
    ),
    "espresso_static.W501": (
        NOTIFICATIONS,
        "a stored notification names an audience the configuration does not have",
    ),
    "espresso_static.E502": (
        NOTIFICATIONS,
        "a stored notification whose audiences are not a list of names (build-site stops)",
    ),
}


def is_configuration_id(check_id: str) -> bool:
    """Configuration problems stop loading the project: they cannot be silenced."""
    return CHECK_IDS.get(check_id, ("",))[0] == CONFIGURATION


def ids_reference() -> str:
    """The Markdown table of every id (the README's, tested to be equal)."""
    lines = ["| id | tag | what it reports |", "| --- | --- | --- |"]
    lines += [f"| `{check_id}` | {tag} | {text} |" for check_id, (tag, text) in CHECK_IDS.items()]
    return "\n".join(lines)
