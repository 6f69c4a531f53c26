"""``build-site``: collect → render → write → MkDocs → publish, one timed line per step.

The MkDocs build runs through its Python API with the project's ``mkdocs.yml``; what
the site needs (the generated navigation, math, diagrams, the provenance footer) is
merged into that configuration in memory, the file itself is never rewritten. The
site is built into a temporary folder beside the target and swapped in only when the
build succeeded: a failed build leaves the published site untouched.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import click

from espresso_static.collect import SiteModel, collect_site
from espresso_static.config import ProjectConfig
from espresso_static.exceptions import EspressoStaticError
from espresso_static.news import NEWS_EXTRA, THEME_EXTRA, collect_build_news, theme_extra
from espresso_static.render import (
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
from espresso_static.write import hand_written_pages, write_generated

#: Loops over at least this many items show a progress bar.
PROGRESS_BAR_FROM = 50
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


def _progress_bar(items: list, label: str) -> Iterator:
    with click.progressbar(items, label=label, file=click.get_text_stream("stderr")) as bar:
        yield from bar


def build_site(
    config: ProjectConfig,
    out: Path | None = None,
    options: BuildOptions | None = None,
    reporter: Reporter | None = None,
) -> BuildResult:
    """Build the site of ``config`` (Django set up) and publish it to ``out``
    (default: the project's ``site_dir``)."""
    options = options or BuildOptions()
    reporter = reporter or Reporter(options.quiet)
    target = Path(out or config.site_dir).resolve()
    _check_target(config, target)
    started = time.perf_counter()

    with reporter.step("collect") as summary:
        site = collect_site(config, progress=lambda todo: reporter.iterate(todo, "models"))
        apps = f"{len(site.apps)} app" + ("s" if len(site.apps) != 1 else "")
        summary.append(f"{len(site.models)} models in {apps}")
    provenance = Provenance(
        built_at=datetime.now(UTC).replace(microsecond=0),
        snapshot=site.last_modified,
        git_commit=git_commit(config.root),
    )
    context = RenderContext(config=config, options=options, provenance=provenance)
    context.extras[NEWS_EXTRA] = collect_build_news(config, options.audience, provenance.built_at)
    with reporter.step("render") as summary:
        contributions = render_site(site, context)
        summary.append(f"{sum(isinstance(c, Page) for c in contributions)} pages")
    with reporter.step("write") as summary:
        written = write_generated(config.docs_dir, contributions)
        summary.append(f"{written.pages} pages, {written.assets} files in {written.folder}")
        if written.created_home:
            summary.append(f"created {config.docs_dir / 'index.md'}")
    with reporter.step("mkdocs") as summary:
        staging = Path(tempfile.mkdtemp(prefix=".espresso-static-build-", dir=target.parent))
        try:
            with mkdocs_messages() as warnings:
                mkdocs_config = load_mkdocs_config(config, site, contributions, staging, context)
                run_mkdocs(mkdocs_config, warnings)
        except BaseException:  # MkDocs' Abort is a SystemExit
            shutil.rmtree(staging, ignore_errors=True)
            raise
        for warning in warnings:
            reporter.echo(f"  warning: {warning}")
        summary.append(f"{len(warnings)} warnings")
    with reporter.step("publish"):
        publish(staging, target)
    pages = count_pages(target)
    return BuildResult(target, pages, time.perf_counter() - started)


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
            "nav": site_nav(contributions, hand_written_pages(config.docs_dir), raw.get("nav")),
            "strict": context.options.strict,
            # Fragments are included by pages, never pages themselves.
            "exclude_docs": f"{raw.get('exclude_docs') or ''}\n/{GENERATED}/{PARTIALS}/\n",
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
    """Swap the freshly built ``staging`` in for ``target`` (renames in one folder)."""
    backup = None
    if target.exists():
        backup = staging.with_name(staging.name + "-previous")
        target.rename(backup)
    try:
        staging.rename(target)
    except OSError:
        if backup is not None:
            backup.rename(target)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if backup is not None:
        shutil.rmtree(backup)


def count_pages(site_dir: Path) -> int:
    return sum(1 for page in site_dir.rglob("*.html") if page.name != "404.html")


def build_summary(result: BuildResult) -> str:
    return f"Site published to {result.site_dir}: {result.pages} pages in {result.seconds:.1f} s."
