"""Hostile app: </script><script>alert(1)</script> "><img src=x onerror=alert(1)>
[x](javascript:alert(1)) {{ 7*7 }} {% raw %} %% } -- \u202e bidi.

Every text the site takes from the models (docstrings, verbose names, help texts,
choices, defaults) carries a payload of :mod:`tests.hostileapp.payloads`. The app has no
migrations: pytest-django creates its tables directly.
"""

from __future__ import annotations

from django.db import models

from espresso_static.models import Base
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
