"""``build-site``: collect → render → write → MkDocs → publish, one timed line per step.

What a site shows comes from its *features* (:mod:`espresso_static.website.feature`): the
built-in ones (:data:`espresso_static.website.features.FEATURES`) and the project's
own, whose steps this pipeline calls in order — each feature's collect step, then
each one's render step, and after MkDocs built the site each one's post-build step.

A build is for one audience (:mod:`espresso_static.declare.access`): the collect step reads
only what it may see (models, columns, rows, news, status data, downloads, data
health), so nothing else can reach its site. :func:`build_sites` builds several.
A build refuses to start, before it writes anything, while a model's declarations are
wrong or migrations and database do not match the models (``allow_drift`` overrides
the latter; :mod:`espresso_static.checks.report`). The collect step's expensive outputs are reused from the
project's cache when their inputs did not change (:mod:`espresso_static.website.cache`).

MkDocs builds with the project's ``mkdocs.yml`` and what the site needs merged in
(:mod:`espresso_static.website.mkdocs_build`). The site is built into a temporary folder
beside the target and swapped in only when the build succeeded: a failed build leaves
the published site untouched.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.db import transaction

from espresso_static.checks.report import refuse_to_build
from espresso_static.data.row_values import row_warnings, warn_again
from espresso_static.declare.access import (
    ALL_AUDIENCES,
    AudienceView,
    audience_view,
    selected_audiences,
)
from espresso_static.exceptions import EspressoStaticError
from espresso_static.project.apps import project_models
from espresso_static.project.config import ProjectConfig
from espresso_static.website.cache import REBUILT, REUSED, UPDATED, BuildCache, open_cache
from espresso_static.website.cache_keys import tables_read
from espresso_static.website.collect import SiteModel, collect_site, count_rows
from espresso_static.website.consistent_read import consistent_read
from espresso_static.website.context import BuildOptions, Page, Provenance, RenderContext
from espresso_static.website.feature import (
    Build,
    Collected,
    Feature,
    ProgressBar,
    project_features,
    render_features,
    run_step,
)
from espresso_static.website.features import FEATURES
from espresso_static.website.mkdocs_build import (
    check_mkdocs_config,
    import_mkdocs,
    load_mkdocs_config,
    mkdocs_messages,
    run_mkdocs,
)
from espresso_static.website.publish import make_staging, remove_stale_staging, swapped_in
from espresso_static.website.render import GENERATED, template_environment
from espresso_static.website.workers import start, workers_possible
from espresso_static.website.write import (
    keep_generated_docs,
    refuse_database_inside,
    write_build_docs,
)

#: Loops over at least this many items show a progress bar.
PROGRESS_BAR_FROM = 50
#: Work over at least this many rows shows a progress bar.
ROWS_BAR_FROM = 20_000


@dataclass(frozen=True)
class BuildResult:
    site_dir: Path
    pages: int
    seconds: float
    audience: str = ""
    #: Row values the site shows changed (escaped, shortened, replaced), one line each
    #: naming the table, rows and column (:mod:`espresso_static.data.row_values`).
    warnings: tuple[str, ...] = ()


class Reporter:
    """One line per step with its timing; progress bars for long loops. Where they go
    is the caller's: ``echo`` (default: standard error) and ``bar`` (a
    :data:`~espresso_static.website.feature.ProgressBar`; default: none) — the command
    line passes click's."""

    def __init__(
        self,
        quiet: bool = False,
        echo: Callable[[str], None] | None = None,
        bar: ProgressBar | None = None,
    ):
        self.quiet = quiet
        self._echo = echo or _to_stderr
        self._bar = bar

    def echo(self, message: str) -> None:
        if not self.quiet:
            self._echo(message)

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """Time the block; it appends a summary to the list it is given."""
        started = time.perf_counter()
        summary: list[str] = []
        yield summary
        details = f"{'; '.join(summary)} " if summary else ""
        self.echo(f"{name:<8} {details}({time.perf_counter() - started:.2f} s)")

    def iterate(self, items: list, label: str) -> Iterable:
        if len(items) < PROGRESS_BAR_FROM:
            return items
        return self._iterate(items, label)

    def _iterate(self, items: list, label: str) -> Iterator:
        with self.counter(len(items), label, at_least=0) as update:
            for item in items:
                yield item
                update(1)

    @contextmanager
    def counter(
        self, total: int, label: str, at_least: int = ROWS_BAR_FROM
    ) -> Iterator[Callable[[int], None]]:
        """A progress bar of ``total`` units (shown from ``at_least``), advanced by the
        ``update(n)`` it yields."""
        if self.quiet or self._bar is None or total < at_least:
            yield lambda done: None
            return
        with self._bar(total, label) as update:
            yield update


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_sites(
    config: ProjectConfig,
    audiences: list[str],
    out: Path | None = None,
    options: BuildOptions | None = None,
    reporter: Reporter | None = None,
) -> list[BuildResult]:
    """Build the site of each audience of ``audiences`` (names, comma-separated names or
    ``all``; empty: the default audience). Each goes to its audience's ``site_dir``;
    with ``out``, to ``out`` for one audience and to ``out/<name>`` for several."""
    options = options or BuildOptions()
    names = selected_audiences(config.audiences, audiences) or [config.default_audience]
    separate = len(names) > 1 or ALL_AUDIENCES in audiences
    if separate and options.published_as is not None:
        raise EspressoStaticError(
            f"--published-as {options.published_as}: names the site of one audience, "
            f"not of {len(names)} ({', '.join(names)})."
        )
    if not options.allow_drift:
        # Declarations and drift, once; each build checks its declarations again (cheap).
        refuse_to_build(config)
    cache = open_cache(config.root, options.use_cache)
    results = []
    for name in names:
        reporter_for = reporter or Reporter(options.quiet)
        if len(names) > 1:
            reporter_for.echo(f"audience {name}")
        target = out / name if out is not None and separate else out
        # Drift was checked once above, for every audience.
        once = dataclasses.replace(options, audience=name, allow_drift=True)
        results.append(build_site(config, target, once, reporter_for, cache))
    return results


def build_site(
    config: ProjectConfig,
    out: Path | None = None,
    options: BuildOptions | None = None,
    reporter: Reporter | None = None,
    cache: BuildCache | None = None,
) -> BuildResult:
    """Build the site of one audience (``options.audience``, default: the project's
    default audience) of ``config`` (Django set up) and publish it to ``out`` (default:
    the audience's ``site_dir``), reusing the outputs ``cache`` (default: the project's,
    unless ``options.use_cache`` is off) holds for unchanged inputs."""
    options = options or BuildOptions()
    reporter = reporter or Reporter(options.quiet)
    cache = cache or open_cache(config.root, options.use_cache)
    templates = template_environment()
    templates.bytecode_cache = cache.compiled_templates(templates)
    view = audience_view(config.audiences, options.audience or config.default_audience)
    for warning in refuse_to_build(config, options.allow_drift):
        reporter.echo(f"warning: {warning}")
    target = Path(out or view.audience.site_dir).resolve()
    _check_target(config, target)
    _clean_after_dead_builds(target, reporter)
    started = time.perf_counter()
    features = [*FEATURES, *project_features(config)]
    # Large outputs (downloads) are written beside the target as they are read and
    # moved into the built site: they never pass through memory or the docs folder.
    # The docs folder MkDocs builds is this build's own too (concurrent builds).
    work_dir = make_staging(target.parent)
    try:
        # Collect and render read the database: one snapshot, so the pages' counts agree.
        with consistent_read() as snapshot:
            cache.new_snapshot()  # fingerprints of what this transaction sees
            shared = snapshot.share() if options.parallel and workers_possible() else None
            with reporter.step("collect") as summary, row_warnings() as value_warnings:
                site, context, collected = collect_build(
                    config,
                    view,
                    options,
                    features,
                    Path(options.published_as).resolve() if options.published_as else target,
                    work_dir,
                    reporter,
                    summary,
                    cache,
                    shared,
                )
            for warning in value_warnings:
                reporter.echo(f"  warning: {warning}")
            with reporter.step("render") as summary:
                contributions = render_features(site, context, collected)
                summary.append(f"{sum(isinstance(c, Page) for c in contributions)} pages")
        with reporter.step("write") as summary:
            docs = work_dir / "docs"  # this build's own docs folder
            docs.mkdir()
            written = write_build_docs(config.docs_dir, docs, contributions)
            summary.append(f"{written.pages} pages, {written.assets} files")
            if written.created_home:
                summary.append(f"created {config.docs_dir / 'index.md'}")
        with reporter.step("mkdocs") as summary:
            staging = make_staging(target.parent)
            try:
                with mkdocs_messages() as warnings:
                    mkdocs_config = load_mkdocs_config(
                        config,
                        site,
                        contributions,
                        staging,
                        context,
                        collected,
                        docs=docs,
                        cache=cache,
                        published=target,
                    )
                    run_mkdocs(mkdocs_config, warnings)
                for feature, data in collected:
                    run_step(feature, "on_post_build", staging, context, data)
            except BaseException:  # MkDocs' Abort is a SystemExit
                shutil.rmtree(staging, ignore_errors=True)
                raise
            for warning in warnings:
                reporter.echo(f"  warning: {warning}")
            summary.append(f"{len(warnings)} warnings")
        with reporter.step("publish"):
            # The records of this build are committed with its site, or neither stays.
            with published(staging, target), transaction.atomic():
                for feature, data in collected:
                    run_step(feature, "on_published", target, context, data)
            if not keep_generated_docs(written.folder, config.docs_dir):
                reporter.echo(f"  warning: {config.docs_dir / GENERATED} left as it was")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    pages = count_pages(target)
    seconds = time.perf_counter() - started
    return BuildResult(target, pages, seconds, view.name, tuple(value_warnings))


def collect_build(
    config: ProjectConfig,
    view: AudienceView,
    options: BuildOptions,
    features: list[Feature],
    site_dir: Path,
    work_dir: Path,
    reporter: Reporter,
    summary: list[str],
    cache: BuildCache | None = None,
    snapshot: str | None = None,
) -> tuple[SiteModel, RenderContext, list[Collected]]:
    """Everything ``view`` sees, read from the database: the schema and counts, and
    what each of ``features`` collects for the site published to ``site_dir`` (large
    files into folders of ``work_dir``);
    ``summary`` gets a line about each part, with its time and what ``cache``
    supplied. With ``snapshot`` (a token of :meth:`ReadSnapshot.share`), the features
    that may (``concurrent``) collect in worker processes reading it, started before
    the schema is read; the others after it, in this process."""
    cache = cache or BuildCache(None)
    tables = tuple(_project_tables(config))
    fingerprinted: list[str] = []  # reported after the schema's line
    if cache.enabled:  # before the workers are forked: they inherit the fingerprints
        with _part(fingerprinted, cache) as line:
            before = len(cache.fingerprints)
            for model in tables:
                cache.fingerprint(model)
            line.append(f"fingerprints of {len(cache.fingerprints) - before} tables")
    built_at, commit = datetime.now(UTC).replace(microsecond=0), git_commit(config.root)

    def read_schema(progress=None) -> tuple[SiteModel, Provenance]:
        site = collect_site(config, progress=progress, view=view, count=_kept_counts(cache))
        rows = any(model.row_count for model in site.models)
        provenance = Provenance(built_at, site.last_modified, commit, shows_rows=rows)
        return site, provenance

    lines: list[list[str]] = [[] for _ in features]  # each feature's report lines

    def build_of(number: int, schema) -> Build:
        feature_dir = work_dir / f"{number:02d}"
        feature_dir.mkdir(exist_ok=True)
        return Build(
            config=config,
            view=view,
            schema=schema,
            options=options,
            cache=cache,
            site_dir=site_dir,
            work_dir=feature_dir,
            tables=tables,
            part=functools.partial(_part, lines[number], cache),
            counter=reporter.counter,
            snapshot=snapshot,
        )

    side = [i for i, f in enumerate(features) if f.concurrent] if snapshot is not None else []
    outcomes: dict[int, tuple] = {}
    workers = {}
    try:
        # The workers first: their parts (the downloads, the audit) are the longest,
        # and need not wait for the schema and counts read here meanwhile.
        for i in side:
            build = build_of(i, functools.cache(read_schema))  # read in the worker if asked
            collect = functools.partial(_collect_feature, features[i], build, lines[i])
            workers[i] = start(features[i].name, collect, snapshot)
        for worker in workers.values():
            worker.listen()
        with _part(summary, cache) as line:
            site, provenance = read_schema(lambda todo: reporter.iterate(todo, "reading models"))
            apps = f"{len(site.apps)} app" + ("s" if len(site.apps) != 1 else "")
            models = f"{len(site.models)} model" + ("s" if len(site.models) != 1 else "")
            line.append(f"{models} in {apps} for audience {view.name}")
        summary.extend(fingerprinted)
        for i, feature in enumerate(features):
            if i not in workers:
                build = build_of(i, lambda: (site, provenance))
                outcomes[i] = _collect_feature(feature, build, lines[i], reporter.counter)
                failed = next((w for w in workers.values() if w.failed), None)
                if failed:  # stop at once, not after this process's parts
                    failed.result(reporter.counter)
        if workers:  # while they collect: a broken mkdocs.yml fails the build now
            import_mkdocs()
            check_mkdocs_config(config, work_dir)
        for i, worker in workers.items():
            outcomes[i] = worker.result(reporter.counter)
    finally:
        for worker in workers.values():
            worker.stop()
    context = RenderContext(config=config, options=options, provenance=provenance)
    collected = []
    for i, feature in enumerate(features):
        data, reported, warned = outcomes[i]
        summary.extend(reported)
        warn_again(warned)
        collected.append((feature, data))
    return site, context, collected


def _kept_counts(cache: BuildCache):
    """:func:`count_rows`, its answer for a table whose content did not change (and
    what the audience sees of it) kept in ``cache``."""

    def count(model, view: AudienceView) -> tuple:
        # The model too: another may read the same tables (a through model, its ends).
        key = cache.key("rows", view, [model], model._meta.label)
        counted = cache.load(key, counted=False)
        if counted is None:
            counted = count_rows(model, view)
            cache.store(f"rows {view.name} {model._meta.label}", key, counted)
        return counted

    return count


def _collect_feature(feature: Feature, build: Build, lines: list[str], counter) -> tuple:
    """``feature``'s collect step with ``counter`` for its progress bars: its data, its
    report ``lines`` and the row warnings it raised (kept apart: reported in feature
    order)."""
    with row_warnings() as warned:
        data = run_step(feature, "on_collect", dataclasses.replace(build, counter=counter))
    return data, lines, warned


@contextmanager
def _part(summary: list[str], cache: BuildCache) -> Iterator[list[str]]:
    """Time one part of the collect step: its line (appended to the list it yields)
    gets the time and what became of its cached outputs (:func:`outcome_note`)."""
    started, counted = time.perf_counter(), len(cache.outcomes)
    line: list[str] = []
    yield line
    note = outcome_note(cache.outcomes[counted:])
    note = f"{note}, " if note else ""
    summary.append(f"{' '.join(line)} ({note}{time.perf_counter() - started:.1f} s)")


def outcome_note(outcomes: list[tuple[str, str]]) -> str:
    """What became of a part's outputs: one output ``reused``, ``updated 3 of 40
    segments`` or ``rebuilt``; several ``9 reused, 1 updated (3 of 40 segments), 2
    rebuilt`` (empty: no cached output)."""
    if len(outcomes) == 1:
        outcome, detail = outcomes[0]
        return f"{outcome} {detail}".strip()
    notes = []
    for outcome in (REUSED, UPDATED, REBUILT):
        details = [detail for kind, detail in outcomes if kind == outcome]
        if details:
            shown = "; ".join(detail for detail in details if detail)
            notes.append(f"{len(details)} {outcome}" + (f" ({shown})" if shown else ""))
    return ", ".join(notes)


def _project_tables(config: ProjectConfig) -> list:
    """Every table the project's outputs may read: its models, what they point to, and
    the progress snapshots."""
    from espresso_static.models import ProgressSnapshot

    return tables_read([*project_models(config.apps), ProgressSnapshot])


def git_commit(root: Path) -> str | None:
    """The project's commit (short), marked when tracked files have changes."""
    try:
        commit = _git(root, "rev-parse", "--short=12", "HEAD")
        changed = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit} (with uncommitted changes)" if changed else commit


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()


# -- publishing ---------------------------------------------------------------------------


def _check_target(config: ProjectConfig, target: Path) -> None:
    """Refuse targets whose replacement would destroy something that is not a site, and
    builds that would publish the database."""
    key = "DATABASE_URL" if config.database_source == "DATABASE_URL" else "database"
    refuse_database_inside(config.docs_dir, config.database, key)
    if target in (config.root, config.docs_dir) or config.docs_dir.is_relative_to(target):
        raise EspressoStaticError(
            f"Cannot publish into {target}: it holds the project or its pages; use a folder of its own."
        )
    if target.is_relative_to(config.docs_dir.resolve()):
        raise EspressoStaticError(
            f"Cannot publish into {target}: it is inside the docs folder {config.docs_dir}, "
            "whose files every build publishes; use a folder outside it."
        )
    if target.exists() and not target.is_dir():
        raise EspressoStaticError(f"Cannot publish into {target}: it is a file.")
    if target.is_dir() and any(target.iterdir()) and not (target / "index.html").exists():
        raise EspressoStaticError(
            f"Cannot publish into {target}: it is not empty and holds no site (no index.html); "
            "refusing to replace it."
        )
    target.parent.mkdir(parents=True, exist_ok=True)


@contextmanager
def published(staging: Path, target: Path) -> Iterator[None]:
    """The freshly built ``staging`` swapped in for ``target`` (atomically where
    possible) for the block; the previous site is put back if the block raises."""
    swapped = False
    try:
        with swapped_in(staging, target):
            swapped = True
            yield
    except OSError:
        if not swapped:  # the swap itself failed: the staging folder is of no use
            shutil.rmtree(staging, ignore_errors=True)
        raise


def _clean_after_dead_builds(target: Path, reporter: Reporter) -> None:
    cleanup = remove_stale_staging(target)
    if cleanup.restored:
        reporter.echo(f"restored the previous site {target} (a killed build had moved it)")
    if cleanup.removed:
        reporter.echo(f"removed {len(cleanup.removed)} staging folder(s) of killed builds")


def count_pages(site_dir: Path) -> int:
    return sum(1 for page in site_dir.rglob("*.html") if page.name != "404.html")


def build_summary(result: BuildResult) -> str:
    audience = f" (audience {result.audience})" if result.audience else ""
    return (
        f"Site published to {result.site_dir}: {result.pages} pages "
        f"in {result.seconds:.1f} s{audience}."
    )
