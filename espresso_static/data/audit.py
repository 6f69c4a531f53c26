"""Data health: re-run every model's consistency checks over the stored rows.

Rows written by ``bulk_create``, raw SQL, ``QuerySet.update`` or older code never
went through the save-time checks; this audit finds the ones that fail them now.
It reads in primary-key order, in batches, and never writes. The rows a check follows
(the foreign keys ``select_related()`` would join, the members of an m2m check) are
read once per batch and shared by its rows, as ``prefetch_related`` does: a check
reads them, never changes them.

``build-site`` keeps an :class:`AuditState` (the failing rows of every check, as of a
change-log mark) and re-checks only the rows whose inputs changed since. What a
check reads is bounded by rule (a check reading anything else must say so):

* ``check_consistency``: its row (and its parents' rows), and the rows its foreign
  keys reach, transitively (what ``select_related`` loads, and what ``self.fk.other``
  would load); each with its parents' and subclasses' rows of its key (what
  ``self.fk.specialization`` or a subclass's attribute read through the base loads);
* ``check_m2m_consistency`` of a column: the owner as above, its links in the
  column's table and the linked rows;
* ``check_reads = ["app.Model", ...]`` on a model names further tables its checks
  read (counts, look-ups); any change in one re-checks all its rows.

A table the change log does not cover, or whose log restarted, re-checks everything.

A check ran before its row was written: a uniqueness check (``filter(...).exists()``)
finds nothing then, but finds the stored row itself now. So a row failing its check is
checked again as when it was written, inside a savepoint rolled back at once: without
its own row (``check_consistency``), or with the relation empty before its members are
added (``check_m2m_consistency``; a row without members is not checked: its check never
ran). Passing then, it is not failing; where the database refuses that replay, the row
is counted as not replayable, not as failing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.db.models import Prefetch
from django.db.models.sql import Query

from espresso_static.data import changelog
from espresso_static.data.replay import (
    AS_WRITTEN,
    NotReplayable,
    checked_rows,
    judge,
    run_m2m_check,
    with_relation_emptied,
    without_row,
)
from espresso_static.exceptions import one_line_text

#: How many failing rows a result keeps (the count covers all of them).
KEEP_ROWS = 20


@dataclass(frozen=True)
class FailingRow:
    pk: object
    row: str
    message: str


@dataclass
class CheckResult:
    """The outcome of one check (``check_consistency`` or an m2m column) on one model."""

    model: str
    check: str
    description: str
    checked: int = 0
    failing: int = 0
    rows: list[FailingRow] = field(default_factory=list)
    #: Rows failing only because the stored row is there: replayed as written, they pass.
    passed_as_written: int = 0
    #: Failing rows whose check the database refused to replay as written, and why.
    not_replayable: int = 0
    not_replayable_reason: str = ""

    def record(self, instance, verdict) -> None:
        """Count one checked row by its :func:`_verdict`."""
        self.checked += 1
        if isinstance(verdict, NotReplayable):
            self.not_replayable += 1
            self.not_replayable_reason = self.not_replayable_reason or verdict.reason
        elif verdict is AS_WRITTEN:
            self.passed_as_written += 1
        elif verdict is not None:
            self.record_failure(instance, verdict)

    def record_failure(self, instance, error: Exception) -> None:
        self.failing += 1
        if len(self.rows) < KEEP_ROWS:
            message = one_line_text(error)
            self.rows.append(FailingRow(instance.pk, _describe(instance), message))


def audited_models(app_labels: list[str]) -> list:
    """Concrete Base models of ``app_labels`` that define a check and keep checks on."""
    from django.apps import apps

    from espresso_static.models import Base

    found = []
    for label in app_labels:
        for model in apps.get_app_config(label).get_models():
            if not issubclass(model, Base) or not model.run_checks:
                continue
            if _overrides(model, "check_consistency") or _m2m_fields(model):
                found.append(model)
    return found


def count_rows(models: list) -> int:
    """Rows (and m2m-checked rows) the audit of ``models`` will read, for a progress bar."""
    return sum(
        checked_rows(check.model._default_manager.all(), check.m2m).count()
        for check in checks_of(models)
    )


def audit_data(
    models: list,
    batch_size: int = 2_000,
    progress: Callable[[int], None] | None = None,
    rows_of: Callable | None = None,
) -> list[CheckResult]:
    """Run the checks of ``models`` over all stored rows (or the queryset
    ``rows_of(model)``, e.g. the rows an audience sees); ``progress(n)`` after each batch."""
    rows_of = rows_of or (lambda model: model._default_manager.all())
    checks = checks_of(models)
    return [_audit(check, rows_of(check.model), batch_size, progress) for check in checks]


def _audit(check: Check, queryset, batch_size: int, progress) -> CheckResult:
    result = CheckResult(check.model._meta.label, check.name, check.description)
    pairs = _checked(check, queryset, batch_size)
    for instance, verdict in _counted(pairs, batch_size, progress):
        result.record(instance, verdict)
    return result


def _counted(rows, batch_size: int, progress) -> Iterator:
    done = 0
    for done, instance in enumerate(rows, start=1):
        yield instance
        if progress and done % batch_size == 0:
            progress(batch_size)
    if progress and done % batch_size:
        progress(done % batch_size)


def _overrides(model, method: str) -> bool:
    from espresso_static.models import Base

    return getattr(model, method) is not getattr(Base, method)


def _m2m_fields(model) -> list:
    if not _overrides(model, "check_m2m_consistency"):
        return []
    return [f for f in model._meta.get_fields() if f.many_to_many and not f.auto_created]


def _doc(method) -> str:
    return " ".join((method.__doc__ or "").split())


def _describe(instance) -> str:
    try:
        return str(instance)
    except Exception:  # a broken __str__ must not stop the audit
        return f"{type(instance).__name__}(pk={instance.pk})"


# -- incremental audit (build-site) ------------------------------------------------------

#: Rows re-checked per query.
RECHECK_BATCH = 2_000


@dataclass(frozen=True)
class Check:
    """One check of one model: ``check_consistency`` (``m2m`` None) or the m2m check
    of one many-to-many column."""

    model: type
    m2m: object = None

    @property
    def name(self) -> str:
        return f"check_m2m_consistency({self.m2m.name})" if self.m2m else "check_consistency"

    @property
    def key(self) -> tuple[str, str]:
        return (self.model._meta.label, self.name)

    @property
    def method(self) -> str:
        return "check_m2m_consistency" if self.m2m else "check_consistency"

    @property
    def description(self) -> str:
        return _doc(getattr(self.model, self.method))


def checks_of(models: list) -> list[Check]:
    """The checks of ``models``, in the order the audit reports them."""
    found = []
    for model in models:
        if _overrides(model, "check_consistency"):
            found.append(Check(model))
        found.extend(Check(model, m2m) for m2m in _m2m_fields(model))
    return found


@dataclass
class AuditState:
    """The failing rows of every check over all stored rows, as of change-log ``mark``."""

    mark: str | None
    failing: dict[tuple[str, str], set] = field(default_factory=dict)
    #: Per check, the rows failing only as stored (pass as written), and those whose
    #: replay the database refused (see the module's docstring).
    as_written: dict[tuple[str, str], set] = field(default_factory=dict)
    not_replayable: dict[tuple[str, str], set] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditPlan:
    """What an audit run re-checks: per check, the primary keys (None: every row)."""

    mark: str | None
    rows: dict[tuple[str, str], set | None]

    @property
    def size(self) -> int | None:
        """Rows to re-check when known (None: some check runs over all its rows)."""
        if any(rows is None for rows in self.rows.values()):
            return None
        return sum(len(rows) for rows in self.rows.values())


def plan_audit(checks: list[Check], previous: AuditState | None) -> AuditPlan:
    """The rows of ``checks`` whose inputs changed since ``previous`` (all of them
    without a usable previous state)."""
    mark = changelog.current_mark()
    inputs = {check.key: _inputs(check) for check in checks}
    tables = {table for reads in inputs.values() for table in reads.tables}
    changes = changelog.changes_since(previous.mark, tables) if previous is not None else None
    rows = {}
    for check in checks:
        if changes is None or check.key not in previous.failing:
            rows[check.key] = None
        else:
            rows[check.key] = inputs[check.key].changed_rows(changes)
    return AuditPlan(mark, rows)


def run_audit(
    checks: list[Check],
    plan: AuditPlan,
    previous: AuditState | None,
    progress: Callable[[int], None] | None = None,
) -> AuditState:
    """``previous`` brought up to date by re-checking the rows of ``plan``."""
    state = AuditState(plan.mark)
    for check in checks:
        rows = plan.rows[check.key]
        if rows is None:
            queryset = check.model._default_manager.all()
            _record(state, check.key, _failing(check, queryset, progress))
            continue
        for kept in ("failing", "as_written", "not_replayable"):
            getattr(state, kept)[check.key] = getattr(previous, kept)[check.key] - rows
        for batch in _batches(sorted(rows), RECHECK_BATCH):
            queryset = check.model._default_manager.filter(pk__in=batch)
            _record(state, check.key, _failing(check, queryset, progress))
    return state


def merged(mark: str | None, states: list[AuditState]) -> AuditState:
    """One state of ``states`` of disjoint checks (audited apart)."""
    state = AuditState(mark)
    for part in states:
        for kept in ("failing", "as_written", "not_replayable"):
            getattr(state, kept).update(getattr(part, kept))
    return state


def split_checks(checks: list[Check], plan: AuditPlan, parts: int) -> list[list[Check]]:
    """``checks`` in ``parts`` groups of about the same work (rows to read: checked
    rows, and the links of an m2m check), each in the audit's order."""
    work = {}
    for check in checks:
        rows = plan.rows[check.key]
        manager = check.model._default_manager
        work[check.key] = manager.count() if rows is None else len(rows)
        if check.m2m is not None:
            through = check.m2m.remote_field.through._default_manager
            work[check.key] += through.count() if rows is None else len(rows)
    loads = [0] * parts
    owner = {}
    for check in sorted(checks, key=lambda c: -work[c.key]):  # largest first, to the lightest
        lightest = loads.index(min(loads))
        owner[check.key] = lightest
        loads[lightest] += work[check.key]
    return [[c for c in checks if owner[c.key] == part] for part in range(parts)]


def _record(state: AuditState, key, verdicts: dict[str, set]) -> None:
    for kept, pks in verdicts.items():
        getattr(state, kept).setdefault(key, set()).update(pks)


def audit_results(checks: list[Check], state: AuditState, rows_of: Callable) -> list[CheckResult]:
    """The results over the rows of ``rows_of(model)`` (e.g. those an audience sees):
    counts, and the first failing rows re-checked for their messages."""
    results = []
    for check in checks:
        visible = rows_of(check.model)
        failing = _among(visible, state.failing[check.key])
        result = CheckResult(check.model._meta.label, check.name, check.description)
        result.checked, result.failing = checked_rows(visible, check.m2m).count(), len(failing)
        # Of the rows counted as checked only: a count over every row tells of hidden ones.
        result.passed_as_written = len(_among(visible, state.as_written[check.key]))
        result.not_replayable = len(_among(visible, state.not_replayable[check.key]))
        first = check.model._default_manager.filter(pk__in=failing[:KEEP_ROWS])
        for instance, error in _checked(check, first):
            if isinstance(error, Exception):
                message = one_line_text(error)
                result.rows.append(FailingRow(instance.pk, _describe(instance), message))
        results.append(result)
    return results


def _among(visible, pks: set) -> list:
    """The ``pks`` of rows of the queryset ``visible``, sorted."""
    pks = sorted(pks)
    if not visible.query.has_filters() or not pks:
        return pks
    shown = set()
    for batch in _batches(pks, RECHECK_BATCH):
        shown.update(visible.filter(pk__in=batch).values_list("pk", flat=True))
    return [pk for pk in pks if pk in shown]


def _failing(check: Check, queryset, progress) -> dict[str, set]:
    """The primary keys of the rows of ``queryset`` failing ``check``, passing only as
    written, and not replayable."""
    found = {"failing": set(), "as_written": set(), "not_replayable": set()}
    for instance, verdict in _counted_pairs(_checked(check, queryset), progress):
        if isinstance(verdict, NotReplayable):
            found["not_replayable"].add(instance.pk)
        elif verdict is AS_WRITTEN:
            found["as_written"].add(instance.pk)
        elif verdict is not None:
            found["failing"].add(instance.pk)
    return found


def _checked(check: Check, queryset, batch_size: int = RECHECK_BATCH) -> Iterator[tuple]:
    """``(row, verdict)`` of each of the :func:`checked_rows` of ``queryset`` in
    primary-key order: None (passes), the check's error, :data:`AS_WRITTEN` or
    :class:`NotReplayable`."""
    queryset = checked_rows(queryset, check.m2m)
    if check.m2m is None:
        # Checks commonly follow non-null foreign keys: the rows select_related() would
        # join, each read once per batch (a few ensembles behind 400,000 files).
        rows = queryset.prefetch_related(*_followed(check.model)).order_by("pk")
    else:
        # The members as the check gets them (specialized), read once per batch.
        members = check.m2m.related_model._default_manager.all()
        if hasattr(members, "prefetch_specializations"):
            members = members.prefetch_specializations()
        rows = queryset.prefetch_related(Prefetch(check.m2m.name, members)).order_by("pk")
    for instance in rows.iterator(chunk_size=batch_size):
        if check.m2m is None:
            yield instance, judge(instance.check_consistency, without_row, instance)
            continue
        loaded = list(getattr(instance, check.m2m.name).all())
        pks = [member.pk for member in loaded]
        run = functools.partial(run_m2m_check, instance, check.m2m, pks, loaded)
        replay = functools.partial(with_relation_emptied, check.m2m, pks)
        yield instance, judge(run, replay, instance)


def _followed(model, prefix: str = "", depth: int = 1) -> list[str]:
    """The foreign-key paths ``select_related()`` without arguments follows: non-null,
    not parent links, up to Django's depth."""
    if depth > Query.max_depth:
        return []
    paths = []
    for f in model._meta.fields:
        if f.remote_field is None or f.null or getattr(f.remote_field, "parent_link", False):
            continue
        paths.append(f"{prefix}{f.name}")
        paths += _followed(f.related_model, f"{prefix}{f.name}__", depth + 1)
    return paths


def _counted_pairs(rows, progress) -> Iterator:
    return _counted(rows, RECHECK_BATCH, progress)


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class _Inputs:
    """The tables a check reads, and how a changed row of each maps to checked rows."""

    check: Check
    #: Paths from the checked model to each table it reads through foreign keys
    #: (``""``: the model's own table chain), by table.
    paths: dict[str, list[tuple[str, type]]]
    #: Tables any change of which re-checks every row.
    whole: frozenset[str]

    @property
    def tables(self) -> set[str]:
        return {*self.paths, *self.whole}

    def changed_rows(self, changes: dict) -> set | None:
        """The checked rows to redo (None: all of them)."""
        if any(changes[table] for table in self.whole):
            return None
        model, rows = self.check.model, set()
        for table, paths in self.paths.items():
            changed = changes[table]
            if changed.reset:
                return None
            if not changed:
                continue
            for path, target in paths:
                keys = _typed(target, changed.rows)
                if path == "":
                    rows |= keys
                elif path == _LINKS:
                    rows |= self._owners_of_links(changed, keys)
                else:
                    for batch in _batches(sorted(keys), RECHECK_BATCH):
                        lookup = {f"{path}__in": batch}
                        rows.update(_pks(model._default_manager.filter(**lookup)))
        return rows

    def _owners_of_links(self, changed, keys: set) -> set:
        """Owners of changed links: before the change (the log's tracked value) and now."""
        model, through = self.check.model, self.check.m2m.remote_field.through
        owner = self.check.m2m.m2m_field_name()
        owners = _typed(model, changed.before_values)
        for batch in _batches(sorted(keys), RECHECK_BATCH):
            links = through._default_manager.filter(pk__in=batch)
            owners.update(links.values_list(owner, flat=True))
        return owners


#: The path of a many-to-many check's links table.
_LINKS = "<links>"


def _inputs(check: Check) -> _Inputs:
    from django.apps import apps

    from espresso_static.models.hierarchy import descendants

    model = check.model
    paths: dict[str, list[tuple[str, type]]] = {}

    def add(table_model, path: str) -> None:
        # A subclass's row (at any depth) has its parent's key: the same path finds readers.
        below = [m for m in descendants(table_model) if not (m._meta.abstract or m._meta.proxy)]
        for chain_model in [table_model, *table_model._meta.get_parent_list(), *below]:
            paths.setdefault(chain_model._meta.db_table, []).append((path, chain_model))

    add(model, "")
    for path, target in _reached(model):
        add(target, path)
    if check.m2m is not None:
        through = check.m2m.remote_field.through
        paths.setdefault(through._meta.db_table, []).append((_LINKS, through))
        add(check.m2m.related_model, check.m2m.name)
    declared = getattr(model, "check_reads", ())
    whole = frozenset(apps.get_model(label)._meta.db_table for label in declared)
    return _Inputs(check, paths, whole)


def _reached(model, prefix: str = "", seen: frozenset = frozenset()) -> Iterator[tuple[str, type]]:
    """``(lookup path, model)`` of every model ``model``'s foreign keys reach."""
    for fk in model._meta.concrete_fields:
        target = fk.related_model
        if target is None or fk.many_to_many or target in seen or target is model:
            continue
        if fk.remote_field.parent_link:
            continue  # the parent's row: already the model's own chain
        path = f"{prefix}{fk.name}"
        yield path, target
        yield from _reached(target, f"{path}__", seen | {model})


def _typed(model, keys: Iterable[str]) -> set:
    """Primary keys from the log's text, as the model's values."""
    to_python = model._meta.pk.to_python
    return {to_python(key) for key in keys}


def _pks(queryset) -> Iterator:
    return queryset.values_list("pk", flat=True).iterator(chunk_size=RECHECK_BATCH)
