"""Small dedicated models exercising every feature of :class:`espresso_static.models.Base`.

The app has no migrations: pytest-django creates its tables directly.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from espresso_static.models import Base

# -- a three-level multi-table inheritance hierarchy, checked at every level ----------


class Action(Base):
    """Root of the hierarchy: every action has a name."""

    name = models.CharField(max_length=40)

    def check_consistency(self):
        if not self.name:
            raise ValueError("an action needs a name")


class Wilson(Action):
    """Second level: a hopping parameter."""

    kappa = models.FloatField()

    def check_consistency(self):
        super().check_consistency()
        if not 0 < self.kappa < 0.25:
            raise ValidationError(f"kappa={self.kappa} is outside (0, 0.25).")


class CloverWilson(Wilson):
    """Third level: a clover coefficient."""

    csw = models.FloatField(null=True, blank=True)

    def check_consistency(self):
        super().check_consistency()
        if self.csw is not None and self.csw < 1:
            raise ValidationError(f"csw={self.csw} is below 1.")


class Staggered(Action):
    """A sibling of Wilson at the second level."""

    naik = models.FloatField(default=0.0)


# -- hooks switched off -------------------------------------------------------------------


class Unchecked(Base):
    """Its check always fails, but checks are switched off."""

    run_checks = False

    value = models.IntegerField()

    def check_consistency(self):
        raise ValueError("never run")


class NoPreSave(Base):
    """Its pre_save would change ``value``, but pre_save is switched off."""

    run_pre_save = False

    value = models.IntegerField()

    def pre_save(self):
        self.value = -1


# -- a pre_save deriving a column, nested foreign keys ----------------------------------


class Lattice(Base):
    """``volume`` is derived in pre_save; the check uses it."""

    nx = models.PositiveIntegerField()
    nt = models.PositiveIntegerField()
    volume = models.PositiveIntegerField(null=True, blank=True)

    def pre_save(self):
        self.volume = self.nx**3 * self.nt

    def check_consistency(self):
        if self.nt < self.nx:
            raise ValidationError(f"nt={self.nt} is smaller than nx={self.nx}.")
        if self.volume is None:
            raise ValueError("volume was not derived")


class Ensemble(Base):
    lattice = models.ForeignKey(Lattice, on_delete=models.CASCADE)
    label = models.CharField(max_length=20)


class Config(Base):
    ensemble = models.ForeignKey(Ensemble, on_delete=models.CASCADE, related_name="configs")
    trajectory = models.PositiveIntegerField()

    def check_consistency(self):
        if self.trajectory % 2:
            raise ValueError(f"odd trajectory {self.trajectory}")


class Solve(Base):
    """Depends on a concrete subclass of Action, chosen by ``tree``."""

    action = models.ForeignKey(Action, on_delete=models.CASCADE)
    residual = models.FloatField()

    def check_consistency(self):
        if self.residual <= 0:
            raise ValueError(f"residual {self.residual} must be positive")


class Measurement(Base):
    config = models.ForeignKey(Config, on_delete=models.CASCADE)
    solve = models.ForeignKey(Solve, on_delete=models.CASCADE)
    reference = models.ForeignKey(
        Config, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    value = models.FloatField()

    def check_consistency(self):
        if self.value < 0:
            raise ValueError(f"negative value {self.value}")


# -- many-to-many with a check ------------------------------------------------------------


class Correlator(Base):
    """All configs of a correlator belong to its ensemble."""

    ensemble = models.ForeignKey(Ensemble, on_delete=models.CASCADE)
    name = models.CharField(max_length=20)
    configs = models.ManyToManyField(Config, blank=True, related_name="correlators")

    def check_m2m_consistency(self, instances, column=None):
        strangers = [c.trajectory for c in instances if c.ensemble_id != self.ensemble_id]
        if strangers:
            raise ValidationError(f"configs {strangers} are from another ensemble")


# -- every column kind to_dataframe converts ----------------------------------------------


class Sample(Base):
    count = models.IntegerField()
    maybe_count = models.IntegerField(null=True, blank=True)
    big = models.BigIntegerField(default=0)
    flag = models.BooleanField(default=False)
    maybe_flag = models.BooleanField(null=True, blank=True)
    ratio = models.FloatField(null=True, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    when = models.DateTimeField(null=True, blank=True)
    day = models.DateField(null=True, blank=True)
    label = models.CharField(max_length=20, blank=True, default="")
    payload = models.JSONField(null=True, blank=True)
    lattice = models.ForeignKey(Lattice, on_delete=models.CASCADE, null=True, blank=True)
