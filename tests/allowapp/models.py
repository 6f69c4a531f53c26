"""Tables an allow-audience (``staff``) sees with restrictions of its own: rows filtered
out, a column and a subclass hidden from it (tests/test_allow_audience.py). That test
declares their ``Access`` while it runs: ``staff`` is no audience of the test suite's
configuration (the declaration checks of every installed app would flag it), and an
audience restricted here would be restricted in every other test too.

The app has no migrations: pytest-django creates its tables directly.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from espresso_static.models import Base


class Member(Base):
    """A member, secret or not."""

    name = models.CharField(max_length=40, unique=True)
    secret = models.BooleanField(default=False)


class Team(Base):
    """A team: its members are part of its identity (a required many-to-many)."""

    title = models.CharField(max_length=40, unique=True)
    members = models.ManyToManyField(Member)


class Batch(Base):
    """A batch."""

    code = models.CharField(max_length=40, unique=True)
    secretcol = models.CharField(max_length=40, blank=True)


class Run(Base):
    """A run of a batch."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE)
    value = models.IntegerField(default=0)

    def check_consistency(self):
        """The value is not negative (the message names a column of the batch)."""
        if self.value < 0:
            raise ValidationError(f"negative value in batch {self.batch.secretcol}")


class Device(Base):
    """A device; some are secret devices."""

    name = models.CharField(max_length=40, unique=True)


class SecretDevice(Device):
    """A device not everyone knows of."""

    serial = models.CharField(max_length=40)


class Slot(Base):
    """A slot holding a device."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE)
    number = models.IntegerField()


class Keyed(Base):
    """A row other rows point to by its key, not its id."""

    key = models.CharField(max_length=40, unique=True)


class Ref(Base):
    """A reference to a keyed row by its key (``to_field``)."""

    target = models.ForeignKey(Keyed, on_delete=models.CASCADE, to_field="key")
