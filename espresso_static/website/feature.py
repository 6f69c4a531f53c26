"""The seam of ``build-site``: a *feature* is one kind of output (the model
documentation, status pages, news and feeds, open data, data health, or a project's
own page), an object whose steps the pipeline (:mod:`espresso_static.website.pipeline`)
calls in this order, for each build. The steps are named after MkDocs' plugin events;
each has a default that does nothing, so a feature writes only the steps it needs.

``on_collect(build) -> data``
    Read what the feature shows from the database (inside the build's one consistent
    read: every feature sees the same snapshot) into a dataclass of its own, ``data``
    (None: nothing to show in this build). The only step that may read the database.
``on_home_markdown(site, context, data) -> str``
    A section of the home page (Markdown), e.g. the latest news.
``on_model_links(site, context, data) -> {model label: ModelLink}``
    A link in the head of model pages, e.g. to the model's downloads.
``on_files(site, context, data) -> [Page | Asset]``
    The pages and files (the render step). ``context`` holds every feature's home
    sections and model links.
``on_config(extra, context, data)``
    Entries of MkDocs' ``extra`` (what theme overrides read).
``on_post_build(site_dir, context, data)``
    The site is built in ``site_dir`` (its staging folder, published only when every
    step succeeded): move or copy files into it.
``on_published(site_dir, context, data)``
    The site is published in ``site_dir``: remember what it showed (e.g. the change
    log's position, for the next build's Changes page). A failed build never gets here.

The built-in features are listed once, in :data:`espresso_static.website.features.FEATURES`;
a project adds its own with ``features = ["package.module:Class"]`` in its
configuration (:func:`project_features`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

from espresso_static.declare.access import AudienceView
from espresso_static.exceptions import ConfigError, EspressoStaticError, one_line_text
from espresso_static.project.config import CONFIG_TABLE, ProjectConfig
from espresso_static.project.database_errors import failure_advice
from espresso_static.project.options import NOT_ALLOWED, Invalid, Problem
from espresso_static.website.cache import BuildCache
from espresso_static.website.collect import SiteModel
from espresso_static.website.context import (
    BuildOptions,
    Contribution,
    ModelLink,
    Provenance,
    RenderContext,
)
from espresso_static.website.paths import GENERATED, app_folder, page_address

T = TypeVar("T")
#: A progress bar over ``total`` units labelled ``label``: a context manager yielding
#: ``update(done_since_last_call)``.
ProgressBar = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]


@dataclass(frozen=True)
class Build:
    """What a feature's collect step may use."""

    config: ProjectConfig
    view: AudienceView
    #: ``(site, provenance)``, read on first use (see :attr:`site`).
    schema: Callable[[], tuple[SiteModel, Provenance]]
    options: BuildOptions
    #: Outputs of unchanged inputs (see :mod:`espresso_static.website.cache`).
    cache: BuildCache
    #: Where the site will be published.
    site_dir: Path
    #: A folder beside the published site, on the same file system, removed after the
    #: build: large files are written there and moved into the site by ``on_post_build``.
    work_dir: Path
    #: Every table the project's outputs may read (its models, what they point to, the
    #: progress snapshots): the input of what depends on all of them.
    tables: tuple
    #: Times one part of the collect step: ``with build.part() as line:`` — the words
    #: appended to ``line`` go to the collect step's report, with the time taken and
    #: what the cache supplied.
    part: Callable[[], AbstractContextManager[list[str]]]
    #: A progress bar for long work (shown only when long enough and not quiet).
    counter: ProgressBar
    #: The token of the build's snapshot, for work split over worker processes
    #: (:func:`espresso_static.website.workers.side_by_side`); None: do it here.
    snapshot: str | None = None

    @property
    def site(self) -> SiteModel:
        """The models the site shows, with their row counts. A ``concurrent`` feature's
        collect step starts before the build has read them: its worker reads them on
        first use (those that do not ask start their work sooner)."""
        return self.schema()[0]

    @property
    def provenance(self) -> Provenance:
        """When the build ran, the data's latest change and the project's commit."""
        return self.schema()[1]


class Feature(Generic[T]):
    """One kind of output of ``build-site`` (see the module's documentation)."""

    #: Names the feature in messages (default: the class name).
    name: str = ""
    #: Its collect step may run in a worker process beside the others' (it reads the
    #: database and writes only its ``work_dir`` and cache entries; its data pickles):
    #: for the expensive ones (:mod:`espresso_static.website.workers`).
    concurrent: bool = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.name = cls.__dict__.get("name") or cls.__name__

    def on_collect(self, build: Build) -> T | None:
        return None

    def on_home_markdown(self, site: SiteModel, context: RenderContext, data: T | None) -> str:
        return ""

    def on_model_links(
        self, site: SiteModel, context: RenderContext, data: T | None
    ) -> dict[str, ModelLink]:
        return {}

    def on_files(
        self, site: SiteModel, context: RenderContext, data: T | None
    ) -> list[Contribution]:
        return []

    def on_config(self, extra: dict, context: RenderContext, data: T | None) -> None:
        return None

    def on_post_build(self, site_dir: Path, context: RenderContext, data: T | None) -> None:
        return None

    def on_published(self, site_dir: Path, context: RenderContext, data: T | None) -> None:
        return None


#: A feature with what its collect step returned.
Collected = tuple[Feature, Any]


def run_step(feature: Feature, step: str, *args):
    """Call the step ``step`` of ``feature``. A project's feature that fails says so in
    one line naming it and the step (the built-in ones raise errors of their own)."""
    try:
        return getattr(feature, step)(*args)
    except Exception as error:
        kind = type(feature)
        if kind.__module__.startswith("espresso_static.") or isinstance(error, EspressoStaticError):
            raise
        detail = " ".join(str(error).split()) or "no message"
        raise EspressoStaticError(
            f"The project's site feature {kind.__module__}:{kind.__qualname__} failed in "
            f"{step}: {failure_advice(error) or f'{type(error).__name__}: {detail}'}"
        ) from error


def with_feature_sections(
    site: SiteModel, context: RenderContext, collected: Iterable[Collected]
) -> RenderContext:
    """``context`` with the features' home-page sections and model-page links."""
    sections, links = [], {}
    for feature, data in collected:
        section = run_step(feature, "on_home_markdown", site, context, data)
        if section:
            sections.append(section)
        for label, link in run_step(feature, "on_model_links", site, context, data).items():
            links[label] = (*links.get(label, ()), link)
    return replace(context, home_sections=tuple(sections), model_links=links)


def render_features(
    site: SiteModel, context: RenderContext, collected: Iterable[Collected]
) -> list[Contribution]:
    """The render step: every feature's pages and files, in feature order (the order
    of the navigation); fails on two contributions to the same path or page address (a
    project's feature writing where an app's pages or another feature's are)."""
    collected = list(collected)
    context = with_feature_sections(site, context, collected)
    contributions: list[Contribution] = []
    seen: dict[str, tuple[str, str]] = {}  # address: the feature and path there
    for feature, data in collected:
        for item in run_step(feature, "on_files", site, context, data):
            address = page_address(item.path)
            if address in seen:
                raise _written_twice(site, (*seen[address], feature.name, item.path))
            seen[address] = (feature.name, item.path)
            contributions.append(item)
    return contributions


def _written_twice(site: SiteModel | None, clash: tuple[str, str, str, str]) -> EspressoStaticError:
    """The error of two features writing one path or page address: ``clash`` is the
    first feature's name and path, then the second's; names the app whose pages are in
    the folder, if any."""
    first, first_path, second, path = clash
    folder = path.split("/")[0]
    apps = [app.label for app in site.apps if app_folder(app.label) == folder] if site else []
    whose = f" (the folder of app {apps[0]}'s pages)" if apps else ""
    written = f"{GENERATED}/{path}"
    if first_path != path:
        written = f"the page {GENERATED}/{page_address(path)} ({first_path} and {path})"
    return EspressoStaticError(
        f"The site features {first} and {second} both write {written}{whose}: a "
        "project's feature writes its pages in a folder of its own, named like no app and "
        "no other feature's (with a hyphen, a name no app label has)."
    )


def project_features(config: ProjectConfig) -> list[Feature]:
    """The features the project registers (``features = ["package.module:Class"]``),
    each an instance of the named :class:`Feature` subclass, made without arguments; a
    ConfigError names the first that is not one."""
    features, problems = _loaded_features(config)
    if problems:
        raise ConfigError(
            f"{config.root / 'pyproject.toml'} [tool.{CONFIG_TABLE}] {problems[0]}.", problems
        )
    return features


def feature_problems(config: ProjectConfig) -> list[Problem]:
    """The project's features that do not load (``espresso-static check``)."""
    return _loaded_features(config)[1]


def _loaded_features(config: ProjectConfig) -> tuple[list[Feature], list[Problem]]:
    features, problems = [], []
    for index, reference in enumerate(config.features):
        try:
            features.append(_load_feature(reference))
        except Invalid as error:
            problems.append(Problem(NOT_ALLOWED, f"features[{index}]", str(error)))
    return features, problems


def _load_feature(reference: str) -> Feature:
    # The configuration schema checked the form "package.module:Class".
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise Invalid(f'cannot import "{module_name}": {error}') from error
    except Exception as error:  # the project's own code failing as it loads
        raise Invalid(f'importing "{module_name}" failed: {_described(error)}') from error
    factory = getattr(module, attribute, None)
    if factory is None:
        raise Invalid(f'module "{module_name}" has no "{attribute}"')
    if not (isinstance(factory, type) and issubclass(factory, Feature)):
        raise Invalid(f'"{reference}" is not a subclass of espresso_static.website.feature.Feature')
    try:
        return factory()
    except Exception as error:
        raise Invalid(f'"{reference}" failed as it was made: {_described(error)}') from error


def _described(error: Exception) -> str:
    return f"{type(error).__name__}: {one_line_text(error)}"
