"""Runs the README tutorial exactly as written, in a temporary folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from tests.browser import CHROMIUM, CHROMIUM_ARGS, OPEN_SHADOW_ROOTS

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
def test_tutorial_runs_as_written(tmp_path, served):
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
    site = cwd / "site"
    assert "mycampaign" in (site / "index.html").read_text()
    check_site_offline(site, served)


def check_site_offline(site: Path, served) -> None:
    """The tutorial's site works with no network: its status page loads its data, the
    Data health page shows rendered verdicts, the app's diagram becomes an SVG."""
    health = BeautifulSoup((site / "generated/health/index.html").read_text(), "html.parser")
    verdict = health.find("article").find(class_="admonition")
    assert verdict is not None and "checks pass" in verdict.get_text()
    assert "!!!" not in health.find("article").get_text()
    assert (site / "generated/status/campaign/job/index.html").is_file()
    if not Path(CHROMIUM).exists():
        pytest.skip(f"the offline diagram needs Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    base = served(site)
    asked_elsewhere = []

    def only_the_site(route):
        if route.request.url.startswith(base):
            return route.continue_()
        asked_elsewhere.append(route.request.url)
        return route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        # mkdocs-material draws a diagram into a closed shadow root: open it to look in.
        page.add_init_script(OPEN_SHADOW_ROOTS)
        page.route("**/*", only_the_site)
        page.goto(base + "generated/campaign/")
        diagram = page.wait_for_selector(".mermaid svg", timeout=30_000)
        drawn = diagram.text_content()
        assert "Ensemble" in drawn and "Job" in drawn
        page.goto(base + "generated/status/campaign/job/")
        page.wait_for_selector(".es-status[data-state=ready]", timeout=30_000)
        browser.close()
    assert asked_elsewhere == []
