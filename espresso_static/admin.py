"""The optional local admin GUI: Django's admin for the configured project.

``espresso-static admin`` serves it on 127.0.0.1. Every model of the configured apps
(and the notifications) is registered automatically with list columns, search over
its text fields and filters for choices, booleans and foreign keys. A model an app
registers itself in its own ``admin.py`` keeps that registration. Consistency checks
are enforced: ``Base.clean`` runs ``check_consistency`` in the form, so an invalid
edit shows the check's message and saves nothing; a check that only runs on saving
(many-to-many additions) rolls the whole edit back and shows its message too.

This module is also the admin's URLconf (``ROOT_URLCONF``, see
:func:`espresso_static.project.django_setup.admin_settings`). The static site never needs it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.db import models
from django.http import HttpResponseRedirect
from django.urls import path

from espresso_static.exceptions import ConfigError, ConsistencyError
from espresso_static.models import Base, Notification
from espresso_static.models.hierarchy import concrete_children
from espresso_static.project.apps import project_app

#: At most this many columns in a changelist (the id included).
MAX_COLUMNS = 8
TEXT_FIELDS = (models.CharField, models.TextField)


class ProjectModelAdmin(admin.ModelAdmin):
    """What every automatically registered model shares."""

    list_per_page = 50

    def get_fields(self, request, obj=None):
        # Base declares its free tag first; in a form it belongs after the real columns
        # (and before the read-only user who wrote the row).
        fields = list(super().get_fields(request, obj))
        if issubclass(self.model, Base) and "tag" in fields:
            fields.remove("tag")
            fields.insert(fields.index("user") if "user" in fields else len(fields), "tag")
        return fields

    def get_readonly_fields(self, request, obj=None):
        # Base.user records who wrote the row: the admin sets it, nobody types it.
        readonly = tuple(super().get_readonly_fields(request, obj))
        return (*readonly, "user") if issubclass(self.model, Base) else readonly

    def save_model(self, request, obj, form, change):
        if isinstance(obj, Base):
            obj.user = request.user
        super().save_model(request, obj, form, change)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ConsistencyError as error:
            # Raised while saving (e.g. by check_m2m_consistency), after the form was
            # valid: the admin's transaction has rolled everything back.
            self.message_user(request, f"Not saved: {error.check_message}", level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


def model_admin_for(model: type[models.Model]) -> type[admin.ModelAdmin]:
    """A ModelAdmin class with columns, search and filters derived from ``model``."""
    foreign_keys = [field for field in _fields(model) if isinstance(field, models.ForeignKey)]
    return type(
        f"{model.__name__}Admin",
        (ProjectModelAdmin,),
        {
            "list_display": list_columns(model),
            "search_fields": search_fields(model),
            "list_filter": list_filters(model),
            "list_select_related": tuple(field.name for field in foreign_keys),
        },
    )


def list_columns(model: type[models.Model]) -> list:
    """The id, the concrete class (for tables other tables specialize), the fields a
    user sets (foreign keys by their short name; no long text) and the modification
    time. With many fields, those one can filter by (choices, booleans, foreign keys)
    come first when picking which fit."""
    base_model = issubclass(model, Base)
    columns: list = ["id" if base_model else model._meta.pk.name]
    if base_model and concrete_children(model):
        columns.append(_type_column())
    # Base's free tag is rarely worth a column (it is searchable); long text never is.
    candidates = [
        field
        for field in _fields(model)
        if not field.many_to_many
        and not isinstance(field, models.TextField)
        and not (base_model and field.name == "tag")
    ]
    by_priority = sorted(candidates, key=lambda field: not _is_filterable(field))
    fitting = set(by_priority[: MAX_COLUMNS - len(columns)])
    for field in candidates:
        if field in fitting:
            columns.append(_related_column(field) if field.many_to_one else field.name)
    if any(field.name == "last_modified" for field in model._meta.concrete_fields):
        columns.append("last_modified")
    return columns


def search_fields(model: type[models.Model]) -> list[str]:
    """Text fields, and the name of rows foreign keys point to (e.g. ``ensemble__name``)."""
    names = [field.name for field in _fields(model) if isinstance(field, TEXT_FIELDS)]
    for field in _fields(model):
        if field.many_to_one and (name_field := _name_field(field.related_model)):
            names.append(f"{field.name}__{name_field.name}")
    return names


def list_filters(model: type[models.Model]) -> list:
    """Choices and booleans, and foreign keys (offering only rows that are used)."""
    filters: list = []
    for field in [*_fields(model), *_user_field(model)]:
        if field.many_to_one:
            filters.append((field.name, UsedRelatedFilter))
        elif _is_filterable(field):
            filters.append(field.name)
    return filters


def _is_filterable(field) -> bool:
    return bool(field.many_to_one or field.choices or isinstance(field, models.BooleanField))


class UsedRelatedFilter(admin.RelatedOnlyFieldListFilter):
    """The related rows in use, each by its short label (``a12m310``, not the long
    ``str`` of a Base row)."""

    def field_choices(self, field, request, model_admin):
        used = model_admin.get_queryset(request).values_list(f"{self.field_path}__pk", flat=True)
        rows = field.related_model._default_manager.filter(pk__in=used)
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            rows = rows.order_by(*ordering)
        return [(row.pk, short_label(row)) for row in rows]


def short_label(row: models.Model | None) -> str | None:
    """A row's unique name when it has one (``a12m310``), else its ``str``."""
    if row is None:
        return None
    name_field = _name_field(type(row))
    return getattr(row, name_field.name) if name_field else str(row)


def _related_column(field) -> Callable:
    @admin.display(description=field.verbose_name, ordering=field.name)
    def column(row):
        return short_label(getattr(row, field.name))

    column.__name__ = field.name
    return column


def _type_column() -> Callable:
    @admin.display(description="type")
    def column(row):
        return row.type

    return column


def _fields(model: type[models.Model]) -> list:
    """The fields a user sets, in declaration order (Base: its open fields)."""
    if issubclass(model, Base):
        return model.get_open_fields()
    return [
        field
        for field in model._meta.get_fields()
        if getattr(field, "editable", False) and not field.auto_created and field.concrete
    ]


def _user_field(model: type[models.Model]) -> list:
    return [model._meta.get_field("user")] if issubclass(model, Base) else []


def _name_field(model: type[models.Model]):
    """The first unique text field (other than the primary key), if any."""
    for field in model._meta.concrete_fields:
        if isinstance(field, models.CharField) and field.unique and not field.primary_key:
            return field
    return None


# -- the site ------------------------------------------------------------------------


def project_models() -> list[type[models.Model]]:
    """The notifications and every model of the configured apps."""
    config = settings.ESPRESSO_STATIC_PROJECT
    found = [Notification]
    for name in config.apps:
        found.extend(project_app(name).get_models())
    return found


def register_project_models(site: admin.AdminSite = admin.site) -> list[type[models.Model]]:
    """Import the apps' own ``admin.py`` modules, then register every project model they
    left out. Returns the models registered automatically."""
    if not apps.is_installed("django.contrib.admin"):
        raise ConfigError(
            "The admin needs django.contrib.admin, sessions, messages and staticfiles "
            "installed (see espresso_static.project.django_setup.admin_settings)."
        )
    admin.autodiscover()
    registered = []
    for model in project_models():
        if not site.is_registered(model):
            site.register(model, model_admin_for(model))
            registered.append(model)
    config = settings.ESPRESSO_STATIC_PROJECT
    site.site_header = site.site_title = f"{config.name} admin"
    site.index_title = "Tables"
    site.site_url = None  # the static site is elsewhere; no "View site" link
    return registered


def register_admins(
    app_name: str,
    exclude_models: list[str] | None = None,
    admin_class: type[admin.ModelAdmin] | None = None,
) -> None:
    """EspressoDB's ``register_admins``: register every model of the app ``app_name``
    (its import path) but the class names in ``exclude_models``, with ``admin_class``
    or the columns, search and filters derived for it. Models registered already keep
    their registration; an app that is not installed is an error naming it."""
    matches = [config for config in apps.get_app_configs() if config.name == app_name]
    if not matches:
        raise ConfigError(f"register_admins: no installed app {app_name!r}.")
    for model in matches[0].get_models():
        if model.__name__ in (exclude_models or ()) or admin.site.is_registered(model):
            continue
        admin.site.register(model, admin_class or model_admin_for(model))


def build_urlpatterns() -> list:
    register_project_models()
    return [path("", admin.site.urls)]


def __getattr__(name: str):
    # PEP 562: Django reads ``urlpatterns`` at the first request. Building them then,
    # not at import, lets every app's admin.py register its own ModelAdmins first.
    if name == "urlpatterns":
        return build_urlpatterns()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- the command ---------------------------------------------------------------------


def prepare_admin_database() -> None:
    """Create the admin's own tables (log entries, sessions) if missing."""
    from django.core.management import call_command

    for app_label in ("admin", "sessions"):
        call_command("migrate", app_label, interactive=False, verbosity=0)


def ensure_superuser(username: str, password: str):
    """Make ``username`` a superuser with ``password`` (creating the user, or promoting
    the user rows were already attributed to). Returns ``(user, created)``."""
    from django.contrib.auth import get_user_model

    if not username or not password:
        raise ConfigError("A superuser needs a non-empty username and password.")
    user, created = get_user_model()._default_manager.get_or_create(username=username)
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)
    user.save()
    return user, created


def has_superuser() -> bool:
    from django.contrib.auth import get_user_model

    return get_user_model()._default_manager.filter(is_superuser=True, is_active=True).exists()


def serve(port: int) -> None:
    """Serve the admin on 127.0.0.1:``port`` until interrupted (with its CSS and
    JavaScript, which Django's development server serves from the installed apps)."""
    from django.core.management import call_command

    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, insecure_serving=True)
