"""What ``Base.get_or_create_from_parameters`` needs besides the model: foreign-key
targets, look-ups of existing rows and the row's author."""

from __future__ import annotations

import getpass

from django.db import connections


def fk_target(field, tree: dict) -> type | None:
    """The class a foreign key takes: named in ``tree`` or, if concrete, its own model."""
    related = field.related_model
    if field.name in tree:
        return related._get_child_by_name(tree[field.name])
    return None if related._meta.abstract else related


def find_existing(model, values: dict, many: dict) -> tuple[object, list[str]]:
    """The row with these column values (and exactly these m2m members), if stored, and
    the names of the m2m fields whose members differ in a stored row that has these
    column values (what a unique value's conflict is about when it has no other cause)."""
    if any(getattr(value, "pk", 0) is None for value in values.values()):
        return None, []  # depends on a row that would be created: cannot exist yet
    if not many:
        found = _lookup(model, values)  # one query; a second row means the values are ambiguous
        if len(found) > 1:
            return _exactly_of_class(model, values), []
        return (found[0] if found else None), []
    differing: list[str] = []
    for candidate in model.objects.filter(**values):
        differing = [
            field.name
            for field, pks in many.items()
            if set(getattr(candidate, field.name).values_list("pk", flat=True)) != set(pks)
        ]
        if not differing:
            return candidate, []
    return None, differing


def _exactly_of_class(model, values: dict):
    """Among several rows with ``values``, the one of exactly ``model`` (not a
    subclass's row: a parent class's columns are shared by its subclasses' rows); None
    when there is none, so a row of ``model`` itself is created."""
    from espresso_static.models.hierarchy import concrete_children

    children = {
        f"{link.related_query_name()}__isnull": True for _, link in concrete_children(model)
    }
    found = list(model._base_manager.filter(**values, **children)[:2]) if children else []
    if len(found) > 1 or not children:
        raise model.MultipleObjectsReturned(
            f"More than one {model.__name__} has the values {values}: add parameters "
            "that tell them apart."
        )
    return found[0] if found else None


#: SQL of ``filter(**values)[:2]`` per (model, database, columns, which are NULL).
_LOOKUP_SQL: dict[tuple, tuple[str, list[str]] | None] = {}


def _lookup(model, values: dict) -> list:
    """``list(model.objects.filter(**values)[:2])`` with the SQL compiled once per shape.

    Population scripts run the same look-ups thousands of times and compiling the query
    costs more than running it. The cached SQL is used only where the parameters we
    compute matched Django's own for the first call; other shapes go through the ORM.
    """
    alias = model.objects.db
    names = sorted(values)
    key = (model, alias, tuple(names), tuple(values[name] is None for name in names))
    if key not in _LOOKUP_SQL:
        queryset = model._base_manager.using(alias).filter(**values)[:2]
        sql, params = queryset.query.sql_with_params()
        given = [name for name in names if values[name] is not None]
        ours = _lookup_params(model, given, values, alias)
        _LOOKUP_SQL[key] = (sql, given) if ours == list(params) else None
        return list(queryset)
    compiled = _LOOKUP_SQL[key]
    if compiled is None:
        return list(model._base_manager.using(alias).filter(**values)[:2])
    sql, given = compiled
    attnames = [f.attname for f in model._meta.concrete_fields]
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, _lookup_params(model, given, values, alias))
        return [model.from_db(alias, attnames, row) for row in cursor.fetchall()]


def _lookup_params(model, names: list[str], values: dict, alias: str) -> list:
    connection = connections[alias]
    params = []
    for name in names:
        field = model._meta.get_field(name)
        value = values[name]
        if field.is_relation:
            value, field = getattr(value, "pk", value), field.target_field
        params.append(field.get_db_prep_value(field.get_prep_value(value), connection))
    return params


class Author:
    """The user of :func:`current_user`, looked up once and only when first needed."""

    def __init__(self, alias: str):
        self.alias = alias
        self._user = None

    @property
    def user(self):
        if self._user is None:
            self._user = current_user(self.alias)
        return self._user


def current_user(alias: str):
    """The auth user rows are attributed to: the database user, else the login name."""
    from django.contrib.auth import get_user_model
    from django.db import connections

    username = connections[alias].settings_dict.get("USER") or login_name()
    user, _ = get_user_model()._default_manager.db_manager(alias).get_or_create(username=username)
    return user


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "anonymous"
