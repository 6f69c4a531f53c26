"""The nightly job ``startproject`` writes: a GitHub Actions workflow, its GitLab CI
equivalent and the sync placeholder they run, all through ``espresso-static nightly``
(:mod:`espresso_static.project.nightly`), which cron runs unchanged.

The CI files only install, run the one command, and hand the sites on: the public
site to GitHub Pages / GitLab Pages, the internal one as an artefact only the
project's members can fetch. A failed night fails the job before those steps, so the
pages deployed by the last good night stay online.
"""

from __future__ import annotations

import json
import stat
from importlib import metadata
from pathlib import Path
from textwrap import dedent
from urllib.parse import urlsplit, urlunsplit

from espresso_static import __version__
from espresso_static.project.config import load_config
from espresso_static.project.nightly import LOCK_FILE, PENDING_FILE, exit_codes_text

SYNC_SCRIPT = "ci/sync.sh"
#: The command every scheduler runs, from the project folder.
NIGHTLY_COMMAND = f"espresso-static nightly --sync {SYNC_SCRIPT}"
#: The audience published to static hosting; the others are kept as private artefacts.
PUBLIC_AUDIENCE = "public"
#: What the nightly job installs: espresso-static with the PostgreSQL driver.
REQUIREMENT = "espresso-static[postgres]"
#: Where pip records the source of a distribution it did not take from an index (PEP 610).
DIRECT_URL = "direct_url.json"
_LOCAL_SOURCE = """\
# espresso-static was installed from {url}, on a disk the CI cannot reach: replace the
# line below with where it is published, e.g.
# espresso-static[postgres] @ git+https://github.com/<owner>/espresso-static@<commit>
"""


def write_nightly_job(root: Path) -> list[Path]:
    """Write the nightly job's files into the new project at ``root`` and add
    "Running it every night" to its README."""
    audiences = load_config(root, environ={}).audiences
    public = audiences[PUBLIC_AUDIENCE].site_dir.relative_to(root).as_posix()
    private = [
        (name, audience.site_dir.relative_to(root).as_posix())
        for name, audience in audiences.items()
        if name != PUBLIC_AUDIENCE
    ]
    files = {
        ".github/workflows/nightly.yml": _github(public, private),
        ".gitlab-ci.yml": _gitlab(public, private),
        SYNC_SCRIPT: _SYNC,
        "ci/ensembles.csv": _EXAMPLE_ROWS,
        "requirements.txt": requirement(installed_source()),
    }
    written = []
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    sync = root / SYNC_SCRIPT
    sync.chmod(sync.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    _append(root / "README.md", _README)
    _append(root / ".gitignore", _GITIGNORE)
    return written


def installed_source() -> dict | None:
    """Where this espresso-static was installed from (PEP 610's direct_url.json; None:
    from a package index)."""
    # Every copy's metadata: run from a source folder, its egg-info comes first.
    found = (d.read_text(DIRECT_URL) for d in metadata.distributions(name="espresso-static"))
    text = next(filter(None, found), None)
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def requirement(source: dict | None) -> str:
    """``requirements.txt`` installing espresso-static in the CI from ``source`` (see
    :func:`installed_source`): its Git commit or archive URL, without credentials (the
    CI brings its own), else this release from the package index. A source on this
    machine (a folder, a clone, an archive: ``file:``) the CI cannot reach: the
    release, under a comment saying so."""
    pinned = f"{REQUIREMENT}=={__version__}\n"
    if source is None:
        return pinned
    url = _without_credentials(source.get("url", ""))
    if url.startswith("file:"):
        return _LOCAL_SOURCE.format(url=url) + pinned
    subdirectory = f"#subdirectory={source['subdirectory']}" if "subdirectory" in source else ""
    if "vcs_info" in source:
        vcs = source["vcs_info"]
        return f"{REQUIREMENT} @ {vcs['vcs']}+{url}@{vcs['commit_id']}{subdirectory}\n"
    return f"{REQUIREMENT} @ {url}{subdirectory}\n"


def _without_credentials(url: str) -> str:
    """``url`` without user and password; an ssh URL keeps its user (``git@``), which
    names the account the key logs in to, not a secret."""
    parts = urlsplit(url)
    user, at, host = parts.netloc.rpartition("@")
    if not at:
        return url
    kept = user.partition(":")[0] + "@" if parts.scheme == "ssh" else ""
    return urlunsplit(parts._replace(netloc=kept + host))


def _append(path: Path, text: str) -> None:
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(existing.rstrip("\n") + "\n\n" + text.lstrip("\n"), encoding="utf-8")


def _github(public: str, private: list[tuple[str, str]]) -> str:
    keep = "".join(
        f"""
      - name: Keep the {name} site (an artefact only readers of this repository can fetch)
        uses: actions/upload-artifact@v4
        with:
          name: site-{name}
          path: {folder}/
          retention-days: 14"""
        for name, folder in private
    )
    return _GITHUB.format(command=NIGHTLY_COMMAND, public=public, keep=keep)


def _gitlab(public: str, private: list[tuple[str, str]]) -> str:
    folders = "".join(f"\n      - {folder}/" for _, folder in private)
    return _GITLAB.format(command=NIGHTLY_COMMAND, public=public, folders=folders)


_GITHUB = dedent(
    """\
    # The nightly job, written by `espresso-static startproject`: every step is
    # `{command}` (migrate, sync, snapshot, check, build every
    # audience, publish; README: "Running it every night"). This file installs,
    # runs it, and hands the sites on. A failed night fails the job here: the pages
    # of the last good night stay online, and the next good night's News page says
    # which step failed.
    #
    # Set up once:
    # - Settings > Secrets and variables > Actions > New repository secret:
    #   DATABASE_URL, e.g. postgresql://user:password@host:5432/campaign. Secrets
    #   reach the job as environment variables and are masked in its log; never
    #   `echo` them (nor `set -x` in ci/sync.sh).
    # - Settings > Pages > Source: GitHub Actions.
    # - The internal site is an artefact: whoever can read this repository can fetch
    #   it. Keep the repository private if that site must stay internal.
    name: nightly

    on:
      schedule:
        - cron: "17 3 * * *"  # 03:17 UTC every night
      workflow_dispatch:  # and by hand: Actions > nightly > Run workflow

    concurrency:
      group: nightly
      cancel-in-progress: false

    permissions:
      contents: read

    jobs:
      nightly:
        runs-on: ubuntu-latest
        timeout-minutes: 180
        env:
          DATABASE_URL: ${{{{ secrets.DATABASE_URL }}}}
        steps:
          - uses: actions/checkout@v4
          - uses: actions/setup-python@v5
            with:
              python-version: "3.11"
              cache: pip
          - name: Install
            run: pip install -r requirements.txt
          - name: Refuse to run without the database (a fresh SQLite file would be published)
            run: test -n "$DATABASE_URL" || {{ echo "::error::Set the repository secret DATABASE_URL."; exit 1; }}
          - name: Nightly (migrate, sync, snapshot, check, build every audience)
            run: {command}{keep}
          - name: Hand the public site to GitHub Pages
            uses: actions/upload-pages-artifact@v3
            with:
              path: {public}/

      deploy:
        needs: nightly
        runs-on: ubuntu-latest
        permissions:
          pages: write
          id-token: write
        environment:
          name: github-pages
          url: ${{{{ steps.deployment.outputs.page_url }}}}
        steps:
          - id: deployment
            uses: actions/deploy-pages@v4
    """
)

_GITLAB = dedent(
    """\
    # The nightly job, written by `espresso-static startproject`: every step is
    # `{command}` (migrate, sync, snapshot, check, build every
    # audience, publish; README: "Running it every night"). A failed night fails the
    # `nightly` job, so `pages` does not run and the last good night's pages stay
    # online; the next good night's News page says which step failed.
    #
    # Set up once:
    # - Settings > CI/CD > Variables: DATABASE_URL, e.g.
    #   postgresql://user:password@host:5432/campaign, with "Masked" and "Protected"
    #   (masked variables are hidden in job logs; never `echo` them).
    # - Build > Pipeline schedules > New schedule, e.g. "17 3 * * *".
    # The internal site is an artefact only members with the Developer role or higher
    # can fetch (`access: developer`, GitLab 16.11 or later).
    stages: [nightly, publish]

    nightly:
      stage: nightly
      image: python:3.11
      rules:
        - if: $CI_PIPELINE_SOURCE == "schedule" || $CI_PIPELINE_SOURCE == "web"
      script:
        - test -n "$DATABASE_URL" || {{ echo "Set the CI/CD variable DATABASE_URL." >&2; exit 1; }}
        - pip install -r requirements.txt
        - {command}
      artifacts:
        access: developer
        expire_in: 2 weeks
        paths:
          - {public}/{folders}

    pages:
      stage: publish
      image: python:3.11
      rules:
        - if: $CI_PIPELINE_SOURCE == "schedule" || $CI_PIPELINE_SOURCE == "web"
      needs: [nightly]
      script:
        - mv {public} public  # GitLab Pages publishes the folder `public`
      artifacts:
        paths:
          - public
    """
)

_SYNC = """\
#!/usr/bin/env bash
# ==========================================================================
#  PLACEHOLDER: REPLACE THIS SCRIPT WITH YOUR CAMPAIGN'S NIGHTLY SYNC.
# ==========================================================================
# `espresso-static nightly --sync ci/sync.sh` runs it every night from the project
# folder, with DATABASE_URL set (from the CI's secret store or your environment) and
# this installation's `espresso-static` first on PATH. Exit non-zero when the sync
# failed: the night stops there, nothing is published, and the next good night's
# News page says so. Do not `set -x` or echo variables: the log would show secrets.
#
# A sync usually exports the current state of your jobs and files (CSV, JSON Lines
# or Parquet) and ingests it: new rows are inserted, changed rows updated, every row
# is checked, and one bad row rejects the whole file. This placeholder ingests the
# example rows of ci/ensembles.csv.
set -euo pipefail

espresso-static ingest Ensemble ci/ensembles.csv --key name
"""

_EXAMPLE_ROWS = """\
name,nx,nt
a12m310,24,64
a09m310,32,96
"""

_README = f"""
## Running it every night

`{NIGHTLY_COMMAND}` runs the whole night: migrate, the sync
(`ci/sync.sh`, a placeholder: replace it with yours), `espresso-static snapshot`,
`espresso-static check` (errors fail the night, warnings do not), a build of every
audience, and then publishes them all at once. When a step fails nothing is
published, every site stays as the last good night left it, the exit code names the
step ({exit_codes_text()}) and the next good
night's News page (internal audiences) says "The sync of ... failed at step ...".

- **GitHub**: `.github/workflows/nightly.yml` runs it at 03:17 UTC, publishes the
  public site with GitHub Pages and keeps the internal one as an artefact. Set the
  secret `DATABASE_URL` and Pages' source ("GitHub Actions"); see the file's head.
- **GitLab**: `.gitlab-ci.yml` does the same with GitLab Pages; set the masked
  variable `DATABASE_URL` and a pipeline schedule.
- **cron** on a login node (the database URL in a file only you can read):

  ```
  17 3 * * *  . $HOME/.campaign-db.env && cd /path/to/project && .venv/bin/{NIGHTLY_COMMAND} >> nightly.log 2>&1
  ```

  with `export DATABASE_URL=postgresql://...` in `~/.campaign-db.env` (`chmod 600`).
"""

_GITIGNORE = f"""
{LOCK_FILE}
{PENDING_FILE}
"""
