"""How long ``build-site`` takes for a schema of many models (bar: 200 models < 30 s).

Writes a throwaway project whose app has ``--models`` generated models (chains of
up to ten foreign keys, choices, unique constraints, an inheritance family every tenth model,
a many-to-many every seventh), creates its tables in a fresh SQLite file and times
the real ``build-site`` command, which runs in its own process like in CI.

    python bench/bench_build.py [--models 200] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

BAR_SECONDS = 30.0


def model_source(index: int) -> str:
    """One model: a few columns, a foreign key to the previous model, sometimes more."""
    if index % 10 == 9:  # a child of the previous model (multi-table inheritance)
        return textwrap.dedent(f'''
            class Model{index:03d}(Model{index - 1:03d}):
                """Specialization number {index} of Model{index - 1:03d}, with $x_{{{index}}}$."""

                extra = models.FloatField(default=0.0, help_text="Extra column $e$.")
            ''')
    relation = ""
    if index % 10:  # chains of up to ten tables, like input → job → output
        relation = (
            f"    parent = models.ForeignKey(Model{index - 1:03d}, on_delete=models.CASCADE, "
            f'related_name="children_{index}", help_text="The previous table.")\n'
        )
    if index % 7 == 6:
        relation += (
            f"    members = models.ManyToManyField(Model{index - 2:03d}, blank=True, "
            f'related_name="groups_{index}", help_text="Members.")\n'
        )
    return (
        textwrap.dedent(f'''
        class Model{index:03d}(Base):
            """Table number {index}: generated for the build benchmark, mass $m_{{{index}}}$."""

            name = models.CharField(max_length=40, unique=True, help_text="Unique name.")
            size = models.PositiveIntegerField(default=0, help_text="A size $N$.")
            weight = models.FloatField(help_text="A weight $w$ in kg.")
            flag = models.BooleanField(default=False, help_text="A flag.")
            state = models.CharField(
                max_length=8, choices=[("new", "new"), ("done", "done")], default="new"
            )
            note = models.TextField(blank=True, default="", help_text="Free text.")
        ''')
        + relation
    )


def write_project(folder: Path, count: int) -> None:
    app = folder / "benchapp"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    header = '"""Generated models for bench_build.py."""\n\nfrom django.db import models\n\n'
    header += "from espresso_static.models import Base\n"
    (app / "models.py").write_text(header + "\n".join(model_source(i) for i in range(count)))
    (folder / "pyproject.toml").write_text(
        textwrap.dedent(f"""
            [tool.espresso-static]
            name = "Build benchmark ({count} models)"
            apps = ["benchapp"]
            """)
    )
    (folder / "site_src").mkdir()


def run(folder: Path, *command: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}"}
    return subprocess.run(
        command, cwd=folder, env=environment, capture_output=True, text=True, check=False
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="Keep the project folder.")
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        write_project(folder, arguments.models)
        migrate = (
            "import espresso_static; from django.core.management import call_command; "
            "espresso_static.setup(); call_command('migrate', run_syncdb=True, verbosity=0)"
        )
        prepared = run(folder, sys.executable, "-c", migrate)
        if prepared.returncode:
            print(prepared.stderr, file=sys.stderr)
            return 1
        started = time.perf_counter()
        built = run(folder, sys.executable, "-m", "espresso_static", "build-site")
        seconds = time.perf_counter() - started
        print(built.stderr.strip())
        print(built.stdout.strip())
        if built.returncode:
            return 1
        size = sum(p.stat().st_size for p in (folder / "site").rglob("*") if p.is_file())
        print(
            f"{arguments.models} models: build-site {seconds:.1f} s (bar {BAR_SECONDS:.0f} s), "
            f"site {size / 1e6:.1f} MB"
        )
        return 0 if seconds < BAR_SECONDS else 1
    finally:
        if arguments.keep:
            print(f"Project kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
