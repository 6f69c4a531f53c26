"""Open-data downloads of what one audience may see.

For every visible model (and every visible many-to-many relation) one resource,
written as gzip-compressed CSV and JSON and as Parquet, plus one SQLite file holding all
of them, a Frictionless ``datapackage.json`` (field types, primary and foreign keys,
licence) and ``SHA256SUMS`` over every file. Rows are read in primary-key order, in
chunks, and encoded per segment (:mod:`espresso_static.website.segments`) into parts
cached alone (:mod:`~espresso_static.website.features.download_parts`): after a sync
only the changed rows are read (``pk IN`` the change log's rows) and encoded, the
segments holding them patched, and every file is put together from the parts — the
same way in a build from scratch, so the bytes are the same. The checksums of a
table's files are kept with its parts: a file not written again is not hashed again.
A table of a million rows never sits in memory. Output is deterministic (gzip without
timestamps, sorted resources) so unchanged data gives identical files.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import queue
import shutil
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import pyarrow as pa
from django.db.models import QuerySet
from django.utils.text import slugify

from espresso_static.declare.access import AudienceView
from espresso_static.website import segments as segmenting
from espresso_static.website.cache import (
    REBUILT,
    REUSED,
    UPDATED,
    BuildCache,
    link_file,
    link_tree,
)
from espresso_static.website.features.datapackage import datapackage
from espresso_static.website.features.download_parts import (
    CHUNK_ROWS,
    FORMATS,
    Encoder,
    assemble_files,
    assemble_sqlite,
    patch_part,
    pyarrow_without_pandas,
    sha256,
    write_part,
)
from espresso_static.website.features.resources import (
    DownloadFile,
    OpenData,
    Resource,
    m2m_resource,
    m2m_rows,
    model_resource,
    resource_name,
)
from espresso_static.website.publish import make_staging
from espresso_static.website.segments import (
    LOOKUP_BATCH,
    SegmentPlan,
    is_segmented,
    plan_segments,
    segment_of,
    segment_rows,
)
from espresso_static.website.workers import in_worker

#: Threads patching segments and writing a table's files side by side: one per CPU.
THREADS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


class DamagedFile(Exception):
    """A file of the cache is not the one stored (cut short or gone)."""


#: What reading a damaged cached file raises: a part's Arrow file or SQLite table cut
#: short, overwritten or gone, a download of a reused table not its recorded size.
DAMAGED = (pa.ArrowException, sqlite3.DatabaseError, FileNotFoundError, DamagedFile)


@dataclass(frozen=True)
class _Table:
    """One resource to export: its description, its rows and how they split into
    segments, and the models whose tables decide them."""

    resource: Resource
    #: The rows, in order, each led by the column segments are cut by (see ``skipped``).
    rows: QuerySet
    #: The model whose rows are segmented (a many-to-many relation: its link table) and
    #: the column segments are cut by (None: the primary key).
    model: type
    key: str | None
    models_read: tuple
    #: Leading values of a row that are not exported (the segment key added to them).
    skipped: int = 0

    @property
    def patchable(self) -> bool:
        """Whether a segment can be patched by primary key: a model's rows (not links)
        whose exported primary key is the segment key."""
        pk = self.model._meta.pk
        return (
            self.skipped == 1
            and self.resource.primary_key == (pk.attname,)
            and is_segmented(self.model)
        )

    def changed_rows(self, keys: list[int]) -> list[tuple]:
        """``(key, values)`` of the rows of ``keys`` still shown, in key order (a query
        per :data:`~espresso_static.website.segments.LOOKUP_BATCH` keys)."""
        found = []
        for start in range(0, len(keys), LOOKUP_BATCH):
            batch = self.rows.filter(pk__in=keys[start : start + LOOKUP_BATCH])
            found.extend((row[0], row[self.skipped :]) for row in batch)
        return found

    def segments(self, plan: SegmentPlan) -> Iterator[tuple[int, Iterator[tuple]]]:
        """``(segment, rows)`` of the segments ``plan`` redoes that hold rows, in order,
        each row ``(key, values)``: one query over all rows when every segment is
        redone, else one per segment."""
        numbered = segment_of if is_segmented(self.model, self.key) else (lambda _: 0)
        if plan.changed is None:
            chunks = [self.rows.iterator(chunk_size=CHUNK_ROWS)]
        else:
            chunks = [
                segment_rows(self.rows, segment, self.key).iterator(chunk_size=CHUNK_ROWS)
                for segment in sorted(plan.changed)
            ]
        for rows in chunks:
            for segment, group in groupby(rows, key=lambda row: numbered(row[0])):
                yield segment, ((row[0], row[self.skipped :]) for row in group)


@dataclass(frozen=True)
class _Part:
    """One segment's part of a resource in the cache: its entry and its rows."""

    segment: int
    key: str
    rows: int


@dataclass(frozen=True)
class _ResourceState:
    """A resource as of change-log ``mark``: its parts, in segment order, and the
    checksums of its files."""

    mark: str | None
    resource: Resource
    parts: tuple[_Part, ...]
    files: tuple[DownloadFile, ...]


def write_open_data(
    view: AudienceView,
    model_list: list,
    out_dir: Path,
    *,
    title: str,
    license: str = "",
    citation: str = "",
    progress: Callable[[int], None] | None = None,
    cache: BuildCache | None = None,
) -> OpenData:
    """Write the downloads of ``model_list`` as ``view`` sees them into ``out_dir``,
    reusing what ``cache`` holds of segments whose rows did not change. A cached file
    that cannot be read (cut short, overwritten or gone) is no reason to fail: the
    downloads are then written again from the database, as without the cache, and
    the collect step's line says so."""
    cache = cache or BuildCache(None)
    progress = progress or (lambda rows: None)
    if in_worker():
        pyarrow_without_pandas()
    written = functools.partial(
        _write_open_data, view, model_list, out_dir, title, license, citation, progress
    )
    counted = len(cache.outcomes)
    try:
        return written(cache)
    except DAMAGED as error:
        if not cache.enabled:
            raise
        damage = " ".join(str(error).split()) or type(error).__name__
    del cache.outcomes[counted:]  # counted again below
    # Files the first attempt linked there may share their bytes with cache entries.
    shutil.rmtree(out_dir, ignore_errors=True)
    rebuilt = f"a cached file could not be read ({damage}): every table written again"
    return written(dataclasses.replace(cache, reuse=False), rebuilt)


def _write_open_data(
    view: AudienceView,
    model_list: list,
    out_dir: Path,
    title: str,
    license: str,
    citation: str,
    progress: Callable[[int], None],
    cache: BuildCache,
    rebuilt: str = "",
) -> OpenData:
    """:func:`write_open_data`; ``rebuilt``: why the package is not reused, if not
    because its tables changed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    package_name = slugify(title) or "data"
    visible = sorted((m for m in model_list if view.sees_model(m)), key=resource_name)
    package_key = cache.key("downloads", view, visible, title, license, citation)
    stored = cache.load(package_key, counted=False)
    if stored is not None:
        cache.count(REUSED)
        link_tree(cache.files(package_key), out_dir)
        _check_sizes(out_dir, stored.files)
        progress(sum(resource.rows for resource in stored.resources))
        return stored
    cache.count(REBUILT, rebuilt)
    # Named as a build's staging folder: the next build removes it if this one is killed.
    work = make_staging(out_dir.parent)
    sqlite_name = f"{package_name}.sqlite"
    try:
        # One thread more than CPUs: the package's SQLite file, the longest task, takes
        # each part as soon as it is ready, beside the others' patching and the tables'
        # files, not after them. A table's files are written in threads of their own,
        # each taking the parts as they come: waiting for a part there holds no thread
        # a patch needs.
        with (
            ThreadPoolExecutor(max_workers=THREADS + 1) as pool,
            ThreadPoolExecutor(max_workers=len(FORMATS)) as assembling,
        ):
            ready: queue.Queue = queue.Queue()
            package_file = pool.submit(_package_sqlite, out_dir, sqlite_name, iter(ready.get, None))
            writing = []
            try:
                for table in _tables(view, visible):
                    parts = _resource_parts(
                        view, table, work, cache, progress, pool, assembling, ready.put
                    )
                    writing.append((parts, _assemble(parts, assembling)))
            finally:
                ready.put(None)  # the package ends there (its task ends, whatever failed)
            exported = [_resource_state(table, files, cache) for table, files in writing]
            sqlite_file = package_file.result()
        for state, folder in exported:
            for extension in FORMATS:
                name = f"{state.resource.name}.{extension}"
                link_file(folder / name, out_dir / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    resources = [state.resource for state, _ in exported]
    known = {f.path: f for state, _ in exported for f in state.files}
    known[sqlite_name] = sqlite_file
    package = datapackage(package_name, title, license, citation, resources, known)
    (out_dir / "datapackage.json").write_text(json.dumps(package, indent=2, ensure_ascii=False))
    files = _checksums(out_dir, [*known, "datapackage.json"], known)
    open_data = OpenData(package_name, tuple(resources), tuple(files), license, citation)
    cache.store(f"downloads {view.name}", package_key, open_data, files=out_dir)
    return open_data


def _package_sqlite(out_dir: Path, name: str, resources: list) -> DownloadFile:
    assemble_sqlite(out_dir / name, resources)
    return _hashed(out_dir, name)


def _tables(view: AudienceView, visible: list) -> Iterator[_Table]:
    """The resources of the ``visible`` models: each model, then its many-to-many
    relations whose other end is visible."""
    for model in visible:
        attnames = [f.attname for f in view.visible_fields(model) if not f.many_to_many]
        rows = view.queryset(model).order_by("pk").values_list("pk", *attnames)
        resource = model_resource(view, model)
        yield _Table(resource, rows, model, None, (model,), skipped=1)
        for m2m in view.visible_fields(model):
            if m2m.many_to_many:
                through = m2m.remote_field.through
                yield _Table(
                    m2m_resource(model, m2m),
                    m2m_rows(view, model, m2m),
                    through,
                    m2m.m2m_column_name(),
                    (model, m2m.related_model, through),
                )


@dataclass(frozen=True)
class _ResourceParts:
    """A resource's parts for this build, in segment order: the previous state's when no
    row changed (``reused``), else kept, patched or written ones."""

    resource: Resource
    slot: str
    static: str
    mark: str | None
    parts: tuple[_Part, ...]
    paths: list[Path]
    #: The folder the files are written to, or the reused state's files.
    folder: Path
    reused: _ResourceState | None = None
    #: The tasks writing its files, started before its parts were all ready (patched).
    files: list[Future] | None = None


def _resource_parts(
    view: AudienceView,
    table: _Table,
    work: Path,
    cache: BuildCache,
    progress,
    pool: Executor,
    assembling: Executor,
    announce: Callable[[tuple[Resource, Iterable[Path]]], None],
) -> _ResourceParts:
    """The exported resource's parts, one per segment: parts of segments whose rows did
    not change from the cache, the others patched (in ``pool``) or written into
    ``work``. The resource and its parts' folders, in order, are told to ``announce`` at
    once when parts are patched (the folders of patched parts come as each is ready),
    else when every part is ready; patched parts also go to the resource's files as
    they come (their tasks in ``assembling``)."""
    slot = f"download {view.name} {table.resource.name}"
    # Parts cut by another segment size are no parts of this build's files.
    static = cache.key(
        "download", view, table.models_read, table.resource, segmenting.SEGMENT_ROWS, content=False
    )
    previous, previous_files = cache.load_state(slot, static) or (None, None)
    plan = plan_segments(
        previous.mark if previous else None,
        table.model,
        view,
        table.models_read,
        table.key,
        tables=cache.output_tables,
    )
    if previous is None or not all(cache.has(part.key) for part in previous.parts):
        plan = SegmentPlan(plan.mark, None)
    elif plan.changed == frozenset():
        cache.count(REUSED)
        progress(previous.resource.rows)
        paths = [cache.files(p.key) for p in previous.parts]
        announce((previous.resource, paths))
        return _ResourceParts(
            previous.resource,
            slot,
            static,
            previous.mark,
            previous.parts,
            paths,
            previous_files,
            previous,
        )
    parts: dict[int, tuple[_Part, Path]] = {}
    if plan.changed is not None:
        for part in previous.parts:
            if part.segment not in plan.changed:
                parts[part.segment] = (part, cache.files(part.key))
                progress(part.rows)
    kept = len(parts)
    folder = work / table.resource.name

    def store(segment: int, count: int) -> None:
        key = cache.store_new(f"{slot} segment {segment}", count, files=folder / str(segment))
        parts[segment] = (_Part(segment, key, count), folder / str(segment))

    patched = plan.changed is not None and plan.rows is not None and table.patchable
    files = None
    if patched:
        before = {part.segment: cache.files(part.key) for part in previous.parts}
        patching = _patch(table, plan, before, folder, pool)
        kept_paths = {segment: path for segment, (_, path) in parts.items()}
        in_order = functools.partial(_in_order, kept_paths, patching, folder)
        announce((table.resource, in_order()))
        files = assemble_files(table.resource, in_order, folder / "files", assembling)
        for segment, task in patching.items():
            count = task.result()
            progress(count)
            if count:
                store(segment, count)
    else:
        for segment, rows in table.segments(plan):
            store(segment, write_part(table.resource, rows, folder / str(segment), progress))
    if plan.changed is not None:  # parts of the previous state kept or patched
        cache.count(UPDATED, f"{len(parts) - kept} of {len(parts)} segments")
    else:
        cache.count(REBUILT)
    ordered = [parts[segment] for segment in sorted(parts)]
    resource = dataclasses.replace(table.resource, rows=sum(part.rows for part, _ in ordered))
    if not patched:  # a patched table's parts were announced as they came
        announce((resource, [path for _, path in ordered]))
    return _ResourceParts(
        resource,
        slot,
        static,
        plan.mark,
        tuple(part for part, _ in ordered),
        [path for _, path in ordered],
        folder / "files",
        files=files,
    )


def _assemble(table: _ResourceParts, pool: Executor) -> list[Future] | None:
    """The tasks writing the files of ``table`` from its parts (None: reused)."""
    if table.reused is not None or table.files is not None:
        return table.files
    return assemble_files(table.resource, lambda: table.paths, table.folder, pool)


def _resource_state(
    table: _ResourceParts, files: list[Future] | None, cache: BuildCache
) -> tuple[_ResourceState, Path]:
    """The state of ``table`` once its files are written (stored in the cache), and the
    folder holding them."""
    if files is None:
        _check_sizes(table.folder, table.reused.files)
        return table.reused, table.folder
    written = tuple(DownloadFile(*task.result()) for task in files)
    state = _ResourceState(table.mark, table.resource, table.parts, written)
    cache.store_state(table.slot, table.static, state, files=table.folder)
    return state, table.folder


def _patch(
    table: _Table, plan: SegmentPlan, before: dict[int, Path], folder: Path, pool: Executor
) -> dict[int, Future]:
    """The tasks, in segment order, patching each segment of ``plan`` into ``folder``
    from its part ``before`` with the changed rows read again; each returns the rows of
    its part (0: the segment is gone). The rows are read here (a connection serves one
    thread), the segments patched in ``pool``."""
    keys = sorted(plan.rows)
    rows = table.changed_rows(keys)
    changed = {s: list(g) for s, g in groupby(keys, key=segment_of)}
    # Encoded in one call (a call per segment costs more), then cut by segment: the
    # rows are in key order, so a segment's rows are a slice.
    encoded, plain = None, []
    if rows:
        encoded, plain = Encoder(table.resource).encode([k for k, _ in rows], [v for _, v in rows])
    shown: dict[int, tuple[int, int]] = {}
    for segment, group in groupby(range(len(rows)), key=lambda i: segment_of(rows[i][0])):
        first, *others = group
        shown[segment] = (first, len(others) + 1)

    def patched(segment: int) -> int:
        first, count = shown.get(segment, (0, 0))
        now = encoded.slice(first, count) if count else None
        return patch_part(
            table.resource,
            before.get(segment),
            folder / str(segment),
            changed[segment],
            now,
            plain[first : first + count],
        )

    return {segment: pool.submit(patched, segment) for segment in sorted(plan.changed)}


def _in_order(kept: dict[int, Path], patching: dict[int, Future], folder: Path) -> Iterator[Path]:
    """The folders of a resource's parts in segment order: ``kept`` ones, and each
    patched one once its task is done (none for a segment gone)."""
    for segment in sorted({*kept, *patching}):
        if segment in kept:
            yield kept[segment]
        elif patching[segment].result():
            yield folder / str(segment)


def _checksums(out_dir: Path, names: list[str], known: dict) -> list[DownloadFile]:
    """``SHA256SUMS`` of the files ``names``; those in ``known`` are not hashed again."""
    files = [known.get(name) or _hashed(out_dir, name) for name in sorted(names)]
    (out_dir / "SHA256SUMS").write_text("".join(f"{f.sha256}  {f.path}\n" for f in files))
    return files


def _check_sizes(folder: Path, files: Iterable[DownloadFile]) -> None:
    """Raise :class:`DamagedFile` unless each of ``files`` is in ``folder`` with the size
    recorded when it was written: a reused file cut short in the cache would otherwise
    be published, unlike its checksum (a stat, not a hash: no-change builds stay fast)."""
    for file in files:
        path = folder / file.path
        if not path.is_file() or path.stat().st_size != file.size:
            raise DamagedFile(f"{path} is not the {file.size:,} bytes written")


def _hashed(folder: Path, name: str) -> DownloadFile:
    return DownloadFile(name, (folder / name).stat().st_size, sha256(folder / name))
