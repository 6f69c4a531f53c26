"""The data of a status page: binary columns in primary-key segments, loaded by need.

A status page with millions of rows cannot embed its table in HTML, nor decode it all
as JSON before showing anything. Its rows are written beside it as ``data/meta.json``
and one gzip file per (segment, column): ``s{segment}-c{column}.bin.gz``. A segment is
a fixed primary-key range (``pk // segment_rows``; one segment for a table without
integer keys), so a sync that changes a few rows re-encodes only their segments.
``status.js`` fetches the small columns the progress bar and the filters need first
(status and other dictionary-coded columns, a few bytes per row), the numbers and
texts of the rows on screen next, and everything else afterwards.

``meta.json``::

    {"format": 2, "model": "demo.DataFile", "rows": 4000000, "status": "status",
     "categories": {"on_disk": "done", ...},
     "columns": [{"name": "ensemble", "label": "ensemble", "type": "text",
                  "kind": "codes", "dict": ["a06m310", ...]}, ...],
     "segments": [[0, 65535], [1, 65536], ...]}

``segments`` lists ``[segment, rows]`` in primary-key order; the rows of the table are
the rows of its segments one after the other. A column's ``kind`` says how the page
holds it: ``codes`` (indices into ``dict``: text with few distinct values and
booleans), ``number`` (``int``, ``float``, ``datetime`` and ``date`` types; times in
seconds since 1970-01-01 UTC, sub-second parts dropped) or ``text``.

A segment file is, once gunzipped: a little-endian ``uint32`` header length, a JSON
header (``{"encoding": ..., "rows": n, ...}``) padded with spaces to a multiple of 8
bytes, then the body, by ``encoding``:

``codes``
    ``uint8``/``uint16`` (``width`` 1 or 2) indices into the header's ``dict``, the
    segment's own sorted distinct values (``null`` is an entry too).
``i32``
    ``int32`` values, ``-2147483648`` for null.
``f64``
    ``float64`` values, NaN for null.
``text``
    ``int32`` lengths in UTF-16 code units (``-1``: null), then the values in UTF-8,
    each followed by ``\\n`` (a whole segment is one string the page searches at once).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import models

from espresso_static.data.fieldkinds import field_kind, unit_of
from espresso_static.declare.progress import Column, DeclaredProgress

FORMAT = 2
SEGMENT_ROWS = 65_536
#: A segment's text (or boolean) column with at most this many distinct values is
#: dictionary-coded; the whole column is when its distinct values stay under it too and
#: are at most one per ``DICT_RATIO`` rows.
DICT_MAX = 4096
DICT_RATIO = 4
META = "meta.json"
NULL_INT32 = -(2**31)
NUMBER_TYPES = ("int", "float", "datetime", "date")


@dataclass(frozen=True)
class EncodedSegment:
    """The files of one primary-key segment: one gzip file per column."""

    segment: int
    rows: int
    files: tuple[bytes, ...]
    #: Each column's distinct values when dictionary-coded, else None.
    dicts: tuple[tuple | None, ...]
    #: Bytes before compression.
    raw_bytes: int


@dataclass(frozen=True)
class StatusData:
    """The encoded files of a status table: ``{file name: bytes}``, ``meta.json`` first."""

    rows: int
    files: dict[str, bytes]
    #: Bytes before compression (the segment files are gzip files).
    raw_bytes: int

    @property
    def compressed_bytes(self) -> int:
        return sum(len(content) for content in self.files.values())


def segment_file(segment: int, column: int) -> str:
    return f"s{segment}-c{column}.bin.gz"


def encode_status_data(
    item: DeclaredProgress,
    queryset=None,
    segment_rows: int = SEGMENT_ROWS,
    progress: Callable[[int], None] | None = None,
) -> StatusData:
    """Encode every row of ``item`` (or ``queryset``) as ``meta.json`` and segment files."""
    queryset = item.model._default_manager.all() if queryset is None else queryset
    return assemble(item, encode_segments(item, queryset, segment_rows, progress=progress))


def encode_segments(
    item: DeclaredProgress,
    queryset,
    segment_rows: int = SEGMENT_ROWS,
    segments: Iterable[int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[int, EncodedSegment]:
    """The segments (default: all) of ``queryset``'s rows that hold rows, by number."""
    columns = item.columns
    pk = item.model._meta.pk
    integer_keys = field_kind(pk) == "int"
    if segments is not None:
        if not integer_keys:
            segments = None  # one segment: the whole table
        else:
            ranges = models.Q(pk__in=[])
            for segment in segments:
                low = segment * segment_rows
                ranges |= models.Q(pk__gte=low, pk__lt=low + segment_rows)
            queryset = queryset.filter(ranges)
    frame = queryset.order_by("pk").to_dataframe(["pk", *(column.lookup for column in columns)])
    values = [column_values(column, frame[column.lookup]) for column in columns]
    if integer_keys:
        numbers = (frame["pk"].to_numpy(dtype="int64") // segment_rows) if len(frame) else []
    else:
        numbers = np.zeros(len(frame), dtype="int64")
    bounds = np.flatnonzero(np.diff(numbers)) + 1 if len(frame) else []
    encoded = {}
    for start, stop in zip([0, *bounds], [*bounds, len(frame)], strict=True):
        if stop > start:
            segment = int(numbers[start])
            encoded[segment] = encode_segment(
                segment, [series.iloc[start:stop] for series in values], columns
            )
            if progress:
                progress(stop - start)
    return encoded


def assemble(item: DeclaredProgress, segments: dict[int, EncodedSegment]) -> StatusData:
    """``meta.json`` and the files of ``segments``: the data of the whole table."""
    ordered = [segments[number] for number in sorted(segments)]
    rows = sum(segment.rows for segment in ordered)
    columns = [
        column_meta(column, index, ordered, rows, item.progress.status)
        for index, column in enumerate(item.columns)
    ]
    meta = _dumps(
        {
            "format": FORMAT,
            "model": item.label,
            "rows": rows,
            "status": item.progress.status,
            "categories": {str(k): v for k, v in item.progress.categories.items()},
            "columns": columns,
            "segments": [[segment.segment, segment.rows] for segment in ordered],
        }
    )
    files = {META: meta}
    for segment in ordered:
        for index, content in enumerate(segment.files):
            files[segment_file(segment.segment, index)] = content
    raw = len(meta) + sum(segment.raw_bytes for segment in ordered)
    return StatusData(rows, files, raw)


def column_type(field: models.Field) -> str:
    """The ``type`` a field's values get in ``meta.json`` (anything else is text)."""
    kind = field_kind(field)
    return kind if kind in ("bool", *NUMBER_TYPES) else "text"


def column_values(column: Column, series: pd.Series) -> pd.Series:
    """A column's values as the encoders take them: numbers as ``Float64``-able values
    (times in whole seconds), texts as ``str`` or None."""
    kind = column_type(column.field)
    if kind in ("datetime", "date"):
        return _epoch_seconds(series)
    if kind == "text":
        texts = [v if type(v) is str else None if pd.isna(v) else str(v) for v in series.tolist()]
        return pd.Series(texts, index=series.index, dtype=object)
    return series


def column_meta(
    column: Column, index: int, segments: list[EncodedSegment], rows: int, status: str
) -> dict:
    """A column's entry in ``meta.json``: its kind decided over every segment (the
    status column and columns with choices are codes whenever they can be: the progress
    bar and the multi-select filters read codes)."""
    kind = column_type(column.field)
    meta = {"name": column.name, "label": column.label, "type": kind, **unit_of(column.field)}
    if column.field.choices:
        choices = dict(column.field.flatchoices)
        meta["choices"] = {str(value): str(label) for value, label in choices.items()}
    if kind in NUMBER_TYPES:
        return {**meta, "kind": "number"}
    dicts = [segment.dicts[index] for segment in segments]
    if all(d is not None for d in dicts):
        union = _sorted_values({value for d in dicts for value in d})
        few = len(union) * DICT_RATIO <= max(rows, 1)
        always = kind == "bool" or column.field.choices or column.name == status
        if len(union) <= DICT_MAX and (always or few):
            return {**meta, "kind": "codes", "dict": union}
    return {**meta, "kind": "text"}


def encode_segment(segment: int, values: list[pd.Series], columns: list[Column]) -> EncodedSegment:
    """One segment's files (``values``: each column's values of the segment's rows)."""
    files, dicts, raw = [], [], 0
    for column, series in zip(columns, values, strict=True):
        kind = column_type(column.field)
        if kind in NUMBER_TYPES:
            (header, body), dictionary = _numbers(series, whole=kind != "float"), None
        else:
            coded = _dictionary(series)
            dictionary = coded[0] if coded else None
            header, body = _codes(*coded) if coded else _texts(series)
        payload = _framed(header | {"rows": len(series)}, body)
        files.append(gzip.compress(payload, compresslevel=6, mtime=0))  # 9: 2.5x slower
        dicts.append(None if dictionary is None else tuple(dictionary))
        raw += len(payload)
    return EncodedSegment(segment, len(values[0]), tuple(files), tuple(dicts), raw)


def _dictionary(series: pd.Series) -> tuple[list, np.ndarray] | None:
    """The sorted distinct values of ``series`` and each row's index into them (None:
    too many values for a dictionary)."""
    local, uniques = pd.factorize(series, use_na_sentinel=False)
    if len(uniques) > DICT_MAX:
        return None
    values = [_json_scalar(value) for value in uniques]
    dictionary = _sorted_values(set(values))
    code_of = {value: code for code, value in enumerate(dictionary)}
    return dictionary, np.array([code_of[v] for v in values], dtype="int64")[local]


def _sorted_values(values: set) -> list:
    """Distinct values in order, ``null`` last."""
    return sorted(v for v in values if v is not None) + ([None] if None in values else [])


def _codes(dictionary: list, codes: np.ndarray) -> tuple[dict, bytes]:
    width = 1 if len(dictionary) <= 256 else 2
    body = codes.astype("u1" if width == 1 else "<u2").tobytes()
    return {"encoding": "codes", "width": width, "dict": dictionary}, body


def _numbers(series: pd.Series, whole: bool) -> tuple[dict, bytes]:
    numbers = pd.to_numeric(series, errors="coerce").astype("Float64")
    missing = numbers.isna().to_numpy()
    values = numbers.to_numpy(dtype="float64", na_value=np.nan)
    present = values[~missing]
    fits = whole and (present.size == 0 or (present.min() > NULL_INT32 and present.max() < 2**31))
    if fits:
        ints = np.where(missing, NULL_INT32, np.nan_to_num(values)).astype("<i4")
        return {"encoding": "i32"}, ints.tobytes()
    return {"encoding": "f64"}, values.astype("<f8").tobytes()


def _texts(series: pd.Series) -> tuple[dict, bytes]:
    texts = series.tolist()
    lengths = np.fromiter(
        (-1 if t is None else len(t) if t.isascii() else _utf16_length(t) for t in texts),
        dtype="<i4",
        count=len(texts),
    )
    joined = "".join(("" if t is None else t) + "\n" for t in texts)
    return {"encoding": "text"}, lengths.tobytes() + joined.encode("utf-8", "surrogatepass")


def _utf16_length(text: str) -> int:
    """The length of ``text`` in JavaScript (UTF-16 code units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _framed(header: dict, body: bytes) -> bytes:
    head = _dumps(header)
    head += b" " * (-(4 + len(head)) % 8)
    return len(head).to_bytes(4, "little") + head + body


def _epoch_seconds(series: pd.Series) -> pd.Series:
    """Datetimes as whole seconds since 1970 UTC (naive ones are taken as UTC)."""
    if series.dt.tz is None:
        series = series.dt.tz_localize("UTC")
    epoch = pd.Timestamp(0, tz="UTC")
    missing = series.isna()
    seconds = (series.where(~missing, epoch) - epoch) // pd.Timedelta(seconds=1)
    return seconds.astype("Int64").mask(missing)


def _json_scalar(value):
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _dumps(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# -- the reference decoder -------------------------------------------------------------------


def read_status_data(folder) -> dict[str, list]:
    """Decode ``folder`` back into ``{column name: values}`` — the reference decoder the
    tests and the benchmark check ``status.js`` against."""
    meta = json.loads((folder / META).read_text(encoding="utf-8"))
    columns: dict[str, list] = {column["name"]: [] for column in meta["columns"]}
    for segment, _rows in meta["segments"]:
        for index, column in enumerate(meta["columns"]):
            payload = gzip.decompress((folder / segment_file(segment, index)).read_bytes())
            values = decode_segment_file(payload)
            if column["type"] in ("int", "datetime", "date"):
                values = [None if v is None else int(v) for v in values]
            columns[column["name"]].extend(values)
    return columns


def decode_segment_file(payload: bytes) -> list:
    """The values of one gunzipped segment file."""
    size = int.from_bytes(payload[:4], "little")
    header = json.loads(payload[4 : 4 + size])
    body, rows = payload[4 + size :], header["rows"]
    encoding = header["encoding"]
    if encoding == "codes":
        codes = np.frombuffer(body, dtype="u1" if header["width"] == 1 else "<u2", count=rows)
        return [header["dict"][code] for code in codes.tolist()]
    if encoding == "i32":
        ints = np.frombuffer(body, dtype="<i4", count=rows).tolist()
        return [None if v == NULL_INT32 else v for v in ints]
    if encoding == "f64":
        floats = np.frombuffer(body, dtype="<f8", count=rows).tolist()
        return [None if np.isnan(v) else v for v in floats]
    lengths = np.frombuffer(body, dtype="<i4", count=rows).tolist()
    text = body[4 * rows :].decode("utf-8", "surrogatepass").encode("utf-16-le", "surrogatepass")
    values, at = [], 0
    for length in lengths:
        if length < 0:
            values.append(None)
            at += 1
            continue
        values.append(text[2 * at : 2 * (at + length)].decode("utf-16-le", "surrogatepass"))
        at += length + 1
    return values
