"""Who sees what: audiences and per-model access declarations.

One database, several builds. Each build is for one **audience**, configured in
``[tool.espresso-static.audiences]``::

    [tool.espresso-static]
    default_audience = "internal"        # what plain `build-site` builds

    [tool.espresso-static.audiences.public]
    default = "deny"                     # sees only what is declared for it
    site_dir = "site-public"             # default: "<site_dir>-<name>"

    [tool.espresso-static.audiences.internal]
    default = "allow"                    # sees everything not hidden from it
    health = true                        # the "Data health" page (default: allow-audiences)

Without that table the audiences are ``public`` (deny) and ``internal`` (allow).

A model declares its access with a class attribute::

    from espresso_static.declare.access import Access

    class Ensemble(Base):
        access = Access(
            audiences=["public"],                        # deny-audiences that see the table
            fields={"public": ["name", "beta", "nx"]},   # their columns ("__all__" for all)
            rows={"public": Q(released=True)},           # their rows (a Q or a function of the queryset)
            hidden_fields={"internal": ["notes"]},       # hidden even from allow-audiences
        )

A **deny** audience (``public``) sees a model only when it is in ``audiences``, only
the columns listed in ``fields`` for it (the primary key included only when listed),
and only the rows of ``rows``. Relations to models it cannot see are hidden too; rows
pointing to hidden rows are hidden through every foreign key to a model it sees, the
key's column shown or not (:meth:`AudienceView.queryset`).
An **allow** audience sees every model, column and row, except a model listing it in
``hidden_from``, the columns of ``hidden_fields`` and the rows of ``rows``.
Inherited access: a subclass without its own ``access`` uses its parent's.

Notifications (the news) follow one rule, :meth:`AudienceView.sees_notification`: one
naming audiences goes to those; one naming none goes only to allow-audiences.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.db.models import Model, Q, QuerySet

from espresso_static.exceptions import ConfigError, one_line_text

ALL = "__all__"
DEFAULT_AUDIENCES = {"public": "deny", "internal": "allow"}
DEFAULT_AUDIENCE = "internal"

RowFilter = Q | Callable[[QuerySet], QuerySet]
#: What an audience may be called: it becomes part of folder and file names.
AUDIENCE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Access:
    """The access declaration of one model (see the module documentation)."""

    audiences: Sequence[str] = ()
    fields: Mapping[str, Sequence[str] | str] = field(default_factory=dict)
    rows: Mapping[str, RowFilter] = field(default_factory=dict)
    hidden_fields: Mapping[str, Sequence[str]] = field(default_factory=dict)
    hidden_from: Sequence[str] = ()


@dataclass(frozen=True)
class Audience:
    """One audience of the project: its name, default and where its site goes."""

    name: str
    default: str  # "deny" or "allow"
    site_dir: Path
    #: Whether its builds publish the "Data health" page (default: allow-audiences).
    health: bool = False

    def __post_init__(self):
        # Every audience, however made, before its name reaches a path (site-<name>,
        # feeds/<name>.xml): ../x would write outside the project.
        if not isinstance(self.name, str) or not AUDIENCE_NAME.fullmatch(self.name):
            raise ConfigError(
                f"Audience {self.name!r}: a name is letters, digits, _ and - (starting with a letter)."
            )

    @property
    def denies_by_default(self) -> bool:
        return self.default == "deny"


NO_ACCESS = Access()


def access_of(model) -> Access:
    return getattr(model, "access", None) or NO_ACCESS


def _names(model, access: Access, declaration: str, audience: str | None = None):
    """A list of names of ``access`` (``audiences``, ``hidden_from``, or the entry of
    ``audience`` in ``fields``/``hidden_fields``), matched exactly: a string where a
    list belongs would match by substring, so it is an error (``fields`` may be
    ``"__all__"``)."""
    value = getattr(access, declaration)
    if audience is not None:
        value = value.get(audience, ())
    if value == ALL and declaration == "fields":
        return ALL
    if isinstance(value, str) or not all(isinstance(name, str) for name in value):
        where = f"{declaration}[{audience!r}]" if audience is not None else declaration
        raise ConfigError(
            f"{model._meta.label}: Access {where} must be a list of names, not {value!r}."
        )
    return frozenset(value)


@dataclass(frozen=True)
class AudienceView:
    """What one audience may see; every step of a build asks it, never the models."""

    audience: Audience
    #: The rows of each model, computed once per build (:meth:`queryset`).
    _rows: dict = field(default_factory=dict, compare=False, repr=False, hash=False)

    @property
    def name(self) -> str:
        return self.audience.name

    def sees_model(self, model) -> bool:
        access = access_of(model)
        if self.audience.denies_by_default:
            return self.name in _names(model, access, "audiences")
        return self.name not in _names(model, access, "hidden_from")

    def sees_field(self, model, name: str) -> bool:
        """Whether the column ``name`` (a field name) of ``model`` is visible; a
        relation is visible only when its target model is visible too, a foreign key
        with ``to_field`` only when that column of its target is (its value), and a
        many-to-many through a model of its own only when that model and its two
        foreign keys are (its links are that model's rows). A column inherited from the
        table of a parent (multi-table inheritance) keeps the parent's restrictions."""
        if not self.sees_model(model):
            return False
        relation = _relation(model, name)
        if relation is not None and not self._sees_relation(relation):
            return False
        parent = _parent_table(model, name)
        if parent is not None and not self._parent_shows(parent, name):
            return False
        access = access_of(model)
        if self.audience.denies_by_default:
            listed = _names(model, access, "fields", self.name)
            return listed == ALL or name in listed
        return name not in _names(model, access, "hidden_fields", self.name)

    def _parent_shows(self, parent, name: str) -> bool:
        """Whether the parent table holding a child's column ``name`` lets this audience
        see it: the column as the parent shows it, where the parent is visible (a deny
        audience's child of a parent declaring nothing for it: the child's declaration
        decides); an allow audience's parent hidden from it hides it."""
        if self.audience.denies_by_default and not self.sees_model(parent):
            return True
        return self.sees_field(parent, name)

    def _sees_relation(self, relation) -> bool:
        """Whether the target of a relation column of a visible model is visible
        (:meth:`sees_field`); a reverse relation only by its target model."""
        target = relation.related_model
        if target is None:  # a generic foreign key: no one target
            return True
        if not self.sees_model(target):
            return False
        if not relation.concrete:
            return True
        if relation.many_to_many:
            through = relation.remote_field.through
            if through._meta.auto_created:
                return True
            ends = (relation.m2m_field_name(), relation.m2m_reverse_field_name())
            return all(self.sees_field(through, name) for name in ends)
        target_field = getattr(relation, "target_field", None)
        return (
            target_field is None
            or target_field.primary_key
            or self.sees_field(target, target_field.name)
        )

    def sees_path(self, model, lookup: str) -> bool:
        """Whether the value a relation path (``ensemble__name``) reads from a row of
        ``model`` is visible: every step a visible column of a visible model. The rows
        :meth:`queryset` gives point only to visible rows through their foreign keys to
        models this audience sees; a step the other way, or to many rows, reaches rows
        no such filter limits, so it is followed only to a model whose rows this
        audience sees all of (and the links of a through model, all of its rows)."""
        current = model
        for step in lookup.split("__"):
            try:
                step_field = current._meta.get_field(step)
            except Exception:  # not a field (a declaration checked elsewhere): fail closed
                return False
            if step_field.concrete:
                if not self.sees_field(current, step):
                    return False
            elif not (  # a reverse relation: the rows of another model pointing here
                self.sees_model(current)
                and self.sees_field(step_field.related_model, step_field.remote_field.name)
            ):
                return False
            if step_field.is_relation:
                reaches_others = step_field.many_to_many or not step_field.concrete
                if reaches_others and any(map(self.filters_rows, _rows_read(step_field))):
                    return False
                current = step_field.related_model
        return True

    def filters_rows(self, model) -> bool:
        """Whether this audience may see fewer than all rows of ``model``: a row filter
        of its own, of a specialization of it or of a model its foreign keys to visible
        models lead to (:meth:`queryset`)."""
        reached = {model, *_reachable(model, self._foreign_keys)}
        return any(map(self._filters_own_rows, reached))

    def sees_class(self, model, cls) -> bool:
        """Whether a page about ``model`` may name ``cls``, a class it inherits a column
        or a check from: a table this audience sees, or an abstract base declaring a
        column of ``model`` it sees; a class declaring none (a mixin of methods) only an
        allow-audience, as a deny-audience sees only what is declared for it."""
        if cls is model:
            return True
        if issubclass(cls, Model) and not cls._meta.abstract:
            return self.sees_model(cls)
        declared = _declared_on(cls)
        if declared:
            return any(self.sees_field(model, name) for name in declared)
        return not self.audience.denies_by_default

    def sees_every_column(self, model) -> bool:
        """Whether every column of ``model`` is visible (what a row's ``str()`` or a
        check's message may name)."""
        fields = [*model._meta.concrete_fields, *model._meta.many_to_many]
        return all(self.sees_field(model, f.name) for f in fields)

    def sees_everything(self) -> bool:
        """Whether this audience sees every column and every row of every installed
        model (no model or column hidden from it, no row filter of its own): what a
        check's message may name, as a check may read any row its row reaches. Never a
        deny audience, which sees only what is declared for it."""
        from django.apps import apps

        if self.audience.denies_by_default:
            return False
        return all(
            self.sees_every_column(model) and self.name not in access_of(model).rows
            for model in apps.get_models()
        )

    def visible_fields(self, model) -> list:
        """The visible concrete fields and many-to-many fields of ``model``, in order."""
        fields = [*model._meta.concrete_fields, *model._meta.many_to_many]
        return [f for f in fields if self.sees_field(model, f.name)]

    def describe_row(self, model, pk) -> str:
        """A row as ``column=value, ...`` of its visible columns (never ``str(row)``,
        which may show any column); empty when the row is not visible."""
        names = [f.attname for f in self.visible_fields(model) if not f.many_to_many]
        values = self.queryset(model).filter(pk=pk).values(*names).first()
        return ", ".join(f"{k}={v}" for k, v in values.items()) if values else ""

    def queryset(self, model) -> QuerySet:
        """The rows of ``model`` this audience sees: the rows of its own row filter
        whose foreign keys to models it sees point to visible rows, at any depth (a
        file of a hidden ensemble is hidden, and so is a row whose parent's parent is),
        the key's column visible or not."""
        if model not in self._rows:
            self._rows.update(self._rows_of_component(model))
        return self._rows[model]

    def _foreign_keys(self, model) -> list:
        """The foreign keys (parent links and one-to-ones too) limiting the rows of
        ``model``: every one to a model this audience sees, its column visible or not
        (hiding a job's sample must not show the jobs of hidden samples). One to a model
        it does not see limits nothing: the column is hidden, and nothing of its target
        is shown."""
        return [
            column
            for column in model._meta.concrete_fields
            if column.related_model is not None and self.sees_model(column.related_model)
        ]

    def _own_rows(self, model) -> QuerySet:
        rows = model._default_manager.all()
        row_filter = access_of(model).rows.get(self.name)
        if isinstance(row_filter, Q) and _spans_many(model, row_filter):
            # A join to many rows (Q(mem__released=True)) repeats a row once per match:
            # a subquery gives each row once.
            matching = model._default_manager.filter(row_filter).values("pk")
            rows = rows.filter(pk__in=matching)
        elif row_filter is not None:
            rows = rows.filter(row_filter) if isinstance(row_filter, Q) else self._called(rows)
        # A parent's row is a part of its specialization's row (multi-table inheritance):
        # hidden with it where the specialization's row filter hides it.
        for child in _children(model):
            if self._filters_own_rows(child):
                hidden = child._default_manager.exclude(pk__in=self._own_rows(child).values("pk"))
                rows = rows.exclude(pk__in=hidden.values("pk"))
        return rows

    def _filters_own_rows(self, model) -> bool:
        """Whether a row filter of ``model`` or of a specialization of it (at any depth)
        may hide rows of its table from this audience."""
        return self.name in access_of(model).rows or any(
            self._filters_own_rows(child) for child in _children(model)
        )

    def _called(self, rows: QuerySet) -> QuerySet:
        """``rows`` through this audience's row filter function, its failure one line
        naming the declaration: check cannot call it (it may read the database)."""
        model = rows.model
        where = f"{model._meta.label}.access rows[{self.name!r}]"
        try:
            result = access_of(model).rows[self.name](rows)
        except Exception as error:
            raise ConfigError(f"{where}: {type(error).__name__}: {one_line_text(error)}") from error
        if not isinstance(result, QuerySet):
            raise ConfigError(f"{where} must return a QuerySet, not {type(result).__name__}.")
        return result

    def _rows_of_component(self, model) -> dict:
        """The visible rows of ``model`` and of the models in a cycle of foreign keys
        with it (a self-reference, A → B → A): rows pointing to hidden rows are
        removed until nothing changes (a fixpoint; each round hides one more level)."""
        cycle = {
            m
            for m in _reachable(model, self._foreign_keys)
            if model in _reachable(m, self._foreign_keys)
        }
        rows = {}
        for member in cycle or {model}:
            rows[member] = self._own_rows(member)
            for column in self._foreign_keys(member):
                if column.related_model not in cycle:  # outside: computed (and memoized) first
                    rows[member] = _pointing_to(
                        rows[member], column, self.queryset(column.related_model)
                    )
        if not cycle:
            return rows
        base, counts = dict(rows), None
        while True:
            current = {m: rows[m].count() for m in cycle}
            if current == counts:
                return rows
            counts, previous = current, rows
            rows = {}
            for member in cycle:
                rows[member] = base[member]
                for column in self._foreign_keys(member):
                    if column.related_model in cycle:
                        rows[member] = _pointing_to(
                            rows[member], column, previous[column.related_model]
                        )

    def sees_notification(self, notification) -> bool:
        """A notification naming audiences goes to those (names matched exactly); one
        naming none is "unaddressed" and goes only to allow-audiences, so nothing
        reaches a deny-audience (public) by omission."""
        named = notification_audiences(notification.pk, notification.audiences)
        return self.name in named if named else not self.audience.denies_by_default


def notification_audiences(pk, audiences) -> list[str]:
    """The audience names a stored notification's ``audiences`` value holds; anything
    but a list of names (e.g. the text ``"public"``) stops the build: read as letters
    it would name no audience, and guessing could show it to the wrong one."""
    named = audiences or []
    if not isinstance(named, list) or not all(isinstance(name, str) for name in named):
        raise ConfigError(
            f"Notification {pk}: audiences must be a list of audience names, not {named!r}."
        )
    return named


def _pointing_to(rows: QuerySet, column, allowed: QuerySet) -> QuerySet:
    """``rows`` whose ``column`` is null or points into ``allowed`` (by the column of
    the target it stores: its ``to_field``, else the primary key)."""
    if not allowed.query.has_filters():
        return rows
    targets = allowed.values(column.target_field.attname)
    return rows.filter(Q(**{f"{column.name}__in": targets}) | Q(**{f"{column.name}__isnull": True}))


def _reachable(model, edges) -> set:
    """The models reachable from ``model`` through one or more of ``edges(model)``."""
    seen, pending = set(), [column.related_model for column in edges(model)]
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            pending.extend(column.related_model for column in edges(current))
    return seen


def _declared_on(cls) -> set[str]:
    """The columns an abstract model (or a mixin: none) declares itself: an abstract
    child repeats its abstract parents' fields."""
    if not issubclass(cls, Model):
        return set()
    inherited = {
        f.name
        for parent in cls.__mro__[1:]
        if issubclass(parent, Model) and parent is not Model
        for f in parent._meta.local_fields
    }
    return {f.name for f in cls._meta.local_fields} - inherited


def _rows_read(relation) -> list:
    """The models whose rows a step through ``relation`` (either way) reads: its
    target, and for a many-to-many through a model of its own, that model's rows (the
    links)."""
    forward = relation if relation.concrete else relation.remote_field
    through = getattr(forward.remote_field, "through", None)
    explicit = through is not None and not through._meta.auto_created
    return [relation.related_model, through] if explicit else [relation.related_model]


def _children(model) -> list:
    """The models specializing ``model`` through a table of their own (multi-table
    inheritance), one level down: the ends of its parent links (Django's relation tree,
    kept per model; scanning every model each time cost a loop per call)."""
    return [rel.related_model for rel in model._meta.related_objects if rel.parent_link]


def _parent_table(model, name: str):
    """The concrete parent model whose table holds ``model``'s column ``name`` (None: its
    own, an abstract base's copy, or no such column)."""
    try:
        owner = model._meta.get_field(name).model
    except Exception:
        return None
    concrete = owner is not model and not owner._meta.abstract
    return owner if concrete and owner in model._meta.get_parent_list() else None


def _relation(model, name: str):
    """The relation field ``name`` of ``model``; None for another column or no field."""
    try:
        django_field = model._meta.get_field(name)
    except Exception:
        return None
    return django_field if django_field.is_relation else None


ALL_AUDIENCES = "all"


def audience_view(audiences: Mapping[str, Audience], name: str) -> AudienceView:
    """The view of the configured audience ``name`` (a one-line error naming the
    configured ones when it is unknown)."""
    if name not in audiences:
        raise ConfigError(
            f"Unknown audience {name!r}: the configured audiences are {', '.join(audiences)} "
            f"(or {ALL_AUDIENCES!r} for every one)."
        )
    return AudienceView(audiences[name])


def split_names(names: Sequence[str]) -> list[str]:
    """``["public,internal", "public"]`` → ``["public", "internal"]``."""
    return list(
        dict.fromkeys(part.strip() for name in names for part in name.split(",") if part.strip())
    )


def selected_audiences(audiences: Mapping[str, Audience], names: Sequence[str]) -> list[str]:
    """The audience names of ``--audience`` options: each may be comma-separated, and
    ``all`` means every configured audience; an unknown name is an error."""
    wanted = split_names(names)
    selected = list(audiences) if ALL_AUDIENCES in wanted else wanted
    for name in selected:
        audience_view(audiences, name)
    return selected


def _spans_many(model, row_filter: Q) -> bool:
    """Whether a lookup of ``row_filter`` goes through a to-many relation (a reverse
    foreign key or a many-to-many), where a row may match more than once."""
    from django.core.exceptions import FieldDoesNotExist

    for child in row_filter.children:
        if isinstance(child, Q):
            if _spans_many(model, child):
                return True
            continue
        current = model
        for part in child[0].split("__"):
            try:
                relation = current._meta.get_field(part)
            except FieldDoesNotExist:  # a lookup (gte, in, ...): the path ended
                break
            if relation.many_to_many or relation.one_to_many:
                return True
            if not relation.is_relation:
                break
            current = relation.related_model
    return False
