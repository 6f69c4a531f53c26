"""``build-site``: collect → render → write → MkDocs → publish, one timed line per step.

A build is for one audience (:mod:`espresso_static.declare.access`): the collect step reads
only what it may see (models, columns, rows, news, status data, downloads, data
health), so nothing else can reach its site. :func:`build_sites` builds several.
A build refuses to start while migrations and database do not match the models
(``allow_drift`` overrides). The collect step's expensive outputs are reused from the
project's cache when their inputs did not change (:mod:`espresso_static.site.cache`).

The MkDocs build runs through its Python API with the project's ``mkdocs.yml``; what
the site needs (the generated navigation, math, diagrams, the provenance footer) is
merged into that configuration in memory, the file itself is never rewritten. The
site is built into a temporary folder beside the target and swapped in only when the
build succeeded: a failed build leaves the published site untouched.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import click

from espresso_static.declare.access import ALL_AUDIENCES, AudienceView, audience_view, selected_audiences
from espresso_static.site.cache import BuildCache, open_cache, tables_read
from espresso_static.site.collect import SiteModel, collect_site
from espresso_static.project.config import ProjectConfig
from espresso_static.site.features.datapage import DATA_EXTRA, DOWNLOADS, collect_open_data
from espresso_static.exceptions import EspressoStaticError
from espresso_static.site.features.health import HEALTH_EXTRA, collect_health, health_key, health_models
from espresso_static.site.features.news import (
    NEWS_EXTRA,
    THEME_EXTRA,
    collect_news,
    copy_feed_to_root,
    theme_extra,
)
from espresso_static.site.render import (
    GENERATED,
    PARTIALS,
    Asset,
    BuildOptions,
    Contribution,
    Page,
    Provenance,
    RenderContext,
    format_time,
    render_site,
)
from espresso_static.data.consistent_read import consistent_read
from espresso_static.site.publish import make_staging, remove_stale_staging, swap_in
from espresso_static.site.features.status import (
    STATUS_EXTRA,
    status_sources,
    status_tables,
    with_history_plots,
)
from espresso_static.site.write import hand_written_pages, pages_not_for, write_generated

#: Loops over at least this many items show a progress bar.
PROGRESS_BAR_FROM = 50
#: Work over at least this many rows shows a progress bar.
ROWS_BAR_FROM = 20_000
#: mkdocs-material defaults when the project's mkdocs.yml names no theme.
DEFAULT_THEME = {
    "name": "material",
    "font": False,
    "features": ["navigation.indexes", "navigation.prune", "content.code.copy", "search.suggest"],
}
#: In strict mode every link problem is a warning, and warnings fail the build.
STRICT_VALIDATION = {
    "omitted_files": "warn",
    "absolute_links": "warn",
    "unrecognized_links": "warn",
    "anchors": "warn",
}
#: Markdown extensions the generated pages use: (name, settings merged into the user's).
REQUIRED_EXTENSIONS = (
    ("tables", {}),
    ("attr_list", {}),
    ("md_in_html", {}),
    ("pymdownx.arithmatex", {"generic": True}),
    ("pymdownx.highlight", {}),
    ("pymdownx.superfences", {}),
    ("pymdownx.snippets", {"check_paths": True}),
)


@dataclass(frozen=True)
class BuildResult:
    site_dir: Path
    pages: int
    seconds: float
    audience: str = ""


class Reporter:
    """One line per step on stderr with its timing; progress bars for long loops."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    def echo(self, message: str) -> None:
        if not self.quiet:
            click.echo(message, err=True)

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """Time the block; it appends a summary to the list it is given."""
        started = time.perf_counter()
        summary: list[str] = []
        yield summary
        details = f"{'; '.join(summary)} " if summary else ""
        self.echo(f"{name:<8} {details}({time.perf_counter() - started:.2f} s)")

    def iterate(self, items: list, label: str) -> Iterable:
        if self.quiet or len(items) < PROGRESS_BAR_FROM:
            return items
        return _progress_bar(items, label)

    @contextmanager
    def counter(self, total: int, label: str) -> Iterator[Callable[[int], None]]:
        """A progress bar of ``total`` rows, advanced by the ``update(n)`` it yields."""
        if self.quiet or total < ROWS_BAR_FROM:
            yield lambda done: None
            return
        stream = click.get_text_stream("stderr")
        with click.progressbar(length=total, label=label, file=stream) as bar:
            yield bar.update


def _progress_bar(items: list, label: str) -> Iterator:
    with click.progressbar(items, label=label, file=click.get_text_stream("stderr")) as bar:
        yield from bar


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
    if not options.allow_drift:
        refuse_drift(config)
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
    view = audience_view(config.audiences, options.audience or config.default_audience)
    if not options.allow_drift:
        refuse_drift(config)
    target = Path(out or view.audience.site_dir).resolve()
    _check_target(config, target)
    _clean_after_dead_builds(target, reporter)
    started = time.perf_counter()
    # Downloads are written as they are read, beside the target, and moved into the
    # built site: they can be large and never pass through memory or the docs folder.
    downloads = make_staging(target.parent)
    try:
        # Collect and render read the database: one snapshot, so the pages' counts agree.
        with consistent_read():
            cache.new_snapshot()  # fingerprints of what this transaction sees
            with reporter.step("collect") as summary:
                site, context = collect_build(
                    config, view, options, downloads, reporter, summary, cache
                )
            with reporter.step("render") as summary:
                contributions = render_site(site, context)
                summary.append(f"{sum(isinstance(c, Page) for c in contributions)} pages")
        with reporter.step("write") as summary:
            written = write_generated(config.docs_dir, contributions)
            summary.append(f"{written.pages} pages, {written.assets} files in {written.folder}")
            if written.created_home:
                summary.append(f"created {config.docs_dir / 'index.md'}")
        with reporter.step("mkdocs") as summary:
            staging = make_staging(target.parent)
            try:
                with mkdocs_messages() as warnings:
                    mkdocs_config = load_mkdocs_config(
                        config, site, contributions, staging, context
                    )
                    run_mkdocs(mkdocs_config, warnings)
                downloads.rename(staging / GENERATED / DOWNLOADS)
                copy_feed_to_root(staging, context)
            except BaseException:  # MkDocs' Abort is a SystemExit
                shutil.rmtree(staging, ignore_errors=True)
                raise
            for warning in warnings:
                reporter.echo(f"  warning: {warning}")
            summary.append(f"{len(warnings)} warnings")
    finally:
        shutil.rmtree(downloads, ignore_errors=True)  # still there only when the build failed
    with reporter.step("publish"):
        publish(staging, target)
    pages = count_pages(target)
    return BuildResult(target, pages, time.perf_counter() - started, view.name)


def collect_build(
    config: ProjectConfig,
    view: AudienceView,
    options: BuildOptions,
    downloads: Path,
    reporter: Reporter,
    summary: list[str],
    cache: BuildCache | None = None,
) -> tuple[SiteModel, RenderContext]:
    """Everything ``view`` sees, read from the database: the schema and counts, status
    data and plots, news, downloads (written to ``downloads``) and, if its audience has
    the page, data health; ``summary`` gets a line about each, with its time and what
    ``cache`` supplied."""
    cache = cache or BuildCache(None)
    with _part(summary, cache) as line:
        site = collect_site(
            config, progress=lambda todo: reporter.iterate(todo, "models"), view=view
        )
        apps = f"{len(site.apps)} app" + ("s" if len(site.apps) != 1 else "")
        line.append(f"{len(site.models)} models in {apps} for audience {view.name}")
    if cache.enabled:
        with _part(summary, cache) as line:
            tables = _project_tables(config)
            before = len(cache.fingerprints)
            for model in tables:
                cache.fingerprint(model)
            line.append(f"fingerprints of {len(cache.fingerprints) - before} tables")
    provenance = Provenance(
        built_at=datetime.now(UTC).replace(microsecond=0),
        snapshot=site.last_modified,
        git_commit=git_commit(config.root),
    )
    context = RenderContext(config=config, options=options, provenance=provenance)
    sources = status_sources(view, config.apps)
    with _part(summary, cache) as line:
        pages = status_tables(view, sources, cache=cache)
        line.append(f"status data of {len(pages)} models")
    with _part(summary, cache) as line:
        pages = with_history_plots(view, sources, pages, cache)
        line.append(f"{sum(1 for page in pages if page.plots)} plots")
    context.extras[STATUS_EXTRA] = pages
    with _part(summary, cache) as line:
        context.extras[NEWS_EXTRA] = news = collect_news(view, now=provenance.built_at)
        line.append(f"news {len(news.items)} items")
    rows = sum(model.row_count for model in site.models)
    with _part(summary, cache) as line:
        with reporter.counter(rows, "writing downloads") as update:
            open_data = collect_open_data(config, view, downloads, progress=update, cache=cache)
        context.extras[DATA_EXTRA] = open_data
        size = sum(file.size for file in open_data.files)
        line.append(f"downloads {len(open_data.files)} files, {size / 1e6:.1f} MB")
    if view.audience.health:
        with _part(summary, cache) as line:
            context.extras[HEALTH_EXTRA] = results = _collect_health(config, view, reporter, cache)
            failing = sum(1 for result in results if result.failing)
            line.append(f"data health {len(results)} checks, {failing} failing")
    return site, context


@contextmanager
def _part(summary: list[str], cache: BuildCache) -> Iterator[list[str]]:
    """Time one part of the collect step: its line (appended to the list it yields)
    gets the time and, when the cache supplied outputs, how many."""
    started, hits, misses = time.perf_counter(), cache.hits, cache.misses
    line: list[str] = []
    yield line
    reused, built = cache.hits - hits, cache.misses - misses
    note = f"reused {reused} of {reused + built}, " if reused else ""
    summary.append(f"{' '.join(line)} ({note}{time.perf_counter() - started:.1f} s)")


def _collect_health(config: ProjectConfig, view: AudienceView, reporter, cache: BuildCache):
    """The data-health results (checks may read any table: all of them are its input)."""
    from espresso_static.data.audit import count_rows

    models = health_models(_app_labels(config), view)
    tables = _project_tables(config)
    key = health_key(models, view, cache, tables)
    if cache.has(key):
        return collect_health(models, view, cache=cache, tables=tables)
    with reporter.counter(count_rows(models), "checking stored rows") as update:
        return collect_health(models, view, progress=update, cache=cache, tables=tables)


def _project_tables(config: ProjectConfig) -> list:
    """Every table the project's outputs may read: its models, what they point to, and
    the progress snapshots."""
    from django.apps import apps

    from espresso_static.models import ProgressSnapshot

    models = [
        model for label in _app_labels(config) for model in apps.get_app_config(label).get_models()
    ]
    return tables_read([*models, ProgressSnapshot])


def refuse_drift(config: ProjectConfig) -> None:
    """Raise a one-line error when the models, their migrations and the database do
    not match (missing, unapplied or conflicting migrations): the site would
    document tables that are not what the database holds."""
    from espresso_static.checks.registry import migration_drift

    problems = [finding for finding in migration_drift(_app_labels(config)) if finding.is_error]
    if problems:
        first = problems[0]
        more = f" ({len(problems) - 1} more problem(s): `espresso-static check`)"
        raise EspressoStaticError(
            f"Not building: {first.message} {first.hint} Or build anyway with --allow-drift."
            + (more if len(problems) > 1 else "")
        )


def _app_labels(config: ProjectConfig) -> list[str]:
    from django.apps import apps

    by_name = {app.name: app.label for app in apps.get_app_configs()}
    return [by_name.get(name, name) for name in config.apps]


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


# -- MkDocs -------------------------------------------------------------------------------


def site_nav(contributions: Iterable[Contribution], hand_written: list[str], user_nav) -> list:
    """The navigation: home, the generated pages by section, then the hand-written pages.
    A nav written in mkdocs.yml is kept as it is, the generated sections appended."""
    generated: list = []
    for item in contributions:
        if isinstance(item, Page) and item.section is not None:
            entries = _section(generated, item.section)
            entries.append({item.title: f"{GENERATED}/{item.path}"})
    if user_nav:
        return [*user_nav, *generated]
    home, others = hand_written[:1], hand_written[1:]
    return [*({"Home": page} for page in home), *generated, *others]


def _section(nav: list, section: tuple[str, ...]) -> list:
    """The entry list of ``section`` in ``nav``, created in order of first use."""
    entries = nav
    for title in section:
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get(title), list):
                entries = entry[title]
                break
        else:
            entries.append({title: []})
            entries = entries[-1][title]
    return entries


def load_mkdocs_config(
    config: ProjectConfig,
    site: SiteModel,
    contributions: list[Contribution],
    site_dir: Path,
    context: RenderContext,
):
    """The project's MkDocs configuration with the generated site merged in."""
    from mkdocs.config import load_config
    from mkdocs.exceptions import ConfigurationError, MkDocsException
    from mkdocs.utils.yaml import yaml_load

    path = config.mkdocs_config
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    try:
        raw = yaml_load(io.StringIO(text)) or {}
        overrides = {
            "docs_dir": str(config.docs_dir),
            "site_dir": str(site_dir),
            "nav": site_nav(
                contributions, hand_written_pages(config.docs_dir, site.audience), raw.get("nav")
            ),
            "strict": context.options.strict,
            "exclude_docs": _exclude_docs(raw.get("exclude_docs"), config.docs_dir, site.audience),
            "site_name": raw.get("site_name") or site.name,
            "theme": raw.get("theme") or DEFAULT_THEME,
        }
        if context.options.strict:
            overrides["validation"] = STRICT_VALIDATION
        source = io.StringIO(text) if text else io.StringIO("{}")
        mkdocs_config = load_config(config_file=source, config_file_path=str(path), **overrides)
    except ConfigurationError as error:
        raise EspressoStaticError(f"{path}: {error}") from error
    except MkDocsException as error:
        raise EspressoStaticError(
            f"{path} is not a usable MkDocs configuration: {error}"
        ) from error
    _merge_extensions(mkdocs_config, config.docs_dir)
    _merge_includes(mkdocs_config, contributions)
    _add_theme_overrides(mkdocs_config)
    mkdocs_config.extra["espresso_static"] = _provenance_extra(context.provenance)
    mkdocs_config.extra[THEME_EXTRA] = theme_extra(context)
    return mkdocs_config


def _exclude_docs(user_patterns: str | None, docs_dir: Path, audience: str) -> str:
    """The user's ``exclude_docs``, the fragments of generated pages (included by
    pages, never pages themselves) and the hand-written pages not for ``audience``
    (excluded pages are not built: not in the site, its search index or sitemap)."""
    not_for = [f"/{_gitignore_escape(page)}" for page in pages_not_for(docs_dir, audience)]
    return "\n".join([user_patterns or "", f"/{GENERATED}/{PARTIALS}/", *not_for, ""])


def _gitignore_escape(path: str) -> str:
    return "".join(f"\\{char}" if char in "\\*?[!# " else char for char in path)


def _merge_extensions(mkdocs_config, docs_dir: Path) -> None:
    from pymdownx.superfences import fence_code_format

    extensions, settings = mkdocs_config.markdown_extensions, mkdocs_config.mdx_configs
    for name, defaults in REQUIRED_EXTENSIONS:
        if name not in extensions:
            extensions.append(name)
        settings[name] = {**defaults, **settings.get(name, {})}
    # Snippets resolve paths from the working directory unless told the docs folder.
    snippets = settings["pymdownx.snippets"]
    snippets["base_path"] = [*_as_list(snippets.get("base_path")), str(docs_dir)]
    fences = settings["pymdownx.superfences"].setdefault("custom_fences", [])
    if not any(fence.get("name") == "mermaid" for fence in fences):
        fences.append({"name": "mermaid", "class": "mermaid", "format": fence_code_format})


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _merge_includes(mkdocs_config, contributions: list[Contribution]) -> None:
    for item in contributions:
        if isinstance(item, Asset) and item.include == "script":
            mkdocs_config.extra_javascript.append(f"{GENERATED}/{item.path}")
        elif isinstance(item, Asset) and item.include == "stylesheet":
            mkdocs_config.extra_css.append(f"{GENERATED}/{item.path}")


def _add_theme_overrides(mkdocs_config) -> None:
    """Our partials (the provenance footer) after the user's custom_dir, before the theme."""
    overrides = str(resources.files("espresso_static.templates").joinpath("overrides"))
    dirs = mkdocs_config.theme.dirs
    position = 1 if mkdocs_config.theme.custom_dir else 0
    if overrides not in dirs:
        dirs.insert(position, overrides)


def _provenance_extra(provenance: Provenance) -> dict:
    return {
        "built_at": format_time(provenance.built_at),
        "snapshot": format_time(provenance.snapshot) if provenance.snapshot else "no rows yet",
        "commit": provenance.git_commit or "",
        "version": provenance.version,
    }


class _MessageCollector(logging.Handler):
    def __init__(self, messages: list[str]):
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split()))


@contextmanager
def mkdocs_messages() -> Iterator[list[str]]:
    """Collect MkDocs' warnings and errors (to show them, and in failure messages)."""
    messages: list[str] = []
    handler = _MessageCollector(messages)
    logger = logging.getLogger("mkdocs")
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def run_mkdocs(mkdocs_config, messages: list[str]) -> None:
    """Build with MkDocs (in strict mode its warnings fail the build)."""
    from mkdocs.commands.build import build
    from mkdocs.exceptions import MkDocsException

    try:
        mkdocs_config.plugins.on_startup(command="build", dirty=False)
        try:
            build(mkdocs_config)
        finally:
            mkdocs_config.plugins.on_shutdown()
    except MkDocsException as error:
        details = "; ".join(messages[:5])
        more = f" (and {len(messages) - 5} more)" if len(messages) > 5 else ""
        raise EspressoStaticError(
            f"MkDocs build failed: {error}{': ' + details + more if details else ''}"
        ) from error


# -- publishing ---------------------------------------------------------------------------


def _check_target(config: ProjectConfig, target: Path) -> None:
    """Refuse targets whose replacement would destroy something that is not a site."""
    if target in (config.root, config.docs_dir) or config.docs_dir.is_relative_to(target):
        raise EspressoStaticError(
            f"Cannot publish into {target}: it holds the project or its pages; use a folder of its own."
        )
    if target.exists() and not target.is_dir():
        raise EspressoStaticError(f"Cannot publish into {target}: it is a file.")
    if target.is_dir() and any(target.iterdir()) and not (target / "index.html").exists():
        raise EspressoStaticError(
            f"Cannot publish into {target}: it is not empty and holds no site (no index.html); "
            "refusing to replace it."
        )
    target.parent.mkdir(parents=True, exist_ok=True)


def publish(staging: Path, target: Path) -> None:
    """Swap the freshly built ``staging`` in for ``target`` (atomically where possible)."""
    try:
        swap_in(staging, target)
    except OSError:
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
