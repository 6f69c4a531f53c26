"""Publishing a site so that no moment of a build leaves a broken one behind.

``build-site`` builds into a staging folder beside the target, named after its
process (``.espresso-static-build-<pid>-<random>``), and swaps it in with one atomic
``renameat2(RENAME_EXCHANGE)`` where Linux offers it: a build killed at any moment
(``SIGKILL``, a power cut) leaves either the old site or the new one in place, never
a half. Staging folders of builds that died are removed by the next build.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STAGING_PREFIX = ".espresso-static-build-"
#: Suffix of the old site while the fallback swap (two renames) is under way.
PREVIOUS_SUFFIX = "-previous"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@dataclass(frozen=True)
class Cleanup:
    """What :func:`remove_stale_staging` did."""

    removed: tuple[Path, ...]
    #: The previous site, put back where a build died between the fallback's renames.
    restored: Path | None = None


def make_staging(parent: Path) -> Path:
    """A new, empty staging folder in ``parent`` marked with this process's id, with
    the permissions of any new folder (the umask's): it becomes the published site,
    which a web server running as another user reads (``mkdtemp`` would make it 0700)."""
    while True:
        staging = parent / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            staging.mkdir()
        except FileExistsError:
            continue
        return staging


def remove_stale_staging(target: Path) -> Cleanup:
    """Remove the staging folders beside ``target`` left by builds that are no longer
    running; if ``target`` is missing and a dead build's copy of it survives, restore it."""
    removed, restored = [], None
    for folder in sorted(target.parent.glob(f"{STAGING_PREFIX}*")):
        if not folder.is_dir() or _owner_is_running(folder.name):
            continue
        if folder.name.endswith(PREVIOUS_SUFFIX) and not target.exists():
            folder.rename(target)
            restored = target
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return Cleanup(tuple(removed), restored)


def _owner_is_running(name: str) -> bool:
    pid_text = name.removeprefix(STAGING_PREFIX).split("-", 1)[0]
    if not pid_text.isdigit():  # not named by a build of ours: nobody owns it
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # this process builds one site at a time: it is a leftover
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def swap_in(staging: Path, target: Path) -> None:
    """Make ``staging`` the published ``target``; the old site is removed afterwards."""
    with swapped_in(staging, target):
        pass


@contextmanager
def swapped_in(staging: Path, target: Path) -> Iterator[None]:
    """``staging`` is the published ``target`` inside the block, and stays so if the
    block ends well; if it raises, the previous site is put back (none: the new one is
    removed): what runs once a site is published (recording the build) can fail
    without a failing build leaving its site published."""
    if not target.exists():
        staging.rename(target)
        try:
            yield
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return
    if _exchange(staging, target):
        old = staging  # now holds the previous site
        try:
            yield
        except BaseException:
            _exchange(old, target)
            shutil.rmtree(old, ignore_errors=True)  # the new site, taken back
            raise
        shutil.rmtree(old)
        return
    previous = staging.with_name(staging.name + PREVIOUS_SUFFIX)
    target.rename(previous)
    try:
        staging.rename(target)
    except OSError:
        previous.rename(target)
        raise
    try:
        yield
    except BaseException:
        target.rename(staging)
        previous.rename(target)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(previous)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where unsupported."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # file system or kernel lacks it
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))
