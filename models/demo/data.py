"""Deterministic, realistic demo data for the ``models.demo`` app.

``generate(files=N)`` replaces the demo tables' content with the same rows for the
same ``files`` and ``seed``: six ensembles in three streams, their gauge
configurations, a few fermion actions (one of each specialization), propagators and
correlators on every second configuration that has files, and ``files`` output-file
rows whose status is mostly done on old configurations and mostly missing on the
newest ones.

Everything but the files grows with ``files`` (one configuration per stream for every
144 files): ``files=400_000`` writes ~650,000 rows (50,000 configurations, 150,000
propagators, 50,000 correlators) and 300,000 propagator links, the default 2,000 files
~4,100 rows and 1,500 links. Rows go in with ``bulk_create`` in batches, which skips the
save-time checks: the data are made to pass them (``espresso-static check --tag data``
and the build's Data health page say so).

Dates are relative to the day the demo is generated (``today``): the newest files
were produced yesterday, so the site shows a campaign under way, whenever it is built.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

from django.db import transaction

from espresso_static.models.parameters import current_user

from . import models as demo

DEFAULT_FILES = 2_000
#: The files were produced over this many days, the newest yesterday.
CAMPAIGN_DAYS = 90
#: (name, beta, nx, nt, lattice spacing fm, pion mass MeV, released)
ENSEMBLES = [
    ("a15m310", 5.80, 16, 48, 0.151, 310.0, True),
    ("a12m310", 6.00, 24, 64, 0.121, 310.0, True),
    ("a12m220", 6.00, 32, 64, 0.121, 220.0, True),
    ("a09m310", 6.30, 32, 96, 0.088, 310.0, False),
    ("a09m220", 6.30, 48, 96, 0.088, 220.0, False),
    ("a06m310", 6.72, 48, 144, 0.057, 310.0, False),
]
STREAMS = ("a", "b", "c")
SOURCES_PER_CONFIG = 8
FILES_PER_TRAJECTORY = len(ENSEMBLES) * len(STREAMS) * SOURCES_PER_CONFIG
#: At least this many configurations per stream (generated ahead of the measurements).
GAUGE_CONFIGS_PER_STREAM = 60
FIRST_TRAJECTORY = 300
TRAJECTORY_STEP = 6
#: Propagators are computed on every this-many-th measured configuration.
PROPAGATOR_EVERY = 2
#: Propagators on a configuration: three fermion actions, two source time slices each.
PROPAGATORS_PER_CONFIG = 3 * 2
#: Interpolators of the correlators on each configuration with propagators.
CORRELATOR_INTERPOLATORS = 2
#: Configurations whose propagators and correlators are written together.
CONFIGS_PER_BATCH = 500
BATCH = 5_000


@dataclass(frozen=True)
class Measurements:
    """Rows written on the configurations with propagators."""

    propagators: int
    correlators: int
    links: int


@dataclass(frozen=True)
class DemoSummary:
    ensembles: int
    gauge_configs: int
    actions: int
    propagators: int
    correlators: int
    files: int
    #: Rows of the correlator ↔ propagator relation.
    links: int = 0


def measured_trajectories(files: int) -> int:
    """How many trajectories per stream ``files`` output files cover."""
    return max(1, -(-files // FILES_PER_TRAJECTORY))


def planned_rows(files: int) -> int:
    """About how many rows :func:`generate` writes for ``files`` (for a progress bar)."""
    measured = measured_trajectories(files)
    streams = len(ENSEMBLES) * len(STREAMS)
    configs = streams * max(GAUGE_CONFIGS_PER_STREAM, measured)
    with_propagators = streams * -(-measured // PROPAGATOR_EVERY)
    # Each correlator links every propagator of its configuration.
    per_config = PROPAGATORS_PER_CONFIG * (1 + CORRELATOR_INTERPOLATORS) + CORRELATOR_INTERPOLATORS
    return configs + with_propagators * per_config + files


def campaign_start(today: datetime | None = None) -> datetime:
    """When the first file was produced: :data:`CAMPAIGN_DAYS` before the day before
    ``today`` (default: the current day, UTC), when the newest was."""
    today = (today or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1 + CAMPAIGN_DAYS)


def generate(
    files: int = DEFAULT_FILES,
    seed: int = 2019,
    progress: Callable[[int], None] | None = None,
    today: datetime | None = None,
) -> DemoSummary:
    """Replace the demo tables' rows with generated ones, in one transaction;
    ``progress(n)`` after every batch of ``n`` rows. The same ``files``, ``seed`` and
    ``today`` (default: the current day) give the same rows."""
    rng = random.Random(seed)
    start = campaign_start(today)
    user = current_user("default")
    advance = progress or (lambda done: None)
    with transaction.atomic():
        clear()
        ensembles = [
            demo.Ensemble.objects.create(
                name=name,
                beta=beta,
                nx=nx,
                nt=nt,
                lattice_spacing=a,
                pion_mass=mpi,
                released=released,
                user=user,
            )
            for name, beta, nx, nt, a, mpi, released in ENSEMBLES
        ]
        measured = measured_trajectories(files)
        configs = _gauge_configs(ensembles, max(GAUGE_CONFIGS_PER_STREAM, measured), rng, user)
        written_configs = 0
        for batch in _batches(configs, BATCH):
            demo.GaugeConfig.objects.bulk_create(batch)
            written_configs += len(batch)
            advance(len(batch))
        actions = [
            demo.MobiusDomainWall.objects.create(quark_mass=0.0126, l5=8, m5=1.3, b5=1.5, c5=0.5),
            demo.DomainWall.objects.create(quark_mass=0.0102, l5=12, m5=1.2),
            demo.Hisq.objects.create(quark_mass=0.0102, naik_epsilon=0.0),
        ]
        measurements = _measurements(ensembles, measured, actions, user, advance)
        written = 0
        for batch in _batches(_data_files(ensembles, files, rng, user, start), BATCH):
            demo.DataFile.objects.bulk_create(batch)
            written += len(batch)
            advance(len(batch))
    return DemoSummary(
        ensembles=len(ensembles),
        gauge_configs=written_configs,
        actions=len(actions),
        propagators=measurements.propagators,
        correlators=measurements.correlators,
        files=written,
        links=measurements.links,
    )


def clear() -> None:
    """Delete every demo row (children first, so protected relations allow it)."""
    demo.Correlator.propagators.through.objects.all().delete()
    for model in (
        demo.DataFile,
        demo.Correlator,
        demo.Propagator,
        demo.GaugeConfig,
        demo.FermionAction,
        demo.Ensemble,
    ):
        model.objects.all().delete()


def _gauge_configs(ensembles, per_stream: int, rng: random.Random, user) -> Iterator:
    for ensemble in ensembles:
        for stream in STREAMS:
            for index in range(per_stream):
                yield demo.GaugeConfig(
                    ensemble=ensemble,
                    stream=stream,
                    trajectory=FIRST_TRAJECTORY + TRAJECTORY_STEP * index,
                    plaquette=round(0.55 + 0.01 * ensemble.beta + rng.gauss(0, 1e-4), 6),
                    user=user,
                )


def _measurements(ensembles, measured: int, actions, user, advance) -> Measurements:
    """Propagators (every action, two source times) and correlators (the first
    interpolators, each contracting all propagators of its configuration) on every
    ``PROPAGATOR_EVERY``-th measured configuration, a batch of configurations at a time
    so that memory stays flat."""
    nt = {ensemble.pk: ensemble.nt for ensemble in ensembles}
    measured_configs = (
        demo.GaugeConfig.objects.filter(
            trajectory__lt=FIRST_TRAJECTORY + TRAJECTORY_STEP * measured
        )
        .order_by("pk")
        .values_list("pk", "ensemble_id", "trajectory")
    )
    configs = [
        (pk, ensemble)
        for pk, ensemble, trajectory in measured_configs
        if (trajectory - FIRST_TRAJECTORY) // TRAJECTORY_STEP % PROPAGATOR_EVERY == 0
    ]
    propagators = correlators = links = 0
    for batch in _batches(configs, CONFIGS_PER_BATCH):
        made = demo.Propagator.objects.bulk_create(
            demo.Propagator(gaugeconfig_id=config, action=action, source_t=t, user=user)
            for config, ensemble in batch
            for action in actions
            for t in (0, nt[ensemble] // 2)
        )
        by_config: dict[int, list[int]] = {}
        for propagator in made:
            by_config.setdefault(propagator.gaugeconfig_id, []).append(propagator.pk)
        interpolators = [code for code, _ in demo.Correlator.INTERPOLATORS]
        made_correlators = demo.Correlator.objects.bulk_create(
            demo.Correlator(interpolator=interpolator, user=user)
            for _ in by_config
            for interpolator in interpolators[:CORRELATOR_INTERPOLATORS]
        )
        members = [group for group in by_config.values() for _ in range(CORRELATOR_INTERPOLATORS)]
        Link = demo.Correlator.propagators.through
        made_links = Link.objects.bulk_create(
            Link(correlator_id=correlator.pk, propagator_id=propagator)
            for correlator, group in zip(made_correlators, members, strict=True)
            for propagator in group
        )
        propagators += len(made)
        correlators += len(made_correlators)
        links += len(made_links)
        advance(len(made) + len(made_correlators) + len(made_links))
    return Measurements(propagators, correlators, links)


def _data_files(
    ensembles, files: int, rng: random.Random, user, start: datetime
) -> Iterator[demo.DataFile]:
    """``files`` file rows, configuration by configuration, so the newest
    configurations are the least finished, as in a running campaign."""
    n_configs = measured_trajectories(files)
    machines = [code for code, _ in demo.DataFile.MACHINES]
    made = 0
    for index in range(n_configs):
        age = 1 - index / n_configs  # 1 for the oldest configuration, ~0 for the newest
        trajectory = FIRST_TRAJECTORY + TRAJECTORY_STEP * index
        for ensemble in ensembles:
            for stream in STREAMS:
                for source in range(SOURCES_PER_CONFIG):
                    if made == files:
                        return
                    made += 1
                    t0 = (source * ensemble.nt) // SOURCES_PER_CONFIG
                    status = _status(rng, age)
                    size = (
                        rng.randint(40, 60) * ensemble.nx**3 * 1024 if status != "missing" else None
                    )
                    produced = (
                        start + timedelta(days=CAMPAIGN_DAYS * (index + rng.random()) / n_configs)
                        if status != "missing"
                        else None
                    )
                    yield demo.DataFile(
                        file_name=f"{ensemble.name}/{stream}/cfg{trajectory:05d}/"
                        f"spec_{ensemble.name}_{stream}_{trajectory:05d}_x0y0z0t{t0}.h5",
                        ensemble=ensemble,
                        stream=stream,
                        configuration=trajectory,
                        source=f"x0y0z0t{t0}",
                        machine=machines[(index + source) % len(machines)],
                        size=size,
                        status=status,
                        produced=produced,
                        user=user,
                    )


def _status(rng: random.Random, age: float) -> str:
    draw = rng.random()
    done = 0.15 + 0.8 * age
    if draw < 0.012:
        return "corrupt"
    if draw < done:
        return "on_tape" if rng.random() < age * 0.6 else "on_disk"
    if draw < done + 0.05:
        return "running"
    return "missing"


def _batches(items, size):
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


#: The demo's news: (age, level, tag, audiences, title, Markdown content). Ages are
#: relative to when the demo runs, so the newest warnings are in the banner.
NOTIFICATIONS = [
    (
        timedelta(days=40),
        "info",
        "release",
        ["public", "internal"],
        "Production started",
        "Propagators and correlators are being computed on **Frontier** and **Perlmutter** "
        "for the six ensembles, three Monte Carlo streams each.",
    ),
    (
        timedelta(days=20),
        "info",
        "release",
        ["public", "internal"],
        "Three ensembles released as open data",
        "`a15m310`, `a12m310` and `a12m220` can be downloaded; the finer ensembles follow "
        "when their analysis is published.",
    ),
    (
        timedelta(days=9),
        "debug",
        "nightly-sync",
        ["internal"],
        "Nightly sync moved to 02:00 UTC",
        "It overlapped with the tape backup window.",
    ),
    (
        timedelta(days=2),
        "warning",
        "maintenance",
        ["public", "internal"],
        "Data server maintenance on Saturday",
        "Downloads may be unavailable for up to two hours.",
    ),
    (
        timedelta(days=1),
        "warning",
        "nightly-sync",
        ["internal"],
        "{corrupt_count} files corrupt on tape",
        "The checksums of these files differ from the ones recorded at production:\n\n"
        "{corrupt_list}\n\n"
        "They are marked *corrupt* and will be recomputed.",
    ),
    (
        timedelta(hours=5),
        "error",
        "frontier",
        [],
        "Frontier jobs failing",
        "Jobs on Frontier exit with an out-of-memory error since the last module update; "
        "production there is paused.",
    ),
]
DEMO_AUTHOR = "espresso-static demo"


def generate_notifications(now: datetime | None = None) -> int:
    """Replace the demo notifications (those by :data:`DEMO_AUTHOR`)."""
    from espresso_static.models import Notification
    from espresso_static.notify import Notifier

    now = now or datetime.now(UTC)
    # The news about corrupt files names files the demo has (at most three).
    corrupt = list(
        demo.DataFile.objects.filter(status="corrupt")
        .order_by("file_name")
        .values_list("file_name", flat=True)[:3]
    )
    facts = {
        "corrupt_count": str(len(corrupt)),
        "corrupt_list": "\n".join(f"* `{name}`" for name in corrupt),
    }
    with transaction.atomic():
        Notification.objects.filter(author=DEMO_AUTHOR).delete()
        for age, level, tag, audiences, title, content in NOTIFICATIONS:
            if "{corrupt_list}" in content and not corrupt:
                continue
            Notifier(tag=tag, author=DEMO_AUTHOR).notify(
                level,
                _filled(content, facts),
                title=_filled(title, facts),
                audience=audiences,
                timestamp=now - age,
            )
    return Notification.objects.filter(author=DEMO_AUTHOR).count()


def _filled(text: str, facts: dict[str, str]) -> str:
    for name, value in facts.items():
        text = text.replace(f"{{{name}}}", value)
    return text
