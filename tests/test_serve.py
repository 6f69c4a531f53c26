"""``espresso-static serve``: the real command in its own process, asked over HTTP."""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

from tests.conftest import ctrl_c_as_at_a_terminal, ctrl_c_blocked
from tests.test_cli_basics import DEMO_TABLE, assert_one_line_error, run_cli, write_project


@pytest.fixture
def site(tmp_path) -> Path:
    """A folder shaped like a published site (what serve reads of it)."""
    folder = tmp_path / "site"
    (folder / "generated" / "status").mkdir(parents=True)
    (folder / "index.html").write_text("<h1>home</h1>")
    (folder / "404.html").write_text("<h1>not here</h1>")
    (folder / "generated" / "status" / "chunk-0000.json.gz").write_bytes(gzip.compress(b"[1]"))
    (folder / "generated" / "status" / "meta.json").write_text("{}")
    (folder / "generated" / "table.csv.gz").write_bytes(gzip.compress(b"a,b\n"))
    (folder / "generated" / "script.js").write_text("let a = 1;")
    (folder / "generated" / "table.parquet").write_bytes(b"PAR1")
    return folder


def start_serve(*args: str, cwd: Path) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "espresso_static", "serve", "--port", "0", *args]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_as_at_a_terminal,
    )
    line = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert match, line
    return process, match.group()


def get(url: str) -> tuple[int, Message, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_serve_hands_out_the_site_with_its_content_types(site, tmp_path):
    process, url = start_serve("--dir", str(site), cwd=tmp_path)
    try:
        status, headers, body = get(url)
        assert (status, body) == (200, b"<h1>home</h1>")
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        # Gzip data as the bytes stored: no Content-Encoding, so a download stays a .gz
        # and the status page unpacks its chunks itself.
        status, headers, body = get(url + "generated/status/chunk-0000.json.gz")
        assert headers["Content-Type"] == "application/gzip"
        assert "Content-Encoding" not in headers
        assert gzip.decompress(body) == b"[1]"
        assert get(url + "generated/table.csv.gz")[1]["Content-Type"] == "application/gzip"
        assert get(url + "generated/status/meta.json")[1]["Content-Type"] == "application/json"
        assert get(url + "generated/script.js")[1]["Content-Type"].startswith("text/javascript")
        assert get(url + "generated/table.parquet")[1]["Content-Type"] == (
            "application/vnd.apache.parquet"
        )
        status, _, body = get(url + "no/such/page/")
        assert (status, body) == (404, b"<h1>not here</h1>")
    finally:
        assert not (blocked := ctrl_c_blocked(process.pid)), blocked
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0  # Ctrl-C stops it cleanly


def test_serve_finds_the_projects_site_dir(site, tmp_path):
    project = write_project(tmp_path / "project", DEMO_TABLE + 'site_dir = "../site"\n')
    process, url = start_serve(cwd=project)
    try:
        assert get(url)[2] == b"<h1>home</h1>"
    finally:
        assert not (blocked := ctrl_c_blocked(process.pid)), blocked
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)


def test_serve_without_a_built_site_says_to_build(tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert_one_line_error(
        run_cli("serve", "--dir", str(empty), cwd=tmp_path), "No site in", "run build-site"
    )
