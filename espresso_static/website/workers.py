"""Collect parts run side by side: each in a worker process forked from the build,
reading the build's one snapshot of the database.

The expensive parts of the collect step (the data-health audit, the downloads) read
the database and write files of their own: a feature that says so
(``Feature.concurrent``) collects in a worker while the build collects the others. Its
data, report lines and row warnings come back through a pipe and are taken in feature
order, so a build writes and reports what a serial build does.

* One snapshot: a worker reads the build's (:meth:`.consistent_read.ReadSnapshot.share`).
  Where it cannot be shared, the build collects everything itself.
* Connections: a worker never uses or closes the connections it inherits (closing one
  would end the build's PostgreSQL session): it opens its own, and ends with
  ``os._exit`` (no finalizer runs on the inherited ones).
* Failures: an error in a worker stops the build with one line naming the part; an
  error or Ctrl-C in the build ends every worker (SIGTERM) before anything is
  published; a worker dies with its build (``PR_SET_PDEATHSIG``) and ignores Ctrl-C
  (the build decides).
* Progress: the build shows a worker's progress bars while it waits for it.
* A process of its own: a part may set a worker up for itself alone
  (:func:`in_worker`; the downloads tell pyarrow pandas is absent).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import itertools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, Pipe

from django.db import connections

from espresso_static.exceptions import EspressoStaticError
from espresso_static.project.database_errors import error_line
from espresso_static.website.consistent_read import consistent_read

#: A worker sends progress at most this often (seconds).
PROGRESS_EVERY = 0.2
#: How long a build waits for the pipe of a worker that ended to be read to its end.
READ_TO_END = 5.0
#: Linux ``prctl`` option: the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1
#: The connections a worker inherited: kept referenced so that they are never closed.
_INHERITED: list = []
#: Whether this process is a worker (set in the worker by :func:`start`).
_IN_WORKER = False


def in_worker() -> bool:
    """Whether this process is a worker: it runs one part, then exits, so that part may
    set the process up for itself alone."""
    return _IN_WORKER


def workers_possible() -> bool:
    """Whether running parts side by side can help: ``fork`` and more than one CPU."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return hasattr(os, "fork") and (cpus or 1) > 1


@dataclass
class _Bar:
    label: str
    total: int
    done: int = 0
    ended: bool = False


class Worker:
    """One part collected in a forked process (see :func:`start`)."""

    def __init__(self, name: str, pid: int, reader: Connection):
        self.name, self.pid = name, pid
        self._reader = reader
        self._bars: list[_Bar] = []
        #: ``("done", value)`` or ``("error", one line)``, once the worker said.
        self._outcome: tuple | None = None
        self._changed = threading.Condition()
        self._drain = threading.Thread(target=self._receive, daemon=True)
        self._reaped = False

    def listen(self) -> None:
        """Start reading what the worker sends (after every fork: none with threads)."""
        self._drain.start()

    def _receive(self) -> None:
        try:
            while True:
                message = self._reader.recv()
                with self._changed:
                    if message[0] == "bar":
                        self._bars.append(_Bar(message[1], message[2]))
                    elif message[0] == "update":
                        self._bars[-1].done += message[1]
                    elif message[0] == "end":
                        self._bars[-1].ended = True
                    else:
                        self._outcome = message
                    self._changed.notify_all()
                if self._outcome is not None:
                    return
        except (EOFError, OSError):  # ended without a word: killed
            with self._changed:
                self._outcome = ("error", "its worker process ended without a result")
                self._changed.notify_all()

    @property
    def failed(self) -> str | None:
        """The worker's error, if it ended with one."""
        with self._changed:
            outcome = self._outcome
        return outcome[1] if outcome and outcome[0] == "error" else None

    def result(self, counter):
        """Wait for the worker, showing its progress bars with ``counter`` (a
        :data:`~espresso_static.website.feature.ProgressBar`); what its function
        returned. Its error is raised as one line naming the part."""
        for index in itertools.count():
            with self._changed:
                self._changed.wait_for(functools.partial(self._said, index))
                bar = self._bars[index] if len(self._bars) > index else None
            if bar is None:
                break
            self._show(bar, counter)
        self._reap()
        kind, value = self._outcome
        if kind == "error":
            raise EspressoStaticError(f"{self.name}: {value}")
        return value

    def _said(self, bars: int) -> bool:
        """Whether the worker ended or started more than ``bars`` progress bars."""
        return self._outcome is not None or len(self._bars) > bars

    def _show(self, bar: _Bar, counter) -> None:
        with counter(bar.total, bar.label) as update:
            shown = 0
            while True:
                with self._changed:
                    self._changed.wait_for(functools.partial(self._moved, bar, shown))
                    done, over = bar.done, bar.ended or self._outcome is not None
                update(done - shown)
                shown = done
                if over:
                    return

    def _moved(self, bar: _Bar, shown: int) -> bool:
        return bar.done != shown or bar.ended or self._outcome is not None

    def stop(self) -> None:
        """End the worker now (the build failed or was interrupted)."""
        if not self._reaped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            self._reap()

    def _reap(self) -> None:
        if not self._reaped:
            os.waitpid(self.pid, 0)
            self._reaped = True
            if self._drain.ident is not None:
                # Closed under the reading thread, the pipe would make its recv() raise
                # TypeError; the worker gone, that thread reads to the pipe's end.
                self._drain.join(timeout=READ_TO_END)
                if self._drain.is_alive():  # a child of the worker holds the pipe: leave it
                    return
            self._reader.close()


def side_by_side(
    name: str, functions: list[Callable], snapshot: str | None, progress: Callable | None
) -> list:
    """``[function(progress) for function in functions]``: the first in this process,
    each other in a worker reading ``snapshot`` (None: all here); ``progress(n)``, if
    any, is advanced by all of them. An error names the part ``name``."""
    progress = progress or (lambda done: None)
    if snapshot is None or len(functions) < 2:  # none to share (a project without checks)
        return [function(progress) for function in functions]
    workers = []
    try:
        for function in functions[1:]:
            workers.append(start(name, functools.partial(_one_bar, function), snapshot))
        for worker in workers:
            worker.listen()
        results = [functions[0](progress)]
        return results + [
            worker.result(lambda *_: contextlib.nullcontext(progress)) for worker in workers
        ]
    finally:
        for worker in workers:
            worker.stop()


def _one_bar(function: Callable, counter) -> object:
    with counter(0, "") as update:  # advances the bar of the process waiting for it
        return function(update)


def start(name: str, function: Callable, snapshot: str) -> Worker:
    """Fork a worker that calls ``function(counter)`` in ``consistent_read(joining=
    snapshot)`` and sends back what it returns (picklable); ``counter`` is a
    :data:`~espresso_static.website.feature.ProgressBar` whose bars the build shows.
    Call :meth:`Worker.listen` once every worker is started."""
    reader, writer = Pipe(duplex=False)
    parent = os.getpid()
    sys.stdout.flush(), sys.stderr.flush()  # nothing buffered is written twice
    # What lives now lives for the build: the build's garbage collections skip it
    # (after a 1% sync they took a third of the time), and a worker's never touch its
    # pages (no copy on write).
    gc.freeze()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (runs in the worker; its results are tested)
        reader.close()
        _work(function, snapshot, writer, parent)
    writer.close()
    return Worker(name, pid, reader)


def _work(function: Callable, snapshot: str, channel: Connection, parent: int) -> None:
    """The worker's life: never returns."""
    global _IN_WORKER
    _IN_WORKER, status = True, 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _die_with(parent)
        for alias in list(connections):
            if hasattr(connections._connections, alias):
                _INHERITED.append(connections[alias])
                del connections[alias]  # the next use opens a connection of its own
        with consistent_read(joining=snapshot):
            value = function(_Progress(channel).counter)
        channel.send(("done", value))
        status = 0
    except BaseException as error:  # everything reaches the build, as one line
        with contextlib.suppress(Exception):  # the build sees the pipe closed then
            channel.send(("error", error_line(error)))
    finally:
        with contextlib.suppress(Exception):  # os._exit flushes nothing
            sys.stdout.flush(), sys.stderr.flush()
        os._exit(status)


def _die_with(parent: int) -> None:
    """Have the kernel end this process when the build dies (Linux)."""
    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


class _Progress:
    """A worker's progress bars, sent to the build (updates at most every
    :data:`PROGRESS_EVERY` seconds)."""

    def __init__(self, channel: Connection):
        self._channel = channel

    def counter(self, total: int, label: str):
        return _SentBar(self._channel, total, label)


class _SentBar:
    def __init__(self, channel: Connection, total: int, label: str):
        self._channel, self._total, self._label = channel, total, label
        self._pending, self._sent_at = 0, 0.0

    def __enter__(self) -> Callable[[int], None]:
        self._channel.send(("bar", self._label, self._total))
        return self._update

    def _update(self, done: int) -> None:
        self._pending += done
        now = time.monotonic()
        if now - self._sent_at >= PROGRESS_EVERY:
            self._channel.send(("update", self._pending))
            self._pending, self._sent_at = 0, now

    def __exit__(self, *exc) -> None:
        if self._pending:
            self._channel.send(("update", self._pending))
        self._channel.send(("end",))
