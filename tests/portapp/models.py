"""Models with the patterns of a real EspressoDB project (LatteDB's, written anew):
foreign keys to a polymorphic base whose subclasses carry the attributes checks read,
many-to-many checks over parent-class instances, deep ``tree`` parameters, a uniqueness
check the data-health audit replays, a subclass that cycles back to its base, and
every Django field type (PostgreSQL's only on PostgreSQL).

The app has no migrations: pytest-django creates its tables directly.
"""

from __future__ import annotations

import decimal
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from espresso_static.declare.progress import Progress
from espresso_static.models import Base


class Smear(Base):
    """Polymorphic base: its subclasses carry the columns."""


class Unsmeared(Smear):
    """No smearing."""


class Flow(Smear):
    """Gradient flow."""

    flowtime = models.DecimalField(max_digits=5, decimal_places=2)


class Action(Base):
    """Polymorphic base of quark actions."""

    smear = models.ForeignKey(Smear, on_delete=models.CASCADE)


class Staggered(Action):
    example_parameters = {"quark_tag": "light"}  # a dotted path above may say otherwise

    quark_mass = models.DecimalField(max_digits=8, decimal_places=5)
    quark_tag = models.CharField(max_length=20)

    def check_consistency(self):
        if self.quark_tag not in ("light", "strange"):
            raise ValueError(f"quark_tag {self.quark_tag!r} is not light or strange")


class GaugeConfig(Base):
    """Polymorphic base of gauge configurations."""

    def same_ensemble(self, other: GaugeConfig) -> bool:
        """Every column but ``config`` equal (read through the parent instances)."""
        return self.type == other.type and all(
            getattr(self, f.name) == getattr(other, f.name)
            for f in self.specialization.get_open_fields()
            if f.name != "config"
        )


class Hisq(GaugeConfig):
    #: Per path: the action under ``light`` is a light quark, under ``strange`` a strange one.
    example_parameters = {"light.quark_tag": "light", "strange.quark_tag": "strange", "nx": 24}

    short_tag = models.CharField(max_length=20)
    stream = models.CharField(max_length=5)
    config = models.PositiveIntegerField()
    nx = models.PositiveIntegerField()
    light = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="+")
    strange = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="+")

    @property
    def long_tag(self) -> str:
        return f"l{self.nx}{self.short_tag}"

    @property
    def broken(self) -> str:
        return self.no_such_column

    def check_consistency(self):
        if self.light.quark_tag != "light" or self.strange.quark_tag != "strange":
            raise ValidationError("light/strange must be light and strange quarks")


class Ensemble(Base):
    label = models.CharField(max_length=40, unique=True)
    configurations = models.ManyToManyField(GaugeConfig)  # required: scripts set members

    def check_m2m_consistency(self, configurations, column=None):
        first = self.configurations.first() or configurations.first()
        for config in configurations.all():
            if not first.same_ensemble(config):
                raise ValidationError(f"{config} is from another ensemble than {first}")
        # A uniqueness check written the EspressoDB way: replayed on a stored row it
        # finds the row itself (the data-health audit must replay it faithfully).
        members = set(configurations.values_list("pk", flat=True))
        for other in Ensemble.objects.exclude(configurations=None):
            if set(other.configurations.values_list("pk", flat=True)) == members:
                raise ValidationError(f"ensemble {other.label} has these configurations")


class Label(Base):
    """A uniqueness check written the EspressoDB way, in ``check_consistency``."""

    name = models.CharField(max_length=20)

    def check_consistency(self):
        if Label.objects.filter(name=self.name).exists():  # finds itself once stored
            raise ValidationError(f"label {self.name} exists")


class Propagator(Base):
    """Polymorphic base; subclasses read the gauge configuration's subclass columns."""

    gaugeconfig = models.ForeignKey(GaugeConfig, on_delete=models.CASCADE)
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="+")


class CoherentSeq(Propagator):
    """Alphabetically first subclass, and it needs another propagator: a cycle."""

    source = models.ForeignKey(Propagator, on_delete=models.CASCADE, related_name="+")


class OneToAll(Propagator):
    origin_x = models.PositiveIntegerField()

    def check_consistency(self):
        if self.origin_x >= self.gaugeconfig.nx:  # nx lives on a GaugeConfig subclass
            raise ValidationError(f"origin_x {self.origin_x} outside nx {self.gaugeconfig.nx}")


class Measure(Base):
    """A job per propagator; its progress is grouped per ensemble through relations."""

    progress = Progress(
        status="status",
        done=["done"],
        missing=["todo"],
        group_by=["propagator__gaugeconfig__ensemble"],
    )

    propagator = models.ForeignKey(Propagator, on_delete=models.CASCADE)
    status = models.CharField(max_length=10, choices=[("todo", "todo"), ("done", "done")])


class Job(Base):
    """A job whose status is an integer code with choices, with the times Django fills
    itself on save (LatteDB's job tables)."""

    progress = Progress(status="status", done=[2], in_progress=[1], missing=[0])

    number = models.PositiveIntegerField(unique=True)
    status = models.IntegerField(
        choices=[(0, "queued"), (1, "running"), (2, "finished")], null=True, blank=True
    )
    submitted = models.DateTimeField(auto_now_add=True)
    checked = models.DateTimeField(auto_now=True)


class Kinds(Base):
    """Every portable field type, for documentation, downloads and status pages."""

    decimal = models.DecimalField(max_digits=6, decimal_places=3, default=decimal.Decimal("1.5"))
    duration = models.DurationField(null=True, blank=True)
    uuid = models.UUIDField(default=uuid.uuid4)
    binary = models.BinaryField(null=True, blank=True)
    document = models.FileField(upload_to="docs", blank=True)
    json = models.JSONField(default=dict, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    day = models.DateField(null=True, blank=True)
    moment = models.TimeField(null=True, blank=True)


if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
    from django.contrib.postgres.fields import ArrayField, DateTimeRangeField, IntegerRangeField

    class PgKinds(Base):
        """PostgreSQL-only field types."""

        values = ArrayField(models.FloatField(), default=list)
        nested = ArrayField(ArrayField(models.IntegerField()), default=list)
        window = IntegerRangeField(null=True, blank=True)
        period = DateTimeRangeField(null=True, blank=True)
