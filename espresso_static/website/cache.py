"""Reuse of a build's expensive outputs whose inputs did not change.

The collect step's expensive outputs — the data of each status page (with its plot),
the downloads of each table and the download package, the data-health audit — are
stored in ``<project>/.espresso-static-cache/`` under a **key**: a hash of everything
that decides their content:

* the content of every table the output reads: a digest of the table's rows in the
  change log (:mod:`espresso_static.data.changelog`: kept by triggers, so an
  ``UPDATE`` in raw SQL counts, not only ``last_modified``), or, for a table the
  triggers do not cover, of all its rows and columns read raw from the database;
* how the audience sees those tables: its name and kind, the visible columns and the
  SQL selecting the visible rows (the access declarations, row filters included);
* the schema: each model's fields, names and documentation, its ``progress`` and
  the source of the module that defines it (checks, example parameters);
* the code: espresso-static's version, a hash of its sources and templates, and the
  versions of the libraries that write the files.

An output reads the tables of its model, of its parents, many-to-many relations and,
transitively, of the models its foreign keys point to; a status page also reads the
progress snapshots. The data-health audit runs arbitrary check code, which may query
any table: it depends on all tables of the project.

Each output has one **slot** (kind, audience, model): storing a new entry replaces the
slot's previous one, so the cache holds one version of every output. An output kept
in parts (the downloads: one entry per segment, :mod:`espresso_static.website.segments`)
stores a *state* — the change-log mark it was computed at and its parts — under a key
without the tables' content, and brings it up to date from the log. Entries are
written to a temporary name and renamed: a killed build leaves no half entry; a slot
is a symbolic link to its entry, replaced the same way. A
replaced entry is moved into ``trash/`` and removed in the background
(:mod:`espresso_static.website.removal`); what a build leaves there, the next removes. The
compiled Jinja templates of MkDocs' theme and of our pages are kept too.
``build-site --no-cache`` bypasses the cache; deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from espresso_static.data import changelog
from espresso_static.website.cache_keys import (
    audience_signature,
    code_fingerprint,
    digest_update,
    model_signature,
    output_tables,
    rows_read,
    table_fingerprint,
    visibility_signature,
)
from espresso_static.website.jinja_signature import environment_signature
from espresso_static.website.removal import remove_later

#: The cache folder inside the project (gitignored).
CACHE_DIR = ".espresso-static-cache"
#: Bumped when the layout of the stored entries changes.
LAYOUT = 1
#: What became of an output (:meth:`BuildCache.count`).
REUSED, UPDATED, REBUILT = "reused", "updated", "rebuilt"
VALUE = "value.pickle"
FILES = "files"
#: Where replaced entries wait to be removed (:meth:`BuildCache._discard`).
TRASH = "trash"
#: Folder of the compiled Jinja templates (:meth:`BuildCache.compiled_templates`).
TEMPLATES = "templates"


@dataclass
class BuildCache:
    """The cache of one project; ``folder`` None: disabled (every output is built)."""

    folder: Path | None
    #: Table fingerprints of the database snapshot being read (see :meth:`new_snapshot`).
    fingerprints: dict[str, str] = field(default_factory=dict)
    #: The tables the change log covers (None: not looked up yet in this snapshot).
    logged: frozenset[str] | None = None
    #: What became of each output so far (the collect line reports it per part):
    #: ``(outcome, detail)``, outcome :data:`REUSED`, :data:`UPDATED` or :data:`REBUILT`.
    outcomes: list[tuple[str, str]] = field(default_factory=list)
    #: The models' and views' parts of keys, once per snapshot (:meth:`_once`).
    signatures: dict = field(default_factory=dict)
    #: Whether stored entries are read; False: every output is built and stored anew,
    #: replacing what its slot held (after an entry was found damaged).
    reuse: bool = True

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    # -- keys -------------------------------------------------------------------------

    def key(self, kind: str, view, models_read: Iterable, *extra, content: bool = True) -> str:
        """The key of an output of ``kind`` that ``view`` sees and that reads the tables
        of ``models_read`` (and their dependencies); ``extra``: other inputs. Without
        ``content`` the tables' data is left out: the key of an output that is brought
        up to date from the change log rather than rebuilt."""
        if not self.enabled:
            return ""
        digest = hashlib.blake2b(digest_size=20)
        for part in (LAYOUT, kind, code_fingerprint(), audience_signature(view), *extra):
            digest_update(digest, part)
        read = self.output_tables(view, models_read)
        for model in sorted(read, key=lambda m: m._meta.db_table):
            digest_update(digest, self._once(model_signature, model))
            digest_update(digest, self.fingerprint(model) if content else "")
            digest_update(digest, self._once(visibility_signature, view, model))
        return digest.hexdigest()

    def output_tables(self, view, models_read: Iterable) -> list:
        """:func:`~espresso_static.website.cache_keys.output_tables`, once per snapshot,
        the query of each model's rows compiled once: a nightly build asks for the tables
        of every download and status page (and of their keys) in turn."""
        return self._once(output_tables, view, tuple(models_read), read_by=self._rows_read)

    def _rows_read(self, view, model) -> list:
        return self._once(rows_read, view, model)

    def _once(self, function, *args, **options):
        """``function(*args, **options)`` (never None) once per snapshot: each compiles
        SQL. ``options`` change how the result is found, not what it is."""
        if (found := self.signatures.get((function, *args))) is None:
            found = self.signatures[function, *args] = function(*args, **options)
        return found

    def new_snapshot(self) -> None:
        """Forget the fingerprints: a new read transaction may see other data."""
        self.fingerprints.clear()
        self.signatures.clear()  # a row filter's SQL may hold values read then (a time)
        self.logged = None

    def fingerprint(self, model) -> str:
        """The content fingerprint of ``model``'s table (once per build): a digest of
        its change log when the triggers log it, else of all its rows."""
        table = model._meta.db_table
        if table not in self.fingerprints:
            if self.logged is None:
                self.logged = changelog.logged_tables(model._default_manager.db)
            if table in self.logged:
                self.fingerprints[table] = changelog.log_fingerprint(table)
            else:
                self.fingerprints[table] = table_fingerprint(model)
        return self.fingerprints[table]

    # -- entries ----------------------------------------------------------------------

    def load(self, key: str, counted: bool = True):
        """The value stored under ``key`` (None: not stored, not read (``reuse``), or the
        cache is off); ``counted``: it is an output reused as it is (not a state to
        bring up to date)."""
        if not self.enabled:
            return None
        value = self._read(key) if self.reuse else None
        if counted:
            self.count(REBUILT if value is None else REUSED)
        return value

    def _read(self, key: str):
        try:
            return pickle.loads((self._entry(key) / VALUE).read_bytes())
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            return None

    def count(self, outcome: str, detail: str = "") -> None:
        """Report what became of an output: :data:`REUSED` as stored, :data:`UPDATED`
        (brought up to date in parts; ``detail`` says how much, e.g. "3 of 40
        segments") or :data:`REBUILT`. :meth:`load` counts reuses and rebuilds
        itself; an output loaded uncounted (a part, a state) is counted by its caller."""
        if self.enabled:
            self.outcomes.append((outcome, detail))

    def has(self, key: str) -> bool:
        """Whether a value is stored under ``key`` (not counted as a use)."""
        return self.enabled and self.reuse and (self._entry(key) / VALUE).is_file()

    def files(self, key: str) -> Path:
        """The folder of files stored with the value of ``key``."""
        return self._entry(key) / FILES

    def compiled_templates(self, env):
        """A store of ``env``'s compiled templates (None: the cache is disabled):
        compiling the theme's templates is a third of MkDocs' time on a small site. A
        template is recompiled when its source changes (Jinja checks); one folder per
        configuration of the environment, on which the compiled code depends."""
        if not self.enabled:
            return None
        folder = self.folder / TEMPLATES / environment_signature(env)
        folder.mkdir(parents=True, exist_ok=True)
        return _compiled_templates_store(str(folder))

    def store(self, slot: str, key: str, value, files: Path | None = None) -> None:
        """Store ``value`` (and a copy of the folder ``files``) under ``key``, replacing
        the entry ``slot`` held before."""
        if not self.enabled:
            return
        with _NewEntry(self, slot, key) as folder:
            if files is not None:
                link_tree(files, folder / FILES)
            # The value last: an entry with a value is complete.
            (folder / VALUE).write_bytes(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))

    def store_state(self, slot: str, key: str, value, files: Path | None = None) -> None:
        """Store ``value``, a state brought up to date from the change log under a key
        without content (``key(..., content=False)``), as ``slot``'s new entry (found again
        by :meth:`load_state`)."""
        self.store_new(slot, (key, value), files)

    def store_new(self, slot: str, value, files: Path | None = None) -> str:
        """Store ``value`` (and ``files``) as ``slot``'s new entry, under a key of its own
        (returned: a state names its parts' entries by it)."""
        key = hashlib.blake2b(f"{slot} {uuid.uuid4().hex}".encode(), digest_size=20).hexdigest()
        self.store(slot, key, value, files)
        return key

    def load_state(self, slot: str, key: str):
        """``(value, folder of its files)`` of the state :meth:`store_state` last stored in
        ``slot`` under ``key``; None: none, or one of another key (schema, code)."""
        if not self.enabled:
            return None
        entry = _pointed_to(self._slot_pointer(slot))
        stored = self.load(entry, counted=False) if entry else None
        if not isinstance(stored, tuple) or stored[0] != key:
            return None
        return stored[1], self.files(entry)

    # -- layout -----------------------------------------------------------------------

    def _entry(self, key: str) -> Path:
        return self.folder / "entries" / key[:2] / key

    def _replace_slot(self, slot: str, key: str) -> None:
        """Point ``slot`` to ``key`` and remove the entry it pointed to before."""
        pointer = self._slot_pointer(slot)
        pointer.parent.mkdir(parents=True, exist_ok=True)
        previous = _pointed_to(pointer)
        if pointer.is_dir() and not pointer.is_symlink():
            # A copy of the cache that followed the links (cp -rL, an archive that
            # stores no links) left the entry itself here: a link cannot replace it.
            self._discard(pointer)
        _point(pointer, self._entry(key))
        if previous and previous != key:
            self._discard(self._entry(previous))

    def _discard(self, entry: Path) -> None:
        """Remove ``entry`` in the background: unlinking a large file takes milliseconds
        on a busy disk (0.3-2.5 s for the 41 parts of a table a sync patched, on the
        400k demo). Moved first into ``trash/`` (a rename): no reader sees it half
        removed, and what a build leaves there when it ends, the next one removes."""
        trash = self.folder / TRASH / f"{entry.name}.{uuid.uuid4().hex}"
        try:
            trash.parent.mkdir(exist_ok=True)
            entry.rename(trash)
        except OSError:  # gone already (a concurrent build)
            return
        remove_later(trash)

    def _slot_pointer(self, slot: str) -> Path:
        return self.folder / "slots" / hashlib.blake2b(slot.encode(), digest_size=16).hexdigest()


class _NewEntry:
    """Build an entry in a temporary folder; on success rename it into place."""

    def __init__(self, cache: BuildCache, slot: str, key: str):
        self.cache, self.slot, self.key = cache, slot, key

    def __enter__(self) -> Path:
        final = self.cache._entry(self.key)
        final.parent.mkdir(parents=True, exist_ok=True)
        self.temporary = Path(tempfile.mkdtemp(prefix=".new-", dir=final.parent))
        return self.temporary

    def __exit__(self, kind, error, traceback) -> None:
        if kind is not None:
            shutil.rmtree(self.temporary, ignore_errors=True)
            return
        final = self.cache._entry(self.key)
        if (final / VALUE).is_file() and not (self.temporary / FILES).exists():
            # A value alone (e.g. the audit's state, keyed without the data it followed
            # up to its mark): the new one replaces it, in one rename a reader sees
            # whole or not at all. Kept, it would pin every later build to its mark.
            (self.temporary / VALUE).replace(final / VALUE)
            shutil.rmtree(self.temporary, ignore_errors=True)
        elif (final / VALUE).is_file():
            # A concurrent build stored the same key (the same content, keys being
            # fingerprints) and may be reading its files right now: keep theirs.
            shutil.rmtree(self.temporary, ignore_errors=True)
        else:
            shutil.rmtree(final, ignore_errors=True)  # never complete: no value in it
            try:
                self.temporary.rename(final)
            except OSError:  # a concurrent build renamed the same entry in: keep theirs
                shutil.rmtree(self.temporary, ignore_errors=True)
        self.cache._replace_slot(self.slot, self.key)


def _compiled_templates_store(folder: str):
    """Jinja's store of compiled templates in ``folder``, a file of which it cannot
    read (cut short) compiled again: Jinja checks a file's source digest with
    ``pickle``, outside the guard it has for the code after it."""
    from jinja2 import FileSystemBytecodeCache

    class CompiledTemplates(FileSystemBytecodeCache):
        def load_bytecode(self, bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except (pickle.UnpicklingError, EOFError, ValueError):
                bucket.reset()

    return CompiledTemplates(folder)


def open_cache(root: Path, enabled: bool = True) -> BuildCache:
    """The cache of the project at ``root`` (disabled: ``--no-cache``); what an earlier
    build left in its trash is removed in the background."""
    folder = root / CACHE_DIR
    if not enabled:
        return BuildCache(None)
    if (folder / TRASH).is_dir():
        for path in (folder / TRASH).iterdir():
            remove_later(path)
    code_fingerprint()  # read once here: the worker processes forked later inherit it
    return BuildCache(folder)


def link_tree(source: Path, target: Path) -> None:
    """Copy the files of ``source`` into ``target`` as hard links (copies across file
    systems). Outputs are never changed in place, so sharing their bytes is safe."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.rglob("*")):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(exist_ok=True)
        else:
            link_file(path, destination)


def link_file(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)


def _point(pointer: Path, entry: Path) -> None:
    """Make ``pointer`` name ``entry``, atomically: a symbolic link (relative, so the
    cache can move) renamed over the old one. Not a file written and renamed: renaming
    a written file over another makes ext4 flush it to disk first (``auto_da_alloc``),
    3-16 ms each on a busy disk, and a sync's build replaces dozens of pointers."""
    temporary = pointer.with_name(f".{pointer.name}.{uuid.uuid4().hex}")
    try:
        os.symlink(os.path.relpath(entry, pointer.parent), temporary)
    except OSError:  # a file system without symbolic links
        temporary.write_text(entry.name)
    temporary.replace(pointer)


def _pointed_to(pointer: Path) -> str:
    """The key of the entry ``pointer`` names; "" when there is none. Reads the files
    of :func:`_point`'s fallback and of earlier versions too."""
    if pointer.is_symlink():
        return Path(os.readlink(pointer)).name
    if pointer.is_file():
        return pointer.read_text().strip()
    return ""  # none, or a folder left by a copy that followed the links
