"""What each download is: a table's name, title, columns with their Frictionless types
and primary key, and the rows of a many-to-many relation an audience sees; and what
the downloads written are (:class:`OpenData`). Plain data, light to import: the
build reads them from the worker that wrote the files, and never loads the encoders
(pyarrow, NumPy) itself."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet

from espresso_static.data.fieldkinds import field_kind, value_field
from espresso_static.data.plain_values import INTERNAL_TYPES
from espresso_static.declare.access import AudienceView
from espresso_static.website.collect import model_doc


@dataclass(frozen=True)
class Column:
    """One exported column: the field's name, its Frictionless type and description."""

    name: str
    attname: str
    type: str
    description: str
    required: bool
    #: Resource name and column the values refer to (foreign keys), else None.
    references: tuple[str, str] | None = None


@dataclass(frozen=True)
class Resource:
    """One exported table."""

    name: str
    title: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    rows: int


@dataclass(frozen=True)
class DownloadFile:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class OpenData:
    """What :func:`.opendata.write_open_data` wrote, for the Data page."""

    package_name: str
    resources: tuple[Resource, ...]
    files: tuple[DownloadFile, ...]
    license: str
    citation: str

    def file(self, path: str) -> DownloadFile | None:
        return next((f for f in self.files if f.path == path), None)


def resource_name(model) -> str:
    return f"{model._meta.app_label}_{model._meta.model_name}"


def model_resource(view: AudienceView, model) -> Resource:
    columns = []
    for field in view.visible_fields(model):
        if field.many_to_many:
            continue
        references = None
        if field.is_relation:
            references = (resource_name(field.related_model), field.target_field.attname)
        columns.append(
            Column(
                name=field.name if not field.is_relation else field.attname,
                attname=field.attname,
                type=frictionless_type(field),
                description=str(field.help_text or field.verbose_name),
                required=not field.null,
                references=references,
            )
        )
    pk = model._meta.pk
    primary_key = (pk.attname,) if any(c.attname == pk.attname for c in columns) else ()
    return Resource(
        name=resource_name(model),
        # Django's default plural only appends an "s" ("hisqs"): the class name then.
        title=str(model._meta.verbose_name_plural)
        if "verbose_name_plural" in model._meta.original_attrs
        else model.__name__,
        description=" ".join(model_doc(model).split()),
        columns=tuple(columns),
        primary_key=primary_key,
        rows=0,
    )


def m2m_resource(model, m2m) -> Resource:
    source = m2m.m2m_column_name()
    target = m2m.m2m_reverse_name()
    columns = (
        Column(
            source,
            source,
            "integer",
            f"{model._meta.verbose_name} id",
            True,
            (resource_name(model), model._meta.pk.attname),
        ),
        Column(
            target,
            target,
            "integer",
            f"{m2m.related_model._meta.verbose_name} id",
            True,
            (resource_name(m2m.related_model), m2m.related_model._meta.pk.attname),
        ),
    )
    return Resource(
        name=f"{resource_name(model)}_{m2m.name}",
        title=f"{model._meta.verbose_name} ↔ {m2m.verbose_name}",
        description=str(m2m.help_text or f"Many-to-many relation {m2m.name}."),
        columns=columns,
        primary_key=(source, target),
        rows=0,
    )


def m2m_rows(view: AudienceView, model, m2m) -> QuerySet:
    """Links whose both ends are visible rows; of a through model of its own, its
    visible rows (its row filter decides too, and they point only to visible rows)."""
    through = m2m.remote_field.through
    source, target = m2m.m2m_column_name(), m2m.m2m_reverse_name()
    if not through._meta.auto_created:
        return view.queryset(through).order_by(source, target).values_list(source, target)
    links = through._default_manager.all()
    for column, end in ((source, model), (target, m2m.related_model)):
        visible = view.queryset(end)
        if visible.query.has_filters():
            # EXISTS, one look-up per link: with `IN` on both columns SQLite searches the
            # link index for every pair of visible ends (hours for 50,000 by 150,000).
            links = links.filter(Exists(visible.filter(pk=OuterRef(column))))
    return links.order_by(source, target).values_list(source, target)


#: Frictionless field types of the value kinds (any other kind is a string).
FRICTIONLESS_TYPES = {
    "bool": "boolean",
    "int": "integer",
    "float": "number",
    "datetime": "datetime",
    "date": "date",
    "json": "object",
}


def frictionless_type(field) -> str:
    """The Frictionless type of a column: from its value kind, else its Django type;
    any other field (UUID, binary, file, IP address, custom) is ``any``, written as text."""
    field = value_field(field)
    kind = field_kind(field)
    if kind == "text":
        return "string"
    return FRICTIONLESS_TYPES.get(kind) or INTERNAL_TYPES.get(field.get_internal_type(), "any")
