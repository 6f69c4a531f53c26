r"""A small detector campaign exercising every feature ``build-site`` documents.

Instruments take runs; runs are grouped in datasets; calibrations specialize by
multi-table inheritance; measurements point to a specialized calibration. Texts are
deliberately hostile: {{ jinja }}, {% raw %}, <script>alert("doc")</script> | pipes.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from espresso_static.models import Base

HOSTILE = (
    '{{ x }} {% if %} <script>alert("x")</script> | [click](javascript:alert(1)) # not a heading'
)


class Labelled(Base):
    """Abstract: a free label every instrument-like table carries."""

    label = models.CharField(max_length=50, blank=True, default="", help_text="Free label.")

    class Meta:
        abstract = True


class Instrument(Labelled):
    r"""A detector instrument with $N_c$ read-out channels.

    Hostile text: {{ x }} <script>alert("instrument")</script> | pipe & ampersand
    [click](javascript:alert(1)).
    """

    KINDS = [("cal", "calorimeter"), ("trk", "tracker <fast> | {{ kind }}")]

    name = models.CharField(max_length=30, unique=True, help_text=f"Unique name. {HOSTILE}")
    channels = models.PositiveIntegerField(
        default=0, help_text=r"Read-out channels $N_c \le 1024$."
    )
    active = models.BooleanField(default=False, help_text="Whether it takes data.")
    kind = models.CharField(max_length=10, choices=KINDS, default="cal", help_text="Kind.")
    comment = models.TextField(blank=True, default="", help_text="Empty by default.")
    weight = models.FloatField(default=0.0, help_text="Weight in kg; zero by default.")

    class Meta:
        indexes = [models.Index(fields=["kind", "active"], name="siteapp_instr_kind_active")]

    def check_consistency(self):
        r"""At most 1024 channels: $N_c \le 1024$ (hostile: {{ check }} <b>bold</b>)."""
        if self.channels > 1024:
            raise ValidationError(f"{self.channels} channels > 1024.")


class Run(Base):
    """A data-taking run of one instrument."""

    instrument = models.ForeignKey(
        Instrument, on_delete=models.CASCADE, related_name="runs", help_text="Instrument used."
    )
    number = models.PositiveIntegerField(help_text="Run number, positive.")
    energy = models.FloatField(null=True, blank=True, help_text="Beam energy $E$ in GeV.")
    note = models.TextField(blank=True, default="", help_text="Notes | with a pipe.")

    class Meta:
        unique_together = [("instrument", "number")]

    def check_consistency(self):
        """Run numbers start at 1."""
        if self.number < 1:
            raise ValidationError("run numbers start at 1.")


class RunSummary(Base):
    """One summary per run (one-to-one)."""

    run = models.OneToOneField(
        Run, on_delete=models.CASCADE, related_name="summary", help_text="The run summarized."
    )
    events = models.BigIntegerField(default=0, help_text="Events recorded.")


class Dataset(Base):
    """A named group of runs (many-to-many)."""

    name = models.CharField(max_length=40, unique=True, help_text="Dataset name.")
    runs = models.ManyToManyField(Run, related_name="datasets", help_text="Runs it contains.")
    public = models.BooleanField(default=True, help_text="Published or not.")

    def check_m2m_consistency(self, instances, column=None):
        """All runs of a dataset come from active or inactive instruments alike."""


class Calibration(Base):
    """A calibration of an instrument; concrete kinds specialize it."""

    instrument = models.ForeignKey(
        Instrument, on_delete=models.CASCADE, help_text="Calibrated instrument."
    )
    value = models.FloatField(help_text="Calibration constant.")


class GainCalibration(Calibration):
    """A gain calibration."""

    gain = models.FloatField(default=1.0, help_text="Gain factor $g$.")


class PedestalCalibration(Calibration):
    """A pedestal calibration."""

    pedestal = models.IntegerField(default=0, help_text="Pedestal in ADC counts.")


class Measurement(Base):
    """A measured value, with the (specialized) calibration applied."""

    calibration = models.ForeignKey(
        Calibration, on_delete=models.PROTECT, help_text="Calibration applied."
    )
    run = models.ForeignKey(Run, on_delete=models.CASCADE, help_text="Run measured in.")
    value = models.FloatField(help_text="Measured value.")
    status = models.CharField(
        max_length=8,
        choices=[("ok", "ok"), ("bad", "bad")],
        default="",
        blank=True,
        help_text="Quality flag; empty until checked.",
    )
