"""Folders removed in the background.

Unlinking a large file takes milliseconds on a busy disk: the cache's replaced
entries (:meth:`espresso_static.website.cache.BuildCache._discard`) are removed by a
thread of the build's process while the build goes on.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
from pathlib import Path


class _Remover:
    """Removes folders in a thread of this process (a daemon: a build does not wait
    for it to end; the caller leaves what must survive that where it is found again)."""

    def __init__(self):
        self.pid: int | None = None

    def remove(self, path: Path) -> None:
        if self.pid != os.getpid():  # the first, or a forked worker: a thread of its own
            self.pid, self.queue = os.getpid(), queue.SimpleQueue()
            threading.Thread(target=self._run, name="removal", daemon=True).start()
        self.queue.put(path)

    def _run(self) -> None:
        while True:
            shutil.rmtree(self.queue.get(), ignore_errors=True)


_REMOVER = _Remover()


def remove_later(path: Path) -> None:
    """Remove the folder ``path`` in the background."""
    _REMOVER.remove(path)
