"""Concurrent writers and readers on PostgreSQL: two ingests of overlapping rows lose
and duplicate nothing; a build running during ingests reads one snapshot, so the
counts on its pages add up. Real processes of the command line on the test database.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from tests.test_faults import make_project, write_file_rows

OVERLAPPING_ROWS = 40_000  # each process; rows 20,000-39,999 of the first are the second's too
BATCH_ROWS = 2_000
BATCHES = 10

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def test_database_url():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL (DATABASE_URL=postgresql://...)")
    settings = connection.settings_dict
    return (
        f"postgresql://{settings['USER']}:{settings['PASSWORD']}@{settings['HOST'] or 'localhost'}"
        f":{settings['PORT'] or 5432}/{settings['NAME']}"
    )


@pytest.fixture
def ensemble():
    from models.demo.models import Ensemble

    return Ensemble.objects.create(
        pk=1, name="e1", beta=6.0, nx=24, nt=64, lattice_spacing=0.121, pion_mass=310.0
    )


def start_cli(project: Path, database_url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "espresso_static", *args, "--project", str(project)],
        env={**os.environ, "DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def write_rows(path: Path, first: int, count: int) -> Path:
    write_file_rows(path, first + count)  # rows 0..first+count-1, then keep the tail
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + "".join(lines[1 + first :]))
    return path


def test_overlapping_ingests_lose_and_duplicate_nothing(tmp_path, test_database_url, ensemble):
    from models.demo.models import DataFile

    project = make_project(tmp_path / "project")
    half = OVERLAPPING_ROWS // 2
    files = [
        write_rows(tmp_path / "first.csv", 0, OVERLAPPING_ROWS),
        write_rows(tmp_path / "second.csv", half, OVERLAPPING_ROWS),
    ]
    processes = [
        start_cli(
            project, test_database_url, "ingest", "demo.DataFile", str(f), "--key", "file_name"
        )
        for f in files
    ]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    expected = half + OVERLAPPING_ROWS
    assert DataFile.objects.count() == expected
    assert DataFile.objects.values("file_name").distinct().count() == expected
    assert set(DataFile.objects.values_list("configuration", flat=True)) == set(range(expected))


def numbers(text: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", text)]


def status_counts(page: Path) -> tuple[int, int]:
    """The status page's overall total and the sum of its category counts."""
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    table = soup.find("h2", string=re.compile("Summary")).find_next("table")
    headers = [th.get_text(strip=True) for th in table.find("thead").find_all("th")]
    last = [td.get_text(strip=True) for td in table.find("tbody").find_all("tr")[-1].find_all("td")]
    total = numbers(last[headers.index("total")])[0]
    categories = [
        last[headers.index(name)] for name in ("done", "in progress", "missing", "failed")
    ]
    return total, sum(numbers(c)[0] for c in categories)


def home_count(page: Path, model: str) -> int:
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    # The row count in the home page's table of tables (the Progress section links it too).
    link = next(a for a in soup.select("article table a") if a.get_text() == model)
    return numbers(link.find_parent("tr").find_all("td")[-1].get_text())[0]


def test_build_during_ingests_sees_one_snapshot(tmp_path, test_database_url, ensemble):
    import json

    project = make_project(tmp_path / "project")
    batches = [
        write_rows(tmp_path / f"batch-{n}.csv", n * BATCH_ROWS, BATCH_ROWS) for n in range(BATCHES)
    ]
    first = start_cli(
        project, test_database_url, "ingest", "demo.DataFile", str(batches[0]), "--key", "file_name"
    )
    _, err = first.communicate(timeout=120)  # rows before any build: a summary to read
    assert first.returncode == 0, err
    script = " && ".join(
        f"{sys.executable} -m espresso_static ingest demo.DataFile {path} --key file_name "
        f"--project {project}"
        for path in batches[1:]
    )
    ingesting = subprocess.Popen(
        ["bash", "-c", script],
        env={**os.environ, "DATABASE_URL": test_database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    builds = []
    # The test database is built from the models, without migration records.
    while ingesting.poll() is None:
        out = tmp_path / f"site-{len(builds)}"
        build = start_cli(
            project, test_database_url, "build-site", "--out", str(out), "--quiet", "--allow-drift"
        )
        _, err = build.communicate(timeout=300)
        assert build.returncode == 0, err
        builds.append(out)
    _, err = ingesting.communicate()
    assert ingesting.returncode == 0, err
    assert builds, "the ingests finished before a build started"

    for site in builds:
        meta = json.loads((site / "generated/status/demo/datafile/data/meta.json").read_text())
        total, by_category = status_counts(site / "generated/status/demo/datafile/index.html")
        assert total == by_category == meta["rows"], site
        assert home_count(site / "index.html", "DataFile") == total, site
