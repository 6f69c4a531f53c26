"""The Changes page: what the sync changed since the previous build of this site.

Each build of an audience's site compares the change log
(:mod:`espresso_static.data.changelog`) with where it was when that site was last
published (a :class:`~espresso_static.models.BuildRecord`, written after publishing:
a failed build records nothing) and shows, for every table the audience sees, the
rows added, updated and deleted (and the links of its many-to-many relations), and
for every status page the status transitions per group, by the choices' labels
("a12m310: 212 on disk → on tape"). The Atom feed
``changes/<audience>.xml`` (beside the page) has one entry per build. The home page
links the page. Both say in one line what the page shows: the counts and the
transitions (summed over the groups).

What an audience is shown never says more than its site: only visible tables, rows
visible now (an added or updated row it cannot see is not counted), and no updated
count for a table with columns it does not see (the update may be in one of them).
Where it sees only some rows of a table, a row it sees now may have been hidden at
the previous build (a sync may have made it visible): it is told neither the updated
and deleted counts nor the status a row had before, only the rows added and where
the rows written since stand now (the log keeps the status before a change, not
whether the audience saw the row then).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.db.models import BooleanField

from espresso_static.data import changelog
from espresso_static.website.context import Asset, Page, Provenance, RenderContext
from espresso_static.website.feature import Build, Feature
from espresso_static.website.features.news import (
    ATOM,
    _link,
    _rfc3339,
    _text,
    _urn,
)
from espresso_static.website.features.status import status_sources
from espresso_static.website.paths import CHANGES
from espresso_static.website.render import GENERATED, format_time, render_template

CHANGES_PAGE = f"{CHANGES}.md"
#: Builds (entries) the feed keeps.
FEED_ENTRIES = 20
#: What the first build of a site follows.
FIRST = "first"
FIRST_BUILD = "First build of this site: no earlier build to compare with."
NO_CHANGE = "No change."
#: Rows looked up per query.
BATCH = 2_000
#: What a transition says the status was of a row inserted since, and of a null status.
NEW_ROW, NULL_STATUS = "new", "empty"
#: What a transition says the status was where the audience may not have seen the row.
UNSHOWN = ""
#: PostgreSQL's log text of a boolean status (SQLite's is '1' or '0', as Django reads).
LOGGED_BOOLEANS = {"true": True, "false": False}
#: The Changes page from its feed, which is in the page's folder.
PAGE_FROM_FEED = "./"


@dataclass(frozen=True)
class TableChange:
    """Rows of one table changed since the previous build (None: not shown; all three
    None: its log restarted, e.g. a TRUNCATE, so any row may have changed)."""

    label: str
    name: str
    added: int | None
    updated: int | None
    deleted: int | None


@dataclass(frozen=True)
class Transition:
    group: str
    before: str
    after: str
    rows: int


@dataclass(frozen=True)
class StatusChanges:
    label: str
    name: str
    group_label: str
    transitions: tuple[Transition, ...]


@dataclass(frozen=True)
class FeedEntry:
    """One build in the feed: what it followed (the mark of the build before it, its
    id: a build of the same data after the same build gets the same id), the time of
    the data it showed (not the build time, so builds of the same data publish the
    same feed) and its summary. A site showing no time of its rows (none, or no
    column holding one for its audience) dates its entries by their builds, which
    its Changes page shows anyway: a fixed date would leave every entry at the
    bottom of a reader's list."""

    after: str
    data_as_of: datetime | None
    built_at: datetime
    summary: str

    @property
    def updated(self) -> datetime:
        return self.data_as_of or self.built_at

    @property
    def title(self) -> str:
        if self.data_as_of is None:
            return f"Changes (built {format_time(self.built_at)})"
        return f"Changes (data as of {format_time(self.data_as_of)})"


@dataclass(frozen=True)
class Changes:
    """What the Changes page and its feed show."""

    audience: str
    #: Where the site is published (the previous build is the one published there).
    site: str
    #: The change log's mark of this build (recorded once the site is published).
    mark: str | None
    #: The mark of the build before (:data:`FIRST`: none).
    after: str
    #: When the previous build was (None: no earlier build to compare with).
    since: datetime | None
    tables: tuple[TableChange, ...]
    statuses: tuple[StatusChanges, ...]
    #: Earlier builds' feed entries, newest first.
    earlier: tuple[FeedEntry, ...]

    @property
    def changed_tables(self) -> tuple[TableChange, ...]:
        return tuple(table for table in self.tables if _changed(table))

    @property
    def uncounted(self) -> bool:
        """Whether a changed table has a count this site does not show."""
        return any(None in (t.added, t.updated, t.deleted) for t in self.changed_tables)

    @property
    def summary(self) -> str:
        """One line saying what the page shows: the counts of every changed table and
        the status transitions (the page's rows summed over the groups)."""
        if self.since is None:
            return FIRST_BUILD
        parts = [_table_line(table) for table in self.changed_tables]
        parts += [_status_line(status) for status in self.statuses if status.transitions]
        return "; ".join(parts) + "." if parts else NO_CHANGE


def _changed(table: TableChange) -> bool:
    return table.added is None or bool(table.added or table.updated or table.deleted)


def _table_line(table: TableChange) -> str:
    if table.added is None:
        return f"{table.name}: may have changed (not counted)"
    counts = [f"{table.added:,} added"]
    if table.updated is not None:
        counts.append(f"{table.updated:,} updated")
    if table.deleted is not None:
        counts.append(f"{table.deleted:,} deleted")
    return f"{table.name}: {', '.join(counts)}"


def _status_line(status: StatusChanges) -> str:
    rows: Counter = Counter()
    for transition in status.transitions:
        rows[(transition.before, transition.after)] += transition.rows
    moves = sorted(rows.items(), key=lambda move: (-move[1], move[0]))
    counts = ", ".join(
        f"{count:,} {before} → {after}" if before != UNSHOWN else f"{count:,} → {after}"
        for (before, after), count in moves
    )
    return f"{status.name} status changes: {counts}"


def collect_changes(build: Build) -> Changes:
    from django.apps import apps

    from espresso_static.models import BuildRecord

    view, site = build.view, site_key(build.site_dir, build.config.root)
    records = BuildRecord.objects.filter(audience=view.name, site=site).order_by("-id")
    previous = records.first()
    mark = changelog.current_mark()
    models = [apps.get_model(model.label) for model in build.site.models]
    sources = status_sources(view, build.config.apps)
    names = table_names([*models, *(source.item.model for source in sources)])
    # Many-to-many relations the site shows, by their link tables (a through model of
    # its own is a model above).
    links = [
        (model, m2m)
        for model in models
        for m2m in view.visible_fields(model)
        if m2m.many_to_many and m2m.remote_field.through._meta.auto_created
    ]
    since = changes = None
    if previous is not None:
        tables = [model._meta.db_table for model in models]
        tables += [m2m.remote_field.through._meta.db_table for _, m2m in links]
        changes = changelog.changes_since(previous.mark, tables)
        since = previous.built_at if changes is not None else None
    found, statuses = [], []
    if changes is not None:
        found = [
            _table_change(view, model, names[model], changes[model._meta.db_table])
            for model in models
        ]
        found += [_links_change(view, model, m2m, names[model], changes) for model, m2m in links]
        statuses = [
            status
            for source in sources
            if (status := _status_changes(view, source, names[source.item.model], changes))
            is not None
        ]
    # Each entry follows the record after it in this (newest first) list; one naming a
    # table the site no longer shows (its access changed since) is not published again.
    kept = list(records[:FEED_ENTRIES])
    follows = [record.mark for record in kept[1:]] + [FIRST]
    shown = [*names.values(), *(f"{names[model]} ↔ {m2m.verbose_name}" for model, m2m in links)]
    earlier = tuple(
        FeedEntry(after, r.data_as_of, r.built_at, r.summary)
        for r, after in zip(kept[: FEED_ENTRIES - 1], follows, strict=False)
        if _names_only(r.summary, shown)
    )
    after = previous.mark if previous is not None else FIRST
    return Changes(view.name, site, mark, after, since, tuple(found), tuple(statuses), earlier)


def _names_only(summary: str, shown: list[str]) -> bool:
    """Whether each part of a recorded ``summary`` (:attr:`Changes.summary`) is about
    a table or status page named in ``shown``; a part that cannot be read as such
    counts as not."""
    if summary in ("", NO_CHANGE, FIRST_BUILD):
        return True
    prefixes = tuple(f"{name}{part}" for name in shown for part in (": ", " status changes: "))
    return all(part.startswith(prefixes) for part in summary.removesuffix(".").split("; "))


def site_key(site: Path, root: Path) -> str:
    """How the build records name the site published to ``site`` (the project's
    folder ``root``): relative to the project when inside it."""
    site = site.resolve()
    return site.relative_to(root).as_posix() if site.is_relative_to(root) else site.as_posix()


def table_names(models: Iterable) -> dict:
    """How the page names each of ``models``: by its class, as the nav and the model
    pages do, with its app's name where another app has a model of the same name."""
    distinct = set(models)
    repeated = Counter(model.__name__ for model in distinct)
    return {
        model: model.__name__
        if repeated[model.__name__] == 1
        else f"{model.__name__} ({model._meta.app_config.verbose_name})"
        for model in distinct
    }


def _table_change(view, model, name: str, changed) -> TableChange:
    visible = view.queryset(model)
    every_column = all(view.sees_field(model, f.name) for f in model._meta.concrete_fields)
    filtered = visible.query.has_filters()
    return _counted(model._meta.label, name, model, changed, visible, filtered, every_column)


def _links_change(view, model, m2m, owner: str, changes) -> TableChange:
    """The links of a many-to-many relation: those between rows the audience sees."""
    through = m2m.remote_field.through
    owners, targets = view.queryset(model), view.queryset(m2m.related_model)
    visible = through._default_manager.filter(
        **{f"{m2m.m2m_field_name()}__in": owners, f"{m2m.m2m_reverse_field_name()}__in": targets}
    )
    filtered = owners.query.has_filters() or targets.query.has_filters()
    label, name = f"{model._meta.label}.{m2m.name}", f"{owner} ↔ {m2m.verbose_name}"
    changed = changes[through._meta.db_table]
    return _counted(label, name, through, changed, visible, filtered, every_column=True)


def _counted(label, name, model, changed, visible, filtered: bool, every_column: bool):
    """The rows of ``changed`` (a table's log) ``visible`` (a queryset of ``model``)
    holds now; updates only where every column and every row is seen (an updated row
    seen now may have been hidden before), deletions only where every row is (a
    deleted row is gone: its visibility cannot be told)."""
    if changed.reset:  # the log restarted: rows may have changed unseen
        return TableChange(label, name, None, None, None)
    kinds = {row: kind for row, (kind, _) in changed.first.items() if row not in changed.deleted}
    added = [row for row, kind in kinds.items() if kind == "I"]
    updated = [row for row, kind in kinds.items() if kind != "I"]
    deleted = [row for row in changed.deleted if changed.first[row][0] != "I"]
    return TableChange(
        label,
        name,
        _visible_count(visible, model, added, filtered),
        len(updated) if every_column and not filtered else None,
        None if filtered else len(deleted),
    )


def _visible_count(visible, model, rows: list[str], filtered: bool) -> int:
    if not filtered:
        return len(rows)
    to_python = model._meta.pk.to_python
    keys = sorted(to_python(row) for row in rows)
    return sum(
        visible.filter(pk__in=keys[start : start + BATCH]).count()
        for start in range(0, len(keys), BATCH)
    )


def _status_changes(view, source, name: str, changes) -> StatusChanges | None:
    """Status transitions of the rows of ``source`` the audience sees, per group (the
    first group column it sees); where it sees only some rows, without the status
    before (:data:`UNSHOWN`)."""
    model, shown = source.item.model, source.shown
    changed = changes.get(model._meta.db_table)
    if changed is None or changed.reset:
        return None
    status, column = shown.progress.status, shown.status_column
    field = column.field
    # A row inserted since is new; one updated from a null status was there before.
    before = {
        model._meta.pk.to_python(row): (kind == "I", _logged_status(field, value))
        for row, (kind, value) in changed.first.items()
        if row not in changed.deleted
    }
    group = shown.group_columns[0] if shown.group_columns else None
    lookups = ["pk", status, *([group.lookup] if group else [])]
    keys = sorted(before)
    counts: Counter = Counter()
    visible = view.queryset(model)
    filtered = visible.query.has_filters()
    for start in range(0, len(keys), BATCH):
        rows = visible.filter(pk__in=keys[start : start + BATCH]).values_list(*lookups)
        for pk, after, *grouped in rows:
            inserted, was = before[pk]
            if inserted or was != after:
                before_shown = UNSHOWN if filtered else NEW_ROW if inserted else _shown(column, was)
                moved = (before_shown, _shown(column, after))
                counts[(_shown(group, grouped[0]) if group else "all", *moved)] += 1
    transitions = tuple(
        Transition(group_value, was, after, rows)
        for (group_value, was, after), rows in sorted(counts.items(), key=_order)
    )
    return StatusChanges(model._meta.label, name, group.label if group else "", transitions)


def _logged_status(field, text: str | None):
    """The value of a status the log kept as text ('2' of an integer column, PostgreSQL's
    'true' of a boolean one): compared as text, a row whose other columns changed would
    show a transition from its status to itself."""
    if isinstance(field, BooleanField):
        text = LOGGED_BOOLEANS.get(text, text)
    return field.to_python(text)


def _shown(column, value) -> str:
    """A status or group value as the status page shows it: a choice by its label."""
    return NULL_STATUS if value is None else str(column.shown(value))


def _order(item) -> tuple:
    (group, was, after), rows = item
    return (group, -rows, str(was), str(after))


def record_build(changes: Changes, provenance) -> None:
    """Remember this build's mark (after it was published): the next build of the
    same site shows what changed since."""
    from espresso_static.models import BuildRecord

    if changes.mark is None:
        return
    BuildRecord.objects.create(
        audience=changes.audience,
        site=changes.site,
        mark=changes.mark,
        built_at=provenance.built_at,
        data_as_of=provenance.snapshot,
        # PostgreSQL's text holds no NUL (a choice's label may): the build is published.
        summary=changes.summary.replace("\x00", ""),
    )


# -- the feed -----------------------------------------------------------------------


def feed_path(audience: str) -> str:
    """The feed of ``audience``'s builds, in the Changes page's folder."""
    return f"{CHANGES}/{audience}.xml"


def render_changes_feed(changes: Changes, project_name: str, provenance: Provenance) -> str:
    """An Atom feed with one entry per build: this one and the earlier ones."""
    ET.register_namespace("", ATOM)
    this = FeedEntry(changes.after, provenance.snapshot, provenance.built_at, changes.summary)
    entries = [this, *changes.earlier]
    feed = ET.Element(f"{{{ATOM}}}feed")
    _text(feed, "title", f"{project_name}: changes for {changes.audience}")
    _text(feed, "id", _urn(project_name, f"changes/{changes.audience}"))
    _text(feed, "updated", _rfc3339(this.updated))
    _link(feed, PAGE_FROM_FEED, "alternate", "text/html")
    _text(feed, "generator", "espresso-static")
    for entry in entries:
        element = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(element, "title", entry.title)
        _text(element, "id", _urn(project_name, f"changes/{changes.audience}/{entry.after}"))
        _text(element, "updated", _rfc3339(entry.updated))
        _link(element, PAGE_FROM_FEED, "alternate", "text/html")
        _text(element, "summary", entry.summary)
    ET.indent(feed)
    return ET.tostring(feed, encoding="unicode", xml_declaration=True) + "\n"


class ChangesFeature(Feature[Changes]):
    """The Changes page, its feed and the home page's link to it."""

    name = "changes"

    def on_collect(self, build: Build) -> Changes:
        with build.part() as line:
            changes = collect_changes(build)
            line.append(f"changes since {'the previous build' if changes.since else 'ever'}")
        return changes

    def on_home_markdown(self, site, context: RenderContext, data: Changes | None) -> str:
        if data is None:
            return ""
        return render_template(
            "changes_home.md.j2", changes=data, page=f"{GENERATED}/{CHANGES_PAGE}"
        )

    def on_files(self, site, context: RenderContext, data: Changes | None) -> list:
        if data is None:
            return []
        markdown = render_template("changes.md.j2", changes=data, feed=feed_path(data.audience))
        feed = render_changes_feed(data, context.config.name, context.provenance)
        return [
            Page(CHANGES_PAGE, markdown, "Changes"),
            Asset(feed_path(data.audience), feed.encode()),
        ]

    def on_published(self, site_dir: Path, context: RenderContext, data: Changes | None) -> None:
        if data is not None:
            record_build(data, context.provenance)
