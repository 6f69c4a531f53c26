"""Shared helpers of the tests that drive Debian's headless Chromium through Playwright
(Playwright's own browser download cannot work here)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
#: mkdocs-material draws a diagram into a closed shadow root: this init script opens it.
OPEN_SHADOW_ROOTS = """
const attachShadow = Element.prototype.attachShadow;
Element.prototype.attachShadow = function (init) {
  return attachShadow.call(this, { ...init, mode: "open" });
};
"""
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-background-networking",  # the machine has no network: no retries
    "--disable-component-update",
    "--no-first-run",
]

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"needs Debian's chromium at {CHROMIUM}"
)


@contextmanager
def chromium() -> Iterator:
    """Debian's headless Chromium, closed after the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, **options) -> tuple:
    """A new page of ``browser`` (Playwright's ``new_page`` ``options``) at ``url``,
    and the list its JavaScript errors are appended to."""
    page = browser.new_page(**options)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    return page, errors


@pytest.fixture
def served():
    """Serve a built site on 127.0.0.1 as `espresso-static serve` does (fetch() needs
    http://, not file://)."""
    from espresso_static.website.serve import site_server, site_url

    servers = []

    def serve(folder: Path) -> str:
        server = site_server(folder, port=0, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return site_url(server)

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()
