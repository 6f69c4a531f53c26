"""Population examples: a complete, runnable script per concrete model.

Each script creates one valid row with ``get_or_create_from_parameters``: the
rows its required foreign keys need are created on the way (dotted keys, one level
per foreign key; ``tree`` picks a concrete class for specialized foreign keys) and
the rows of required many-to-many fields are created first (one per member of the
stored row: members are part of its identity). Values come, in this
order, from the dotted ``example_parameters`` of the models above
(``{"light.quark_tag": "light"}``), the model's own (a dict, or a classmethod
returning one, for values its consistency checks need), a stored row (internal
builds: the first row of the model and the rows its keys take, with their classes
for ``tree``), its choices, or a placeholder that fits the column type. A foreign
key to a polymorphic base takes the first subclass whose own required keys do not
cycle back. Comments repeat the ``help_text``.

The test suite runs every script of the demo against an empty database, so the
examples cannot drift from the models.

A site built for an audience that does not see every column a new row needs (or
the rows it depends on) shows no example for that model: one written from the
visible columns alone would fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import Decimal
from enum import Enum
from uuid import UUID

from espresso_static.data.plain_values import plain_value
from espresso_static.exceptions import EspressoStaticError
from espresso_static.website.collect import FieldInfo, ModelInfo, SiteModel

#: Placeholder values by Django internal type; each passes ``Field.to_python``.
TEXT_PLACEHOLDER = "example"
PLACEHOLDERS: dict[str, object] = {
    "CharField": TEXT_PLACEHOLDER,
    "TextField": TEXT_PLACEHOLDER,
    "SlugField": TEXT_PLACEHOLDER,
    "EmailField": "someone@example.org",
    "URLField": "https://example.org",
    "UUIDField": "00000000-0000-0000-0000-000000000001",
    "GenericIPAddressField": "127.0.0.1",
    "IntegerField": 1,
    "PositiveIntegerField": 1,
    "PositiveSmallIntegerField": 1,
    "PositiveBigIntegerField": 1,
    "SmallIntegerField": 1,
    "BigIntegerField": 1,
    "FloatField": 0.5,
    "DecimalField": "0.5",
    "BooleanField": False,
    "DateField": "2026-01-01",
    "DateTimeField": "2026-01-01T00:00:00+00:00",
    "TimeField": "12:00:00",
    "DurationField": "01:00:00",
    "JSONField": {},
    "BinaryField": b"",
}
#: Entries longer than this (within the call's indentation) are split, as ruff would.
LINE_LENGTH = 80
#: Nesting deeper than this means a cycle of required foreign keys (or a script
#: nobody would read): the model gets no example.
MAX_DEPTH = 20
#: Why a model has no example in a build that does not show all it needs; neutral
#: words, naming nothing the audience does not see.
NOT_PUBLISHED = "creating a row needs information that is not published on this site."


class PopulationError(EspressoStaticError):
    """No population example can be written for a model (the page says why)."""


@dataclass(frozen=True)
class PopulationScript:
    model_label: str
    filename: str
    code: str


@dataclass
class _Call:
    """One ``get_or_create_from_parameters`` call being assembled."""

    model: ModelInfo
    variable: str
    lines: list[str] = field(default_factory=list)
    tree: list[tuple[str, str, str]] = field(default_factory=list)
    #: Dotted ``example_parameters`` of the models met so far, as paths from this call's
    #: model (the first one met, the outermost, wins).
    paths: dict[str, object] = field(default_factory=dict)

    #: A stored row's values and classes by dotted path (internal builds): the called
    #: model's row, and below a key it does not reach, the row of the class taken there.
    stored: dict[str, object] = field(default_factory=dict)
    stored_tree: dict[str, str] = field(default_factory=dict)

    def graft(self, model: ModelInfo, prefix: str) -> None:
        """Use ``model``'s stored row below ``prefix`` when the call's row has nothing there."""
        if any(key.startswith(prefix) for key in self.stored):
            return
        self.stored.update((prefix + key, value) for key, value in model.stored_values)
        self.stored_tree.update((prefix + key, name) for key, name in model.stored_tree)


def population_scripts(site: SiteModel) -> list[PopulationScript]:
    """One script per documented model (every documented model is concrete)."""
    return [population_script(site, model) for model in site.models if model.is_base]


def script_filename(model: ModelInfo) -> str:
    return f"populate_{model.slug}.py"


def population_script(site: SiteModel, model: ModelInfo) -> PopulationScript:
    """The script creating one row of ``model`` and the rows it depends on."""
    calls: list[_Call] = []
    main = _build_call(site, model, calls, depth=0)
    imports = sorted({(call.model.module, call.model.name) for call in [*calls, main]})
    body = "\n\n".join(_format_call(call, created=call is main) for call in [*calls, main])
    code = "\n".join(
        [
            f'"""Create one {model.name} row ({model.label}) of {_docstring_text(site.name)}.',
            "",
            "Written by espresso-static from the model definitions and, where there is",
            "one, a stored row: replace the values with your data. Run inside the",
            "project folder (run twice, it finds the row it created):",
            "",
            f"    python {script_filename(model)}",
            '"""',
            "",
            "import espresso_static",
            "",
            "espresso_static.setup()  # Django configured from the project's pyproject.toml",
            "",
            *_import_lines(imports),
            "",
            body,
            f'print("Created" if created else "Found existing", {main.variable})',
            "",
        ]
    )
    return PopulationScript(model.label, script_filename(model), code)


def _import_lines(imports: list[tuple[str, str]]) -> list[str]:
    by_module: dict[str, list[str]] = {}
    for module, name in imports:
        by_module.setdefault(module, []).append(name)
    return [
        f"from {module} import {', '.join(names)}  # noqa: E402"
        for module, names in sorted(by_module.items())
    ]


def _build_call(
    site: SiteModel,
    model: ModelInfo,
    calls: list[_Call],
    depth: int,
    path=frozenset(),
    stored: tuple[dict, dict] = ({}, {}),
) -> _Call:
    """The call creating a row of ``model``: with the ``stored`` values and classes of
    the row it stands for (a stored member), else those of ``model``'s stored row."""
    call = _Call(model=model, variable=_variable(model, calls))
    call.stored, call.stored_tree = dict(stored[0]), dict(stored[1])
    call.graft(model, "")
    _add_level(site, call, model, "", frozenset(), calls, depth, path | {model.label})
    return call


def _variable(model: ModelInfo, calls: list[_Call]) -> str:
    taken = {call.variable for call in calls}
    name, number = model.slug, 2
    while name in taken:
        name, number = f"{model.slug}_{number}", number + 1
    return name


def _add_level(
    site: SiteModel,
    call: _Call,
    model: ModelInfo,
    prefix: str,
    ancestors: frozenset[str],
    calls: list[_Call],
    depth: int,
    path: frozenset[str],
) -> None:
    """Add the keys of ``model`` at dotted ``prefix``; recurse into required foreign keys.

    ``ancestors`` are the plain keys set above this level: ``get_or_create_from_parameters``
    passes them down, so a same-named column here is set explicitly to its own value.
    ``path`` holds the models above (and ``model``): a class met again is a cycle.
    """
    if depth > MAX_DEPTH:
        raise PopulationError(
            f"its required foreign keys nest deeper than {MAX_DEPTH} levels (or form a cycle)."
        )
    if not model.creatable:
        raise PopulationError(NOT_PUBLISHED)
    for key, value in model.example_parameters:
        if "." in key:
            call.paths.setdefault(prefix + key, value)
    examples = _level_examples(call, model, prefix)
    top = not prefix
    columns = [f for f in model.open_fields if not f.relation]
    set_here: set[str] = set()
    # A stored row's null is set where a column is set at all: get_or_create_from_
    # parameters gives a column set above to the rows below that are not told otherwise.
    given = {name: value for name, value in examples.items() if value is not None}
    for f in columns:
        if f.required or f.name in given or f.name in ancestors:
            call.lines.append(_comment(f, prefix))
            call.lines.append(_entry(prefix + f.name, _value(f, examples)))
            set_here.add(f.name)
        elif top:
            call.lines.append(_comment(f, prefix))
            call.lines.append("# " + _entry(f.name, _value(f, given)))
    below = ancestors | set_here
    for f in model.open_fields:
        if f.relation in ("foreign key", "one-to-one") and f.required:
            named = _named_class(site, f, prefix, examples.get(f.name))
            _add_foreign_key(site, call, f, prefix, below, calls, depth, path, named)
        elif f.relation == "many-to-many" and f.required:
            _add_many_to_many(site, call, f, prefix, calls, depth, path)


def _named_class(site, f: FieldInfo, prefix: str, example) -> str | None:
    """The class ``example_parameters`` names for the key (``"source": "OneToAll"``, as
    ``tree`` names it): a check may need one class of a polymorphic key's family."""
    if not isinstance(example, str):
        return None
    target = site.model(f.related_model)
    family = [m.name for m in _family(site, target)] if target is not None else []
    if example not in family:
        raise PopulationError(
            f"example_parameters names {example!r} for {prefix}{f.name}, which takes one "
            f"of {', '.join(family) or f.related_model}."
        )
    return example


def _add_foreign_key(
    site, call, f: FieldInfo, prefix, ancestors, calls, depth, path, named: str | None = None
) -> None:
    target = site.model(f.related_model)
    if target is None or not target.is_base:
        raise PopulationError(
            f"{prefix}{f.name} needs a row of {f.related_model}, which is not an "
            "espresso-static model of the documented apps."
        )

    preferred = named or call.stored_tree.get(prefix + f.name)

    def add(concrete: ModelInfo) -> None:
        line = f"# {prefix}{f.name} → {target.name}: {_one_line(f.help_text)}"
        call.lines.append(line.rstrip())
        if concrete is not target:
            options = ", ".join(m.name for m in _family(site, target))
            call.tree.append((prefix + f.name, concrete.name, f"one of {options}"))
        deeper = path | {concrete.label}
        call.graft(concrete, f"{prefix}{f.name}.")
        _add_level(site, call, concrete, f"{prefix}{f.name}.", ancestors, calls, depth + 1, deeper)

    _first_that_terminates(site, target, call, calls, path, add, preferred)


def _add_many_to_many(site, call, f: FieldInfo, prefix, calls, depth, path) -> None:
    target = site.model(f.related_model)
    if target is None or not target.is_base:
        return  # left empty: Django does not require many-to-many members
    key = prefix + f.name
    variables: list[str] = []
    # Every member of the stored row (they are part of its identity), else one.
    for member in _stored_members(call, key) or [key]:

        def add(concrete: ModelInfo, member=member) -> None:
            stored = (_under(call.stored, member), _under(call.stored_tree, member))
            dependency = _build_call(site, concrete, calls, depth + 1, path, stored)
            calls.append(dependency)
            variables.append(dependency.variable)

        preferred = call.stored_tree.get(member)
        _first_that_terminates(site, target, call, calls, path, add, preferred)
    call.lines.append(_comment(f, prefix))
    line = f'"{key}": [{", ".join(variables)}],'
    if len(line) <= LINE_LENGTH:
        call.lines.append(line)
    else:
        call.lines.extend([f'"{key}": [', *(f"    {name}," for name in variables), "],"])


def _stored_members(call: _Call, key: str) -> list[str]:
    """The dotted paths of the stored members of many-to-many ``key``, in order."""
    positions = [path[len(key) + 1 :] for path in call.stored_tree if path.startswith(key + ".")]
    return [f"{key}.{position}" for position in sorted(int(p) for p in positions if p.isdigit())]


def _first_that_terminates(
    site, target: ModelInfo, call: _Call, calls: list, path, add, preferred: str | None = None
) -> None:
    """``add(subclass)`` for the first class of ``target``'s family (the ``preferred``
    class name first, then :func:`_example_subclasses`) whose required keys do not cycle
    back (to a class on ``path``) or fail: what a failed attempt added is taken back."""
    error = PopulationError(f"every class of {target.name} needs a row of itself (a cycle).")
    candidates = _example_subclasses(site, target)
    # Stable sorts: the preferred class, then those with a stored row, then the rest.
    candidates.sort(key=lambda model: not model.stored_values)
    candidates.sort(key=lambda model: model.name != preferred)
    for concrete in candidates:
        if concrete.label in path:
            continue
        kept = (len(call.lines), len(call.tree), len(calls))
        try:
            add(concrete)
            return
        except PopulationError as failed:
            del call.lines[kept[0] :], call.tree[kept[1] :], calls[kept[2] :]
            error = failed
    raise error


def _example_subclasses(site: SiteModel, model: ModelInfo) -> list[ModelInfo]:
    """The classes a row of ``model`` may take, in the order tried: the most specialized
    along the first child (alphabetically), then the other most specialized ones, then
    the intermediate ones and ``model`` itself."""
    family = _family(site, model)
    first = model
    while first.children and site.model(first.children[0]) is not None:
        first = site.model(first.children[0])
    leaves = [m for m in family if not m.children and m is not first]
    inner = [m for m in reversed(family) if m.children and m is not first]
    return [first, *leaves, *inner]


def _family(site: SiteModel, model: ModelInfo) -> list[ModelInfo]:
    found = [model]
    for child in model.children:
        child_info = site.model(child)
        if child_info is not None:
            found.extend(_family(site, child_info))
    return found


def _level_examples(call: _Call, model: ModelInfo, prefix: str) -> dict:
    """Example values of the columns of ``model`` at dotted ``prefix`` of ``call``: a
    stored row's, overridden by ``model``'s own ``example_parameters``, overridden by
    the dotted ones of the models above (``"light.quark_tag": "light"`` on a gauge
    configuration sets the quark tag of the action under its ``light`` key only)."""
    examples = _below(call.stored, prefix)
    examples.update((k, v) for k, v in model.example_parameters if "." not in k)
    examples.update(_below(call.paths, prefix))
    return examples


def _under(values: dict, path: str) -> dict:
    """The entries of ``values`` below dotted ``path``, by their path from there."""
    return {
        key[len(path) + 1 :]: value for key, value in values.items() if key.startswith(path + ".")
    }


def _below(values: dict, prefix: str) -> dict:
    """The entries of ``values`` at exactly dotted ``prefix``, by column name."""
    found = {}
    for key, value in values.items():
        if key.startswith(prefix) and "." not in key[len(prefix) :]:
            found[key[len(prefix) :]] = value
    return found


def _value(f: FieldInfo, examples: dict) -> object:
    if f.name in examples:
        return examples[f.name]
    if f.has_default and f.default_value is not None:
        return f.default_value
    if f.choices:
        return f.choices[0][0]
    placeholder = PLACEHOLDERS.get(f.type, TEXT_PLACEHOLDER)
    if placeholder == TEXT_PLACEHOLDER and f.max_length:
        # Free text only: a format cut short is invalid (UUIDField's max_length of 32
        # counts hex digits, not the 36 characters of its usual spelling).
        return placeholder[: f.max_length]
    return placeholder


def _entry(key: str, value: object) -> str:
    return f'"{key}": {_literal(value)},'


def _literal(value: object) -> str:
    """Python source of ``value``, strings in double quotes when that needs no escape.
    A value whose repr names a class the script does not import (``Decimal('1.5')``,
    an enum member ``Kind.CAL``, a date) is written as what its field reads instead."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, Decimal):
        value = str(value)  # exact, as a float would not be
    elif isinstance(value, date | time | timedelta | UUID):
        value = plain_value(value)
    if isinstance(value, str) and value.isprintable() and not any(c in value for c in "\"'\\"):
        return f'"{value}"'
    return repr(value)


def _comment(f: FieldInfo, prefix: str) -> str:
    notes = []
    if f.choices:
        notes.append("one of " + ", ".join(repr(value) for value, _ in f.choices))
    if not f.required:
        notes.append(f"optional, default {f.default}" if f.has_default else "optional")
    text = _one_line(f.help_text)
    if notes:
        text = f"{text} ({'; '.join(notes)})" if text else f"({'; '.join(notes)})"
    return f"# {text}" if text else f"# {prefix}{f.name}"


def _one_line(text: str) -> str:
    # Control and bidi characters would end the comment or hide code (Trojan Source).
    return " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())


def _docstring_text(text: str) -> str:
    # The project's name is in the docstring: on one line (a line break could start an
    # encoding cookie on line 2), its backslashes and quotes escaped (they would be read
    # as escapes or end the docstring, the rest of the name then run as code).
    return _one_line(text).replace("\\", "\\\\").replace('"', '\\"')


def _format_call(call: _Call, created: bool) -> str:
    indent = " " * 8
    entries = "\n".join(indent + line for line in call.lines)
    result = f"{call.variable}, created" if created else f"{call.variable}, _"
    parts = [
        f"{result} = {call.model.name}.get_or_create_from_parameters(",
        "    {",
        entries,
        "    },",
    ]
    if call.tree:
        parts.append("    tree={")
        for key, name, note in call.tree:
            parts.append(f'        "{key}": "{name}",  # {note}')
        parts.append("    },")
    parts.append(")")
    return "\n".join(parts)
