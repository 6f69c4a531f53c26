"""The :class:`Base` model: a drop-in for EspressoDB's ``espressodb.base.models.Base``.

Changing ``from espressodb.base.models import Base`` to
``from espresso_static.models import Base`` is enough for existing model files.
Where EspressoDB is silent or buggy this module does what a user expects; each
difference is named in the docstring of the method concerned.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models.signals import class_prepared
from django.dispatch import receiver
from django.utils.text import slugify

from espresso_static.exceptions import ConsistencyError
from espresso_static.models.hierarchy import concrete_children, descendants, most_specialized
from espresso_static.models.parameters import (
    Author,
    current_user,
    find_existing,
    fk_target,
)
from espresso_static.models.queryset import BaseManager
from espresso_static.website.paths import doc_url


class Base(models.Model):
    """Abstract base of every table: an id, who wrote the row and when, a free tag,
    and consistency checks that run before every write."""

    # The public import path (``from espresso_static.models import Base``) is the name
    # pages and error messages show, not the module that happens to define it.
    __module__ = "espresso_static.models"

    #: Run ``check_consistency`` before saving and ``check_m2m_consistency`` before m2m adds.
    run_checks: ClassVar[bool] = True
    #: Run ``pre_save`` before saving.
    run_pre_save: ClassVar[bool] = True

    id = models.AutoField(primary_key=True, help_text="Primary key for Base class.")
    last_modified = models.DateTimeField(
        auto_now=True, help_text="Date the class was last modified"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        help_text="User who updated this object. Set on save by connection to database."
        " Anonymous if not found.",
    )
    tag = models.CharField(
        max_length=200, null=True, blank=True, help_text="User defined tag for easy searches"
    )

    objects = BaseManager()

    class Meta:
        abstract = True

    # -- hooks a model overrides ---------------------------------------------------------

    def pre_save(self) -> None:
        """Called before ``check_consistency`` on every save: set derived columns here."""

    def check_consistency(self) -> None:
        """Called before every save: raise an exception if the row is inconsistent."""

    def check_m2m_consistency(self, instances, column: str | None = None) -> None:
        """Called before ``instances`` are added to the many-to-many ``column`` of ``self``:
        raise an exception to refuse the addition (nothing is added then)."""

    def run_save_hooks(self) -> None:
        """Run ``pre_save`` and ``check_consistency`` as ``save()`` does (honouring
        ``run_pre_save`` and ``run_checks``); a failed check raises :class:`ConsistencyError`."""
        if self.run_pre_save:
            self.pre_save()
        if self.run_checks:
            try:
                self.check_consistency()
            except Exception as error:
                raise ConsistencyError(error, self) from error

    def clean(self) -> None:
        """Run ``pre_save`` and the consistency checks so forms and the admin show their
        messages (``pre_save`` first, so a check sees the columns it derives, as on save;
        EspressoDB skips it).

        A check that raises a :class:`~django.core.exceptions.ValidationError` (for
        example with a field dict) is passed through unchanged so forms can attach it
        to fields; any other error becomes a ``ValidationError`` with its message.
        """
        super().clean()
        try:
            if self.run_pre_save:
                self.pre_save()
            if self.run_checks:
                self.check_consistency()
        except ValidationError:
            raise
        except Exception as error:
            raise ValidationError(str(error), code="consistency") from error

    def save(self, *args, save_instance_only: bool = False, **kwargs):
        """Fill ``user`` (the database user, else the login name, else "anonymous")
        and save; the consistency checks run in the ``pre_save`` signal so that
        ``objects.create`` and ``get_or_create`` run them too. Returns ``self``.

        A stored row of a parent class whose row is specialized saves through its
        specialization, as in EspressoDB: this instance's columns are copied onto it,
        the child's checks run and its columns (written through the parent or not)
        are saved too. ``save_instance_only=True`` saves this instance's tables only."""
        if self.user_id is None:
            self.user = current_user(kwargs.get("using") or self._state.db or "default")
        special = self if save_instance_only else self.specialization
        if special is self:
            super().save(*args, **kwargs)
            return self
        _copy_columns(self, special, type(self))
        special.save(*args, **kwargs)
        _copy_columns(special, self, type(self))  # last_modified, what pre_save derived
        return self

    def refresh_from_db(self, using=None, fields=None, from_queryset=None):
        """Django's, also forgetting the cached specialization on a full refresh (the
        child's columns may have changed in the database too)."""
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        if fields is None:
            self.__dict__.pop("_specialization", None)

    def __getstate__(self):
        # A pickled row carries its own columns; the specialization is looked up again.
        state = super().__getstate__()
        state.pop("_specialization", None)
        return state

    def __getattr__(self, name: str):
        """An attribute only a subclass defines, read through a parent-class row: the
        specialization's (EspressoDB copies them all at ``__init__``, one query per
        subclass per instance; here one query on the first such read, none at all for
        rows never read that way). Python calls this only for names the instance and
        its class lack, so Django's own attributes never get here."""
        # Private and dunder names: Django, copy and pickle probe for them, also on
        # half-built instances (before __init__ or __setstate__ filled __dict__).
        if hasattr(type(self), name):
            # A descriptor of the class raised AttributeError (a property, or Django's
            # RelatedObjectDoesNotExist of a reverse one-to-one, which caches the miss)
            # and Python fell back to here: run it again so its own error surfaces.
            return object.__getattribute__(self, name)
        if name.startswith("_") or name not in _subclass_only_names(type(self)):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        special = self.specialization
        if special is self:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r} (row "
                f"{self.pk!r} has no specialization defining it)"
            )
        return getattr(special, name)

    # -- introspection (EspressoDB API) --------------------------------------------------

    @classmethod
    def get_slug(cls) -> str:
        """The model name as a slug (used for page names and anchors)."""
        return slugify(cls.__name__)

    @classmethod
    def get_label(cls) -> str:
        """``Model[Parent]``: the class name and its direct parent class."""
        if cls is Base:
            return cls.__name__
        return f"{cls.__name__}[{cls.mro()[1].__name__}]"

    @classmethod
    def get_app(cls):
        """The Django ``AppConfig`` of the app holding this model."""
        return cls._meta.app_config

    @classmethod
    def get_app_name(cls) -> str:
        """The verbose name of the app holding this model."""
        return cls.get_app().verbose_name

    @classmethod
    def get_app_doc_url(cls) -> str:
        """The address of the app's page on the published site: under ``site_url`` of
        the project's configuration, else relative to the site's root (EspressoDB: the
        documentation view of its web server)."""
        return doc_url(_site_url(), cls._meta.app_label)

    @classmethod
    def get_doc_url(cls) -> str:
        """The address of the model's page on the published site (see
        :meth:`get_app_doc_url`; EspressoDB: an anchor on the app's page)."""
        return doc_url(_site_url(), cls._meta.app_label, cls.__name__.lower())

    @classmethod
    def get_open_fields(cls) -> list:
        """Editable fields a user sets: all but ``id``, ``user``, non-editable and
        multi-table-inheritance ``*_ptr`` fields (foreign keys and m2m included)."""
        return [
            field
            for field in cls._meta.get_fields()
            if field.name not in ("id", "user")
            and getattr(field, "editable", False)
            and not field.name.endswith("_ptr")
        ]

    @property
    def type(self) -> str:
        """The class name of the most specialized row."""
        return type(self.specialization).__name__

    def __str__(self) -> str:
        """``Model[Parent](field=value, ...)`` of the most specialized row, listing
        the non-null columns that are not relations."""
        instance = self.specialization
        values = ", ".join(
            f"{field.name}={getattr(instance, field.name)}"
            for field in instance.get_open_fields()
            if not field.is_relation and getattr(instance, field.name) is not None
        )
        return f"{instance.get_label()}({values})" if values else instance.get_label()

    # -- specialization -----------------------------------------------------------------

    @property
    def specialization(self) -> Base:
        """The most derived multi-table-inheritance row sharing this row's id (``self``
        when there is none). At most one query per instance, whatever the depth and
        number of subclasses (EspressoDB issues one query per subclass, at every
        instantiation); none for a model without concrete subclasses or an unsaved
        row. ``QuerySet.specialized()`` and ``prefetch_specializations()`` resolve
        many rows at once."""
        cached = self.__dict__.get("_specialization")
        if cached is None:
            # The primary key read from __dict__: self.pk of an instance Django is
            # still building would query the database for it.
            if self.__dict__.get(self._meta.pk.attname) is None:
                return self
            cached = self.get_specialization()
            self.__dict__["_specialization"] = cached
        return cached

    def get_specialization(self) -> Base:
        """Query and return the most specialized row (see :attr:`specialization`)."""
        paths = type(self).specialization_paths()
        if not paths or self.pk is None:
            return self
        row = type(self)._base_manager.using(self._state.db).select_related(*paths).get(pk=self.pk)
        special = most_specialized(row)
        return self if type(special) is type(self) else special

    @classmethod
    def specialization_paths(cls) -> list[str]:
        """``select_related`` paths that reach every concrete multi-table descendant."""
        paths = []
        for child, link in concrete_children(cls):
            name = link.related_query_name()
            deeper = child.specialization_paths() if issubclass(child, Base) else []
            paths.extend(f"{name}__{path}" for path in deeper)
            if not deeper:
                paths.append(name)
        return paths

    @classmethod
    def _get_child_by_name(cls, class_name: str) -> type[Base]:
        """The class named ``class_name`` among ``cls`` and all its descendants (at any
        depth; EspressoDB looks only one level down)."""
        family = [cls, *descendants(cls)]
        matches = [model for model in family if model.__name__ == class_name]
        if len(matches) != 1:
            options = ", ".join(model.__name__ for model in family if not model._meta.abstract)
            raise KeyError(
                f"Could not find specialization {class_name!r} of {cls.__name__}; options: {options}."
            )
        return matches[0]

    @classmethod
    def get_sub_info(cls, root_key: str, tree: dict[str, Any]) -> dict[str, Any]:
        """The entries of ``tree`` below ``root_key``, with ``root_key.`` removed."""
        prefix = f"{root_key}."
        return {key[len(prefix) :]: value for key, value in tree.items() if key.startswith(prefix)}

    @classmethod
    def get_recursive_columns(
        cls, tree: dict[str, Any] | None = None, _class_name: str | None = None
    ) -> dict[str, list[str]]:
        """Column names of this table and of the tables its foreign keys take (the class
        ``tree`` names, else the key's own model; optional keys only when in ``tree``):
        ``{column: [tables using it]}`` (nested tables as ``Outer.Inner``)."""
        tree = tree or {}
        model = cls._get_child_by_name(_class_name) if _class_name else cls
        columns: dict[str, list[str]] = {}
        for field in model.get_open_fields():
            if isinstance(field, models.ForeignKey):
                target = fk_target(field, tree)
                # Like get_or_create_from_parameters: an optional key not in the tree
                # stays empty unless parameters address it.
                optional = field.null and field.name not in tree
                if target is None or optional or not issubclass(target, Base):
                    continue
                nested = target.get_recursive_columns(tree=model.get_sub_info(field.name, tree))
                for column, tables in nested.items():
                    columns.setdefault(column, []).extend(f"{model.__name__}.{t}" for t in tables)
            else:
                columns.setdefault(field.name, []).append(model.__name__)
        return columns

    # -- population ---------------------------------------------------------------------

    @classmethod
    def get_or_create_from_parameters(
        cls,
        parameters: dict[str, Any],
        tree: dict[str, str] | None = None,
        dry_run: bool = False,
    ) -> tuple[Base, bool]:
        """Get or create a row and, recursively, the rows its foreign keys need.

        ``parameters`` holds column values; plain keys apply at every level, dotted
        keys (``"gaugeconfig.ensemble.nx": 32``) only below that foreign key and win
        over plain ones. ``tree`` names the concrete class a foreign key takes
        (``{"action": "MobiusDomainWall", "action.parent": "Hisq"}``); a foreign key
        missing from the tree takes its own (non-abstract) model, or stays empty when
        nullable and its model is abstract. A foreign key may also be given directly
        as a model instance in ``parameters``. Many-to-many values (instances or
        primary keys) are part of the row's identity and are set on creation,
        running ``check_m2m_consistency``.

        Everything happens in one transaction: a failed check anywhere leaves the
        database unchanged. With ``dry_run=True`` nothing is written at all (unlike
        EspressoDB): existing rows are looked up, rows that would be created are
        returned unsaved after their ``pre_save`` and checks ran.

        Returns ``(instance, created)``.
        """
        alias = cls.objects.db
        with transaction.atomic(using=alias):
            author = Author(alias)
            return cls._get_or_create_node(dict(parameters), dict(tree or {}), dry_run, author)

    @classmethod
    def _get_or_create_node(
        cls, parameters: dict, tree: dict, dry_run: bool, author: Author
    ) -> tuple[Base, bool]:
        values, many = {}, {}
        for field in cls.get_open_fields():
            if field.many_to_many:
                if field.name in parameters:
                    many[field] = [getattr(item, "pk", item) for item in parameters[field.name]]
            elif isinstance(field, models.ForeignKey):
                related = _related_instance(cls, field, parameters, tree, dry_run, author)
                if related is not None:
                    values[field.name] = related
                elif not field.null:
                    raise KeyError(
                        f"Cannot build {cls.__name__}.{field.name}: its model "
                        f"{field.related_model.__name__} is abstract; name a concrete class in "
                        f'tree, e.g. tree={{"{field.name}": "ClassName"}}.'
                    )
            elif parameters.get(field.name) is not None or (
                field.null and field.name in parameters
            ):
                values[field.name] = field.to_python(parameters[field.name])
            elif not (field.has_default() or field.null):
                given = ", ".join(sorted(parameters)) or "none"
                raise KeyError(
                    f"Missing value for {cls.__name__}.{field.name} ({field.verbose_name}): "
                    f"parameters have no key {field.name!r}. Given keys: {given}."
                )

        existing, other_members = find_existing(cls, values, many)
        if existing is not None:
            return existing, False
        instance = cls(**values)
        if dry_run:
            instance.run_save_hooks()
            for field, pks in many.items():
                instance._check_m2m_addition(field, pks)
            return instance, True
        instance.user = author.user  # one user look-up per call, not one per row created
        try:
            instance.save()
        except IntegrityError as error:
            raise IntegrityError(_conflict(cls, values, other_members, error)) from error
        for field, pks in many.items():
            getattr(instance, field.name).set(pks)
        return instance, True

    def _check_m2m_addition(self, field, pks: list) -> None:
        """Run ``check_m2m_consistency`` for adding ``pks`` to ``field`` (dry runs)."""
        if not self.run_checks:
            return
        instances = field.related_model.objects.filter(pk__in=pks)
        try:
            self.check_m2m_consistency(instances, column=field.name)
        except Exception as error:
            data = {"instances_to_add": list(instances), "column": field.name}
            raise ConsistencyError(error, self, data=data) from error


def _conflict(model, values: dict, other_members: list[str], error: Exception) -> str:
    """One line naming the stored row a new row collides with, by its unique values, and
    what differs: its members in ``other_members`` (its columns equal), else columns."""
    unique = [[f.name] for f in model._meta.concrete_fields if f.unique and not f.primary_key]
    unique += [list(group) for group in model._meta.unique_together]
    unique += [list(c.fields) for c in model._meta.constraints if getattr(c, "fields", None)]
    keys = [group for group in unique if all(name in values for name in group)]
    named = "; ".join(", ".join(f"{name}={values[name]!r}" for name in group) for group in keys)
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    differs = (
        f"and these columns, but its {', '.join(other_members)} hold other members than"
        if other_members
        else "but other columns differ from"
    )
    return (
        f"Cannot create {model.__name__}: a stored row already has {named or 'these unique values'} "
        f"{differs} the parameters ({reason})."
    )


def _site_url() -> str:
    config = getattr(settings, "ESPRESSO_STATIC_PROJECT", None)
    return config.site_url if config is not None else ""


def _write_through(self, name: str, value) -> None:
    """``__setattr__`` of a model with concrete subclasses: writing a subclass-only
    attribute through a parent-class row writes it on the specialization (saved by
    ``save()``), as EspressoDB does."""
    if name in _subclass_only_names(type(self)):
        special = self.specialization
        if special is not self:
            setattr(special, name, value)
            return
    object.__setattr__(self, name, value)


@receiver(class_prepared, dispatch_uid="espresso_static.write_through")
def _install_write_through(sender, **kwargs) -> None:
    # Only the parents of a concrete subclass pay for the check on every attribute
    # write (Django sets each column so when it builds a row): the others, a
    # subclass of such a parent included, keep Python's own, ~1.4x faster.
    if issubclass(sender, Base) and "__setattr__" not in sender.__dict__:
        sender.__setattr__ = object.__setattr__
    for parent in sender._meta.get_parent_list():
        if issubclass(parent, Base):
            parent.__setattr__ = _write_through


def _copy_columns(source: Base, target: Base, model: type[Base]) -> None:
    """Copy the loaded columns of ``model`` from ``source`` to ``target``."""
    deferred = source.get_deferred_fields()
    for field in model._meta.concrete_fields:
        if field.attname not in deferred:
            setattr(target, field.attname, getattr(source, field.attname))


#: Per model: names only its concrete subclasses define (columns, properties, methods).
_SUBCLASS_ONLY: dict[type, frozenset[str]] = {}


def _subclass_only_names(model: type) -> frozenset[str]:
    names = _SUBCLASS_ONLY.get(model)
    if names is None:
        from django.apps import apps

        own = set(dir(model))
        names = frozenset(
            name
            for child in descendants(model)
            if not child._meta.abstract
            for name in dir(child)
            if name not in own and not name.startswith("_")
        )
        if apps.ready:  # subclasses are all defined only once every app is loaded
            _SUBCLASS_ONLY[model] = names
    return names


def _related_instance(cls, field, parameters: dict, tree: dict, dry_run: bool, author: Author):
    given = parameters.get(field.name)
    if isinstance(given, models.Model):
        return given
    target = fk_target(field, tree)
    if target is None:
        return None
    if not issubclass(target, Base):
        raise KeyError(
            f"Cannot build {cls.__name__}.{field.name}: {target.__name__} is not an "
            "espresso-static Base model; pass an instance in parameters."
        )
    if field.null and field.name not in tree and not _has_sub_keys(field.name, parameters):
        return None
    nested = {key: value for key, value in parameters.items() if "." not in key}
    nested.update(cls.get_sub_info(field.name, parameters))
    sub_tree = cls.get_sub_info(field.name, tree)
    instance, _ = target._get_or_create_node(nested, sub_tree, dry_run, author)
    return instance


def _has_sub_keys(name: str, parameters: dict) -> bool:
    return any(key.startswith(f"{name}.") for key in parameters)
