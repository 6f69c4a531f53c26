"""Row-value app: a progress-declared table grouped by a free-text column, for the
values no output of a build may choke on (:data:`tests.valueapp.values.VALUES`). The
app has no migrations: pytest-django creates its table directly."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from espresso_static.access import ALL, Access
from espresso_static.models import Base
from espresso_static.progress import Progress


class Run(Base):
    """A run of a job, grouped by the folder it writes to."""

    path = models.TextField(help_text="Folder the run writes to, as the job wrote it.")
    status = models.CharField(max_length=10, help_text="Whether the output is there.")

    access = Access(audiences=["public"], fields={"public": ALL})
    progress = Progress(status="status", done=["done"], missing=["missing"], group_by=["path"])

    def check_consistency(self):
        """A missing run's folder is reported (so the Data health page shows each value)."""
        if self.status == "missing":
            raise ValidationError(f"no output in {self.path}")
