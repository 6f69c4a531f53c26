"""Replaying a failing consistency check as when its row was written (see
:mod:`espresso_static.data.audit`): without the stored row itself, or with the
relation empty before its members were added, in a savepoint rolled back at once."""

from __future__ import annotations

from collections.abc import Callable

from django.db import DatabaseError, connections, transaction
from django.db.models import Exists, OuterRef

from espresso_static.exceptions import one_line_text


class NotReplayable(Exception):
    """A failing check whose replay as written the database refused."""

    def __init__(self, error: Exception):
        super().__init__(one_line_text(error)[:200])
        self.reason = str(self)


#: The verdict of a row that fails its check only because it is stored (see above).
AS_WRITTEN = object()


def judge(run: Callable[[], None], replay: Callable, instance):
    """None if ``run()`` passes; else :data:`AS_WRITTEN` if ``replay(instance)`` passes,
    the check's error if not, :class:`NotReplayable` if the database refuses."""
    try:
        run()
    except Exception as error:
        try:
            return AS_WRITTEN if _passes_as_written(instance, replay) else error
        except DatabaseError as refused:
            return NotReplayable(refused)
    return None


def checked_rows(queryset, m2m=None):
    """The rows of ``queryset`` a check runs on, those every count of checked rows
    counts: all of them, or for the m2m check of ``m2m`` those with members (it runs on
    additions only: it never ran for the others)."""
    if m2m is None:
        return queryset
    links = m2m.remote_field.through._default_manager.filter(
        **{m2m.m2m_field_name(): OuterRef("pk")}
    )
    return queryset.filter(Exists(links))


def run_m2m_check(instance, m2m, pks: list, loaded: list | None = None) -> None:
    instance.check_m2m_consistency(_members(m2m, pks, loaded), column=m2m.name)


def _members(m2m, pks: list, loaded: list | None = None):
    """The members as the m2m signal passes them: a queryset of the related model;
    ``loaded``: those rows already read (specialized), which iterating it then gives
    without a query of its own (a query made from it still runs)."""
    members = m2m.related_model._default_manager.all()
    if hasattr(members, "prefetch_specializations"):
        members = members.prefetch_specializations()
    # Django's related managers defer their filter the same way: compiled only when a
    # query needs it (the audit runs this for every row).
    members._defer_next_filter = True
    members = members.filter(pk__in=pks)
    if loaded is not None:
        members._result_cache, members._prefetch_done = loaded, True
    return members


def _passes_as_written(instance, replay: Callable) -> bool:
    """Whether ``replay(instance)`` raises nothing, in a savepoint that is rolled back."""
    alias = instance._state.db
    with transaction.atomic(using=alias):
        try:
            replay(instance)
            passes = True
        except DatabaseError:
            raise
        except Exception:
            passes = False
        transaction.set_rollback(True, using=alias)
    return passes


def without_row(instance) -> None:
    """Run the check with ``instance``'s rows (of its table and parent tables) deleted.
    Foreign keys to them are deferred constraints; the savepoint is rolled back."""
    connection = connections[instance._state.db]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in [type(instance), *type(instance)._meta.get_parent_list()]:
            table, column = quote(model._meta.db_table), quote(model._meta.pk.column)
            cursor.execute(f"DELETE FROM {table} WHERE {column} = %s", [instance.pk])
    instance.check_consistency()


def with_relation_emptied(m2m, pks: list, instance) -> None:
    """Run the m2m check as before the members were added: the relation empty."""
    connection = connections[instance._state.db]
    quote = connection.ops.quote_name
    table = quote(m2m.remote_field.through._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE {quote(m2m.m2m_column_name())} = %s", [instance.pk]
        )
    instance._prefetched_objects_cache = {}
    run_m2m_check(instance, m2m, pks)
