"""Fetch the third-party JavaScript the built sites ship, verified, into
``espresso_static/vendor/``.

Each package is an unmodified, pinned release from the npm registry: the tarball is
checked against the registry's published ``integrity`` (SHA-512) pinned below, and
every file taken from it against its pinned SHA-256, before anything is written. The
files are committed under ``espresso_static/vendor/<package>/`` with the package's
licence, so an install (wheel, editable, offline cluster) needs no network; they are
never edited by hand: ``--check`` (run by the test suite) proves they are the pinned
release's, byte for byte.

    python scripts/fetch_vendor.py                    # download and (re)write the files
    python scripts/fetch_vendor.py --tarball X.tgz    # the same from `npm pack` output
    python scripts/fetch_vendor.py --check            # verify the committed files (offline)

To upgrade: change ``version`` and ``integrity`` (``npm view mermaid@VERSION
dist.integrity``), run with ``--update-checksums`` to record the new files'
SHA-256, look at the diff and commit.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENDOR = REPO / "espresso_static" / "vendor"
REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Pinned:
    name: str
    version: str
    #: The registry's ``dist.integrity`` of the release tarball.
    integrity: str
    #: Path inside the tarball -> (file name under vendor/<name>/, its SHA-256).
    files: dict[str, tuple[str, str]]

    @property
    def tarball_url(self) -> str:
        return f"{REGISTRY}/{self.name}/-/{self.name}-{self.version}.tgz"

    @property
    def folder(self) -> Path:
        return VENDOR / self.name


PINNED = (
    # Mermaid renders the entity-relationship diagrams of the app pages; 11.x is the
    # major version mkdocs-material's diagram integration is written for.
    Pinned(
        name="mermaid",
        version="11.17.2",
        integrity="sha512-V6K3C8EBdEsPFZXSKMJe6ppQOENxuHARr9GvHX4hh47lAbhMRD9qf4oEK7LoaRQxULMa80/qt5gHO73aCleBBg==",
        files={
            "package/dist/mermaid.min.js": (
                "mermaid.min.js",
                "581ed7d74bd9048d0e3a91363927d72ef22942d7722546b27f7cc29e35390eb8",
            ),
            "package/LICENSE": (
                "LICENSE",
                "ec9fb67dcb25eccc416ed56e1aab819222c805a2a4bfe4cb19e7556bf2ffde80",
            ),
        },
    ),
)


class VendorError(Exception):
    pass


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_integrity(package: Pinned, tarball: bytes) -> None:
    algorithm, _, expected = package.integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode()
    if actual != expected:
        raise VendorError(
            f"{package.name}-{package.version}.tgz: {algorithm} is {actual}, the pinned "
            f"integrity is {expected}; refusing it."
        )


def extract(package: Pinned, tarball: bytes, check_files: bool = True) -> dict[str, bytes]:
    """File name -> content of the pinned files of a verified tarball."""
    verify_integrity(package, tarball)
    found = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for inner, (name, expected) in package.files.items():
            member = archive.extractfile(inner)
            if member is None:
                raise VendorError(f"{package.tarball_url} has no file {inner}.")
            data = member.read()
            if check_files and sha256(data) != expected:
                raise VendorError(
                    f"{inner} of {package.name}-{package.version}: SHA-256 {sha256(data)}, "
                    f"pinned {expected}."
                )
            found[name] = data
    return found


def check(package: Pinned) -> list[str]:
    """Problems of the committed files of ``package`` (empty: all are the pinned ones)."""
    problems = []
    for name, expected in package.files.values():
        path = package.folder / name
        if not path.is_file():
            problems.append(f"{path} is missing: run python scripts/fetch_vendor.py.")
        elif sha256(path.read_bytes()) != expected:
            problems.append(
                f"{path} is not the file of {package.name} {package.version} (SHA-256 differs): "
                "run python scripts/fetch_vendor.py."
            )
    return problems


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Verify the committed files only.")
    parser.add_argument(
        "--tarball", type=Path, help="Use this release tarball (npm pack) instead of downloading."
    )
    parser.add_argument(
        "--update-checksums",
        action="store_true",
        help="Print the SHA-256 of the files of a new pin (after its integrity is checked).",
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = [problem for package in PINNED for problem in check(package)]
            for problem in problems:
                print(problem, file=sys.stderr)
            if not problems:
                print(", ".join(f"{p.name} {p.version}" for p in PINNED) + ": verified.")
            return 1 if problems else 0
        for package in PINNED:
            tarball = args.tarball.read_bytes() if args.tarball else download(package.tarball_url)
            files = extract(package, tarball, check_files=not args.update_checksums)
            if args.update_checksums:
                for name, data in files.items():
                    print(f"{package.name}/{name}: {sha256(data)}")
                continue
            package.folder.mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                (package.folder / name).write_bytes(data)
            print(f"{package.name} {package.version}: {len(files)} files in {package.folder}.")
    except (VendorError, OSError) as error:
        print(f"fetch_vendor: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
