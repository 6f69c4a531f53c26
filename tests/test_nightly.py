"""The nightly job ``startproject`` writes (issue #18), run end to end on a scaffolded
project, exactly as its CI workflow runs it: on SQLite, and on a fresh PostgreSQL
database when the suite runs on PostgreSQL (``DATABASE_URL=postgresql://...``).

Four nights: a good one publishes every audience; a failing sync and a failing check
leave the published sites byte for byte as they were, with the exit code of their
step; the next good night publishes again and its News page names the failed nights.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from bs4 import BeautifulSoup

from espresso_static.project.nightly import EXIT_CODES, MASK, _mask, _secrets
from espresso_static.project.scaffold_ci import NIGHTLY_COMMAND, SYNC_SCRIPT

BAD_ROWS = "name,nx,nt\na12m310,24,64\na06m310,48,32\n"  # nt < nx fails the check
#: A sync that succeeds but leaves a row failing its consistency check (as raw SQL would).
CORRUPTING_SYNC = """#!/usr/bin/env bash
set -euo pipefail
python - <<'PY'
import espresso_static
espresso_static.setup()
from models.campaign.models import Ensemble
Ensemble.objects.filter(name="a12m310").update(nt=1)
PY
"""


def run(command: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture
def project_env(tmp_path):
    """The environment of the nightly job: PATH with this installation's scripts, and
    DATABASE_URL of a fresh PostgreSQL database when the suite runs on PostgreSQL
    (dropped afterwards), else none (the project's SQLite file)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    server = os.environ.get("DATABASE_URL", "")
    if not server.startswith("postgres"):
        yield env
        return
    import psycopg

    name = f"es_nightly_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**env, "DATABASE_URL": urlunsplit(urlsplit(server)._replace(path=f"/{name}"))}
    finally:
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def published(folder: Path) -> dict[str, str]:
    """Every file of a published site with the hash of its content."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def page_text(path: Path) -> str:
    return " ".join(BeautifulSoup(path.read_text("utf-8"), "html.parser").get_text().split())


def workflow_command(project: Path) -> list[str]:
    """The nightly command of the generated GitHub workflow, checked against GitLab's."""
    github = yaml.safe_load((project / ".github/workflows/nightly.yml").read_text())
    job = github["jobs"]["nightly"]
    assert job["env"]["DATABASE_URL"] == "${{ secrets.DATABASE_URL }}"  # from the secret store
    runs = [step["run"] for step in job["steps"] if "run" in step]
    (command,) = [line for line in runs if line.startswith("espresso-static nightly")]
    uploads = {
        step["uses"].split("@")[0]: step["with"]["path"]
        for step in job["steps"]
        if "with" in step and "path" in step["with"]
    }
    assert uploads == {
        "actions/upload-artifact": "site/",
        "actions/upload-pages-artifact": "site-public/",
    }
    assert github["jobs"]["deploy"]["needs"] == "nightly"  # a failed night deploys nothing
    gitlab = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    assert command in gitlab["nightly"]["script"]
    assert gitlab["nightly"]["artifacts"]["access"] == "developer"
    assert gitlab["pages"]["needs"] == ["nightly"]
    sync_lines = (project / SYNC_SCRIPT).read_text().splitlines()
    for line in runs + gitlab["nightly"]["script"] + sync_lines:
        code = line.split("#", 1)[0]
        assert "set -x" not in code and "$DATABASE_URL" not in code.replace(
            'test -n "$DATABASE_URL"', ""
        )
    assert command == NIGHTLY_COMMAND
    return shlex.split(command)


@pytest.mark.slow
def test_the_generated_nightly_job_publishes_only_good_nights(tmp_path, project_env):
    created = run(
        [sys.executable, "-m", "espresso_static", "startproject", "campaign_db"],
        tmp_path,
        project_env,
    )
    assert created.returncode == 0, created.stderr
    project = tmp_path / "campaign_db"
    command = workflow_command(project)
    password = urlsplit(project_env.get("DATABASE_URL", "")).password
    sites = {"internal": project / "site", "public": project / "site-public"}
    good_rows = (project / "ci/ensembles.csv").read_text()
    placeholder_sync = (project / SYNC_SCRIPT).read_text()
    outputs = []

    def night(expected: int) -> str:
        result = run(command, project, project_env)
        output = result.stdout + result.stderr
        outputs.append(output)
        assert result.returncode == expected, output
        assert not list(project.glob(".espresso-static-build-*")), "a staging folder was left"
        return output

    first = night(0)
    assert "snapshot skipped: no model declares its progress" in first
    assert re.search(r"^prune +ok", first, re.MULTILINE) and "Pruned " in first
    assert "campaign.Ensemble: 2 inserted" in first
    before = {name: published(folder) for name, folder in sites.items()}
    assert all("index.html" in files for files in before.values())

    (project / "ci/ensembles.csv").write_text(BAD_ROWS)
    failed_sync = night(EXIT_CODES["sync"])
    assert "nightly  FAILED at step sync" in failed_sync
    assert "ci/ensembles.csv, line 3 (name='a06m310')" in failed_sync  # the sync's own error
    assert {name: published(folder) for name, folder in sites.items()} == before

    (project / SYNC_SCRIPT).write_text(CORRUPTING_SYNC)
    failed_check = night(EXIT_CODES["check"])
    assert (
        "nightly  FAILED at step check" in failed_check and "espresso_static.E201" in failed_check
    )
    assert {name: published(folder) for name, folder in sites.items()} == before

    (project / "ci/ensembles.csv").write_text(good_rows)
    (project / SYNC_SCRIPT).write_text(placeholder_sync)
    night(0)  # the ingest repairs the corrupted row (it updates changed rows)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    news = page_text(sites["internal"] / "generated/news/index.html")
    for step in ("sync", "check"):
        assert f"The sync of {today} failed at step {step}" in news
    assert "failed at step" not in page_text(sites["public"] / "index.html")  # internal only
    # Each site's Changes page counts from the night published before, not from scratch.
    for folder in sites.values():
        assert "first build" not in page_text(folder / "generated/changes/index.html")

    if password:  # the database URL and password never reach the log
        url = project_env["DATABASE_URL"]
        assert all(url not in out and f":{password}@" not in out for out in outputs)


def test_the_log_masks_the_database_url_and_password():
    url = "postgresql://sync:s3cr%40t-pw@db.example:5432/campaign"
    secrets = _secrets(url)
    lines = [f"connecting to {url}", "postgresql://sync:s3cr@t-pw@db.example/other", "ok"]
    masked = [_mask(line, secrets) for line in lines]
    assert masked == ["connecting to ***", f"postgresql://sync:{MASK}@db.example/other", "ok"]


def test_the_readme_states_the_exit_codes_of_the_code():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme[readme.index("## Running it every night") :]
    section = section[: section.index("\n## ")]
    stated = {}
    for code, *steps in re.findall(r"`(\d)` (\w+)(?: or (\w+))?", section):
        stated.update({step: int(code) for step in steps if step})
    assert stated == EXIT_CODES
    assert NIGHTLY_COMMAND in section
