"""A lattice-QCD-like campaign: ensembles, gauge configurations, fermion actions,
propagators, correlators and the status of every output file.

The schema follows the kind of bookkeeping LatteDB does for a production campaign.
"""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from espresso_static.access import ALL, Access
from espresso_static.models import Base
from espresso_static.progress import Progress

#: $\hbar c$ in MeV fm, to turn a lattice spacing in fm into physical units.
HBARC_MEV_FM = 197.3269804

#: Published tables show every column to the public, but only released ensembles'
#: rows (and, through their foreign keys, only rows that belong to those).
PUBLISHED = Access(audiences=["public"], fields={"public": ALL})
RELEASED_ONLY = Access(
    audiences=["public"], fields={"public": ALL}, rows={"public": Q(released=True)}
)


class Ensemble(Base):
    r"""A gauge-field ensemble: one choice of lattice action parameters, generated in
    several Monte Carlo streams.

    Ensembles are named after their lattice spacing and pion mass, e.g. ``a12m310``
    for $a \approx 0.12$ fm and $m_\pi \approx 310$ MeV.
    """

    name = models.CharField(max_length=40, unique=True, help_text="Short name, e.g. `a12m310`.")
    beta = models.FloatField(
        verbose_name="β", help_text=r"Gauge coupling $\beta = 6/g^2$ of the gauge action."
    )
    nx = models.PositiveIntegerField(
        verbose_name="spatial extent", help_text=r"Spatial lattice size $N_x = N_y = N_z$ in sites."
    )
    nt = models.PositiveIntegerField(
        verbose_name="temporal extent", help_text=r"Temporal lattice size $N_t$ in sites."
    )
    lattice_spacing = models.FloatField(help_text=r"Lattice spacing $a$ in fm.")
    pion_mass = models.FloatField(help_text=r"Pion mass $m_\pi$ in MeV.")
    released = models.BooleanField(
        default=False, help_text="Whether the ensemble is published as open data."
    )

    access = RELEASED_ONLY

    #: Values for the population example on the site: they pass the checks below.
    example_parameters = {
        "name": "a12m310",
        "beta": 6.0,
        "nx": 24,
        "nt": 64,
        "lattice_spacing": 0.121,
        "pion_mass": 310.0,
    }

    class Meta:
        ordering = ["name"]

    def check_consistency(self):
        r"""The lattice must be at least as long in time as in space ($N_t \ge N_x$), and
        the volume large enough to keep finite-volume effects small:
        $m_\pi L = m_\pi\, a\, N_x / (\hbar c) \ge 3$."""
        if self.nt < self.nx:
            raise ValidationError(f"nt={self.nt} is smaller than nx={self.nx}.")
        mpi_l = self.pion_mass * self.lattice_spacing * self.nx / HBARC_MEV_FM
        if mpi_l < 3:
            raise ValidationError(f"m_pi L = {mpi_l:.2f} < 3: the volume is too small.")


class GaugeConfig(Base):
    """One gauge configuration: a trajectory of a Monte Carlo stream of an ensemble."""

    ensemble = models.ForeignKey(
        Ensemble, on_delete=models.CASCADE, related_name="configs", help_text="The ensemble."
    )
    stream = models.CharField(max_length=4, help_text="Monte Carlo stream, e.g. `a`.")
    trajectory = models.PositiveIntegerField(help_text="Trajectory number within the stream.")
    plaquette = models.FloatField(
        help_text=r"Average plaquette $\langle P \rangle$, between 0 and 1."
    )

    access = PUBLISHED
    example_parameters = {"stream": "a", "trajectory": 300, "plaquette": 0.6}

    class Meta:
        unique_together = [("ensemble", "stream", "trajectory")]
        indexes = [models.Index(fields=["ensemble", "stream"])]

    def check_consistency(self):
        r"""The plaquette is a normalised trace of SU(3) matrices: $0 < \langle P \rangle < 1$."""
        if not 0 < self.plaquette < 1:
            raise ValidationError(f"plaquette={self.plaquette} is outside (0, 1).")


class FermionAction(Base):
    r"""A valence fermion action. Concrete actions specialize this table; a propagator
    points to the parent and `specialization` gives the concrete action."""

    quark_mass = models.FloatField(help_text=r"Bare valence quark mass $a m_q$ in lattice units.")

    access = PUBLISHED  # inherited by the specialized actions
    example_parameters = {"quark_mass": 0.0126}


class DomainWall(FermionAction):
    r"""Shamir domain-wall fermions with a fifth dimension of extent $L_5$."""

    l5 = models.PositiveIntegerField(help_text=r"Extent $L_5$ of the fifth dimension.")
    m5 = models.FloatField(default=1.3, help_text=r"Domain-wall height $M_5$.")

    example_parameters = {**FermionAction.example_parameters, "l5": 8}

    def check_consistency(self):
        r"""Chiral modes bind to the walls only for $0 < M_5 < 2$; $L_5$ must be positive."""
        if not 0 < self.m5 < 2:
            raise ValidationError(f"M5={self.m5} is outside (0, 2).")
        if self.l5 < 1:
            raise ValidationError("L5 must be at least 1.")


class MobiusDomainWall(DomainWall):
    r"""Möbius domain-wall fermions: the Shamir kernel scaled by $b_5$ and $c_5$."""

    b5 = models.FloatField(default=1.5, help_text=r"Möbius parameter $b_5$.")
    c5 = models.FloatField(default=0.5, help_text=r"Möbius parameter $c_5$.")

    def check_consistency(self):
        r"""Inherits the domain-wall checks and keeps the Möbius scale fixed: $b_5 - c_5 = 1$."""
        super().check_consistency()
        if not math.isclose(self.b5 - self.c5, 1.0, abs_tol=1e-9):
            raise ValidationError(f"b5 - c5 = {self.b5 - self.c5:g}, expected 1.")


class Hisq(FermionAction):
    r"""Highly improved staggered quarks."""

    naik_epsilon = models.FloatField(
        default=0.0, help_text=r"Naik-term correction $\epsilon_N$ for heavy quarks (≤ 0)."
    )

    def check_consistency(self):
        r"""The Naik correction is zero for light quarks and negative for heavy ones."""
        if self.naik_epsilon > 0:
            raise ValidationError(f"naik_epsilon={self.naik_epsilon} must not be positive.")


class Propagator(Base):
    """A quark propagator: the inverse of a fermion action's Dirac operator on a gauge
    configuration, from one point source."""

    gaugeconfig = models.ForeignKey(
        GaugeConfig, on_delete=models.CASCADE, help_text="Configuration the propagator is on."
    )
    action = models.ForeignKey(
        FermionAction, on_delete=models.PROTECT, help_text="Valence fermion action inverted."
    )
    source_x = models.PositiveIntegerField(default=0, help_text="Source position $x$.")
    source_y = models.PositiveIntegerField(default=0, help_text="Source position $y$.")
    source_z = models.PositiveIntegerField(default=0, help_text="Source position $z$.")
    source_t = models.PositiveIntegerField(help_text="Source time slice $t_0$.")

    example_parameters = {"source_t": 0}

    class Meta:
        unique_together = [
            ("gaugeconfig", "action", "source_x", "source_y", "source_z", "source_t")
        ]

    def check_consistency(self):
        r"""The source must lie on the lattice: $0 \le x, y, z < N_x$ and $0 \le t_0 < N_t$."""
        ensemble = self.gaugeconfig.ensemble
        if self.source_t >= ensemble.nt:
            raise ValidationError(f"source_t={self.source_t} is outside nt={ensemble.nt}.")
        for axis in ("x", "y", "z"):
            if getattr(self, f"source_{axis}") >= ensemble.nx:
                raise ValidationError(f"source_{axis} is outside nx={ensemble.nx}.")


class Correlator(Base):
    """A two-point correlation function built from propagators on one configuration."""

    INTERPOLATORS = [("pion", "pion"), ("kaon", "kaon"), ("proton", "proton"), ("omega", "Ω")]

    interpolator = models.CharField(
        max_length=20, choices=INTERPOLATORS, help_text="Hadron interpolating operator."
    )
    momentum = models.PositiveIntegerField(
        default=0, help_text=r"Squared lattice momentum $\vec{n}^2$ in units of $(2\pi/L)^2$."
    )
    propagators = models.ManyToManyField(Propagator, help_text="Propagators contracted.")

    def check_m2m_consistency(self, instances, column=None):
        """All propagators of a correlator are on the same gauge configuration."""
        if column != "propagators":
            return
        configs = {p.gaugeconfig_id for p in instances}
        # .all(), not a query of its own: the data-health audit has prefetched them.
        configs |= {p.gaugeconfig_id for p in self.propagators.all()}
        if len(configs) > 1:
            raise ValidationError(f"propagators on {len(configs)} gauge configurations.")


class DataFile(Base):
    """Status of one output file of the campaign: where it is and whether it is good."""

    STATUSES = [
        ("missing", "missing"),
        ("running", "job running"),
        ("on_disk", "on disk"),
        ("on_tape", "on tape"),
        ("corrupt", "corrupt"),
    ]
    MACHINES = [("frontier", "Frontier"), ("perlmutter", "Perlmutter"), ("summit", "Summit")]

    file_name = models.CharField(max_length=200, unique=True, help_text="Path of the HDF5 file.")
    ensemble = models.ForeignKey(
        Ensemble, on_delete=models.CASCADE, related_name="files", help_text="Ensemble."
    )
    stream = models.CharField(max_length=4, help_text="Monte Carlo stream.")
    configuration = models.PositiveIntegerField(help_text="Trajectory number of the configuration.")
    source = models.CharField(max_length=20, help_text="Source position, e.g. `x0y0z0t12`.")
    machine = models.CharField(max_length=20, choices=MACHINES, help_text="Where the job ran.")
    size = models.BigIntegerField(null=True, blank=True, help_text="Size in bytes, when known.")
    status = models.CharField(
        max_length=10, choices=STATUSES, default="missing", help_text="Where the file is."
    )
    produced = models.DateTimeField(null=True, blank=True, help_text="When the job wrote it.")

    #: The public sees the files of released ensembles, but not where the jobs ran.
    access = Access(
        audiences=["public"],
        fields={
            "public": [
                "id",
                "file_name",
                "ensemble",
                "stream",
                "configuration",
                "source",
                "size",
                "status",
                "produced",
                "last_modified",
            ],
        },
    )

    example_parameters = {
        "file_name": "a12m310/a/300/corr_x0y0z0t0.h5",
        "stream": "a",
        "configuration": 300,
        "source": "x0y0z0t0",
    }

    #: What counts as done: drives the status page, snapshots, plots and `todo`.
    progress = Progress(
        status="status",
        done=["on_disk", "on_tape"],
        in_progress=["running"],
        missing=["missing"],
        failed=["corrupt"],
        group_by=["ensemble", "stream"],
    )

    class Meta:
        indexes = [models.Index(fields=["ensemble", "stream", "status"])]

    def check_consistency(self):
        """Files on disk or tape have a positive size; missing files have none; every
        file is HDF5."""
        if not self.file_name.endswith(".h5"):
            raise ValidationError(f"{self.file_name!r} is not an .h5 file.")
        if self.status in ("on_disk", "on_tape") and not (self.size and self.size > 0):
            raise ValidationError(f"a file {self.status} needs a positive size.")
        if self.status == "missing" and self.size:
            raise ValidationError("a missing file cannot have a size.")
