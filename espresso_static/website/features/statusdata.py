"""The data of a status page: binary columns in primary-key segments, loaded by need.

A status page with millions of rows cannot embed its table in HTML, nor decode it all
as JSON before showing anything. Its rows are written beside it as ``data/meta.json``
and gzip files of binary values. Rows are encoded per segment of the primary key
(:mod:`espresso_static.website.segments`), each segment alone, so that a sync
changing a few rows re-encodes only their segments; the files hold a *part*:
``SEGMENTS_PER_PART`` consecutive segments (fewer, larger requests). Each part has a
``p{part}-k.bin.gz`` file with the key columns — the status and the other
dictionary-coded columns, a few bytes per row, what the progress bar and most filters
need — and a ``p{part}-c{column}.bin.gz`` file per other column. ``status.js`` fetches
the key columns of every part first, the other columns of the rows on screen next,
and everything else afterwards.

``meta.json``::

    {"format": 2, "model": "demo.DataFile", "rows": 4000000, "status": "status",
     "categories": {"on_disk": "done", ...},
     "columns": [{"name": "ensemble", "label": "ensemble", "type": "text",
                  "kind": "codes", "dict": ["a06m310", ...]}, ...],
     "key_columns": [0, 2, 3],
     "segments": [[0, 9999], [1, 10000], ...],
     "parts": [[0, 0, 8], [1, 8, 8], ...]}

``segments`` lists ``[segment, rows]`` in primary-key order: the rows of the table are
the rows of its segments one after the other. ``parts`` lists ``[part, first, count]``:
part ``part`` holds ``segments[first:first + count]``. A column's ``kind`` says how
the page holds it: ``codes`` (indices into ``dict``: text with few distinct values,
booleans, numbers with choices), ``number`` (types ``int``, ``float``, ``datetime`` and
``date``; times since 1970-01-01 UTC, in ``per_second`` units a second) or ``text``;
either may have segments of codes. ``choices``: ``{stored value as text: label}``.

A file, once gunzipped, is a sequence of *frames*: for each segment of the part, one
frame per column of the file (``key_columns`` in that order, or the one column). A
frame is a little-endian ``uint32`` header length, a JSON header (``{"encoding": ...,
"rows": n, "bytes": body length, ...}``) padded with spaces to a multiple of 8 bytes,
then the body, padded with zeros to a multiple of 8 bytes (so typed arrays can view
it in place). By ``encoding``:

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
import hashlib
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING

import deflate
import numpy as np
from django.db import models

from espresso_static.data.fieldkinds import field_kind, unit_of
from espresso_static.declare.progress import Column, DeclaredProgress
from espresso_static.website import segments as segmenting
from espresso_static.website.features.statustimes import PER_SECOND, series_numbers

if TYPE_CHECKING:  # pandas is imported where a whole table is encoded, not to patch it
    import pandas as pd

FORMAT = 2
#: Segments per data file: 8 of 10,000 rows, 50 files per column for 4,000,000 rows.
SEGMENTS_PER_PART = 8
#: A segment's text (or boolean) column with at most this many distinct values is
#: dictionary-coded; the whole column is when its distinct values stay under it too and
#: are at most one per ``DICT_RATIO`` rows.
DICT_MAX = 4096
DICT_RATIO = 4
META = "meta.json"
NULL_INT32 = -(2**31)
NUMBER_TYPES = ("int", "float", "datetime", "date")
#: libdeflate's level for the data files: after a sync spread over the table every file
#: is compressed again; level 4 took 0.10 s for the 400,000-row demo's 31 MB where
#: zlib's level 3 took 0.17 s, for files 6% smaller (2.71 against 2.88 MB).
GZIP_LEVEL = 4


@dataclass(frozen=True)
class SegmentInfo:
    """What putting the data files together needs of a segment besides its frames: a
    build whose segments are cached alone loads only the frames of the part files it
    writes again."""

    segment: int
    rows: int
    #: Each column's distinct values when dictionary-coded, else None.
    dicts: tuple[tuple | None, ...]
    #: Each frame's length.
    sizes: tuple[int, ...]
    #: A digest of the frames: part files of segments of the same digests are the same.
    digest: bytes


@dataclass(frozen=True)
class EncodedSegment:
    """One segment's frames: one per column, before compression."""

    segment: int
    rows: int
    frames: tuple[bytes, ...]
    #: Each column's distinct values when dictionary-coded, else None.
    dicts: tuple[tuple | None, ...]
    #: The rows' primary keys (``int64``; empty for a table without integer keys).
    pks: bytes = b""

    def info(self) -> SegmentInfo:
        digest = hashlib.blake2b(digest_size=20)
        for frame in self.frames:
            digest.update(len(frame).to_bytes(8, "little"))
            digest.update(frame)
        sizes = tuple(len(frame) for frame in self.frames)
        return SegmentInfo(self.segment, self.rows, self.dicts, sizes, digest.digest())


@dataclass(frozen=True)
class StatusData:
    """The encoded files of a status table: ``{file name: bytes}``, ``meta.json`` first."""

    rows: int
    files: dict[str, bytes]
    #: Bytes before compression (the part files are gzip files).
    raw_bytes: int
    #: ``{digest of a part file's columns and segments: its gzip bytes}``: compressed
    #: once, reused by the next build for the same frames.
    compressed: dict[bytes, bytes] = field(default_factory=dict, repr=False)

    @property
    def compressed_bytes(self) -> int:
        return sum(len(content) for content in self.files.values())


def part_of(segment: int) -> int:
    return segment // SEGMENTS_PER_PART


def part_file(part: int, group: str) -> str:
    """``group``: ``k`` (the key columns) or ``c{column}``."""
    return f"p{part}-{group}.bin.gz"


def encode_status_data(
    item: DeclaredProgress, queryset=None, progress: Callable[[int], None] | None = None
) -> StatusData:
    """Encode every row of ``item`` (or ``queryset``) as ``meta.json`` and part files."""
    queryset = item.model._default_manager.all() if queryset is None else queryset
    return assemble(item, encode_segments(item, queryset, progress=progress))


def encode_segments(
    item: DeclaredProgress,
    queryset,
    only: Iterable[int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[int, EncodedSegment]:
    """The segments of ``queryset``'s rows (``only`` these, default all) that hold rows."""
    columns = item.columns
    segmented = segmenting.is_segmented(item.model)
    if only is not None and segmented:
        # Consecutive segments as one range: a condition per segment made SQLite test
        # every row against hundreds of them (a 10% sync of 4M rows: 409 segments).
        ranges = models.Q(pk__in=[])
        for _, run in groupby(enumerate(sorted(only)), key=lambda pair: pair[1] - pair[0]):
            segments = [segment for _, segment in run]
            low, _ = segmenting.segment_range(segments[0])
            _, high = segmenting.segment_range(segments[-1])
            ranges |= models.Q(pk__gte=low, pk__lt=high)
        queryset = queryset.filter(ranges)
    pks, values = read_rows(queryset, columns, segmented)
    numbers = pks // segmenting.SEGMENT_ROWS if segmented else np.zeros(len(pks), dtype="int64")
    bounds = (np.flatnonzero(np.diff(numbers)) + 1).tolist()
    encoded = {}
    for start, stop in zip([0, *bounds], [*bounds, len(pks)], strict=True):
        if stop > start:
            segment = int(numbers[start])
            part = [series.iloc[start:stop] for series in values]
            encoded[segment] = encode_segment(segment, part, columns, pks[start:stop])
            if progress:
                progress(stop - start)
    return encoded


def read_rows(queryset, columns: list[Column], segmented: bool) -> tuple[np.ndarray, list]:
    """The primary keys (``int64``; zeros without integer keys) and each column's values
    of ``queryset``'s rows, in key order."""
    frame = queryset.order_by("pk").to_dataframe(["pk", *(column.lookup for column in columns)])
    pks = frame["pk"].to_numpy(dtype="int64") if segmented else np.zeros(len(frame), "int64")
    return pks, [column_values(column, frame[column.lookup]) for column in columns]


def assemble(
    item: DeclaredProgress,
    segments: dict[int, EncodedSegment],
    compressed: dict[bytes, bytes] | None = None,
) -> StatusData:
    """``meta.json`` and the part files of ``segments`` (the whole table); a part file
    ``compressed`` holds (of the same segments' frames) is not compressed again."""
    infos = {number: segment.info() for number, segment in segments.items()}
    return assemble_parts(item, infos, lambda number: segments[number].frames, compressed)


def assemble_parts(
    item: DeclaredProgress,
    segments: dict[int, SegmentInfo],
    frames: Callable[[int], tuple[bytes, ...]],
    compressed: dict[bytes, bytes] | None = None,
) -> StatusData:
    """:func:`assemble` with each segment's frames asked of ``frames`` (segment number),
    only for the part files ``compressed`` does not hold."""
    ordered = [segments[number] for number in sorted(segments)]
    rows = sum(segment.rows for segment in ordered)
    status = item.progress.status
    columns = [
        column_meta(column, index, ordered, rows, status)
        for index, column in enumerate(item.columns)
    ]
    key = [i for i, c in enumerate(columns) if c["kind"] == "codes" or c["name"] == status]
    groups = [("k", key)] + [(f"c{i}", [i]) for i in range(len(columns)) if i not in key]
    files, parts, known, raw = {}, [], dict(compressed or {}), 0
    kept: dict[bytes, bytes] = {}
    first = 0
    for part, members in groupby(ordered, key=lambda segment: part_of(segment.segment)):
        members = list(members)
        parts.append([part, first, len(members)])
        first += len(members)
        for group, indices in groups:
            # The part file of these columns of these segments' frames (by digest).
            identity = hashlib.blake2b(repr(indices).encode(), digest_size=20)
            for segment in members:
                identity.update(segment.digest)
            digest = identity.digest()
            if digest not in known:
                payload = b"".join(
                    frames(segment.segment)[i] for segment in members for i in indices
                )
                known[digest] = deflate.gzip_compress(payload, GZIP_LEVEL)
            files[part_file(part, group)] = kept[digest] = known[digest]
            raw += sum(segment.sizes[i] for segment in members for i in indices)
    meta = _dumps(
        {
            "format": FORMAT,
            "model": item.label,
            "rows": rows,
            "status": status,
            "categories": {str(k): v for k, v in item.progress.categories.items()},
            "columns": columns,
            "key_columns": key,
            "segments": [[segment.segment, segment.rows] for segment in ordered],
            "parts": parts,
        }
    )
    return StatusData(rows, {META: meta, **files}, raw + len(meta), kept)


def column_type(field: models.Field) -> str:
    """The ``type`` a field's values get in ``meta.json`` (anything else is text)."""
    kind = field_kind(field)
    return kind if kind in ("bool", *NUMBER_TYPES) else "text"


def column_values(column: Column, series: pd.Series) -> pd.Series:
    """A column's values as the encoders take them: numbers as ``Float64``-able values
    (times in :data:`PER_SECOND` units), texts as ``str`` or None."""
    import pandas as pd

    kind = column_type(column.field)
    if kind in PER_SECOND:
        return series_numbers(series, PER_SECOND[kind])
    if kind == "text":
        texts = [v if type(v) is str else None if _missing(v) else str(v) for v in series.tolist()]
        return pd.Series(texts, index=series.index, dtype=object)
    return series


def _missing(value) -> bool:
    """Whether a value of a text column is null (JSON's lists and objects never are)."""
    import pandas as pd

    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def column_meta(
    column: Column, index: int, segments: list[SegmentInfo], rows: int, status: str
) -> dict:
    """A column's entry in ``meta.json``: its kind decided over every segment (the
    status column and columns with choices are codes whenever they can be: the progress
    bar and the multi-select filters read codes)."""
    kind = column_type(column.field)
    meta = {"name": column.name, "label": column.label, "type": kind, **unit_of(column.field)}
    meta |= {"per_second": PER_SECOND[kind]} if kind in PER_SECOND else {}
    if column.field.choices:
        choices = dict(column.field.flatchoices)
        meta["choices"] = {str(value): str(label) for value, label in choices.items()}
    if kind in NUMBER_TYPES and not column.field.choices:
        return {**meta, "kind": "number"}
    dicts = [segment.dicts[index] for segment in segments]
    if all(d is not None for d in dicts):
        union = sorted_values({value for d in dicts for value in d})
        few = len(union) * DICT_RATIO <= max(rows, 1)
        always = kind == "bool" or column.field.choices or column.name == status
        if len(union) <= DICT_MAX and (always or few):
            return {**meta, "kind": "codes", "dict": union}
    return {**meta, "kind": "number" if kind in NUMBER_TYPES else "text"}


def encode_segment(
    segment: int, values: list[pd.Series], columns: list[Column], pks: np.ndarray | None = None
) -> EncodedSegment:
    """One segment's frames (``values``: each column's values of the segment's rows,
    ``pks`` their primary keys)."""
    encoded = [
        encode_column(column, series) for column, series in zip(columns, values, strict=True)
    ]
    frames, dicts = zip(*encoded, strict=True)
    keys = b"" if pks is None else np.asarray(pks, dtype="<i8").tobytes()
    return EncodedSegment(segment, len(values[0]), frames, dicts, keys)


def encode_column(column: Column, series: pd.Series | np.ndarray) -> tuple[bytes, tuple | None]:
    """A column's frame and, when dictionary-coded, its dictionary. ``series``: values
    as :func:`column_values` gives them, or a patch's array of them (float64 numbers,
    NaN for null; objects otherwise, numbers with choices too)."""
    kind = column_type(column.field)
    numeric = kind in NUMBER_TYPES
    # Numbers with choices are codes too where they can be: the page lists their labels.
    coded = None if numeric and not column.field.choices else _dictionary(series)
    if coded:
        header, body = _codes(*coded)
    else:
        header, body = _numbers(series, whole=kind != "float") if numeric else _texts(series)
    frame = _framed(header | {"rows": len(series)}, body)
    return frame, tuple(coded[0]) if coded else None


def _dictionary(series: pd.Series | np.ndarray) -> tuple[list, np.ndarray] | None:
    """The sorted distinct values of ``series`` and each row's index into them (None:
    too many values for a dictionary)."""
    values = series.tolist()
    distinct = set(values)
    if len(distinct) > DICT_MAX + 1:  # NaN and None may count twice
        return None
    scalars = {value: json_scalar(value) for value in distinct}
    dictionary = sorted_values(set(scalars.values()))
    if len(dictionary) > DICT_MAX:
        return None
    position = {value: code for code, value in enumerate(dictionary)}
    code_of = {value: position[scalar] for value, scalar in scalars.items()}
    return dictionary, np.fromiter(map(code_of.__getitem__, values), "int64", len(values))


def sorted_values(values: set) -> list:
    """Distinct values in order, ``null`` last."""
    return sorted(v for v in values if v is not None) + ([None] if None in values else [])


def codes_frame(dictionary: list, codes: np.ndarray) -> bytes:
    """The frame of dictionary-coded values: ``codes`` index ``dictionary``."""
    header, body = _codes(dictionary, codes)
    return _framed(header | {"rows": len(codes)}, body)


def _codes(dictionary: list, codes: np.ndarray) -> tuple[dict, bytes]:
    width = 1 if len(dictionary) <= 256 else 2
    body = codes.astype("u1" if width == 1 else "<u2").tobytes()
    return {"encoding": "codes", "width": width, "dict": dictionary}, body


def _numbers(series: pd.Series | np.ndarray, whole: bool) -> tuple[dict, bytes]:
    if series.dtype == np.float64:  # NaN is null already (decoded or patched values)
        values = np.asarray(series)
        missing = np.isnan(values)
    else:
        import pandas as pd

        # A Series: a patch gives numbers with choices as objects.
        numbers = pd.to_numeric(pd.Series(series), errors="coerce").astype("Float64")
        missing = numbers.isna().to_numpy()
        values = numbers.to_numpy(dtype="float64", na_value=np.nan)
    present = values[~missing]
    fits = whole and (present.size == 0 or (present.min() > NULL_INT32 and present.max() < 2**31))
    if fits:
        ints = np.where(missing, NULL_INT32, np.nan_to_num(values)).astype("<i4")
        return {"encoding": "i32"}, ints.tobytes()
    return {"encoding": "f64"}, values.astype("<f8").tobytes()


def _texts(series: pd.Series) -> tuple[dict, bytes]:
    lengths, joined = text_lines(series.tolist())
    return {"encoding": "text"}, lengths.tobytes() + joined.encode("utf-8", "surrogatepass")


def text_lines(texts: list) -> tuple[np.ndarray, str]:
    """The body of a text frame: each value's length in JavaScript (UTF-16 code units;
    -1: null), then the values, each ended by a line break (a null as "")."""
    missing = np.fromiter((t is None for t in texts), dtype=bool, count=len(texts))
    plain = [t or "" for t in texts] if missing.any() else texts
    joined = "\n".join(plain) + ("\n" if plain else "")
    # ASCII text (the usual case): lengths in C, no loop over the values in Python.
    size = len if joined.isascii() else _utf16_length
    lengths = np.fromiter(map(size, plain), dtype="<i4", count=len(plain))
    lengths[missing] = -1
    return lengths, joined


def text_frame(lengths: np.ndarray, lines: bytes) -> bytes:
    """The frame of text values: ``lengths`` and ``lines`` (UTF-8) as :func:`text_lines`
    gives them."""
    return _framed({"encoding": "text", "rows": len(lengths)}, lengths.tobytes() + lines)


def _utf16_length(text: str) -> int:
    """The length of ``text`` in JavaScript (UTF-16 code units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _framed(header: dict, body: bytes) -> bytes:
    head = _dumps(header | {"bytes": len(body)})
    head += b" " * (-(4 + len(head)) % 8)
    return len(head).to_bytes(4, "little") + head + body + b"\0" * (-len(body) % 8)


def json_scalar(value):
    pandas = sys.modules.get("pandas")  # a value is pandas' NA only where pandas is loaded
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if pandas is not None and value is pandas.NA:
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
    columns = meta["columns"]
    values: dict[str, list] = {column["name"]: [] for column in columns}
    key = meta["key_columns"]
    groups = [("k", key)] + [(f"c{i}", [i]) for i in range(len(columns)) if i not in key]
    for part, _first, count in meta["parts"]:
        for group, indices in groups:
            frames = iter_frames(gzip.decompress((folder / part_file(part, group)).read_bytes()))
            for _ in range(count):
                for index in indices:
                    decoded = decode_frame(*next(frames))
                    if columns[index]["type"] in ("int", "datetime", "date"):
                        decoded = [None if v is None else int(v) for v in decoded]
                    values[columns[index]["name"]].extend(decoded)
    return values


def iter_frames(payload: bytes):
    """``(header, body)`` of each frame of a gunzipped part file."""
    at = 0
    while at < len(payload):
        size = int.from_bytes(payload[at : at + 4], "little")
        header = json.loads(payload[at + 4 : at + 4 + size])
        start = at + 4 + size
        yield header, payload[start : start + header["bytes"]]
        at = start + header["bytes"] + (-header["bytes"] % 8)


def decode_frame(header: dict, body: bytes) -> list:
    """The values of one frame."""
    rows, encoding = header["rows"], header["encoding"]
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
