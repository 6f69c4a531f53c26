"""``espresso-static nightly``: the nightly job of a project in one command, the same in
any CI and under cron on a cluster login node.

Steps, each a command of its own run from the project folder, its output relayed::

    migrate    espresso-static migrate
    sync       the project's sync command (--sync), e.g. ci/sync.sh
    snapshot   espresso-static snapshot            (skipped when no model declares progress)
    check      espresso-static check               (errors fail the night, warnings do not)
    build      build-site --audience NAME          (every audience, into staging folders)
    publish    every audience's site swapped in at once, only when all were built
    prune      espresso-static prune-log           (after publishing: a failure is only told)

The first step that fails ends the night: nothing is published, so every audience's
site stays as the last good night left it, and the exit code names the step
(:data:`EXIT_CODES`). The failure becomes an error notification (internal audiences
only) that the next successful build shows: "The sync of 2026-12-03 failed at step
check". When the database cannot take it (it may be what failed), the failure waits
in :data:`PENDING_FILE` in the project until a night can record it.

Secrets: the database password never reaches the log — in every relayed line the
database URL and its ``user:password@`` are masked (``***``); other secrets stay in
the CI's secret store, which masks them in its logs.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from espresso_static.exceptions import EspressoStaticError
from espresso_static.project.config import ProjectConfig, redact

#: The exit code of a night whose step failed (0: every step succeeded; 1: the night
#: could not start, e.g. another one is running; 2: wrong usage).
EXIT_CODES = {"migrate": 3, "sync": 4, "snapshot": 5, "check": 6, "build": 7, "publish": 7}


def exit_codes_text() -> str:
    """The exit codes of a failed night, for help texts: ``3 migrate, 4 sync, ...``."""
    by_code: dict[int, list[str]] = {}
    for step, code in EXIT_CODES.items():
        by_code.setdefault(code, []).append(step)
    return ", ".join(f"{code} {' or '.join(steps)}" for code, steps in by_code.items())


#: Failures the database could not take, recorded by the next night that reaches it.
PENDING_FILE = ".espresso-static-nightly-failures.json"
LOCK_FILE = ".espresso-static-nightly.lock"
NOTIFICATION_TAG = "nightly"
#: How the night runs this installation's own commands.
OURS = [sys.executable, "-m", "espresso_static"]
MASK = "***"


@dataclass(frozen=True)
class Failure:
    """A night that stopped at ``step``."""

    started: datetime
    step: str
    exit_code: int
    failed_at: datetime

    @property
    def title(self) -> str:
        return f"The sync of {self.started:%Y-%m-%d} failed at step {self.step}"

    @property
    def message(self) -> str:
        return (
            f"The nightly run started {self.started:%Y-%m-%d %H:%M} UTC stopped at step "
            f"`{self.step}` at {self.failed_at:%H:%M} UTC (exit code {self.exit_code}). "
            "Nothing was published that night: the site kept the data of the last good "
            "night until this build. The job's log has the details."
        )

    def as_json(self) -> dict:
        return {
            "started": self.started.isoformat(),
            "step": self.step,
            "exit_code": self.exit_code,
            "failed_at": self.failed_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict) -> Failure:
        return cls(
            datetime.fromisoformat(data["started"]),
            data["step"],
            int(data["exit_code"]),
            datetime.fromisoformat(data["failed_at"]),
        )


@dataclass(frozen=True)
class Step:
    name: str
    command: list[str]
    #: Why the step has nothing to do tonight (it is then not run).
    skipped: str = ""


def run_nightly(
    config: ProjectConfig,
    sync: str,
    echo: Callable[[str], None],
    has_progress: Callable[[], bool],
) -> int:
    """Run the night's steps for ``config`` (see the module's documentation) and return
    its exit code. ``sync`` is the sync command line (run by the shell-free splitter
    :func:`shlex.split`, from the project folder); ``has_progress`` tells whether a
    model declares progress (else there is nothing to snapshot)."""
    started = datetime.now(UTC).replace(microsecond=0)
    sync_command = _sync_command(sync)
    secrets = _secrets(config.database_url)
    with _lock(config.root):
        echo(
            f"nightly {started:%Y-%m-%d %H:%M} UTC: project {config.root}, "
            f"database {redact(config.database_url)}"
        )
        stagings: list[Path] = []
        step_name = "migrate"
        try:
            for step in _steps(config, sync_command, has_progress, stagings):
                step_name = step.name
                if _run_step(step, config.root, echo, secrets) != 0:
                    failure = Failure(started, step.name, EXIT_CODES[step.name], _now())
                    return _fail(config, failure, echo)
                if step.name == "migrate":
                    _record_pending(config.root, echo)
            step_name = "publish"
            published = _publish(config, stagings, echo)
            prune = Step("prune", [*OURS, "prune-log", "--project", str(config.root)])
            if _run_step(prune, config.root, echo, secrets) != 0:
                # The sites are out: a log left unpruned costs a little, it breaks nothing.
                echo("nightly  the change log stays as it was; the next night prunes it")
        except OSError as error:  # a staging folder or a swap the file system refused
            echo(f"{step_name:<8} FAILED: {error}")
            failure = Failure(started, step_name, EXIT_CODES[step_name], _now())
            return _fail(config, failure, echo)
        finally:
            for folder in stagings:
                shutil.rmtree(folder, ignore_errors=True)
    echo(f"nightly  done: published {', '.join(published)}")
    return 0


def _sync_command(sync: str) -> list[str]:
    try:
        command = shlex.split(sync)
    except ValueError as error:
        raise EspressoStaticError(f"--sync {sync!r}: {error}.") from None
    if not command:
        raise EspressoStaticError("--sync is empty: name the sync command, e.g. ci/sync.sh.")
    return command


def _steps(
    config: ProjectConfig, sync: list[str], has_progress, stagings: list[Path]
) -> Iterator[Step]:
    """The steps in order; a build's staging folder (beside its site, so that
    publishing is a rename) is appended to ``stagings`` when its step comes."""
    from espresso_static.website.publish import make_staging

    project = ["--project", str(config.root)]
    yield Step("migrate", [*OURS, "migrate", *project])
    yield Step("sync", sync)
    nothing = "" if has_progress() else "no model declares its progress"
    yield Step("snapshot", [*OURS, "snapshot", *project], skipped=nothing)
    yield Step("check", [*OURS, "check", *project])
    for name, audience in config.audiences.items():
        audience.site_dir.parent.mkdir(parents=True, exist_ok=True)
        stagings.append(make_staging(audience.site_dir.parent))
        out = stagings[-1] / name
        # Recorded as the audience's site, where publishing puts it: its next build's
        # Changes page starts from this one.
        where = ["--out", str(out), "--published-as", str(audience.site_dir)]
        yield Step("build", [*OURS, "build-site", *project, "--audience", name, *where])


def _run_step(step: Step, root: Path, echo, secrets: list[str]) -> int:
    """Run ``step`` from ``root``, relaying its output line by line (secrets masked)."""
    if step.skipped:
        echo(f"{step.name:<8} skipped: {step.skipped}")
        return 0
    shown = " ".join(shlex.quote(part) for part in _short(step.command))
    echo(f"{step.name:<8} $ {_mask(shown, secrets)}")
    started = time.perf_counter()
    env = {**os.environ, "PATH": _path_with_our_scripts()}
    try:
        process = subprocess.Popen(
            step.command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", bufsize=1,
        )  # fmt: skip
    except OSError as error:
        echo(f"{step.name:<8} FAILED: cannot run {step.command[0]}: {error.strerror}")
        return 127
    with process:
        for line in process.stdout:
            echo(f"    {_mask(line.rstrip(), secrets)}")
    seconds = time.perf_counter() - started
    if process.returncode == 0:
        echo(f"{step.name:<8} ok ({seconds:.1f} s)")
    else:
        echo(f"{step.name:<8} FAILED with exit code {process.returncode} ({seconds:.1f} s)")
    return process.returncode


def _short(command: list[str]) -> list[str]:
    """Our own commands as a user types them (``espresso-static check``)."""
    if command[:3] == OURS:
        return ["espresso-static", *command[3:]]
    return command


def _path_with_our_scripts() -> str:
    """PATH with the folder of this Python's scripts first: a sync script calling
    ``espresso-static`` finds this installation even under cron's minimal PATH."""
    scripts = str(Path(sys.executable).parent)
    return os.pathsep.join([scripts, os.environ.get("PATH", os.defpath)])


def _publish(config: ProjectConfig, stagings: list[Path], echo) -> list[str]:
    """Swap every audience's freshly built site in (each atomically where possible)."""
    from espresso_static.website.publish import swap_in

    published = []
    for (name, audience), staging in zip(config.audiences.items(), stagings, strict=True):
        swap_in(staging / name, audience.site_dir)
        published.append(f"{name} → {audience.site_dir}")
        echo(f"publish  {name} → {audience.site_dir}")
    return published


def _fail(config: ProjectConfig, failure: Failure, echo) -> int:
    echo(
        f"nightly  FAILED at step {failure.step} (exit code {failure.exit_code}): nothing "
        "published, every site stays as the last good night left it"
    )
    if failure.step in ("build", "publish"):
        try:
            _forget_builds(config, failure.started)
        except Exception as error:  # the database may be what failed
            echo(
                f"nightly  could not remove the records of this night's builds "
                f"({type(error).__name__}): the next Changes pages start from them"
            )
    try:
        _notify(failure)
    except Exception as error:  # the database may be what failed: keep it for later
        pending = _pending(config.root)
        _write_pending(config.root, [*pending, failure])
        echo(
            f"nightly  could not record the failure in the database ({type(error).__name__}); "
            f"kept in {config.root / PENDING_FILE} for the next night"
        )
    else:
        echo("nightly  recorded as an error notification: the next successful build shows it")
    return failure.exit_code


def _forget_builds(config: ProjectConfig, started: datetime) -> None:
    """Remove the records of the builds of this night (they were not published): the
    next night's Changes pages start from the sites as published."""
    from django.db import connections

    from espresso_static.models import BuildRecord
    from espresso_static.website.features.changes import site_key

    sites = [site_key(audience.site_dir, config.root) for audience in config.audiences.values()]
    try:
        BuildRecord.objects.filter(site__in=sites, built_at__gte=started).delete()
    finally:
        connections.close_all()  # the next steps are other processes: hold no connection


def _notify(failure: Failure) -> None:
    from django.db import connections

    from espresso_static.data.notify import Notifier

    try:
        Notifier(tag=NOTIFICATION_TAG).error(failure.message, title=failure.title)
    finally:
        connections.close_all()  # the next steps are other processes: hold no connection


def _record_pending(root: Path, echo) -> None:
    """Notifications of earlier failures the database could not take then."""
    pending = _pending(root)
    for number, failure in enumerate(pending):
        try:
            _notify(failure)
        except Exception as error:  # still unreachable: keep what is left for later
            _write_pending(root, pending[number:])
            echo(f"nightly  could not record earlier failures yet ({type(error).__name__})")
            return
        echo(f"nightly  recorded the earlier failure: {failure.title}")
    if pending:
        (root / PENDING_FILE).unlink()


def _pending(root: Path) -> list[Failure]:
    path = root / PENDING_FILE
    if not path.is_file():
        return []
    try:
        return [Failure.from_json(item) for item in json.loads(path.read_text(encoding="utf-8"))]
    except (ValueError, KeyError, TypeError) as error:
        raise EspressoStaticError(
            f"{path}: not a list of failed nights ({error}); remove it."
        ) from error


def _write_pending(root: Path, failures: list[Failure]) -> None:
    path = root / PENDING_FILE
    path.write_text(json.dumps([f.as_json() for f in failures], indent=1) + "\n", encoding="utf-8")


def _secrets(database_url: str) -> list[str]:
    """What must never reach the log: the database URL and its ``:password@`` (as
    written and URL-decoded), longest first so that a URL is masked whole. (Not the
    bare password: a short one would mask parts of ordinary words.)"""
    password = urlsplit(database_url).password if "://" in database_url else None
    if not password:
        return []
    values = {database_url, f":{password}@", f":{unquote(password)}@"}
    return sorted(values, key=len, reverse=True)


def _mask(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK if "://" in secret else f":{MASK}@")
    return text


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@contextmanager
def _lock(root: Path) -> Iterator[None]:
    """One night at a time per project (cron may start one while the last still runs)."""
    path = root / LOCK_FILE
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EspressoStaticError(
                f"Another nightly run of {root} is still running (it holds {path})."
            ) from None
        yield
