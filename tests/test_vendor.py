"""The vendored third-party files are the pinned releases, byte for byte, with their
licences, and ship inside the package (scripts/fetch_vendor.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fetch_vendor.py"


def load_script():
    spec = importlib.util.spec_from_file_location("fetch_vendor", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_vendored_files_are_the_pinned_releases():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    fetch_vendor = load_script()
    for package in fetch_vendor.PINNED:
        shipped = resources.files("espresso_static.vendor").joinpath(package.name)
        assert "LICENSE" in {name for name, _ in package.files.values()}
        for name, _ in package.files.values():
            assert shipped.joinpath(name).is_file(), name


def test_a_tarball_that_is_not_the_pinned_release_is_refused():
    fetch_vendor = load_script()
    with pytest.raises(fetch_vendor.VendorError, match="refusing it"):
        fetch_vendor.extract(fetch_vendor.PINNED[0], b"not the release")
