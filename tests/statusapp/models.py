"""A table of work with a status page, in an app labelled ``status``."""

from django.db import models

from espresso_static.models import Base
from espresso_static.progress import Progress


class Baryon2pt(Base):
    """A correlator to compute."""

    name = models.CharField(max_length=20, unique=True)
    status = models.CharField(
        max_length=10, choices=[("todo", "to do"), ("done", "done")], default="todo"
    )

    progress = Progress(status="status", done=["done"], missing=["todo"])
