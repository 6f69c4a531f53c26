"""Step 3 of ``build-site``: write the rendered pages and assets into the docs folder.

Generated files live in ``<docs_dir>/generated/`` only (gitignored), replaced whole at
every build so a deleted model leaves no stale page. Hand-written pages beside it are
never touched, except that a missing ``index.md`` is created once from a small
template that includes the generated home page (the user may then edit it).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from espresso_static.exceptions import EspressoStaticError
from espresso_static.site.context import Asset, Page
from espresso_static.site.render import GENERATED, HOME_PARTIAL

#: Marks a generated folder as ours: only such a folder is ever deleted.
MARKER = ".espresso-static-generated"
HOME_PAGE = "index.md"
HOME_PAGE_TEXT = f"""---
title: Home
---

<!-- Hand-written home page: add your own text around the generated overview below
     (written by build-site into {GENERATED}/{HOME_PARTIAL}). -->

--8<-- "{GENERATED}/{HOME_PARTIAL}"
"""


@dataclass(frozen=True)
class WriteReport:
    folder: Path
    pages: int
    assets: int
    bytes: int
    #: The hand-written home page had to be created.
    created_home: bool


def write_generated(docs_dir: Path, contributions: Iterable[Page | Asset]) -> WriteReport:
    """Replace ``<docs_dir>/generated`` with ``contributions``; create ``index.md`` if missing."""
    folder = docs_dir / GENERATED
    _clear(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text(
        "Written by espresso-static build-site; replaced at every build.\n"
    )
    pages = assets = size = 0
    for item in contributions:
        content = item.markdown.encode() if isinstance(item, Page) else item.content
        path = folder / item.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        size += len(content)
        if isinstance(item, Page):
            pages += 1
        else:
            assets += 1
    return WriteReport(folder, pages, assets, size, created_home=ensure_home_page(docs_dir))


def _clear(folder: Path) -> None:
    if not folder.exists():
        return
    if any(folder.iterdir()) and not (folder / MARKER).exists():
        raise EspressoStaticError(
            f"{folder} exists and was not written by espresso-static: move it away, "
            f"build-site writes its generated pages there."
        )
    # The marker goes last: a build killed half way through still finds it next time.
    for child in folder.iterdir():
        if child.name != MARKER:
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    shutil.rmtree(folder)


def ensure_home_page(docs_dir: Path) -> bool:
    """Create ``<docs_dir>/index.md`` including the generated home page, if missing."""
    home = docs_dir / HOME_PAGE
    if home.exists():
        return False
    home.write_text(HOME_PAGE_TEXT, encoding="utf-8")
    return True


def hand_written_pages(docs_dir: Path, audience: str | None = None) -> list[str]:
    """Markdown pages of the docs folder outside ``generated/``, the home page first;
    with ``audience``, only the pages for it (see :func:`page_audiences`)."""
    pages = sorted(
        path.relative_to(docs_dir).as_posix()
        for path in docs_dir.rglob("*.md")
        if GENERATED not in path.relative_to(docs_dir).parts[:1]
    )
    if audience is not None:
        pages = [page for page in pages if is_for(docs_dir / page, audience)]
    return sorted(pages, key=lambda page: page != HOME_PAGE)


def pages_not_for(docs_dir: Path, audience: str) -> list[str]:
    """The hand-written pages whose front matter keeps them out of ``audience``'s builds."""
    everything = set(hand_written_pages(docs_dir))
    return sorted(everything - set(hand_written_pages(docs_dir, audience)))


def is_for(page: Path, audience: str) -> bool:
    """Whether the hand-written ``page`` is in the builds of ``audience``."""
    wanted = page_audiences(page)
    return wanted is None or audience in wanted


def page_audiences(page: Path) -> list[str] | None:
    """The audiences a hand-written page names in its front matter, e.g.
    ``audiences: [internal]`` (None: every build has it)."""
    from mkdocs.utils.meta import get_data

    try:
        _, meta = get_data(page.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as error:
        raise EspressoStaticError(f"{page} is not UTF-8 text: {error}") from None
    wanted = meta.get("audiences")
    if wanted is None:
        return None
    if isinstance(wanted, str):
        wanted = [wanted]
    if not isinstance(wanted, list) or not all(isinstance(name, str) for name in wanted):
        raise EspressoStaticError(
            f"{page}: front matter `audiences` must be a list of audience names, "
            f"e.g. audiences: [internal], not {wanted!r}."
        )
    return wanted
