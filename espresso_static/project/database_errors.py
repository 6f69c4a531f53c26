"""Failures explained — the database's, a full disk's: what happened and what to do,
in one line."""

from __future__ import annotations

import errno
import re

from espresso_static.exceptions import EspressoStaticError, one_line_text

#: Driver messages (SQLite, PostgreSQL) a user can act on.
_LOCKED = re.compile(r"database (table )?is locked")
_MISSING = re.compile(
    r"no such (table|column): (?P<sqlite>\S+)|(relation|column) \"?(?P<pg>[^\"\s]+)\"? does not exist"
)
#: PostgreSQL's excerpt of the statement at fault, and the caret under it: SQL, with
#: the values the query was sent with, not something to act on.
_STATEMENT_EXCERPT = re.compile(r"^LINE \d+: .*\n(?:[ \t]*\^[ \t]*(?:\n|$))?", re.MULTILINE)
_DISCONNECTED = re.compile(
    r"server closed the connection|connection (to server .* failed|refused|is closed)|"
    r"terminating connection|unable to open database file"
)


def _is_database_error(error: BaseException) -> bool:
    from django.db import DatabaseError

    driver = type(error).__module__.split(".")[0]
    return isinstance(error, DatabaseError) or driver in ("sqlite3", "psycopg", "psycopg2")


def database_advice(error: BaseException) -> str | None:
    """A database failure as one line saying what happened and what to do about it
    (None: ``error`` is no database failure). Wherever it is raised: the command line
    and a build's worker processes say the same."""
    if not _is_database_error(error):
        return None
    text = " ".join(_STATEMENT_EXCERPT.sub("", str(error)).split()) or one_line_text(error)
    database = _database_name()
    if _LOCKED.search(text):
        return (
            f"The database {database} is locked: another process (an ingest, a build, the "
            "admin) is using it. Retry when it has finished (or wait longer for it: "
            "?timeout=SECONDS at the end of the database URL)."
        )
    missing = _MISSING.search(text)
    if missing:
        name = missing.group("sqlite") or missing.group("pg")
        return (
            f"The database {database} lacks {name} ({text}): its tables are missing or older "
            "than the models. Run `espresso-static migrate` (where the models changed, "
            "`espresso-static makemigrations` first)."
        )
    if _DISCONNECTED.search(text):
        return (
            f"Lost the connection to the database {database}: {text}. Is the server running "
            "and the address right (DATABASE_URL or database in pyproject.toml)? Then retry."
        )
    return f"Database error on {database}: {text}"


def error_line(error: BaseException) -> str:
    """Any error as the one line a user sees, wherever it was raised (a command, a
    build's worker): ours as written, a full disk or a database failure with what to
    do, another as ``Type: message``."""
    if isinstance(error, EspressoStaticError):
        return str(error)
    message = " ".join(str(error).split())  # KeyError(): its name alone
    return failure_advice(error) or ": ".join(filter(None, (type(error).__name__, message)))


def failure_advice(error: BaseException) -> str | None:
    """A full disk or a database failure as one line saying what to do (None: neither).
    Wherever it is raised: the command line and a build's worker processes say the
    same."""
    return _disk_advice(error) or database_advice(error)


def _disk_advice(error: BaseException) -> str | None:
    full = isinstance(error, OSError) and error.errno == errno.ENOSPC
    # SQLite says so of any file it writes: the database, a download's part, the package.
    full |= _is_database_error(error) and "disk is full" in one_line_text(error)
    if not full:
        return None
    from espresso_static.website.cache import CACHE_DIR

    return (
        f"No space left on the disk ({one_line_text(error)}): free some where the project, "
        f"its site and its build cache ({CACHE_DIR} in the project, safe to delete) are, "
        "then retry."
    )


def _database_name() -> str:
    from django.db import connection

    from espresso_static.project.django_setup import describe_database

    try:
        return describe_database(connection.settings_dict)
    except Exception:  # Django not configured: the error came before it
        return "in use"
