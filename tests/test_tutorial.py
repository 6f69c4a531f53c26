"""Runs the README tutorial exactly as written, in a temporary folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(?:<!-- file: (?P<path>\S+) -->\n)?```(?P<lang>\w+)\n(?P<body>.*?)```", re.S)


def tutorial_steps(readme: str) -> list[tuple[str, str, str | None]]:
    """``(language, body, file path or None)`` of each code block of the tutorial."""
    start, end = readme.index("<!-- tutorial-start -->"), readme.index("<!-- tutorial-end -->")
    return [(m["lang"], m["body"], m["path"]) for m in BLOCK.finditer(readme[start:end])]


def test_tutorial_has_commands_and_files():
    steps = tutorial_steps(README.read_text())
    commands = [body for lang, body, _ in steps if lang == "bash"]
    files = [path for _, _, path in steps if path]
    assert any("startproject" in c for c in commands)
    assert any("build-site" in c for c in commands)
    assert files == ["models/campaign/models.py", "populate.py"]


@pytest.mark.slow
def test_tutorial_runs_as_written(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    cwd = tmp_path
    for lang, body, path in tutorial_steps(README.read_text()):
        if path:
            (cwd / path).write_text(body)
            continue
        assert lang == "bash"
        for command in body.strip().splitlines():
            if command.startswith("cd "):
                cwd = cwd / command[3:].strip()
                continue
            result = subprocess.run(
                command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=300
            )
            assert result.returncode == 0, f"{command!r} failed:\n{result.stdout}\n{result.stderr}"
            if command == "python populate.py":
                assert "a12m310" in result.stdout and "done" in result.stdout
    html = (cwd / "site" / "index.html").read_text()
    assert "mycampaign" in html
