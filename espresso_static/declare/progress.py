"""Progress declarations: the one documented place a model says what "done" means.

A model that tracks work (one row per output file, job, measurement, ...) declares
its status column as a class attribute::

    from espresso_static.declare.progress import Progress

    class DataFile(Base):
        status = models.CharField(max_length=10, choices=STATUSES)
        ...
        progress = Progress(
            status="status",                   # the column holding the status
            done=["on_disk", "on_tape"],       # values that count as done
            in_progress=["running"],
            missing=["missing"],
            failed=["corrupt"],
            group_by=["ensemble", "stream"],   # rows of the per-group summary
        )

Every declared model gets a status page (table of all rows with filters and a live
progress bar, per-group summary, history plot), takes part in
``espresso-static snapshot`` and works with ``espresso-static plot`` and
``espresso-static todo``. When the status column has ``choices``, each choice must
be classified; a value met in the data but not declared counts as ``other``.

``columns`` picks the columns of the status page and of ``todo`` (default: every
column except the bookkeeping columns of ``Base``). A foreign key is shown by the
related row's first unique text column (e.g. the ensemble's ``name``), else its id.
``group_by`` and ``columns`` also take relation paths
(``"propagator__gaugeconfig__ensemble"``); a row reaching several rows through a
to-many step counts in each of their groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from espresso_static.checks.ids import PREFIX
from espresso_static.exceptions import ConfigError, DeclarationError

#: Progress categories in display order; ``other`` holds undeclared status values.
CATEGORIES = ("done", "in_progress", "missing", "failed", "other")
#: How pages name them (the status page and its script read these).
CATEGORY_LABELS = {
    "done": "done",
    "in_progress": "in progress",
    "missing": "missing",
    "failed": "failed",
    "other": "other",
}
#: Columns of ``Base`` that say who wrote a row, not what it is.
BOOKKEEPING_COLUMNS = ("user", "last_modified", "tag")


@dataclass(frozen=True)
class Progress:
    """How a model's rows count towards progress (see the module docstring)."""

    status: str
    done: Sequence[str]
    in_progress: Sequence[str] = ()
    missing: Sequence[str] = ()
    failed: Sequence[str] = ()
    group_by: Sequence[str] = ()
    columns: Sequence[str] | None = None

    def category(self, value) -> str:
        """The category (one of :data:`CATEGORIES`) of a status ``value``."""
        return self.categories.get(value, "other")

    @property
    def categories(self) -> dict[str, str]:
        """``{status value: category}`` for every declared value."""
        return {
            value: category for category in CATEGORIES[:-1] for value in getattr(self, category)
        }

    def values_of(self, category: str) -> list[str]:
        """The declared status values of ``category``."""
        return list(getattr(self, category)) if category != "other" else []


@dataclass(frozen=True)
class Column:
    """A column of a status table: the lookup that reads it and how to show it."""

    name: str
    lookup: str
    label: str
    field: models.Field = field(repr=False)

    def shown(self, value):
        """``value`` as Django shows it: a choice's label (``get_FOO_display``), a value
        not among the choices as stored."""
        try:
            return self._labels.get(value, value)
        except TypeError:  # unhashable (a JSON value): none of the choices
            return value

    @cached_property
    def _labels(self) -> dict:
        # Once per column: the Changes page asks for every changed row.
        return {choice: str(label) for choice, label in self.field.flatchoices}


@dataclass(frozen=True)
class DeclaredProgress:
    """A model with its :class:`Progress` declaration, checked against the model."""

    model: type[models.Model]
    progress: Progress

    @property
    def label(self) -> str:
        """``app_label.ModelName``, the name stored in snapshots."""
        return self.model._meta.label

    @property
    def slug(self) -> str:
        return self.model.__name__.lower()

    @property
    def columns(self) -> list[Column]:
        """The columns of the status page, the status column first."""
        names = self.progress.columns or [
            f.name
            for f in self.model._meta.concrete_fields
            if f.name not in BOOKKEEPING_COLUMNS and not f.primary_key
        ]
        # The status first: it is what the page is about.
        names = [self.progress.status, *(name for name in names if name != self.progress.status)]
        return [column_of(self.model, name) for name in names]

    @property
    def group_columns(self) -> list[Column]:
        return [column_of(self.model, name) for name in self.progress.group_by]

    @property
    def status_column(self) -> Column:
        return column_of(self.model, self.progress.status)

    @property
    def status_lookup(self) -> str:
        return self.status_column.lookup


@dataclass(frozen=True)
class GroupSummary:
    """Counts per category of the rows of one group."""

    group: tuple
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def percent_done(self) -> float:
        return 100.0 * self.counts.get("done", 0) / self.total if self.total else 0.0


@dataclass(frozen=True)
class ProgressSummary:
    """The per-group summary of a declared model, built from one aggregate query."""

    declared: DeclaredProgress
    group_names: tuple[str, ...]
    groups: list[GroupSummary]
    #: ``{(group values..., status value): count}``, the raw result of the query.
    status_counts: dict[tuple, int]

    @property
    def overall(self) -> GroupSummary:
        counts = dict.fromkeys(CATEGORIES, 0)
        for group in self.groups:
            for category, count in group.counts.items():
                counts[category] += count
        return GroupSummary(group=(), counts=counts)

    @property
    def has_other(self) -> bool:
        return self.overall.counts["other"] > 0


def column_of(model, name: str) -> Column:
    """The :class:`Column` for the field ``name`` of ``model``, or for the field a
    relation path ``a__b__c`` reaches (``propagator__gaugeconfig__ensemble``; a row
    reaching several rows through a to-many step counts in each of their groups)."""
    current, steps = model, name.split("__")
    for position, step in enumerate(steps):
        try:
            model_field = current._meta.get_field(step)
        except Exception:
            known = ", ".join(f.name for f in current._meta.concrete_fields)
            what = f"{name!r}," if len(steps) == 1 else f"{name!r}: {step!r},"
            raise DeclarationError(
                f"{model.__name__}.progress names {what} which is not a column of "
                f"{current.__name__} (columns: {known}).",
                f"{PREFIX}E402",
            ) from None
        if position < len(steps) - 1:
            if not model_field.is_relation:
                raise DeclarationError(
                    f"{model.__name__}.progress names {name!r}: {current.__name__}.{step} "
                    "is not a relation to follow.",
                    f"{PREFIX}E402",
                )
            current = model_field.related_model
    if len(steps) == 1 and (model_field.many_to_many or model_field.one_to_many):
        raise DeclarationError(
            f"{model.__name__}.progress: {name!r} is a to-many relation.", f"{PREFIX}E403"
        )
    label = str(
        getattr(model_field, "verbose_name", None) or model_field.related_model._meta.verbose_name
    )
    if model_field.is_relation:
        shown = _display_field(model_field.related_model)
        if shown is not None:
            return Column(name, f"{name}__{shown.name}", label, shown)
        target = getattr(model_field, "target_field", None) or model_field.related_model._meta.pk
        return Column(name, name, label, target)
    return Column(name, name, label, model_field)


def _display_field(model) -> models.Field | None:
    """The first unique text column of ``model``: a human name for its rows."""
    for candidate in model._meta.concrete_fields:
        if (
            candidate.unique
            and not candidate.primary_key
            and isinstance(candidate, (models.CharField, models.SlugField))
        ):
            return candidate
    return None


def declared(model) -> DeclaredProgress:
    """The checked declaration of ``model`` (ConfigError when it has none or it is wrong)."""
    progress = getattr(model, "progress", None)
    if not isinstance(progress, Progress):
        raise ConfigError(
            f"{model.__name__} declares no progress: add `progress = Progress(status=..., "
            "done=[...])` to the model (see espresso_static.declare.progress)."
        )
    result = DeclaredProgress(model, progress)
    check_declaration(result)
    return result


def check_declaration(item: DeclaredProgress) -> None:
    """Raise :class:`DeclarationError` (the first problem) when the declaration does not
    fit its model."""
    for problem in progress_problems(item):
        raise DeclarationError(problem.msg, problem.id)


#: The fields of a Progress that hold lists (a string there would be read letter by letter).
LIST_FIELDS = (*CATEGORIES[:-1], "group_by", "columns")


def progress_problems(item: DeclaredProgress) -> Iterator[checks.CheckMessage]:
    """Every way the declaration does not fit its model, as Django check errors
    (``espresso_static.E402`` to ``E408``; see :mod:`espresso_static.checks.ids`)."""
    progress, model = item.progress, item.model

    def error(message: str, number: str) -> checks.Error:
        return checks.Error(message, obj=model, id=f"{PREFIX}{number}")

    texts = [name for name in LIST_FIELDS if isinstance(getattr(progress, name), str)]
    for name in texts:
        value = getattr(progress, name)
        yield error(
            f"{model.__name__}.progress {name} must be a list, not the string {value!r} "
            f"(write {name}=[{value!r}]).",
            "E408",
        )
    if texts:
        return  # the other checks would read the strings letter by letter
    if not progress.done:
        yield error(f"{model.__name__}.progress needs at least one `done` value.", "E404")
    listed = [value for category in CATEGORIES[:-1] for value in progress.values_of(category)]
    twice = sorted({value for value in listed if listed.count(value) > 1})
    if twice:
        yield error(
            f"{model.__name__}.progress lists {', '.join(map(repr, twice))} in more than one "
            "category.",
            "E405",
        )
    try:
        status_field = column_of(model, progress.status).field
    except DeclarationError as problem:
        yield error(str(problem), problem.check_id.removeprefix(PREFIX))
    else:
        yield from _status_value_problems(item, status_field, listed, error)
    for name in [*(progress.columns or ()), *progress.group_by]:
        try:
            column_of(model, name)
        except DeclarationError as problem:
            yield error(str(problem), problem.check_id.removeprefix(PREFIX))
    for name in progress.columns or ():
        step = _to_many_step(model, name)
        if step:
            yield error(
                f"{model.__name__}.progress columns names {name!r}, which reaches several "
                f"rows through {step!r}: a column shows one value per row (group_by may "
                "count a row in several groups).",
                "E403",
            )


def _to_many_step(model, path: str) -> str | None:
    """The first step of the relation ``path`` reaching several rows (None: none does,
    or the path is not one: :func:`column_of` says so)."""
    for step in path.split("__")[:-1]:
        try:
            field = model._meta.get_field(step)
        except FieldDoesNotExist:
            return None
        if field.many_to_many or field.one_to_many:
            return step
        if field.related_model is None:
            return None
        model = field.related_model
    return None


def _status_value_problems(item, status_field, listed, error) -> Iterator[checks.CheckMessage]:
    progress, model = item.progress, item.model
    choices = [value for value, _ in status_field.flatchoices] if status_field.choices else []
    unclassified = [value for value in choices if value not in progress.categories]
    if unclassified:
        yield error(
            f"{model.__name__}.progress does not classify the status value(s) "
            f"{', '.join(map(repr, unclassified))} of {model.__name__}.{progress.status}: list "
            "each under done, in_progress, missing or failed.",
            "E406",
        )
    unknown = [value for value in listed if choices and value not in choices]
    if unknown:
        yield error(
            f"{model.__name__}.progress names {', '.join(map(repr, unknown))}, not a choice of "
            f"{model.__name__}.{progress.status}.",
            "E407",
        )


def declared_models(app_names: Iterable[str] | None = None) -> list[DeclaredProgress]:
    """Every installed concrete model with a :class:`Progress` declaration, checked
    (only those of the apps ``app_names`` when given)."""
    from django.apps import apps

    wanted = None if app_names is None else set(app_names)
    return [
        declared(model)
        for model in apps.get_models()
        if isinstance(getattr(model, "progress", None), Progress)
        and (wanted is None or model._meta.app_config.name in wanted)
    ]


#: Column names that say a model tracks work (``job_status``, ``state``, ...).
_STATUS_LIKE = ("status", "state")


def status_like_column(model) -> str | None:
    """The first column of ``model`` with choices and a status-like name, if any."""
    return next(
        (
            f.name
            for f in model._meta.concrete_fields
            if f.choices and any(word in f.name.lower() for word in _STATUS_LIKE)
        ),
        None,
    )


def find_declared(name: str) -> DeclaredProgress:
    """The declared model called ``name`` (``DataFile`` or ``demo.DataFile``, any case)."""
    wanted = name.lower()
    candidates = declared_models()
    matches = [
        item for item in candidates if wanted in (item.model.__name__.lower(), item.label.lower())
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:  # the same class name in several apps: only these are meant
        raise ConfigError(
            f"{name!r} is ambiguous; use one of {', '.join(item.label for item in matches)}."
        )
    choices = ", ".join(item.label for item in candidates) or "none declared"
    raise ConfigError(f"No model with a progress declaration called {name!r}; choices: {choices}.")


def summarize(item: DeclaredProgress, queryset=None) -> ProgressSummary:
    """Count the rows per group and status in one aggregate query."""
    queryset = item.model._default_manager.all() if queryset is None else queryset
    group_lookups = [column.lookup for column in item.group_columns]
    status_lookup = item.status_lookup
    rows = (
        queryset.order_by()
        .values(*group_lookups, status_lookup)
        .annotate(count=models.Count("pk"))
        .values_list(*group_lookups, status_lookup, "count")
    )
    status_counts: dict[tuple, int] = {}
    groups: dict[tuple, dict[str, int]] = {}
    for *key, status, count in rows:
        status_counts[(*key, status)] = count
        counts = groups.setdefault(tuple(key), dict.fromkeys(CATEGORIES, 0))
        counts[item.progress.category(status)] += count
    return ProgressSummary(
        declared=item,
        group_names=tuple(item.progress.group_by),
        groups=[GroupSummary(key, groups[key]) for key in sorted(groups, key=_sort_key)],
        status_counts=status_counts,
    )


def _sort_key(key: tuple) -> tuple:
    """Sort groups with ``None`` last and mixed types safely."""
    return tuple(
        (value is None, str(type(value)), value if value is not None else 0) for value in key
    )
