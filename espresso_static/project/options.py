"""The building blocks of the configuration schema
(:data:`espresso_static.project.config.SCHEMA`), in the manner of MkDocs'
``config_options``: an :class:`Option` per key with its type,
default, validation and help; validators raising :class:`Invalid`; and
:func:`validate_table`, which turns a table into values and :class:`Problem` s, each
naming its key and check id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from espresso_static.checks.ids import CHECK_IDS, PREFIX, is_configuration_id

UNKNOWN_KEY, WRONG_TYPE, NOT_ALLOWED, NOT_AN_IDENTIFIER = (
    f"{PREFIX}E001",
    f"{PREFIX}E002",
    f"{PREFIX}E003",
    f"{PREFIX}E004",
)
#: TOML's names of the Python types ``tomllib`` returns.
TOML_TYPES = {str: "a string", bool: "a boolean", int: "an integer", float: "a float"}
TOML_TYPES |= {list: "an array", dict: "a table"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration: the check id, the key, what is wrong."""

    id: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class Invalid(Exception):
    """Raised by an option's validation; becomes a :class:`Problem` naming the key
    (``suffix`` names the item of a list: ``apps[1]``)."""

    def __init__(self, message: str, check_id: str = NOT_ALLOWED, suffix: str = ""):
        super().__init__(message)
        self.id = check_id
        self.suffix = suffix


def toml_key(name: str) -> str:
    """``name`` as TOML writes it in a dotted key (quoted unless bare)."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'


def described(value) -> str:
    return f"{value!r} ({TOML_TYPES.get(type(value), type(value).__name__)})"


@dataclass(frozen=True)
class Option:
    """One key of the configuration: what it holds (``kind``, for the docs), its default
    (``default_doc`` when the default depends on other keys) and its help."""

    kind: str
    help: str
    default: Any = None
    default_doc: str = ""
    required: bool = False
    #: ``validate(value) -> value`` raising :class:`Invalid`.
    check: Callable[[Any], Any] | None = None

    def validate(self, value):
        return self.check(value) if self.check else value

    @property
    def documented_default(self) -> str:
        if self.default_doc or self.required:
            return self.default_doc or "(required)"
        return _toml(self.default)


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return str(value)


def of_type(python_type: type) -> Callable[[Any], Any]:
    def check(value):
        # bool is an int in Python; in TOML they are different types.
        if not isinstance(value, python_type) or (python_type is int and isinstance(value, bool)):
            raise Invalid(f"must be {TOML_TYPES[python_type]}, not {described(value)}", WRONG_TYPE)
        return value

    return check


def text(value) -> str:
    return of_type(str)(value)


def path_text(value) -> str:
    if not text(value).strip():
        raise Invalid("must name a path, not an empty string")
    return value


def matching(pattern: re.Pattern, what: str) -> Callable[[str], str]:
    def check(value):
        if not pattern.fullmatch(text(value)):
            raise Invalid(f"must be {what}, not {value!r}")
        return value

    return check


def choice(*choices: str) -> Callable[[str], str]:
    def check(value):
        if text(value) not in choices:
            raise Invalid(f"must be {' or '.join(map(repr, choices))}, not {value!r}")
        return value

    return check


#: Django's form of a check id, ``applabel.X001`` (X: the level, one of CEWID).
CHECK_ID = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\.[CEWID]\d+")


def check_id(value) -> str:
    """A check id to silence; ours must exist and any other must have the form of one
    (a misspelt one would silence nothing)."""
    if text(value).startswith(PREFIX) and value not in CHECK_IDS:
        raise Invalid(f"{value!r} is not an espresso-static check id (see the README)")
    if not CHECK_ID.fullmatch(value):
        raise Invalid(f"{value!r} is not a check id such as espresso_static.W501 or fields.E304")
    if is_configuration_id(value):
        raise Invalid(f"{value!r} is a configuration error: it cannot be silenced")
    return value


def list_of(item: Callable[[Any], Any], non_empty: bool = False) -> Callable[[Any], tuple]:
    """A list whose items each pass ``item`` (a bad one is named ``key[index]``)."""

    def check(value):
        of_type(list)(value)
        if non_empty and not value:
            raise Invalid("must not be empty")
        for index, entry in enumerate(value):
            try:
                item(entry)
            except Invalid as error:
                raise Invalid(str(error), error.id, f"[{index}]") from None
        return tuple(value)

    return check


def validate_table(table: Mapping, schema: Mapping[str, Option], prefix: str = "") -> tuple:
    """``(values, problems)``: the validated values of ``table`` by key, and every
    unknown key, missing required key and invalid value (named ``prefix`` + key)."""
    values: dict[str, Any] = {}
    problems = [
        Problem(
            UNKNOWN_KEY, f"{prefix}{toml_key(key)}", f"unknown key (known: {', '.join(schema)})"
        )
        for key in table
        if key not in schema
    ]
    for key, option in schema.items():
        if key not in table:
            if option.required:
                problems.append(Problem(NOT_ALLOWED, f"{prefix}{key}", f"missing: {option.help}"))
            continue
        try:
            values[key] = option.validate(table[key])
        except Invalid as error:
            problems.append(Problem(error.id, f"{prefix}{key}{error.suffix}", str(error)))
    return values, problems
