"""Step 1 of ``build-site``: introspect the configured apps into plain dataclasses.

Everything the later steps need is gathered here, once: the render step never
touches Django. Django's own metadata (``verbose_name``, ``help_text``, docstrings,
``Meta`` constraints) is reused as it is, never restated.

Collection is for one audience (:class:`~espresso_static.declare.access.AudienceView`): only
the models, columns, relations and rows it may see are collected, so nothing hidden
can reach a page, the navigation, the search index or a diagram.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from django.apps import apps as django_apps
from django.db import models
from django.db.models import Count, Max

from espresso_static.data.plain_values import plain_value
from espresso_static.declare.access import AudienceView, audience_view
from espresso_static.exceptions import EspressoStaticError
from espresso_static.project.apps import project_app, total_rows
from espresso_static.project.config import ProjectConfig
from espresso_static.website.stored_example import stored_example

#: The consistency hooks of :class:`espresso_static.models.Base` documented in words.
CHECK_METHODS = ("check_consistency", "check_m2m_consistency")


@dataclass(frozen=True)
class FieldInfo:
    """One concrete column (or many-to-many field) of a model."""

    name: str
    verbose_name: str
    #: Django's internal type, e.g. ``CharField``; relations name their target.
    type: str
    help_text: str
    required: bool
    has_default: bool
    #: The default as Python source (``0``, ``False``, ``''``) or ``name()`` for callables.
    default: str | None
    #: The default as a literal value when it is one (used by population scripts).
    default_value: object
    #: (stored value, label): an integer choice stays an integer (population scripts).
    choices: tuple[tuple[object, str], ...]
    unique: bool
    primary_key: bool
    indexed: bool
    null: bool
    blank: bool
    editable: bool
    max_length: int | None
    #: Label of the related model for relations (``app.Model``), else None.
    related_model: str | None
    #: "foreign key", "one-to-one", "many-to-many" or "" for plain columns.
    relation: str
    #: Model label or abstract class name the field comes from when inherited, else None.
    inherited_from: str | None
    #: Multi-table-inheritance link to a parent (``*_ptr``).
    parent_link: bool


@dataclass(frozen=True)
class RelationInfo:
    """A relation seen from one model: forward (its own field) or reverse."""

    name: str
    #: "foreign key", "one-to-one" or "many-to-many".
    kind: str
    #: "forward" (a field of this model) or "reverse" (a field of ``target`` pointing here).
    direction: str
    target: str
    #: The field of the relation (on this model when forward, on ``target`` when reverse).
    field_name: str
    help_text: str
    null: bool


@dataclass(frozen=True)
class CheckInfo:
    """A consistency hook a model defines or inherits, described by its docstring."""

    method: str
    defined_on: str
    doc: str


@dataclass(frozen=True)
class ModelInfo:
    label: str
    app_label: str
    name: str
    verbose_name: str
    verbose_name_plural: str
    slug: str
    module: str
    doc: str
    is_base: bool
    fields: tuple[FieldInfo, ...]
    relations: tuple[RelationInfo, ...]
    #: Concrete multi-table-inheritance parents (labels), nearest first.
    parents: tuple[str, ...]
    #: Concrete direct children (labels) among the documented models.
    children: tuple[str, ...]
    #: Abstract model classes this model inherits fields from (``module.Class``).
    abstract_bases: tuple[str, ...]
    unique_together: tuple[tuple[str, ...], ...]
    indexes: tuple[tuple[str, ...], ...]
    checks: tuple[CheckInfo, ...]
    row_count: int
    last_modified: datetime | None
    #: Values the model suggests for its population example (``example_parameters``;
    #: dotted keys for the rows its foreign keys take).
    example_parameters: tuple[tuple[str, object], ...] = ()
    #: A stored row's values and classes by dotted path (:mod:`.stored_example`).
    stored_values: tuple[tuple[str, object], ...] = ()
    stored_tree: tuple[tuple[str, str], ...] = ()
    #: False when a column a new row needs is not shown to the audience: no
    #: population example can be written from what the site shows.
    creatable: bool = True

    @property
    def open_fields(self) -> tuple[FieldInfo, ...]:
        """The fields a user sets (as :meth:`Base.get_open_fields`)."""
        return tuple(
            f
            for f in self.fields
            if f.editable and f.name not in ("id", "user") and not f.parent_link
        )


@dataclass(frozen=True)
class AppInfo:
    label: str
    name: str
    verbose_name: str
    doc: str
    models: tuple[ModelInfo, ...]


@dataclass(frozen=True)
class SiteModel:
    """Everything known about the project's schema and data, ready to render."""

    name: str
    description: str
    apps: tuple[AppInfo, ...]
    #: Latest ``last_modified`` over all documented tables: the database snapshot time.
    last_modified: datetime | None
    #: The audience the site is collected for.
    audience: str = ""
    models_by_label: dict[str, ModelInfo] = field(default_factory=dict, compare=False)

    @property
    def models(self) -> tuple[ModelInfo, ...]:
        return tuple(model for app in self.apps for model in app.models)

    def model(self, label: str) -> ModelInfo | None:
        return self.models_by_label.get(label)

    @property
    def total_rows(self) -> int:
        """The rows of the tables this site shows (see :func:`project.apps.total_rows`)."""
        return total_rows(model.row_count for model in self.models)


def collect_site(
    config: ProjectConfig,
    progress: Callable[[Iterable], Iterable] | None = None,
    view: AudienceView | None = None,
    count: Callable | None = None,
) -> SiteModel:
    """Introspect the models of ``config.apps`` that ``view`` (default: the project's
    default audience) may see (Django must be set up); ``count`` counts a model's rows
    (default :func:`count_rows`; a build keeps the counts of unchanged tables)."""
    view = view or audience_view(config.audiences, config.default_audience)
    app_configs = [project_app(name) for name in config.apps]
    documented = {
        model._meta.label
        for app in app_configs
        for model in _sorted_models(app)
        if view.sees_model(model)
    }
    todo = [
        (app, model)
        for app in app_configs
        for model in _sorted_models(app)
        if model._meta.label in documented
    ]
    collected: dict[str, list[ModelInfo]] = {app.label: [] for app in app_configs}
    for app, model in progress(todo) if progress else todo:
        collected[app.label].append(collect_model(model, documented, view, count))
    # An app none of whose models the audience sees is left out, its description too.
    apps = tuple(
        AppInfo(
            label=app.label,
            name=app.name,
            verbose_name=str(app.verbose_name),
            doc=_module_doc(app),
            models=tuple(collected[app.label]),
        )
        for app in app_configs
        if collected[app.label]
    )
    stamps = [m.last_modified for a in apps for m in a.models if m.last_modified]
    return SiteModel(
        name=config.name,
        description=config.description,
        apps=apps,
        last_modified=max(stamps) if stamps else None,
        audience=view.name,
        models_by_label={m.label: m for a in apps for m in a.models},
    )


def _sorted_models(app) -> list[type[models.Model]]:
    """Concrete models in declaration order: the order the author chose to explain them."""
    return [model for model in app.get_models() if not model._meta.proxy]


def _module_doc(app) -> str:
    module = app.models_module
    return inspect.cleandoc(module.__doc__) if module is not None and module.__doc__ else ""


def collect_model(
    model: type[models.Model], documented: set[str], view: AudienceView, count=None
) -> ModelInfo:
    """The :class:`ModelInfo` of one concrete model as ``view`` sees it (only the
    visible columns and relations, the count of the visible rows)."""
    from espresso_static.models import Base

    meta = model._meta
    row_count, last_modified = (count or count_rows)(model, view)
    columns = [f for f in _columns(model) if view.sees_field(model, f.name)]
    visible = {f.name for f in columns}
    stored_values, stored_tree = stored_example(model, view)
    return ModelInfo(
        label=meta.label,
        app_label=meta.app_label,
        name=model.__name__,
        verbose_name=str(meta.verbose_name),
        verbose_name_plural=str(meta.verbose_name_plural),
        slug=model.__name__.lower(),
        module=model.__module__,
        doc=model_doc(model),
        is_base=issubclass(model, Base),
        fields=tuple(_sorted_fields(model, [_field_info(model, f, documented) for f in columns])),
        relations=tuple(_relations(model, documented, view)),
        parents=tuple(
            parent._meta.label
            for parent in meta.get_parent_list()
            if parent._meta.label in documented
        ),
        children=tuple(
            sorted(
                other._meta.label
                for other in django_apps.get_models()
                if other._meta.label in documented and model in other._meta.parents
            )
        ),
        abstract_bases=tuple(
            f"{base.__module__}.{base.__name__}"
            for base in _abstract_bases(model)
            if view.sees_class(model, base)
        ),
        unique_together=_visible_groups(
            [
                *meta.unique_together,
                *(
                    c.fields
                    for c in meta.constraints
                    if isinstance(c, models.UniqueConstraint) and c.fields
                ),
            ],
            visible,
        ),
        indexes=_visible_groups([index.fields for index in meta.indexes], visible),
        checks=tuple(_checks(model, view)),
        row_count=row_count,
        last_modified=last_modified,
        example_parameters=tuple(
            (name, value)
            for name, value in _example_parameters(model)
            if name.split(".")[0] in visible
        ),
        stored_values=stored_values,
        stored_tree=stored_tree,
        creatable=_creatable(model, visible),
    )


def _visible_groups(groups, visible: set[str]) -> tuple[tuple[str, ...], ...]:
    """Column groups (constraints, indexes) whose columns are all visible."""
    return tuple(tuple(group) for group in groups if set(group) <= visible)


def _creatable(model, visible: set[str]) -> bool:
    """Whether every column a new row needs is visible (else its example would be wrong)."""
    return all(
        f.name in visible
        for f in _columns(model)
        if _is_required(f) and not (f.is_relation and f.remote_field.parent_link)
    )


def model_doc(model: type[models.Model]) -> str:
    """The class's own docstring. Django invents ``Model(id, col, ...)`` when there is
    none, listing every column (hidden ones too): that is never a description."""
    doc = model.__dict__.get("__doc__") or ""
    if re.fullmatch(rf"{re.escape(model.__name__)}\([\w, ]*\)", doc.strip()):
        return ""
    return inspect.cleandoc(doc)


def count_rows(model, view: AudienceView) -> tuple[int, datetime | None]:
    """Count and latest visible ``last_modified`` of the visible rows, in one query (it
    reads every row: ``last_modified`` has no index)."""
    aggregates = {"rows": Count("pk")}
    if any(f.name == "last_modified" for f in view.visible_fields(model)):
        aggregates["latest"] = Max("last_modified")
    result = view.queryset(model).aggregate(**aggregates)
    return result["rows"], result.get("latest")


def _columns(model) -> list:
    meta = model._meta
    return [*meta.concrete_fields, *meta.many_to_many]


def _field_info(model, f, documented: set[str]) -> FieldInfo:
    has_default = f.has_default()
    default_value = f.default if has_default and not callable(f.default) else None
    return FieldInfo(
        name=f.name,
        verbose_name=str(f.verbose_name),
        type=_type_name(f),
        help_text=str(f.help_text or ""),
        required=_is_required(f),
        has_default=has_default,
        default=_default_source(f) if has_default else None,
        default_value=default_value,
        choices=tuple((_choice_value(value), str(label)) for value, label in f.flatchoices),
        unique=bool(f.unique) and not f.primary_key,
        primary_key=f.primary_key,
        indexed=bool(getattr(f, "db_index", False)) and not f.unique,
        null=f.null,
        blank=f.blank,
        editable=f.editable and not f.auto_created,
        max_length=getattr(f, "max_length", None) if not f.is_relation else None,
        related_model=f.related_model._meta.label if f.is_relation else None,
        relation=_relation_kind(f),
        inherited_from=_origin(model, f, documented),
        parent_link=bool(f.is_relation and f.remote_field.parent_link),
    )


def _type_name(f) -> str:
    if f.is_relation:
        return type(f).__name__
    return f.get_internal_type()


def _is_required(f) -> bool:
    """Whether a new row must be given a value: no default, not nullable, not automatic."""
    if f.primary_key or not f.editable or f.auto_created or f.has_default():
        return False
    if f.many_to_many:
        return not f.blank
    return not f.null and not (f.blank and f.get_internal_type() in {"CharField", "TextField"})


def _default_source(f) -> str:
    default = f.default
    if callable(default):
        return f"{getattr(default, '__name__', type(default).__name__)}()"
    return repr(default)


def _relation_kind(f) -> str:
    if f.many_to_many:
        return "many-to-many"
    if f.one_to_one:
        return "one-to-one"
    if f.many_to_one:
        return "foreign key"
    return ""


def _origin(model, f, documented: set[str]) -> str | None:
    """Where an inherited field was declared: a concrete parent or an abstract base
    (a parent the audience does not see is not named)."""
    if f.model is not model:
        return f.model._meta.label if f.model._meta.label in documented else None
    # An abstract child re-declares its parents' fields: the farthest base declared it.
    for base in reversed(_abstract_bases(model)):
        if any(local.name == f.name for local in base._meta.local_fields):
            return base.__name__
    return None


def _choice_value(value) -> object:
    """A choice's value as a Python literal spells it (an enum member as its value)."""
    return plain_value(value.value if isinstance(value, Enum) else value)


def _sorted_fields(model, fields: list[FieldInfo]) -> list[FieldInfo]:
    """The model's own fields first, then those of its parents, then of abstract bases
    (Django lists ``id`` and the ``Base`` columns first; a reader wants the science)."""
    parents = [p._meta.label for p in model._meta.get_parent_list()]

    def rank(info: FieldInfo) -> int:
        if info.inherited_from is None:
            return 0
        if info.inherited_from in parents:
            return 1 + parents.index(info.inherited_from)
        return 1 + len(parents)

    return sorted(fields, key=rank)  # stable: declaration order within each group


def _abstract_bases(model) -> list[type]:
    return [
        base
        for base in model.__mro__[1:]
        if isinstance(base, type)
        and issubclass(base, models.Model)
        and base is not models.Model
        and base._meta.abstract
    ]


def _relations(model, documented: set[str], view: AudienceView) -> list[RelationInfo]:
    """Relations to documented models through visible fields, both directions,
    without inheritance links."""
    relations = []
    for f in model._meta.get_fields(include_hidden=False):
        if not f.is_relation or f.related_model is None:
            continue
        target = f.related_model._meta.label
        if target not in documented or f.model is not model:  # inherited: on the parent's page
            continue
        forward = not isinstance(f, models.ForeignObjectRel)
        declared = f if forward else f.remote_field  # the field that defines the relation
        if getattr(declared.remote_field, "parent_link", False):
            continue
        if not view.sees_field(model if forward else f.related_model, declared.name):
            continue
        relations.append(
            RelationInfo(
                name=f.name if forward else (f.get_accessor_name() or f.name),
                kind=_relation_kind(declared),
                direction="forward" if forward else "reverse",
                target=target,
                field_name=declared.name,
                help_text=str(declared.help_text or ""),
                null=declared.null,
            )
        )
    return sorted(relations, key=lambda r: (r.direction, r.name))


def _checks(model, view: AudienceView) -> list[CheckInfo]:
    """The consistency hooks the model overrides (its own or inherited), with their
    docstrings; Base's empty defaults are left out, and so are those inherited from a
    class ``view`` may not name (a table it does not see: its name and docstring are
    that table's)."""
    from espresso_static.models import Base
    from espresso_static.models.hierarchy import defining_class

    if not issubclass(model, Base):
        return []
    checks = []
    for method in CHECK_METHODS:
        function = getattr(model, method)
        if function is getattr(Base, method):
            continue
        owner = defining_class(model, method)
        if not view.sees_class(model, owner):
            continue
        doc = owner.__dict__[method].__doc__
        checks.append(
            CheckInfo(
                method=method,
                defined_on=owner.__name__,
                doc=inspect.cleandoc(doc) if doc else "",
            )
        )
    return checks


def _example_parameters(model) -> tuple[tuple[str, object], ...]:
    """The model's optional ``example_parameters`` (a dict, or a classmethod returning
    one): values for its population example that pass its consistency checks."""
    examples = getattr(model, "example_parameters", None)
    if examples is None:
        return ()
    if callable(examples):
        examples = examples()
    if not isinstance(examples, dict):
        raise EspressoStaticError(
            f"{model._meta.label}.example_parameters must be a dict, not {type(examples).__name__}."
        )
    for key, value in examples.items():
        try:
            ast.literal_eval(repr(value))
        except (ValueError, SyntaxError):
            raise EspressoStaticError(
                f"{model._meta.label}.example_parameters[{key!r}] = {value!r} is not a Python "
                "literal (use str, int, float, bool or None)."
            ) from None
    return tuple(sorted(examples.items()))
