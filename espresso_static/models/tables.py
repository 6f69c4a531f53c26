"""espresso-static's own tables: notifications, progress snapshots, the change log and
the record of published builds."""

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

    KINDS = [
        ("I", "inserted"),
        ("U", "updated"),
        ("D", "deleted"),
        ("R", "reset"),
        ("P", "pruned"),
    ]

    id = models.BigAutoField(primary_key=True)
    table = models.CharField(max_length=200, help_text="Database table of the row.")
    row = models.CharField(max_length=200, null=True, help_text="Primary key of the row (text).")
    kind = models.CharField(
        max_length=1,
        choices=KINDS,
        help_text="What happened; `R`: the log was (re)started, anything may have changed; "
        "`P`: rows before were pruned (see espresso_static.data.logprune).",
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
    nonce = models.FloatField(
        # The database's own random() (Django's Random() is a function it registers
        # on its connections on SQLite: a trigger firing for another client would fail).
        db_default=models.Func(function="random", output_field=models.FloatField()),
        help_text="A random number the database draws for the row: a build's mark and a "
        "table's fingerprint name their last row's, so a log rewound (a backup restored) "
        "and written again as far is told apart from the one they read.",
    )

    class Meta:
        indexes = [
            models.Index(fields=["table", "id"]),
            models.Index(fields=["txid"]),
            # The few rows that stand for pruned ones, read by every fingerprint.
            models.Index(
                fields=["table"], condition=models.Q(kind="P"), name="espresso_change_pruned"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.table} {self.row} {self.kind}"


class BuildRecord(models.Model):
    """A published build of one audience's site: where the change log was, so the next
    build of the same site shows what changed since (the Changes page and its feed)."""

    audience = models.CharField(max_length=100, help_text="The audience of the site.")
    site = models.CharField(
        max_length=500, help_text="Where it was published (from the project folder if inside)."
    )
    mark = models.CharField(max_length=2000, help_text="The change log's position it read.")
    built_at = models.DateTimeField(help_text="When it was built.")
    data_as_of = models.DateTimeField(
        null=True, help_text="The latest change of the data it showed (its feed entry's time)."
    )
    summary = models.TextField(help_text="What its Changes page said, in one line (the feed).")

    class Meta:
        indexes = [models.Index(fields=["audience", "site"])]

    def __str__(self) -> str:
        return f"{self.audience} {self.site} {self.built_at:%Y-%m-%d %H:%M}"
