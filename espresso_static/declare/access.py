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
and only the rows of ``rows``. Relations to models it cannot see are hidden too.
An **allow** audience sees every model, column and row, except a model listing it in
``hidden_from``, the columns of ``hidden_fields`` and the rows of ``rows``.
Inherited access: a subclass without its own ``access`` uses its parent's.

Notifications (the news) follow one rule, :meth:`AudienceView.sees_notification`: one
naming audiences goes to those; one naming none goes only to allow-audiences.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.db.models import Q, QuerySet

from espresso_static.exceptions import ConfigError

ALL = "__all__"
DEFAULT_AUDIENCES = {"public": "deny", "internal": "allow"}
DEFAULT_AUDIENCE = "internal"

RowFilter = Q | Callable[[QuerySet], QuerySet]


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

    @property
    def denies_by_default(self) -> bool:
        return self.default == "deny"


NO_ACCESS = Access()


def access_of(model) -> Access:
    return getattr(model, "access", None) or NO_ACCESS


@dataclass(frozen=True)
class AudienceView:
    """What one audience may see; every step of a build asks it, never the models."""

    audience: Audience

    @property
    def name(self) -> str:
        return self.audience.name

    def sees_model(self, model) -> bool:
        access = access_of(model)
        if self.audience.denies_by_default:
            return self.name in access.audiences
        return self.name not in access.hidden_from

    def sees_field(self, model, name: str) -> bool:
        """Whether the column ``name`` (a field name) of ``model`` is visible; a
        relation is visible only when its target model is visible too."""
        if not self.sees_model(model):
            return False
        target = _related_model(model, name)
        if target is not None and not self.sees_model(target):
            return False
        access = access_of(model)
        if self.audience.denies_by_default:
            listed = access.fields.get(self.name, ())
            return listed == ALL or name in listed
        return name not in access.hidden_fields.get(self.name, ())

    def visible_fields(self, model) -> list:
        """The visible concrete fields and many-to-many fields of ``model``, in order."""
        fields = [*model._meta.concrete_fields, *model._meta.many_to_many]
        return [f for f in fields if self.sees_field(model, f.name)]

    def queryset(self, model, _path: frozenset = frozenset()) -> QuerySet:
        """The rows of ``model`` this audience sees: its own row filter, and only rows
        whose visible foreign keys point to visible rows (a file of a hidden ensemble
        is hidden too)."""
        rows = model._default_manager.all()
        row_filter = access_of(model).rows.get(self.name)
        if row_filter is not None:
            rows = rows.filter(row_filter) if isinstance(row_filter, Q) else row_filter(rows)
        for column in model._meta.concrete_fields:
            target = column.related_model
            if target is None or target in _path or not self.sees_field(model, column.name):
                continue
            allowed = self.queryset(target, _path | {model})
            if allowed.query.has_filters():
                rows = rows.filter(
                    Q(**{f"{column.name}__in": allowed.values("pk")})
                    | Q(**{f"{column.name}__isnull": True})
                )
        return rows

    def sees_notification(self, notification) -> bool:
        """A notification naming audiences goes to those; one naming none is
        "unaddressed" and goes only to allow-audiences, so nothing reaches a
        deny-audience (public) by omission."""
        named = notification.audiences or []
        return self.name in named if named else not self.audience.denies_by_default


def _related_model(model, name: str):
    try:
        django_field = model._meta.get_field(name)
    except Exception:
        return None
    return django_field.related_model if django_field.is_relation else None


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


def selected_audiences(audiences: Mapping[str, Audience], names: Sequence[str]) -> list[str]:
    """The audience names of ``--audience`` options: each may be comma-separated, and
    ``all`` means every configured audience; unknown names are an error."""
    wanted = [part.strip() for name in names for part in name.split(",") if part.strip()]
    if ALL_AUDIENCES in wanted:
        return list(audiences)
    for name in wanted:
        audience_view(audiences, name)
    return list(dict.fromkeys(wanted))
