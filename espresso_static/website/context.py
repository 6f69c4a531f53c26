"""What the steps of ``build-site`` hand each other: the build's options, the pages
and files the features contribute, and the context they are rendered in.

Paths of pages and assets are relative to ``<docs_dir>/generated/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from espresso_static import __version__
from espresso_static.project.config import ProjectConfig


@dataclass(frozen=True)
class BuildOptions:
    #: The audience to build for (None: the project's default audience).
    audience: str | None = None
    strict: bool = False
    quiet: bool = False
    #: Build even when the migrations and the database do not match the models.
    allow_drift: bool = False
    #: Reuse outputs of unchanged inputs from the project's cache (``--no-cache``: off).
    use_cache: bool = True
    #: Collect the expensive parts side by side in worker processes (``--serial``: off).
    parallel: bool = True
    #: Where a later step publishes the site built into its output (``nightly`` swaps
    #: its staging folders in): the build is recorded as that site's.
    published_as: Path | None = None


@dataclass(frozen=True)
class Provenance:
    built_at: datetime
    #: The latest visible time a row changed (None: no row, or no time the site shows).
    snapshot: datetime | None
    git_commit: str | None
    version: str = __version__
    #: Whether the site shows any row: rows without a visible time are not "no rows".
    shows_rows: bool = False

    @property
    def no_snapshot(self) -> str:
        """What a page says where it has no snapshot time to show."""
        return "not shown on this site" if self.shows_rows else "no rows yet"


@dataclass(frozen=True)
class Page:
    """A Markdown page; ``section`` places it in the navigation (None: not in the nav)."""

    path: str
    markdown: str
    title: str
    section: tuple[str, ...] | None = ()


@dataclass(frozen=True)
class Asset:
    """A file copied into the site as is; ``include`` adds it to every page
    (``"script"`` or ``"stylesheet"``)."""

    path: str
    content: bytes
    include: str | None = None


Contribution = Page | Asset


@dataclass(frozen=True)
class ModelLink:
    """A link a feature adds to the head of a model's page, e.g. to its downloads:
    ``[text](target)`` followed by ``note`` (``target``: a path from the generated
    pages' root, with an optional ``#anchor``)."""

    text: str
    target: str
    note: str = ""


@dataclass(frozen=True)
class RenderContext:
    """What every feature renders with. ``home_sections`` (Markdown, in feature order)
    and ``model_links`` (by model label) are what features contribute to the pages of
    the model documentation, gathered before rendering."""

    config: ProjectConfig
    options: BuildOptions
    provenance: Provenance
    home_sections: tuple[str, ...] = ()
    model_links: dict[str, tuple[ModelLink, ...]] = field(default_factory=dict)
