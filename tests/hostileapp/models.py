"""Hostile app: </script><script>alert(1)</script> "><img src=x onerror=alert(1)>
[x](javascript:alert(1)) {{ 7*7 }} {% raw %} %% } -- \u202e bidi.

Every text the site takes from the models (docstrings, verbose names, help texts,
choices, defaults) carries a payload of :mod:`tests.hostileapp.payloads`. The app has no
migrations: pytest-django creates its tables directly.
"""

from __future__ import annotations

from django.db import models

from espresso_static.models import Base
from espresso_static.progress import Progress
from tests.hostileapp.attacks import PAYLOADS as MARKED
from tests.hostileapp.payloads import LONG, PAYLOADS

ALL = " ".join(PAYLOADS.values())


class Sample(Base):
    # A docstring is a literal: the payloads are written out (and a NUL escaped).
    """Sample </script><script>alert(1)</script> "><img src=x onerror=alert(1)>.

    [x](javascript:alert(1)) <a href="javascript:alert(1)">x</a> {{ 7*7 }} {% raw %}
    Mermaid: end } -- %% "q' ; bidi \u202eright\u202c, nul \x00 byte.
    # not a heading
    """

    name = models.CharField(
        max_length=40,
        unique=True,
        verbose_name=PAYLOADS["attribute"],
        help_text=ALL,
    )
    kind = models.CharField(
        max_length=60,
        choices=[(value, label) for label, value in PAYLOADS.items() if "\x00" not in value],
        default=PAYLOADS["script"],
        help_text=PAYLOADS["markdown link"],
    )
    note = models.TextField(blank=True, default=PAYLOADS["template"], help_text=LONG)

    class Meta:
        verbose_name = PAYLOADS["html link"]

    def check_consistency(self):
        """Checked </script><script>alert(1)</script> {{ 7*7 }} [x](javascript:alert(1))."""


class Part(Base):
    """Part of a sample: a relation named with hostile help text."""

    sample = models.ForeignKey(
        Sample, on_delete=models.CASCADE, help_text=PAYLOADS["mermaid"], verbose_name='a "} --'
    )
    label = models.CharField(max_length=30, default="\rimport os  #", help_text=PAYLOADS["bidi"])


class Marked(Base):
    """Replaced below by every payload of tests.hostileapp.attacks."""

    kind = models.TextField(
        choices=[(payload, payload) for payload in MARKED],
        default=MARKED[0],
        help_text=" ".join(MARKED),
        verbose_name=MARKED[1],
    )
    status = models.CharField(
        max_length=10, choices=[("todo", "to do"), ("done", "done")], default="todo"
    )
    note = models.TextField(blank=True, help_text="\n\n".join(MARKED), verbose_name=MARKED[10])

    #: The plot's groups: the payloads but those with "$" (matplotlib math, issue #19).
    group = models.TextField(blank=True)

    progress = Progress(status="status", done=["done"], missing=["todo"], group_by=["group"])

    class Meta:
        verbose_name = MARKED[2]

    def check_consistency(self):
        pass


# Docstrings are literals in source; these are the payloads, line breaks and all.
Marked.__doc__ = "\n\n".join(MARKED)
Marked.check_consistency.__doc__ = "\n".join(MARKED)
