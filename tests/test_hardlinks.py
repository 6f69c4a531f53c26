"""Files a rebuild would write unchanged are hard links, never a second name for a
file that is not the build's own, and never written through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from espresso_static.website.hardlinks import copy_or_link, write_or_link
from tests.test_build import build, copy_project, rows  # noqa: F401  (a fixture)

SHARED_MEMORY = Path("/dev/shm")


def test_identical_bytes_are_linked_and_other_bytes_written(tmp_path):
    published = tmp_path / "published.js"
    published.write_bytes(b"same")
    assert write_or_link(tmp_path / "new.js", b"same", published)
    assert (tmp_path / "new.js").stat().st_ino == published.stat().st_ino

    assert not write_or_link(tmp_path / "changed.js", b"other", published)
    assert (tmp_path / "changed.js").read_bytes() == b"other"
    assert published.read_bytes() == b"same"  # never written through a link
    assert not write_or_link(tmp_path / "first.js", b"same", tmp_path / "missing.js")
    assert (tmp_path / "first.js").read_bytes() == b"same"


def test_a_file_another_build_swaps_in_meanwhile_is_not_linked(tmp_path, monkeypatch):
    """Concurrent builds: the public build's page swapped in at the published path
    between this build's comparison and its link (same size, other rows) is not
    published as this build's page (found as a count of 3 rows for 6, in CI)."""
    from espresso_static.website import hardlinks

    published, theirs = tmp_path / "page.md", tmp_path / "theirs.md"
    link = hardlinks._linked

    def swapped_then_linked(existing, path):
        theirs.write_bytes(b"3 rows")
        theirs.replace(existing)  # as swap_in does: a rename
        return link(existing, path)

    monkeypatch.setattr(hardlinks, "_linked", swapped_then_linked)
    source = tmp_path / "source.md"
    for place, call in [
        ("written.md", lambda path: write_or_link(path, b"6 rows", published)),
        ("copied.md", lambda path: copy_or_link(source, path, published, own=False)),
    ]:
        published.write_bytes(b"6 rows")
        source.write_bytes(b"6 rows")
        call(tmp_path / place)
        assert (tmp_path / place).read_bytes() == b"6 rows"


def test_a_symlink_is_never_linked_even_to_the_same_bytes(tmp_path):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_bytes(b"same")
    published = tmp_path / "published.txt"
    published.symlink_to(elsewhere)
    assert not write_or_link(tmp_path / "new.txt", b"same", published)
    assert not (tmp_path / "new.txt").is_symlink()
    assert (tmp_path / "new.txt").stat().st_ino != elsewhere.stat().st_ino

    copy_or_link(published, tmp_path / "copied.txt", None, own=True)
    assert not (tmp_path / "copied.txt").is_symlink()
    assert (tmp_path / "copied.txt").stat().st_ino != elsewhere.stat().st_ino


def test_across_file_systems_the_file_is_written(tmp_path):
    if not SHARED_MEMORY.is_dir() or SHARED_MEMORY.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a file system of its own")
    other = SHARED_MEMORY / f"espresso-static-{os.getpid()}.js"
    other.write_bytes(b"same")
    try:
        assert not write_or_link(tmp_path / "new.js", b"same", other)
        assert (tmp_path / "new.js").read_bytes() == b"same"
        copy_or_link(other, tmp_path / "copied.js", None, own=True)
        assert (tmp_path / "copied.js").read_bytes() == b"same"
    finally:
        other.unlink()


def test_a_source_is_linked_only_when_it_is_the_builds_own(tmp_path):
    source = tmp_path / "source.png"
    source.write_bytes(b"\x89PNG")
    copy_or_link(source, tmp_path / "theirs.png", None, own=False)
    copy_or_link(source, tmp_path / "ours.png", None, own=True)
    assert (tmp_path / "theirs.png").stat().st_ino != source.stat().st_ino
    assert (tmp_path / "ours.png").stat().st_ino == source.stat().st_ino
    copy_or_link(source, tmp_path / "again.png", tmp_path / "theirs.png", own=False)
    assert (tmp_path / "again.png").stat().st_ino == (tmp_path / "theirs.png").stat().st_ino


def inodes(folder: Path) -> dict[str, int]:
    return {
        path.relative_to(folder).as_posix(): path.stat().st_ino
        for path in folder.rglob("*")
        if path.is_file()
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("rows")
def test_a_rebuild_links_what_it_publishes_unchanged(tmp_path):
    project = copy_project(tmp_path)
    figure = project / "docs" / "figure.png"
    figure.write_bytes(b"\x89PNG first")
    site = tmp_path / "site"
    assert build(project, site).exit_code == 0
    first = inodes(site)
    # A file of the user's is copied: publishing never gives it a second name.
    assert first["figure.png"] != figure.stat().st_ino
    kept = tmp_path / "kept.png"
    os.link(site / "figure.png", kept)  # the first site's copy, to look at later

    (site / "extra.css").write_bytes(b"")  # not a file of the next build's
    figure.write_bytes(b"\x89PNG second")
    assert build(project, site).exit_code == 0
    second = inodes(site)
    theme = [name for name in first if name.startswith("assets/") and name.endswith(".js")]
    assert theme and all(second[name] == first[name] for name in theme)
    assert second["figure.png"] != first["figure.png"]
    assert (site / "figure.png").read_bytes() == b"\x89PNG second"
    assert kept.read_bytes() == b"\x89PNG first"  # the changed file was not written through
    assert "extra.css" not in second

    # The build's generated files are one file in the site and in docs/generated.
    generated = project / "docs" / "generated"
    static = [
        name
        for name in second
        if name.startswith("generated/") and not name.endswith(".html")
        if (generated / name.removeprefix("generated/")).is_file()
    ]
    assert static
    for name in static:
        assert second[name] == (generated / name.removeprefix("generated/")).stat().st_ino
