"""Exceptions a user of espresso-static sees."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


def one_line_text(error: BaseException) -> str:
    """``error``'s message on one line (its type's name when it has none): an error a
    user sees is one line, whatever the library that raised it wrote."""
    return " ".join(str(error).split()) or type(error).__name__


#: A line longer than this keeps its start and its end (where an error names the file,
#: row and column, and says what is wrong), not a quoted value of 100,000 characters.
LINE_LIMIT = 1000


def terminal_line(text: str) -> str:
    """``text`` on one line, each character a terminal would act on written as its
    escape (``\\x1b``): a value quoted in a message, with ESC (colours, the window's
    title, clearing the screen), BEL or a bidi override (text shown reversed), must not
    act on the terminal of whoever runs the command. Past :data:`LINE_LIMIT`
    characters, its middle is left out and counted."""
    line = "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode()
        for c in " ".join(text.split())
    )
    if len(line) <= LINE_LIMIT:
        return line
    head, tail = LINE_LIMIT * 2 // 3, LINE_LIMIT // 4
    return f"{line[:head]} … [{len(line) - head - tail:,} characters] … {line[-tail:]}"


class EspressoStaticError(Exception):
    """An error the CLI reports as one line (no traceback unless ``--debug``)."""


class ConfigError(EspressoStaticError):
    """The project configuration or the database it names is not usable.

    ``problems``: every problem found in the configuration (the message names the
    first), for ``espresso-static check`` to list them all.
    """

    def __init__(self, message: str, problems: tuple | list = ()):
        super().__init__(message)
        self.problems = list(problems)


class DeclarationError(ConfigError):
    """A model's declaration (``Access``, ``Progress``) does not fit the model;
    ``check_id`` is the id ``espresso-static check`` reports for the condition."""

    def __init__(self, message: str, check_id: str):
        super().__init__(message)
        self.check_id = check_id


class ConsistencyError(ValidationError):
    """A model's ``check_consistency`` or ``check_m2m_consistency`` failed.

    Compatible with EspressoDB's ``ConsistencyError(error, instance, data)`` and,
    being a :class:`~django.core.exceptions.ValidationError`, shown by Django
    forms and the admin. ``error`` is the exception the check raised,
    ``instance`` the row that was checked and ``data`` the values it was
    checked with.
    """

    def __init__(self, error: Exception, instance: Any, data: dict[str, Any] | None = None):
        checked = {
            field.name: getattr(instance, field.attname, None)
            for field in instance.get_open_fields()
            if not field.many_to_many and hasattr(field, "attname")
        }
        if data:
            checked.update(data)
        self.error = error
        self.instance = instance
        self.data = checked
        self.check_message = _message_of(error)
        model = type(instance)
        message = (
            f"Consistency error when checking {model._meta.label}: "
            f"{type(error).__name__}: {self.check_message}"
        )
        if checked:
            message += "\nData used for check:\n" + "\n".join(
                f"  * {key}: {value!r}" for key, value in checked.items()
            )
        self.full_message = message
        super().__init__(message, code="consistency")

    def __str__(self) -> str:
        return self.full_message


def _message_of(error: Exception) -> str:
    """The human text of ``error``; ValidationError's ``str`` is a list repr."""
    if isinstance(error, ValidationError):
        return "; ".join(error.messages)
    return str(error)
