"""Step 3 of ``build-site``: the docs folder MkDocs builds, one per build.

Each build gets a folder of its own (beside its target, removed after the build):
links to every entry of the project's docs folder, and the rendered pages and
assets in its ``generated/``. Concurrent builds of one project, of any audiences,
never read or replace each other's files, and a deleted model leaves no stale page.
Hand-written pages are never touched, except that a missing ``index.md`` is created
once from a small template that includes the generated home page (the user may then
edit it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from espresso_static.exceptions import EspressoStaticError
from espresso_static.website.context import Asset, Page
from espresso_static.website.hardlinks import write_or_link
from espresso_static.website.publish import make_staging, swap_in
from espresso_static.website.render import GENERATED, HOME_PARTIAL, PARTIALS

HOME_PAGE = "index.md"
FRONT_MATTER_FENCE = "---\n"
NO_MACROS = "render_macros: false\n"
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


def write_build_docs(
    docs_dir: Path, folder: Path, contributions: Iterable[Page | Asset]
) -> WriteReport:
    """Fill the empty ``folder`` with links to the entries of ``docs_dir`` (but its
    ``generated/``, the last published build's) and ``contributions`` in
    ``folder/generated`` (hard links to the published files they equal); create
    ``docs_dir/index.md`` if missing."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    refuse_broken_links(docs_dir)
    created_home = ensure_home_page(docs_dir)
    for entry in sorted(docs_dir.iterdir()):
        if entry.name != GENERATED:
            (folder / entry.name).symlink_to(entry.resolve(), entry.is_dir())
    generated, published = folder / GENERATED, docs_dir / GENERATED
    pages = assets = size = 0
    for item in contributions:
        content = page_text(item).encode() if isinstance(item, Page) else item.content
        path = generated / item.path
        path.parent.mkdir(parents=True, exist_ok=True)
        write_or_link(path, content, published / item.path)
        size += len(content)
        if isinstance(item, Page):
            pages += 1
        else:
            assets += 1
    return WriteReport(generated, pages, assets, size, created_home)


def page_text(page: Page) -> str:
    """A generated page as written: with ``render_macros: false`` in its front matter,
    as mkdocs-macros would otherwise render its text as a Jinja template, and the text
    of generated pages comes from the database (``{{ ... }}`` in a value would run).
    A partial is included into other pages as it is, front matter and all: not it."""
    if PurePosixPath(page.path).parts[0] == PARTIALS:
        return page.markdown
    if page.markdown.startswith(FRONT_MATTER_FENCE):
        return FRONT_MATTER_FENCE + NO_MACROS + page.markdown.removeprefix(FRONT_MATTER_FENCE)
    return f"{FRONT_MATTER_FENCE}{NO_MACROS}{FRONT_MATTER_FENCE}\n{page.markdown}"


def refuse_broken_links(docs_dir: Path) -> None:
    """Name a broken symbolic link in ``docs_dir`` (but its ``generated/``): MkDocs
    would fail reading it with the path of this build's linked copy, not the user's."""
    for path in _docs_files(docs_dir):
        if path.is_symlink() and not path.exists():
            raise EspressoStaticError(
                f"{path}: a broken symbolic link (to {os.readlink(path)}); "
                "restore its target or remove it."
            )


def refuse_database_inside(docs_dir: Path, database: dict, key: str) -> None:
    """Refuse an SQLite ``database`` (set by the configuration's ``key``) in ``docs_dir``:
    MkDocs would copy it, every row of it, into every build's site."""
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return
    path = Path(database["NAME"]).resolve()
    if path.is_relative_to(docs_dir.resolve()):
        raise EspressoStaticError(
            f"Not building: {key} names the database {path}, inside the docs folder "
            f"{docs_dir}, whose files every build publishes; move it outside."
        )


def _docs_files(docs_dir: Path) -> Iterator[Path]:
    """The files of ``docs_dir`` but its ``generated/``, as MkDocs finds them: through
    symbolic links to folders too (``Path.rglob`` would not enter them)."""
    for folder, subfolders, files in os.walk(docs_dir, followlinks=True):
        if Path(folder) == docs_dir:
            subfolders[:] = [name for name in subfolders if name != GENERATED]
        yield from (Path(folder, name) for name in files)


def keep_generated_docs(generated: Path, docs_dir: Path) -> bool:
    """Swap the published build's generated Markdown into ``docs_dir/generated``
    (gitignored), where builders that read ``mkdocs.yml`` themselves (Zensical) and
    readers of the nightly diff find it; the last published build's wins. False when
    another build swapped at the same moment (the site is published all the same)."""
    holder = make_staging(docs_dir.resolve().parent)  # the project's, gitignored
    try:
        kept = holder / GENERATED
        shutil.move(generated, kept)  # a rename, or a copy across file systems
        swap_in(kept, docs_dir / GENERATED)
        return True
    except OSError:
        return False
    finally:
        shutil.rmtree(holder, ignore_errors=True)


def ensure_home_page(docs_dir: Path) -> bool:
    """Create ``<docs_dir>/index.md`` including the generated home page, if missing."""
    home = docs_dir / HOME_PAGE
    if home.exists():
        return False
    home.write_text(HOME_PAGE_TEXT, encoding="utf-8")
    return True


def hand_written_pages(docs_dir: Path, audience: str, audiences: Collection[str]) -> list[str]:
    """The Markdown pages MkDocs builds from the docs folder outside ``generated/``
    for ``audience`` (one of the configured ``audiences``; see :func:`page_audiences`),
    the home page first."""
    from mkdocs.utils import is_markdown_file

    pages = [page for page in _page_like_files(docs_dir) if is_markdown_file(page)]
    pages = [page for page in pages if is_for(docs_dir / page, audience, audiences)]
    return sorted(pages, key=lambda page: page != HOME_PAGE)


def _page_like_files(docs_dir: Path) -> list[str]:
    """Markdown files outside ``generated/`` in any spelling of their extension
    (``.md``, ``.MD``, ``.markdown``...): MkDocs builds some as pages and copies the
    others as they are, so every one of them is subject to its front matter."""
    from mkdocs.utils import markdown_extensions

    return sorted(
        path.relative_to(docs_dir).as_posix()
        for path in _docs_files(docs_dir)
        if path.suffix.lower() in markdown_extensions
    )


def pages_not_for(docs_dir: Path, audience: str, audiences: Collection[str]) -> list[str]:
    """The Markdown files whose front matter keeps them out of ``audience``'s builds
    (``audiences``: the configured ones), then the outermost folders every page of
    which it keeps out (``folder/``): their other files (the pictures of private pages)
    go with them."""
    pages = _page_like_files(docs_dir)
    excluded = [page for page in pages if not is_for(docs_dir / page, audience, audiences)]
    kept = {folder for page in pages if page not in excluded for folder in _folders(page)}
    private = {folder for page in excluded for folder in _folders(page)} - kept
    outermost = [f for f in private if not any(other in private for other in _folders(f))]
    return excluded + [f"{folder}/" for folder in sorted(outermost)]


def _folders(path: str) -> list[str]:
    """The folders ``path`` is in, the docs folder's own left out."""
    return [parent.as_posix() for parent in PurePosixPath(path).parents][:-1]


def front_matter_problems(docs_dir: Path, audiences: Collection[str]) -> Iterator[str]:
    """One line for each hand-written page of ``docs_dir`` whose front matter does not
    say right which of the configured ``audiences`` it is for."""
    for page in _page_like_files(docs_dir):
        try:
            page_audiences(docs_dir / page, audiences)
        except EspressoStaticError as error:
            yield str(error)


def is_for(page: Path, audience: str, audiences: Collection[str]) -> bool:
    """Whether the hand-written ``page`` is in the builds of ``audience``."""
    wanted = page_audiences(page, audiences)
    return wanted is None or audience in wanted


def page_audiences(page: Path, audiences: Collection[str]) -> list[str] | None:
    """The audiences a hand-written page names in its front matter, e.g.
    ``audiences: [internal]`` (None: every build has it), each one of the configured
    ``audiences``. Front matter MkDocs would not read or that misspells the key, the
    list or a name is an error: the page could otherwise reach every build, or none."""
    import yaml
    from mkdocs.utils.meta import YAML_RE, get_data

    try:
        text = page.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise EspressoStaticError(f"{page} cannot be read: {error}") from None
    # MkDocs reads front matter only at the very start and shows it as text otherwise.
    if not YAML_RE.match(text) and YAML_RE.match(text.lstrip(" \t\n")):
        raise EspressoStaticError(
            f"{page}: blank lines before the front matter, which MkDocs then does not "
            "read (it would show it as text in every build); remove them."
        )
    # MkDocs ignores front matter it cannot read and publishes the page: fail closed.
    if front := YAML_RE.match(text):
        try:
            # The safe loader, as MkDocs reads front matter: the loader of mkdocs.yml
            # makes objects of tags (!!python/object/apply:os.system runs a command).
            if not isinstance(yaml.load(front.group(1), Loader=yaml.SafeLoader), dict):
                raise ValueError("not a mapping of keys to values")
        except Exception as error:
            problem = " ".join(str(error).split())
            raise EspressoStaticError(f"{page}: unreadable front matter: {problem}") from None
    _, meta = get_data(text)
    keys = {str(key).lower(): key for key in meta}
    if "audience" in keys:
        raise EspressoStaticError(
            f"{page}: front matter key `{keys['audience']}` is not read; "
            "did you mean `audiences` (a list, e.g. audiences: [internal])?"
        )
    if "audiences" not in keys:
        return None
    wanted = meta[keys["audiences"]]
    if not isinstance(wanted, list) or not wanted or not all(isinstance(n, str) for n in wanted):
        raise EspressoStaticError(
            f"{page}: front matter `audiences` must be a list of audience names, "
            f"e.g. audiences: [internal], not {wanted!r}."
        )
    if unknown := [name for name in wanted if name not in audiences]:
        raise EspressoStaticError(
            f"{page}: front matter `audiences` names {', '.join(map(repr, unknown))}, "
            f"not a configured audience (audiences: {', '.join(audiences)})."
        )
    return wanted
