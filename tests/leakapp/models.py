"""A campaign with secrets. Every string starting with ``cnry`` is a canary: the
leak test (tests/test_leak.py) asserts none reaches the public build and every one
reaches the internal build. Canaries sit in a private model (its name, docstring,
help text and values), in a private column of a public model (its name, help text
and values), in hidden rows (values and a progress group), in notifications and in
a hand-written page."""

from django.db import models
from django.db.models import Q

from espresso_static.access import Access
from espresso_static.models import Base
from espresso_static.progress import Progress


class Cnrymodelalpha(Base):
    """cnrydocbeta: a table only the collaboration sees."""

    cnryfieldgamma = models.CharField(max_length=40, help_text="cnryhelpdelta")

    def check_consistency(self):
        """Values are never "bad"."""
        if self.cnryfieldgamma == "bad":
            raise ValueError("bad value")


class Sample(Base):
    """A sample; the public sees released ones, without their private notes."""

    name = models.CharField(max_length=40, unique=True, help_text="Name of the sample.")
    batch = models.CharField(max_length=40, help_text="Production batch.")
    status = models.CharField(
        max_length=10, choices=[("todo", "to do"), ("done", "done")], default="todo"
    )
    released = models.BooleanField(default=False)
    cnryprivfield = models.CharField(max_length=40, blank=True, help_text="cnryprivhelp")
    origin = models.ForeignKey(
        Cnrymodelalpha, null=True, blank=True, on_delete=models.SET_NULL, help_text="Origin."
    )

    access = Access(
        audiences=["public"],
        fields={"public": ["id", "name", "batch", "status", "last_modified"]},
        rows={"public": Q(released=True)},
    )
    progress = Progress(status="status", done=["done"], missing=["todo"], group_by=["batch"])
