"""espresso-static's own tables: notifications, progress snapshots and the change log."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from espresso_static.data import levels


class Notification(models.Model):
    """A message for the project's readers: shown on the News page, the home page,
    the announcement banner (warnings and errors) and the Atom feed of its audiences."""

    LEVELS = [(number, name.upper()) for name, number in levels.LEVELS.items()]

    title = models.CharField(max_length=200, help_text="One-line summary.")
    content = models.TextField(blank=True, help_text="Body in Markdown (sanitized on the site).")
    level = models.PositiveSmallIntegerField(choices=LEVELS, default=20, help_text="Severity.")
    tag = models.CharField(
        max_length=200, blank=True, default="", help_text="Free tag, e.g. `nightly-sync`."
    )
    audiences = models.JSONField(
        default=list, blank=True, help_text='Audiences that see it, e.g. `["internal"]`.'
    )
    timestamp = models.DateTimeField(
        default=timezone.now, db_index=True, help_text="When it was sent."
    )
    author = models.CharField(max_length=150, blank=True, default="", help_text="Who sent it.")

    class Meta:
        ordering = ["-timestamp", "-id"]

    def __str__(self) -> str:
        return f"[{self.get_level_display()}] {self.title}"


class ProgressSnapshot(models.Model):
    """How many rows of a model with a progress declaration had one status value, in
    one group, at one time (written by ``espresso-static snapshot``; plotted by
    ``build-site`` and ``espresso-static plot``)."""

    model = models.CharField(
        max_length=200, help_text="`app_label.ModelName` of the counted table."
    )
    taken_at = models.DateTimeField(db_index=True, help_text="When the rows were counted.")
    group = models.JSONField(
        default=dict, blank=True, help_text='The group\'s values, e.g. `{"ensemble": "a12m310"}`.'
    )
    status = models.CharField(max_length=200, blank=True, help_text="The status value (text).")
    category = models.CharField(
        max_length=20, help_text="done, in_progress, missing, failed or other."
    )
    count = models.BigIntegerField(help_text="Rows of the group with this status.")

    class Meta:
        ordering = ["model", "taken_at", "id"]
        indexes = [models.Index(fields=["model", "taken_at"])]

    def __str__(self) -> str:
        return f"{self.model} {self.group} {self.status}: {self.count} at {self.taken_at:%Y-%m-%d %H:%M}"


class Change(models.Model):
    """One row written to a table of the project: appended by database triggers on
    every insert, update and delete, whoever wrote it (ORM, ingest, raw SQL); read by
    ``build-site`` to redo only what changed (see :mod:`espresso_static.data.changelog`)."""

    KINDS = [("I", "inserted"), ("U", "updated"), ("D", "deleted"), ("R", "reset")]

    id = models.BigAutoField(primary_key=True)
    table = models.CharField(max_length=200, help_text="Database table of the row.")
    row = models.CharField(max_length=200, null=True, help_text="Primary key of the row (text).")
    kind = models.CharField(
        max_length=1,
        choices=KINDS,
        help_text="What happened; `R`: the log was (re)started, anything may have changed.",
    )
    before = models.CharField(
        max_length=200,
        null=True,
        help_text="The tracked column before the change: the status (tables with a "
        "progress declaration) or the owner's id (many-to-many tables).",
    )
    txid = models.BigIntegerField(
        null=True, help_text="PostgreSQL: the writing transaction (to tell what a snapshot saw)."
    )

    class Meta:
        indexes = [models.Index(fields=["table", "id"]), models.Index(fields=["txid"])]

    def __str__(self) -> str:
        return f"{self.table} {self.row} {self.kind}"
