"""Send notifications from population and sync scripts, like logging::

    from espresso_static.data.notify import Notifier

    notifier = Notifier(tag="nightly-sync")
    notifier.info("Synced 1204 files.")
    notifier.warning("3 files corrupt on tape", title="Tape check", audience="internal")

Each call writes one :class:`~espresso_static.models.Notification` row; the next site
build shows it on the News page, the home page, the Atom feed and (warnings and
errors) the announcement banner of the builds of its audiences. A notification
without audience is in the builds of the audiences that see everything not hidden
from them (``default = "allow"``, e.g. internal), never in a public (``"deny"``) build.
Contents are Markdown.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from espresso_static.data.levels import LEVELS
from espresso_static.exceptions import EspressoStaticError

TITLE_LENGTH = 200


class Notifier:
    """Writes notifications with a common ``tag`` (and default ``audience``)."""

    def __init__(
        self,
        tag: str = "",
        audience: str | Iterable[str] | None = None,
        author: str | None = None,
        using: str = "default",
    ):
        self.tag = tag
        self.audiences = audience_list(audience)
        self.author = author
        self.using = using

    def debug(self, message: str, **options):
        return self.notify("debug", message, **options)

    def info(self, message: str, **options):
        return self.notify("info", message, **options)

    def warning(self, message: str, **options):
        return self.notify("warning", message, **options)

    def error(self, message: str, **options):
        return self.notify("error", message, **options)

    def notify(
        self,
        level: str | int,
        message: str,
        title: str | None = None,
        audience: str | Iterable[str] | None = None,
        timestamp: datetime | None = None,
    ):
        """Write and return one notification. Without ``title`` the first line of
        ``message`` is the title and the rest its content; ``audience`` replaces the
        notifier's default."""
        from django.utils import timezone

        from espresso_static.models import Notification

        if title is None:
            title, message = split_message(message)
        notification = Notification(
            title=title,
            content=message,
            level=level_number(level),
            tag=self.tag,
            audiences=self.audiences if audience is None else audience_list(audience),
            timestamp=timestamp or timezone.now(),
            author=self.author or current_author(self.using),
        )
        _validate(notification)
        notification.save(using=self.using)
        return notification


def _validate(notification) -> None:
    """Refuse over-long titles and tags with one line (PostgreSQL would refuse them
    with a database error, SQLite would store them)."""
    from django.core.exceptions import ValidationError

    try:
        notification.full_clean()
    except ValidationError as error:
        problems = "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        )
        raise EspressoStaticError(f"Invalid notification: {problems}") from None


def level_number(level: str | int) -> int:
    """``"warning"``/``"WARNING"``/``30`` → 30; anything else is an error."""
    if isinstance(level, int) and level in LEVELS.values():
        return level
    number = LEVELS.get(str(level).lower())
    if number is None:
        raise EspressoStaticError(
            f"Unknown notification level {level!r}; use one of {', '.join(LEVELS)}."
        )
    return number


def audience_list(audience: str | Iterable[str] | None) -> list[str]:
    """``"internal"``, ``"public,internal"`` or ``["public", "internal"]`` → a sorted list
    without duplicates; ``"all"``: every audience the project configures (as
    ``notify --audience all``)."""
    from espresso_static.declare.access import ALL_AUDIENCES, split_names

    if audience is None:
        return []
    names = split_names([audience] if isinstance(audience, str) else list(audience))
    if ALL_AUDIENCES in names:
        from espresso_static.project.django_setup import project_audiences

        return sorted(project_audiences())
    return sorted(names)


def split_message(message: str) -> tuple[str, str]:
    """``(title, content)``: the first non-empty line (shortened to fit) and the rest."""
    lines = message.strip().splitlines()
    if not lines:
        raise EspressoStaticError("A notification needs a title or a non-empty message.")
    title = lines[0].strip()
    if len(title) > TITLE_LENGTH:  # keep the whole line in the content
        return title[: TITLE_LENGTH - 1] + "…", message.strip()
    return title, "\n".join(lines[1:]).strip()


def current_author(using: str = "default") -> str:
    """Who sends: the database user, else the login name (as for rows of Base models)."""
    from django.db import connections

    from espresso_static.models.parameters import login_name

    return connections[using].settings_dict.get("USER") or login_name()
