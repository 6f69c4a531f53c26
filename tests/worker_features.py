"""Project features whose collect step runs in a worker process (``concurrent``): one
telling where it ran and what it read, one failing, one killed (tests/test_workers.py)."""

import errno
import os
import signal
from dataclasses import dataclass

from espresso_static.website.context import Page
from espresso_static.website.feature import Feature

#: The environment variable naming the process the test runs in (the build's).
BUILD_PID = "ESPRESSO_TEST_BUILD_PID"


@dataclass(frozen=True)
class Seen:
    pid: int
    files: int
    #: What the build read of the schema and its provenance (in the worker: read there).
    site: str


class WhereCollected(Feature[Seen]):
    name = "where collected"
    concurrent = True

    def on_collect(self, build):
        from models.demo.models import DataFile

        with build.part() as line:
            with build.counter(3, "counting") as update:
                files = build.view.queryset(DataFile).count()
                update(3)
            line.append(f"{files} files counted")
        site = f"{build.site.total_rows} rows, data as of {build.provenance.snapshot}"
        return Seen(os.getpid(), files, site)

    def on_files(self, site, context, data):
        here = "worker" if data.pid != int(os.environ[BUILD_PID]) else "build"
        return [
            Page(
                "where.md",
                f"# Where\n\ncollected in the {here}: {data.files} files; the site: {data.site}\n",
                "Where",
            )
        ]


class FailingPart(Feature):
    name = "failing part"
    concurrent = True

    def on_collect(self, build):
        raise ValueError("no run 42 in the\ncampaign")


class KilledPart(Feature):
    name = "killed part"
    concurrent = True

    def on_collect(self, build):
        os.kill(os.getpid(), signal.SIGKILL)


class SlowPart(Feature):
    """Writes its pid to ``ESPRESSO_TEST_MARKER``, then takes a minute."""

    name = "slow part"
    concurrent = True

    def on_collect(self, build):
        import time
        from pathlib import Path

        # Written whole, then renamed: the test never reads it half written.
        marker = Path(os.environ["ESPRESSO_TEST_MARKER"])
        marker.with_suffix(".tmp").write_text(str(os.getpid()))
        marker.with_suffix(".tmp").rename(marker)
        time.sleep(60)


class FullDiskPart(Feature):
    """Fails as a build does when the disk it writes to is full."""

    name = "full disk part"
    concurrent = True

    def on_collect(self, build):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class LockedPart(Feature):
    """Fails as a build does when a writer holds the SQLite file."""

    name = "locked part"
    concurrent = True

    def on_collect(self, build):
        from django.db import OperationalError

        raise OperationalError("database is locked")
