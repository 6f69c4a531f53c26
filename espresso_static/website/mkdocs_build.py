"""The MkDocs step of ``build-site``: the project's ``mkdocs.yml`` with what the
generated site needs (navigation, Markdown extensions, math and Mermaid, theme
overrides, the features' ``extra`` values) merged in memory — the file itself is never
rewritten — and MkDocs' build run through its Python API, its warnings collected.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path, PurePosixPath

import jinja2

from espresso_static.exceptions import EspressoStaticError
from espresso_static.project.config import ProjectConfig
from espresso_static.website.cache import BuildCache
from espresso_static.website.collect import SiteModel
from espresso_static.website.context import Asset, Contribution, Page, Provenance, RenderContext
from espresso_static.website.feature import Collected, run_step
from espresso_static.website.hardlinks import copy_or_link
from espresso_static.website.render import GENERATED, PARTIALS, format_time
from espresso_static.website.sanitize import escaped_page_text_plugin
from espresso_static.website.write import hand_written_pages, pages_not_for

#: mkdocs-material defaults when the project's mkdocs.yml names no theme.
DEFAULT_THEME = {
    "name": "material",
    "font": False,
    "features": ["navigation.indexes", "navigation.prune", "content.code.copy", "search.suggest"],
}
#: Our theme overrides (the provenance footer, the news banner), after the user's
#: custom_dir and before the theme.
THEME_OVERRIDES = Path(str(resources.files("espresso_static.templates").joinpath("overrides")))
#: In strict mode every link problem is a warning, and warnings fail the build.
STRICT_VALIDATION = {
    "omitted_files": "warn",
    "absolute_links": "warn",
    "unrecognized_links": "warn",
    "anchors": "warn",
}
#: Markdown extensions the generated pages use: (name, settings merged into the user's).
REQUIRED_EXTENSIONS = (
    ("admonition", {}),  # the Data health page's verdict, the news items
    ("pymdownx.details", {}),
    ("tables", {}),
    ("attr_list", {}),
    ("md_in_html", {}),
    ("pymdownx.arithmatex", {"generic": True}),
    ("pymdownx.highlight", {}),
    ("pymdownx.superfences", {}),
    ("pymdownx.snippets", {"check_paths": True}),
)


#: The languages of the code blocks our templates write (``model.md.j2``: population
#: scripts; ``status.md.j2``: commands), whose lexers :func:`import_mkdocs` prepares.
CODE_LANGUAGES = ("python", "bash")


def import_mkdocs() -> None:
    """Import MkDocs' build and the Markdown extensions every build uses, and compile
    the lexers of our pages' code (0.08 s): a build does it while it waits for its
    workers, not once they are done."""
    import markdown
    from mkdocs.commands import build  # noqa: F401
    from mkdocs.config import defaults  # noqa: F401
    from pygments.lexers import get_lexer_by_name

    markdown.Markdown(extensions=[name for name, _ in REQUIRED_EXTENSIONS])
    for language in CODE_LANGUAGES:  # a lexer's first instance compiles its patterns
        get_lexer_by_name(language)


def site_nav(contributions: Iterable[Contribution], hand_written: list[str], user_nav) -> list:
    """The navigation: home, the generated pages by section, then the hand-written pages.
    A nav written in mkdocs.yml is kept as it is, the generated sections appended.
    A section holds the pages of one top folder of the generated pages (or of their
    root): an app titled "Status" and the status pages' section "Status" are two
    sections, as two apps of one title are."""
    generated: list = []
    sections: dict[tuple[str, tuple[str, ...]], list] = {}
    for item in contributions:
        if isinstance(item, Page) and item.section is not None:
            folder = item.path.split("/")[0] if "/" in item.path else ""
            entries = _section(generated, sections, folder, item.section)
            entries.append({item.title: f"{GENERATED}/{item.path}"})
    if user_nav:
        return [*user_nav, *generated]
    home, others = hand_written[:1], hand_written[1:]
    return [*({"Home": page} for page in home), *generated, *others]


def _section(nav: list, sections: dict, folder: str, section: tuple[str, ...]) -> list:
    """The entry list of ``section`` of the pages in ``folder`` in ``nav``, created in
    order of first use (``sections``: those created, by folder and titles)."""
    entries = nav
    for depth, title in enumerate(section, 1):
        key = (folder, section[:depth])
        if key not in sections:
            entries.append({title: []})
            sections[key] = entries[-1][title]
        entries = sections[key]
    return entries


def load_mkdocs_config(
    config: ProjectConfig,
    site: SiteModel,
    contributions: list[Contribution],
    site_dir: Path,
    context: RenderContext,
    collected: list[Collected] = (),
    docs: Path | None = None,
    cache: BuildCache | None = None,
    published: Path | None = None,
):
    """The project's MkDocs configuration with the generated site merged in, building
    the docs folder ``docs`` (default: the project's), the theme's compiled templates
    kept in ``cache``; static files that the ``published`` site (the one this build
    replaces) holds unchanged, or that ``docs`` generated, are linked, not copied
    (:mod:`.hardlinks`)."""
    not_for = pages_not_for(config.docs_dir, site.audience, config.audiences)
    mkdocs_config = _configured(
        config.mkdocs_config,
        site.name,
        lambda raw: {
            "docs_dir": str(docs or config.docs_dir),
            "site_dir": str(site_dir),
            "nav": site_nav(
                contributions,
                hand_written_pages(config.docs_dir, site.audience, config.audiences),
                _nav_without(raw.get("nav"), not_for),
            ),
            "strict": context.options.strict,
            "exclude_docs": _exclude_docs(raw.get("exclude_docs"), not_for),
            **({"validation": STRICT_VALIDATION} if context.options.strict else {}),
        },
    )
    _merge_extensions(mkdocs_config, docs or config.docs_dir)
    _merge_includes(mkdocs_config, contributions)
    _add_theme_overrides(mkdocs_config, cache)
    _drop_online_features(mkdocs_config)
    custom_dir = mkdocs_config.theme.custom_dir
    own_templates = [THEME_OVERRIDES, *([Path(custom_dir)] if custom_dir else [])]
    mkdocs_config.plugins["espresso-static-page-text"] = escaped_page_text_plugin(own_templates)
    if cache is not None and cache.enabled:
        mkdocs_config.plugins["espresso-static-compiled-templates"] = _compiled_templates(cache)
    if docs is not None:
        mkdocs_config.plugins["espresso-static-linked-files"] = _linked_static_files(
            published, docs / GENERATED
        )
    mkdocs_config.extra["espresso_static"] = _provenance_extra(context.provenance)
    for feature, data in collected:
        run_step(feature, "on_config", mkdocs_config.extra, context, data)
    return mkdocs_config


def check_mkdocs_config(config: ProjectConfig, folder: Path) -> None:
    """Fail, naming the file and what is wrong, if the project's ``mkdocs.yml`` cannot
    configure MkDocs (the docs and the site stand in ``folder``, the build's own): a
    build checks it while its workers collect, not minutes later."""
    docs = folder / "mkdocs-check"
    docs.mkdir(exist_ok=True)
    _configured(
        config.mkdocs_config,
        config.name,
        lambda raw: {"docs_dir": str(docs), "site_dir": str(folder / "mkdocs-check-site")},
    )


def _configured(path: Path, site_name: str, overrides):
    """MkDocs' configuration of the file ``path`` (none: empty) with ``overrides(raw)``
    (``raw``: the file's values) in place of its own, ``site_name`` and our theme where
    it names none; an error names the file, on one line, with what MkDocs logged."""
    from mkdocs.config import load_config
    from mkdocs.exceptions import ConfigurationError, MkDocsException
    from mkdocs.utils.yaml import yaml_load

    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    with mkdocs_messages() as messages:
        try:
            raw = yaml_load(_named_text(text, path)) or {}
            if not isinstance(raw, dict):
                raise EspressoStaticError(
                    f"{path}: must be a mapping of settings, not {_yaml_kind(raw)}"
                )
            values = {
                "site_name": raw.get("site_name") or site_name,
                "theme": raw.get("theme") or DEFAULT_THEME,
                **overrides(raw),
            }
            source = _named_text(text or "{}", path)
            return load_config(config_file=source, config_file_path=str(path), **values)
        except ConfigurationError as error:
            # YAML's errors span lines and repeat the file's name, which leads the line.
            detail = " ".join(str(error).replace(f'in "{path}", ', "at ").split())
            raise EspressoStaticError(f"{path}: {detail}") from error
        except MkDocsException as error:  # an Abort: what went wrong is in MkDocs' log
            details = "; ".join(messages) or str(error)
            raise EspressoStaticError(
                f"{path} is not a usable MkDocs configuration: {details}"
            ) from error


def _named_text(text: str, path: Path) -> io.StringIO:
    """``text`` read from memory as the file ``path``: MkDocs finds the file an
    ``INHERIT:`` key names beside the file's name."""
    source = io.StringIO(text)
    source.name = str(path)
    return source


def _yaml_kind(value) -> str:
    """What the file holds instead of settings, in words (YAML's, not Python's)."""
    kinds = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def _exclude_docs(user_patterns: str | None, not_for: list[str]) -> str:
    """The user's ``exclude_docs``, the fragments of generated pages (included by
    pages, never pages themselves) and the hand-written pages ``not_for`` the audience
    (:func:`pages_not_for`; excluded pages are not built: not in the site, its search
    index or sitemap)."""
    patterns = [f"/{_gitignore_escape(page)}" for page in not_for]
    return "\n".join([user_patterns or "", f"/{GENERATED}/{PARTIALS}/", *patterns, ""])


def _nav_without(nav, not_for: list[str]):
    """The nav of mkdocs.yml without entries for the pages (and folders) ``not_for``
    the audience, nor sections left empty (None: nothing left): MkDocs would list an
    excluded page all the same, by the title mkdocs.yml gives it."""
    if isinstance(nav, list):
        entries = (_nav_without(entry, not_for) for entry in nav)
        return [entry for entry in entries if entry is not None]
    if isinstance(nav, dict):
        entries = {title: _nav_without(target, not_for) for title, target in nav.items()}
        kept = {title: target for title, target in entries.items() if target not in (None, [])}
        return kept or None
    return None if _is_excluded(nav, not_for) else nav


def _is_excluded(target, not_for: list[str]) -> bool:
    """Whether the nav ``target`` is a page ``not_for`` lists, itself or by its folder."""
    if not isinstance(target, str):
        return False
    page = PurePosixPath(target.lstrip("/")).as_posix()
    return any(page == name or (name.endswith("/") and page.startswith(name)) for name in not_for)


def _gitignore_escape(path: str) -> str:
    return "".join(f"\\{char}" if char in "\\*?[!# " else char for char in path)


def _merge_extensions(mkdocs_config, docs_dir: Path) -> None:
    from pymdownx.superfences import fence_code_format

    extensions, settings = mkdocs_config.markdown_extensions, mkdocs_config.mdx_configs
    for name, defaults in REQUIRED_EXTENSIONS:
        if name not in extensions:
            extensions.append(name)
        settings[name] = {**defaults, **settings.get(name, {})}
    # Snippets resolve paths from the working directory unless told the docs folder;
    # the build's own first: a base_path naming the project's docs folder would find
    # there the generated pages another audience's build published last.
    snippets = settings["pymdownx.snippets"]
    snippets["base_path"] = [str(docs_dir), *_as_list(snippets.get("base_path"))]
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


#: Theme features a site that works offline cannot keep: instant navigation swaps a page
#: in without running its scripts (``load_when_needed.js``), and mkdocs-material then
#: loads Mermaid from a CDN and leaves the page's math as TeX (``.prefetch`` and the
#: other sub-features need it).
ONLINE_FEATURES = ("navigation.instant",)


def _drop_online_features(mkdocs_config) -> None:
    """Leave out the theme's :data:`ONLINE_FEATURES`, with a MkDocs warning saying so."""
    features = mkdocs_config.theme.get("features") or []
    dropped = [f for f in features if str(f).startswith(ONLINE_FEATURES)]
    if not dropped:
        return
    mkdocs_config.theme["features"] = [f for f in features if f not in dropped]
    from mkdocs.plugins import BasePlugin

    message = (
        f"mkdocs.yml theme.features {', '.join(map(str, dropped))} ignored: with instant "
        "navigation mkdocs-material would load Mermaid from a CDN (the site works offline)"
    )

    class DroppedFeatures(BasePlugin):
        def on_config(self, config):  # in the build, where its warnings are collected
            logging.getLogger("mkdocs.plugins.espresso_static").warning(message)

    mkdocs_config.plugins["espresso-static-dropped-features"] = DroppedFeatures()


def _add_theme_overrides(mkdocs_config, cache: BuildCache | None = None) -> None:
    """Our partials (the provenance footer) after the user's custom_dir, before the
    theme; the theme's files listed without its hidden folders; each environment of
    the theme with its compiled templates kept in ``cache`` (mkdocs-material's search
    plugin makes three of its own, each compiling the language partials again)."""
    overrides = str(THEME_OVERRIDES)
    theme = mkdocs_config.theme
    dirs = theme.dirs
    position = 1 if theme.custom_dir else 0
    if overrides not in dirs:
        dirs.insert(position, overrides)
    theme_environment = theme.get_env

    def environment():
        env = theme_environment()
        if type(env.loader) is jinja2.FileSystemLoader:  # MkDocs' own: listed the same
            env.loader = _ThemeFiles(env.loader.searchpath, followlinks=env.loader.followlinks)
        if cache is not None:
            env.bytecode_cache = cache.compiled_templates(env)
        return env

    theme.get_env = environment


class _ThemeFiles(jinja2.FileSystemLoader):
    """A theme's templates, listed without hidden folders. MkDocs copies no file of
    theirs into the site (it leaves out every path with a part starting with a dot), and
    mkdocs-material's icons (``.icons``, 14,000 of its 14,500 files) made listing and
    filtering the theme's files a sixth of MkDocs' time."""

    def list_templates(self) -> list[str]:
        found = set()
        for root in self.searchpath:
            for folder, subfolders, names in os.walk(root, followlinks=self.followlinks):
                subfolders[:] = [name for name in subfolders if not name.startswith(".")]
                relative = os.path.relpath(folder, root)
                for name in names:
                    path = name if relative == "." else os.path.join(relative, name)
                    found.add(path.replace(os.sep, "/"))
        return sorted(found)


def _compiled_templates(cache: BuildCache):
    """A MkDocs plugin keeping the theme's compiled templates in ``cache``. Added
    last, so the environment it sees has every other plugin's extensions."""
    from mkdocs.plugins import BasePlugin

    class CompiledTemplates(BasePlugin):
        def on_env(self, env, config, files):
            env.bytecode_cache = cache.compiled_templates(env)
            return env

    return CompiledTemplates()


def _linked_static_files(published: Path | None, generated: Path):
    """A MkDocs plugin putting the site's static files in place with
    :func:`.copy_or_link`: linked from the ``published`` site where it holds them
    unchanged, else from ``generated`` (this build's own), else copied."""
    from mkdocs.plugins import BasePlugin
    from mkdocs.structure.files import Files, InclusionLevel

    class LinkingFiles(Files):
        def copy_static_files(self, dirty=False, *, inclusion=InclusionLevel.is_included):
            for file in self:
                if file.is_documentation_page() or not inclusion(file.inclusion):
                    continue
                if dirty or file.generated_by or file.abs_src_path is None:
                    file.copy_file(dirty)  # MkDocs' own way
                    continue
                source, path = Path(file.abs_src_path), Path(file.abs_dest_path)
                path.parent.mkdir(parents=True, exist_ok=True)
                before = published / file.dest_uri if published is not None else None
                copy_or_link(source, path, before, source.resolve().is_relative_to(generated))

    class LinkedStaticFiles(BasePlugin):
        def on_files(self, files, config):
            return LinkingFiles(files)

    return LinkedStaticFiles()


def _provenance_extra(provenance: Provenance) -> dict:
    return {
        "built_at": format_time(provenance.built_at),
        "snapshot": format_time(provenance.snapshot)
        if provenance.snapshot
        else provenance.no_snapshot,
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
