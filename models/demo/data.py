"""Deterministic, realistic demo data for the ``models.demo`` app.

``generate(files=N)`` replaces the demo tables' content with the same rows for the
same ``files`` and ``seed``: six ensembles in three streams, their gauge
configurations, a few fermion actions (one of each specialization), propagators and
correlators on the first configurations, and ``files`` output-file rows whose status
is mostly done on old configurations and mostly missing on the newest ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

from django.db import transaction

from espresso_static.models import _current_user

from . import models as demo

DEFAULT_FILES = 2_000
CAMPAIGN_START = datetime(2026, 1, 5, tzinfo=UTC)
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
GAUGE_CONFIGS_PER_STREAM = 60
BATCH = 5_000


@dataclass(frozen=True)
class DemoSummary:
    ensembles: int
    gauge_configs: int
    actions: int
    propagators: int
    correlators: int
    files: int


def generate(
    files: int = DEFAULT_FILES, seed: int = 2019, progress: Callable[[int], None] | None = None
) -> DemoSummary:
    """Replace the demo tables' rows with generated ones, in one transaction."""
    rng = random.Random(seed)
    user = _current_user("default")
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
        configs = demo.GaugeConfig.objects.bulk_create(
            demo.GaugeConfig(
                ensemble=ensemble,
                stream=stream,
                trajectory=trajectory,
                plaquette=round(0.55 + 0.01 * ensemble.beta + rng.gauss(0, 1e-4), 6),
                user=user,
            )
            for ensemble in ensembles
            for stream in STREAMS
            for trajectory in range(300, 300 + 6 * GAUGE_CONFIGS_PER_STREAM, 6)
        )
        actions = [
            demo.MobiusDomainWall.objects.create(quark_mass=0.0126, l5=8, m5=1.3, b5=1.5, c5=0.5),
            demo.DomainWall.objects.create(quark_mass=0.0102, l5=12, m5=1.2),
            demo.Hisq.objects.create(quark_mass=0.0102, naik_epsilon=0.0),
        ]
        propagators = _propagators(configs[:: GAUGE_CONFIGS_PER_STREAM // 4], actions, user)
        correlators = _correlators(propagators, user)
        written = 0
        for batch in _batches(_data_files(ensembles, files, rng, user), BATCH):
            demo.DataFile.objects.bulk_create(batch)
            written += len(batch)
            if progress:
                progress(len(batch))
    return DemoSummary(
        len(ensembles), len(configs), len(actions), len(propagators), correlators, written
    )


def clear() -> None:
    """Delete every demo row (children first, so protected relations allow it)."""
    for model in (
        demo.DataFile,
        demo.Correlator,
        demo.Propagator,
        demo.GaugeConfig,
        demo.FermionAction,
        demo.Ensemble,
    ):
        model.objects.all().delete()


def _propagators(configs, actions, user) -> list:
    return demo.Propagator.objects.bulk_create(
        demo.Propagator(gaugeconfig=config, action=action, source_t=t, user=user)
        for config in configs
        for action in actions
        for t in (0, config.ensemble.nt // 2)
    )


def _correlators(propagators, user) -> int:
    """One correlator per interpolator and configuration, through the checked m2m add."""
    by_config: dict[int, list] = {}
    for propagator in propagators:
        by_config.setdefault(propagator.gaugeconfig_id, []).append(propagator)
    count = 0
    for group in by_config.values():
        for interpolator, _ in demo.Correlator.INTERPOLATORS[:2]:
            correlator = demo.Correlator.objects.create(interpolator=interpolator, user=user)
            correlator.propagators.add(*group)
            count += 1
    return count


def _data_files(ensembles, files: int, rng: random.Random, user) -> Iterator[demo.DataFile]:
    """``files`` file rows, configuration by configuration, so the newest
    configurations are the least finished, as in a running campaign."""
    per_config = len(ensembles) * len(STREAMS) * SOURCES_PER_CONFIG
    n_configs = max(1, -(-files // per_config))
    machines = [code for code, _ in demo.DataFile.MACHINES]
    made = 0
    for index in range(n_configs):
        age = 1 - index / n_configs  # 1 for the oldest configuration, ~0 for the newest
        trajectory = 300 + 6 * index
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
                        CAMPAIGN_START + timedelta(hours=3 * index + rng.random())
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
        "3 files corrupt on tape",
        "The checksums of these files differ from the ones recorded at production:\n\n"
        "* `a09m310/b/cfg00420/spec_a09m310_b_00420_x0y0z0t48.h5`\n"
        "* `a09m310/b/cfg00426/spec_a09m310_b_00426_x0y0z0t60.h5`\n"
        "* `a12m220/c/cfg00312/spec_a12m220_c_00312_x0y0z0t8.h5`\n\n"
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
    with transaction.atomic():
        Notification.objects.filter(author=DEMO_AUTHOR).delete()
        for age, level, tag, audiences, title, content in NOTIFICATIONS:
            Notifier(tag=tag, author=DEMO_AUTHOR).notify(
                level, content, title=title, audience=audiences, timestamp=now - age
            )
    return len(NOTIFICATIONS)
