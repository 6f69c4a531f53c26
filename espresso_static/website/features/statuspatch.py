"""A status page's segments brought up to date after a sync: the segments holding
changed rows encoded again from the previous build's frames and the changed rows
alone (read by key), giving the bytes :func:`statusdata.encode_segments` writes for
the same rows. Dictionary-coded columns (the status, the groups) are patched as codes,
their kept rows never decoded. The changed rows are converted without pandas where
their columns allow it (:func:`read_plain_rows`): a nightly build that patches its
status pages then never imports it (0.3 s of CPU).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from espresso_static.data.fieldkinds import field_kind
from espresso_static.data.raw_rows import raw_rows, resolve_lookup, vectorised
from espresso_static.declare.progress import Column, DeclaredProgress
from espresso_static.website import segments as segmenting
from espresso_static.website.features.statusdata import (
    DICT_MAX,
    NULL_INT32,
    NUMBER_TYPES,
    EncodedSegment,
    codes_frame,
    column_type,
    decode_frame,
    encode_column,
    iter_frames,
    json_scalar,
    read_rows,
    sorted_values,
    text_frame,
    text_lines,
)
from espresso_static.website.features.statustimes import PER_SECOND, value_numbers

if TYPE_CHECKING:
    import pandas as pd


def patch_segments(
    item: DeclaredProgress,
    queryset,
    previous: dict[int, EncodedSegment],
    changed: Iterable[int],
) -> dict[int, EncodedSegment]:
    """The segments holding the rows keyed ``changed`` (integer keys) encoded again from
    ``previous``: only those rows are read from ``queryset`` (a row it no longer has is
    removed), the others are decoded from the cached frames. The bytes are those
    :func:`encode_segments` writes for the same rows. A segment left without rows is
    left out."""
    columns, keys = item.columns, np.array(sorted(changed), dtype="int64")
    fresh_pks, fresh = [], [[] for _ in columns]
    for start in range(0, len(keys), segmenting.LOOKUP_BATCH):
        batch = queryset.filter(pk__in=keys[start : start + segmenting.LOOKUP_BATCH].tolist())
        pks, values = read_plain_rows(batch, columns)
        fresh_pks.append(pks)
        for index, plain in enumerate(values):
            fresh[index].append(plain)
    fresh_pks = np.concatenate(fresh_pks) if fresh_pks else np.zeros(0, "int64")
    fresh = [np.concatenate(parts) if parts else np.zeros(0, object) for parts in fresh]
    fresh_segments = fresh_pks // segmenting.SEGMENT_ROWS
    patched = {}
    for segment in np.unique(keys // segmenting.SEGMENT_ROWS).tolist():
        take = fresh_segments == segment
        pks, values = fresh_pks[take], [column[take] for column in fresh]
        old = previous.get(segment)
        old_frames, keep = (None,) * len(columns), np.zeros(0, dtype=bool)
        if old is not None:
            old_pks = np.frombuffer(old.pks, dtype="<i8")
            low, high = segmenting.segment_range(segment)  # this segment's keys alone
            own = keys[np.searchsorted(keys, low) : np.searchsorted(keys, high)]
            keep = ~np.isin(old_pks, own)
            pks, old_frames = np.concatenate([old_pks[keep], pks]), old.frames
        if len(pks):
            order = np.argsort(pks, kind="stable")
            encoded = [
                patched_column(column, frame, keep, new, order)
                for column, frame, new in zip(columns, old_frames, values, strict=True)
            ]
            frames, dicts = zip(*encoded, strict=True)
            keys_bytes = pks[order].astype("<i8").tobytes()
            patched[segment] = EncodedSegment(segment, len(pks), frames, dicts, keys_bytes)
    return patched


def patched_column(
    column: Column, old_frame: bytes | None, keep: np.ndarray, new: np.ndarray, order
) -> tuple[bytes, tuple | None]:
    """A column's frame (and dictionary) for the rows ``keep`` of ``old_frame`` (None:
    no previous rows) followed by the values ``new``, put in ``order``: what
    :func:`~statusdata.encode_segment` gives for the same values. A dictionary-coded frame is
    patched as codes, its kept rows never decoded."""
    if old_frame is None:
        values = new
    else:
        header, body = next(iter_frames(old_frame))
        if header["encoding"] == "codes":
            coded = _patched_codes(header, body, keep, _as_read(column, new), order)
            if coded is not None:
                return codes_frame(*coded), tuple(coded[0])
        if header["encoding"] == "text":
            texts = _patched_texts(header, body, keep, new, order)
            if texts is not None:
                return texts, None
        values = np.concatenate([_frame_values(old_frame)[keep], new])
    return encode_column(column, _as_read(column, values[order]))


def _as_read(column: Column, values: np.ndarray) -> np.ndarray:
    """A patch's values of a number column with choices (float64, NaN: null; a codes
    frame's objects) as an encoding of the whole table reads them: ``int`` (``float``
    for floats) or None, one spelling of each value in a dictionary. Others as they are."""
    kind = column_type(column.field)
    if not column.field.choices or kind not in NUMBER_TYPES:
        return values
    number = float if kind == "float" else int
    scalars = map(json_scalar, values.tolist())
    return np.array([None if v is None else number(v) for v in scalars], dtype=object)


def _patched_codes(
    header: dict, body: bytes, keep: np.ndarray, new: np.ndarray, order
) -> tuple[list, np.ndarray] | None:
    """The dictionary and codes :func:`_dictionary` gives for the kept rows of a codes
    frame and the values ``new``, in ``order`` (None: too many values for codes)."""
    width = "u1" if header["width"] == 1 else "<u2"
    kept = np.frombuffer(body, dtype=width, count=header["rows"])[keep].astype("int64")
    values = list(header["dict"])
    code_of = {value: code for code, value in enumerate(values)}
    added = np.empty(len(new), dtype="int64")
    for row, value in enumerate(new.tolist()):
        code = code_of.get(value)
        if code is None:
            code = code_of[value] = len(values)
            values.append(value)
        added[row] = code
    codes = np.concatenate([kept, added])[order]
    present = np.flatnonzero(np.bincount(codes, minlength=len(values)))
    if len(present) > DICT_MAX:
        return None
    dictionary = sorted_values({values[code] for code in present.tolist()})
    position = {value: index for index, value in enumerate(dictionary)}
    renumbered = np.zeros(len(values), dtype="int64")
    renumbered[present] = [position[values[code]] for code in present.tolist()]
    return dictionary, renumbered[codes]


def _patched_texts(
    header: dict, body: bytes, keep: np.ndarray, new: np.ndarray, order
) -> bytes | None:
    """The text frame of the kept rows of a text frame and the values ``new``, in
    ``order``, its kept rows moved as UTF-8 lines, never decoded (a segment of file
    names: a third of the time). None where a value holds a line break, or where the
    rows now have few values enough for a dictionary: :func:`encode_column` decides."""
    rows = header["rows"]
    lines = body[4 * rows :].split(b"\n")
    added = new.tolist()
    if len(lines) != rows + 1 or not all(v is None or isinstance(v, str) for v in added):
        return None
    new_lengths, text = text_lines(added)
    fresh = text.encode("utf-8", "surrogatepass").split(b"\n")
    if len(fresh) != len(added) + 1:  # a new value holds a line break
        return None
    # A null's line is empty, as an empty text's: the lengths tell them apart (-1, 0).
    everything = np.empty(rows + len(added), dtype=object)
    everything[:rows] = lines[:-1]
    everything[rows:] = fresh[:-1]
    taken = np.concatenate([np.flatnonzero(keep), np.arange(rows, rows + len(added))])[order]
    values = everything[taken].tolist()
    lengths = np.concatenate([np.frombuffer(body, dtype="<i4", count=rows), new_lengths])
    lengths = lengths[taken]
    null_and_empty = bool((lengths < 0).any() and (lengths == 0).any())
    if len(set(values)) + null_and_empty <= DICT_MAX:
        return None
    return text_frame(lengths, b"\n".join(values) + (b"\n" if values else b""))


def read_plain_rows(queryset, columns: list[Column]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The primary keys and each column's values of ``queryset``'s rows, in key order,
    as :func:`_frame_values` gives them: the values :func:`read_rows` reads for a whole
    table, converted here as its DataFrame and :func:`column_values` convert them. Rows
    of columns of other kinds (JSON, UUIDs, durations, ...), or with values this
    conversion does not take, are read by :func:`read_rows` itself."""
    names = ["pk", *(column.lookup for column in columns)]
    fields = [resolve_lookup(queryset.model, name)[0] for name in names]
    if vectorised(fields):
        rows = raw_rows(queryset.order_by("pk"), names, fields)
        kinds = [field_kind(field) for field in fields[1:]]
        try:
            values = [
                _converted(column, kind, [row[index] for row in rows])
                for index, (column, kind) in enumerate(zip(columns, kinds, strict=True), 1)
            ]
        except (_NotPlain, ValueError):  # e.g. a date SQLite holds in a format of its own
            pass
        else:
            return np.array([row[0] for row in rows], dtype="int64"), values
    pks, series = read_rows(queryset, columns, True)
    return pks, [_plain(column, values) for column, values in zip(columns, series, strict=True)]


class _NotPlain(Exception):
    """A column read as one kind and shown as another that :func:`_converted` leaves
    to pandas."""


def _converted(column: Column, read_as: str, raw: list) -> np.ndarray:
    """:func:`_plain` of the column :func:`read_rows` gives for the driver's values
    ``raw`` of a field of kind ``read_as`` (a foreign key's: its target's)."""
    kind = column_type(column.field)
    if kind in PER_SECOND and read_as in PER_SECOND:
        return value_numbers(raw, PER_SECOND[kind])
    if kind in NUMBER_TYPES and read_as in ("int", "float"):
        return np.array([np.nan if v is None else float(v) for v in raw], dtype="float64")
    if kind == "bool" and read_as == "bool":  # as the DataFrame's astype(bool)
        return np.array([None if v is None else bool(v) for v in raw], dtype=object)
    if kind == "text" and read_as in ("text", "int"):
        return np.array([None if v is None else str(v) for v in raw], dtype=object)
    raise _NotPlain(column.name)


def _plain(column: Column, series: pd.Series) -> np.ndarray:
    """Encoder-ready values as a NumPy array: float64 (NaN: null) for numbers, objects
    (``str``, ``bool``, None) otherwise — what decoding a frame gives."""
    import pandas as pd

    if column_type(column.field) in NUMBER_TYPES:
        numbers = pd.to_numeric(series, errors="coerce").astype("Float64")
        return numbers.to_numpy(dtype="float64", na_value=np.nan)
    return np.array([json_scalar(v) for v in series.tolist()], dtype=object)


def _frame_values(frame: bytes) -> np.ndarray:
    """A frame's values as :func:`_plain` gives them."""
    header, body = next(iter_frames(frame))
    if header["encoding"] == "i32":
        ints = np.frombuffer(body, dtype="<i4", count=header["rows"])
        return np.where(ints == NULL_INT32, np.nan, ints.astype("float64"))
    if header["encoding"] == "f64":
        return np.frombuffer(body, dtype="<f8", count=header["rows"]).copy()
    if header["encoding"] == "codes":
        dictionary = np.empty(len(header["dict"]), dtype=object)
        dictionary[:] = header["dict"]
        width = "u1" if header["width"] == 1 else "<u2"
        return dictionary[np.frombuffer(body, dtype=width, count=header["rows"])]
    rows = header["rows"]
    lines = body[4 * rows :].decode("utf-8", "surrogatepass").split("\n")
    if len(lines) == rows + 1:  # no value holds a line break: one split, no loop
        values = np.array(lines[:-1], dtype=object)
        values[np.frombuffer(body, dtype="<i4", count=rows) < 0] = None
        return values
    values = np.empty(rows, dtype=object)
    values[:] = decode_frame(header, body)
    return values
