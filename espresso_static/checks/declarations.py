"""Declaration checks: every ``Access`` and ``Progress`` a model declares fits the
model and the configured audiences (``espresso_static.E301`` to ``E306``, ``W301``, ``W302``, ``E401`` to ``E408``),
and every hand-written page names configured audiences in front matter MkDocs reads
(``E307``).

A wrong declaration would otherwise fail open or silently: a misspelt column in
``hidden_fields`` leaves the column visible, a string where a list belongs
(``fields={"public": "beta_nx_name"}``) matches by substring. ``build-site`` runs
these checks before it writes anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from django.core import checks
from django.core.exceptions import FieldError
from django.db.models import Q

from espresso_static.checks.ids import DECLARATIONS, PREFIX
from espresso_static.declare.access import ALL, Access, Audience
from espresso_static.declare.progress import (
    DeclaredProgress,
    Progress,
    progress_problems,
    status_like_column,
)
from espresso_static.exceptions import one_line_text
from espresso_static.project.config import ProjectConfig
from espresso_static.project.django_setup import project_audiences


@checks.register(DECLARATIONS)
def declarations(app_configs=None, **_) -> list[checks.CheckMessage]:
    """Access (E301 to E306, W301, W302) and Progress (E401 to E408) of every concrete model."""
    from django.apps import apps

    configs = app_configs if app_configs is not None else apps.get_app_configs()
    audiences = project_audiences()
    problems: list[checks.CheckMessage] = []
    for config in configs:
        for model in config.get_models():
            problems += access_problems(model, audiences)
            problems += _declared_progress_problems(model)
            problems += _undeclared_progress(model)
    return problems


def page_declarations(config: ProjectConfig) -> list[checks.CheckMessage]:
    """E307: hand-written pages whose front matter does not say right which configured
    audiences they are for (a misspelt key publishes the page to every audience). Not
    in Django's registry: the pages are the project's, not its apps'."""
    from espresso_static.website.write import front_matter_problems

    problems = front_matter_problems(config.docs_dir, config.audiences)
    return [checks.Error(problem, id=f"{PREFIX}E307") for problem in problems]


def _declared_attribute(model, name: str):
    """The class attribute ``name`` of ``model``, None when it is unset or is a field
    of that name (a column called ``progress`` is not a declaration)."""
    if any(field.name == name for field in model._meta.get_fields()):
        return None
    return getattr(model, name, None)


def _declared_progress_problems(model) -> list[checks.CheckMessage]:
    progress = _declared_attribute(model, "progress")
    if progress is None:
        return []
    if not isinstance(progress, Progress):
        return [_not_a_declaration(model, "progress", "Progress(status=..., done=[...])", "E401")]
    return list(progress_problems(DeclaredProgress(model, progress)))


def _undeclared_progress(model) -> list[checks.CheckMessage]:
    """W401: a status column that gets no status page, and why."""
    column = status_like_column(model)
    if column is None or _declared_attribute(model, "progress") is not None:
        return []
    label = model._meta.label
    return [
        checks.Warning(
            f"{label}.{column} looks like a status column, but {label} declares no progress: "
            "it gets no status page, snapshots or plots.",
            hint=f'Add progress = Progress(status="{column}", done=[...]) to the model '
            "(README: Tutorial), or silence espresso_static.W401 if it tracks no work.",
            obj=model,
            id=f"{PREFIX}W401",
        )
    ]


def access_problems(model, audiences: Mapping[str, Audience]) -> list[checks.CheckMessage]:
    """Every way ``model``'s Access declaration does not fit the model or the audiences."""
    access = _declared_attribute(model, "access")
    if access is None:
        return []
    if not isinstance(access, Access):
        return [_not_a_declaration(model, "access", "Access(...)", "E301")]
    return list(_AccessChecker(model, f"{model._meta.label}.access", audiences).problems(access))


def _not_a_declaration(model, attribute: str, example: str, number: str) -> checks.Error:
    kind = type(getattr(model, attribute)).__name__
    return checks.Error(
        f"{model._meta.label}.{attribute} must be {example.split('(')[0]}(...), not a {kind}.",
        hint=f"Declare {attribute} = {example} or rename the attribute.",
        obj=model,
        id=f"{PREFIX}{number}",
    )


class _AccessChecker:
    """The checks of one model's Access, each yielding Django check messages."""

    def __init__(self, model, where: str, audiences: Mapping[str, Audience]):
        self.model, self.where, self.audiences = model, where, audiences
        self.columns = [
            field.name for field in [*model._meta.concrete_fields, *model._meta.many_to_many]
        ]

    def problems(self, access: Access) -> Iterator[checks.CheckMessage]:
        yield from self.names(access.audiences, "audiences", only="deny")
        yield from self.without_columns(access)
        yield from self.names(access.hidden_from, "hidden_from", only="allow")
        for attribute, only in (("fields", "deny"), ("hidden_fields", "allow"), ("rows", "")):
            table = getattr(access, attribute)
            if not isinstance(table, Mapping):
                yield self.error(
                    "E304",
                    f"{attribute} must be a mapping of audience names (a dict), not "
                    f"{_shown(table)}",
                )
                continue
            yield from self.names(list(table), attribute, only=only)
            for audience, value in table.items():
                if attribute == "rows":
                    yield from self.row_filter(audience, value)
                else:
                    yield from self.columns_of(f"{attribute}[{audience!r}]", value, attribute)

    def names(self, names, attribute: str, only: str) -> Iterator[checks.CheckMessage]:
        """Audience names: a list, each configured; ``only``: the default of the
        audiences for which the entry has an effect."""
        if isinstance(names, str) or not isinstance(names, (list, tuple, set, frozenset)):
            yield self.error(
                "E304", f"{attribute} must be a list of audience names, not {_shown(names)}"
            )
            return
        for name in names:
            audience = self.audiences.get(name) if isinstance(name, str) else None
            if audience is None:
                yield self.error(
                    "E302",
                    f"{attribute} names the audience {name!r}, which is not configured "
                    f"(audiences: {', '.join(self.audiences)})",
                )
            elif only and audience.default != only:
                yield checks.Warning(
                    f"{self.where} {attribute} names {name!r}, "
                    f"{'an' if audience.default == 'allow' else 'a'} {audience.default}-audience: "
                    f"it applies only to {only}-audiences, so it has no effect.",
                    obj=self.model,
                    id=f"{PREFIX}W301",
                )

    def without_columns(self, access: Access) -> Iterator[checks.CheckMessage]:
        """W302: a deny-audience listed in ``audiences`` without ``fields`` sees the
        table but none of its columns, most likely a forgotten entry."""
        if isinstance(access.audiences, str) or not isinstance(access.fields, Mapping):
            return  # E304 reports these
        for name in access.audiences:
            audience = self.audiences.get(name)
            if audience is not None and audience.denies_by_default and name not in access.fields:
                yield checks.Warning(
                    f"{self.where} audiences lists {name!r}, but fields has no entry for it: "
                    "it sees the table with no column.",
                    hint=f'Add fields={{{name!r}: [...]}} (or "__all__").',
                    obj=self.model,
                    id=f"{PREFIX}W302",
                )

    def columns_of(self, where: str, value, attribute: str) -> Iterator[checks.CheckMessage]:
        if attribute == "fields" and value == ALL:
            return
        if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
            yield self.error(
                "E304",
                f"{where} must be a list of field names"
                + (' (or "__all__")' if attribute == "fields" else "")
                + f", not {_shown(value)}",
            )
            return
        for name in value:
            if name not in self.columns:
                yield self.error(
                    "E303",
                    f"{where} names {name!r}, which is not a field of {self.model.__name__} "
                    f"(fields: {', '.join(self.columns)})",
                )

    def row_filter(self, audience: str, value) -> Iterator[checks.CheckMessage]:
        if not isinstance(value, Q) and not callable(value):
            yield self.error(
                "E305",
                f"rows[{audience!r}] must be a Q(...) or a function of the queryset, not "
                f"{_shown(value)}",
            )
        elif isinstance(value, Q):
            # Building the filter resolves every field and relation it names (no query runs).
            try:
                self.model._default_manager.filter(value)
            except (FieldError, ValueError, TypeError) as error:
                yield self.error(
                    "E306",
                    f"rows[{audience!r}] names what the model lacks: {one_line_text(error)}",
                )

    def error(self, number: str, message: str) -> checks.Error:
        return checks.Error(f"{self.where} {message}.", obj=self.model, id=f"{PREFIX}{number}")


def _shown(value) -> str:
    return (
        f"the string {value!r}" if isinstance(value, str) else f"{value!r} ({type(value).__name__})"
    )
