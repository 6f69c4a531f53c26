"""What an ingest refuses: the row, the column and why, said in one line.

A row is named by its place in the input, the way its source shows it: ``row 7`` of
an iterable (1-based), or, from a file, ``files.csv, line 8`` (the header is line 1;
:class:`~espresso_static.data.ingest.files.FileRows` knows the lines).
"""

from __future__ import annotations

from collections.abc import Callable

from espresso_static.exceptions import ConsistencyError, EspressoStaticError

#: Names row ``index`` (0-based) of the input: "row 7", "files.csv, line 8".
Where = Callable[[int], str]


def row_number(index: int) -> str:
    return f"row {index + 1}"


def describe_key(key: dict) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in key.items())


class RowError(EspressoStaticError):
    """A row of the input cannot be ingested (a value of the wrong type, too long, out
    of range, missing or repeated). ``row_index`` is 0-based; ``other_index``, a second
    row the problem involves (the first row with a repeated key)."""

    def __init__(
        self,
        reason: str,
        row_index: int,
        column: str | None = None,
        key: dict | None = None,
        other_index: int | None = None,
        model: str = "",
    ):
        self.reason = reason
        self.row_index = row_index
        self.column = column
        self.key = key or {}
        self.other_index = other_index
        self.model = model
        super().__init__(
            f"{model} {self.located(row_number)}" if model else self.located(row_number)
        )

    def located(self, where: Where) -> str:
        """The one-line message, naming rows with ``where``."""
        place = where(self.row_index)
        if self.column:
            place += f", column {self.column}"
        if self.key:
            place += f" ({describe_key(self.key)})"
        reason = self.reason
        if self.other_index is not None:
            reason = reason.replace("{other}", where(self.other_index))
        return f"{place}: {reason}"


class RowConsistencyError(ConsistencyError):
    """A row's ``pre_save`` or ``check_consistency`` failed during an ingest."""

    def __init__(self, error: Exception, instance, row_index: int, key: dict):
        super().__init__(error, instance)
        self.row_index = row_index
        self.key = key
        #: The field a check named (a ``ValidationError({"size": ...})``), else None.
        self.column = next(iter(getattr(error, "error_dict", {}) or {}), None)
        #: "Consistency error when checking app.Model: ValidationError: <message>"
        self.summary = self.full_message.splitlines()[0]
        self.full_message = (
            f"{row_number(row_index).capitalize()} ({describe_key(key)}): {self.full_message}"
        )
        self.message = self.full_message

    @property
    def one_line(self) -> str:
        """The message without the dump of checked values (for the command line)."""
        return self.full_message.splitlines()[0]

    def located(self, where: Where) -> str:
        place = where(self.row_index)
        if self.column:
            place += f", column {self.column}"
        return f"{place} ({describe_key(self.key)}): {self.summary}"
