"""Row values in outputs with limits of their own: shown literally where possible,
otherwise escaped, shortened or replaced by a marker — and reported, never a crash.

No single row value may stop a build. A step that cannot show a value as it is
(a plot's legend cannot hold 20,000 characters, an SVG file cannot hold a control
character) shows it changed and warns with a :class:`RowValueWarning` naming the
table, row and column::

    demo.DataFile row pk=17, column ensemble: the progress plot shortens the 20,005-character value to 60

The library warns (``warnings.warn``); ``build-site`` and ``espresso-static plot``
print each warning as one line. Text the project writes on purpose (titles, help
texts) is not a row value and is not changed here.
"""

from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache

#: Stands for an empty value where empty text would be invisible (a legend entry).
EMPTY = "(empty)"
#: Unicode categories that are not drawn as themselves: controls (which XML, hence SVG,
#: refuses) and format characters (bidi overrides, zero-width marks) that would
#: silently reorder or hide the text around them.
HIDDEN_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn")


class RowValueWarning(UserWarning):
    """A row value an output shows changed (escaped, shortened, replaced)."""


def shown_text(value: str, limit: int) -> tuple[str, list[str]]:
    """``value`` as a text of at most ``limit`` characters that shows it literally:
    hidden characters escaped (``\\x1b``, ``\\u202e``), a long value shortened with
    "…", an empty one as ``(empty)``; and what was changed, one phrase each."""
    if value == "":
        return EMPTY, [f"shows the empty value as {EMPTY}"]
    changes = []
    shown = "".join(_visible(char) for char in value)
    if shown != value:
        changes.append("shows control or format characters escaped (\\uXXXX)")
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
        changes.append(f"shortens the {len(value):,}-character value to {limit}")
    return shown, changes


def _visible(char: str) -> str:
    if unicodedata.category(char) not in HIDDEN_CATEGORIES:
        return char
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def missing_glyphs(text: str, font_paths: tuple[str, ...]) -> list[str]:
    """The characters of ``text`` none of the fonts at ``font_paths`` can draw."""
    drawable = _characters_of(font_paths)
    return sorted({char for char in text if not char.isspace() and ord(char) not in drawable})


@cache
def _characters_of(font_paths: tuple[str, ...]) -> frozenset[int]:
    from matplotlib.font_manager import get_font

    return frozenset(code for path in font_paths for code in get_font(path).get_charmap())


def warn_row_value(model, column: str, lookup: str, value, changes: list[str], where: str) -> None:
    """Warn that ``where`` (the output, e.g. "the progress plot") shows ``value`` of
    ``model``'s ``column`` (read through ``lookup``) with ``changes``, naming the rows
    that hold it (never the value: it may hold terminal escapes)."""
    message = f"{where} {'; '.join(changes)}"
    warnings.warn(
        RowValueWarning(
            f"{model._meta.label} {rows_holding(model, lookup, value)}, column {column}: {message}"
        ),
        stacklevel=3,
    )


def rows_holding(model, lookup: str, value, shown: int = 3) -> str:
    """``row pk=17`` or ``rows pk=17, 18, 20 (+4 more)``: the rows whose ``lookup`` is ``value``."""
    pks = list(
        model._default_manager.filter(**{lookup: value})
        .order_by("pk")
        .values_list("pk", flat=True)[: shown + 1]
    )
    if not pks:
        return "rows (none hold it now; it is in older snapshots)"
    if len(pks) == 1:
        return f"row pk={pks[0]}"
    listed = ", ".join(str(pk) for pk in pks[:shown])
    more = (
        model._default_manager.filter(**{lookup: value}).count() - shown if len(pks) > shown else 0
    )
    return f"rows pk={listed}" + (f" (+{more} more)" if more else "")


@contextmanager
def row_warnings() -> Iterator[list[str]]:
    """Record the :class:`RowValueWarning` messages raised in the block into the list it
    yields (filled when the block ends); other warnings pass on as usual."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always", RowValueWarning)
        yield messages
    for item in recorded:
        if issubclass(item.category, RowValueWarning):
            messages.append(str(item.message))
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


def warn_again(messages: Iterable[str]) -> None:
    """Warn ``messages`` recorded earlier, e.g. with an output reused from the cache."""
    for message in messages:
        warnings.warn(RowValueWarning(message), stacklevel=2)
