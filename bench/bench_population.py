"""``get_or_create_from_parameters``: espresso-static vs EspressoDB 1.2.1 (issue 9).

The same three-level schema (Lattice <- Config <- Measurement) is declared once on
each ``Base``; each case creates ``--rows`` measurements through
``Measurement.get_or_create_from_parameters(parameters)`` with nested parameters,
on a fresh SQLite file, in a fresh process. EspressoDB runs in a throwaway virtual
environment created in this run (``pip install espressodb==1.2.1 'Django<4'``:
EspressoDB 1.2.1 predates Django 4). Bar: espresso-static at least 2x EspressoDB's rate.
Usage: ``python bench/bench_population.py [--rows N] [--smoke]``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import venv
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

ROWS = 3_000
SMOKE_ROWS = 200
BAR = 2.0
ESPRESSODB = ["espressodb==1.2.1", "Django>=3.2,<4"]

MODELS = """
from django.db import models
from {base_module} import Base


class Lattice(Base):
    nx = models.PositiveIntegerField()
    nt = models.PositiveIntegerField()
    beta = models.FloatField()

    def check_consistency(self):
        if self.nt < self.nx:
            raise ValueError("nt < nx")


class Config(Base):
    lattice = models.ForeignKey(Lattice, on_delete=models.CASCADE)
    trajectory = models.PositiveIntegerField()


class Measurement(Base):
    config = models.ForeignKey(Config, on_delete=models.CASCADE)
    source_t = models.PositiveIntegerField()
    mass = models.FloatField()

    def check_consistency(self):
        if self.mass <= 0:
            raise ValueError("mass must be positive")
"""

#: Runs inside the measured interpreter (ours or the EspressoDB venv): argv = base app,
#: base module, database file, rows.
WORKER = """
import json, resource, sys, time
from pathlib import Path
base_app, base_module, database, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, str(Path(database).parent))
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", base_app, "popbench"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": database}},
    USE_TZ=True, DEFAULT_AUTO_FIELD="django.db.models.AutoField", SECRET_KEY="bench",
    # EspressoDB reads these from the settings of its project layout.
    PROJECT_APPS=["popbench"], ROOT_DIR=str(Path(database).parent), PROJECT_NAME="popbench",
    DB_CONFIG={},
)
django.setup()
from django.core.management import call_command
call_command("migrate", run_syncdb=True, verbosity=0)
from popbench.models import Measurement
TREE = {"config": "Config", "config.lattice": "Lattice"}  # EspressoDB needs every key named
from django.db import transaction
started = time.perf_counter()
# One transaction, as a population script runs: measures the library, not fsync.
with transaction.atomic():
    for i in range(rows):
        parameters = {
            "nx": 24 + 8 * (i % 3), "nt": 64, "beta": 6.0,
            "trajectory": 300 + 6 * (i // 24 % 50), "source_t": i % 8, "mass": 0.01 + i * 1e-6,
        }
        instance, created = Measurement.get_or_create_from_parameters(parameters, tree=TREE)
        assert created, parameters
seconds = time.perf_counter() - started
assert Measurement.objects.count() == rows
print(json.dumps({"seconds": seconds,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

IMPLEMENTATIONS = {
    "espresso-static": ("espresso_static", "espresso_static.models"),
    "EspressoDB 1.2.1": ("espressodb.base", "espressodb.base.models"),
}


def throwaway_venv(folder: Path) -> Path:
    """A virtual environment with EspressoDB 1.2.1 (pip output only on failure)."""
    python = folder / "bin" / "python"
    if python.exists():
        return python
    print(f"Installing {' '.join(ESPRESSODB)} into {folder} ...", file=sys.stderr)
    venv.create(folder, with_pip=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *ESPRESSODB],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit("Could not install EspressoDB 1.2.1 in a throwaway environment.")
    return python


def measure(python: Path, name: str, rows: int) -> dict:
    """One run: a fresh folder with the schema on ``name``'s Base, a fresh database."""
    import json

    base_app, base_module = IMPLEMENTATIONS[name]
    folder = common.scratch_folder("espresso-static-popbench-")
    (folder / "popbench").mkdir()
    (folder / "popbench" / "__init__.py").write_text("")
    (folder / "popbench" / "models.py").write_text(MODELS.format(base_module=base_module))
    (folder / "worker.py").write_text(textwrap.dedent(WORKER))
    command = [str(python), str(folder / "worker.py"), base_app, base_module]
    done = subprocess.run(
        [*command, str(folder / "bench.sqlite3"), str(rows)], capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{name} run failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    args = common.arguments(__doc__.splitlines()[0], ROWS, SMOKE_ROWS)
    started = time.perf_counter()
    venv_folder = common.scratch_folder("espresso-static-espressodb-") / "venv"
    pythons = {
        "espresso-static": Path(sys.executable),
        "EspressoDB 1.2.1": throwaway_venv(venv_folder),
    }
    results = {
        name: [measure(python, name, args.rows) for _ in range(args.runs)]
        for name, python in pythons.items()
    }
    rates = {name: args.rows / min(r["seconds"] for r in runs) for name, runs in results.items()}
    ratio = rates["espresso-static"] / rates["EspressoDB 1.2.1"]
    table = []
    for name, runs in results.items():
        seconds = sorted(r["seconds"] for r in runs)
        table.append(
            [
                name,
                f"{seconds[0]:.2f} / {seconds[len(seconds) // 2]:.2f}",
                f"{rates[name]:,.0f}",
                "baseline" if name != "espresso-static" else f"{ratio:.1f}x (bar ≥ {BAR:.0f}x)",
            ]
        )
    common.print_table(
        f"bench_population: {args.rows:,} nested get_or_create_from_parameters on SQLite, "
        f"{args.runs} runs each ({common.machine()}; {time.perf_counter() - started:.0f} s in all)",
        ["implementation", "s min / median", "rows/s (best)", "vs EspressoDB"],
        table,
    )
    if ratio < BAR and not args.smoke:
        print(f"\nMISSED: {ratio:.1f}x < {BAR}x")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
