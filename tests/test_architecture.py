"""The package's structure, checked from its source: no import cycles between its
modules (imports inside functions count too), no module longer than ~500 lines, the
README's Architecture section naming what exists, and what the pipeline imports before
its workers are forked."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import typing
from pathlib import Path

from espresso_static.website.feature import Feature
from espresso_static.website.features import FEATURES

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "espresso_static"
#: A module longer than this should be split (the issue's "~500 lines", with the
#: margin "~" allows).
MAX_LINES = 520
#: Modules being split by their owners' issues; each must still be too long (remove
#: it here once split).
SPLIT_PENDING: set[str] = set()


def module_files() -> dict[str, Path]:
    """``{dotted module name: file}`` of every module, a package's ``__init__`` as the
    package itself."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules ``name`` imports anywhere in its source (``from a import
    b`` counts as importing ``a.b`` when that is a module, else ``a``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
    return {module for module in found if module in modules and module != name}


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_is_read_from_the_source():
    graph = import_graph()
    # Module level, inside a function, relative, and "from package import module".
    assert "espresso_static.website.render" in graph["espresso_static.website.features.docs"]
    assert "espresso_static.models" in graph["espresso_static.website.features.progressplot"]
    assert "espresso_static.website.features.news" in graph["espresso_static.website.features"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_renderer_imports_no_feature():
    graph = import_graph()
    for name in ("espresso_static.website.render", "espresso_static.website.feature"):
        assert not {m for m in graph[name] if m.startswith("espresso_static.website.features")}


def test_the_library_does_not_import_click():
    graph_files = module_files()
    using_click = {
        name
        for name, path in graph_files.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Import | ast.ImportFrom)
        and any(
            (getattr(node, "module", None) or alias.name).split(".")[0] == "click"
            for alias in node.names
        )
    }
    assert using_click and all(
        name == "espresso_static.cli" or name.startswith("espresso_static.cli.")
        for name in using_click
    ), using_click


def test_no_module_is_too_long():
    lengths = {
        name: len(path.read_text(encoding="utf-8").splitlines())
        for name, path in module_files().items()
    }
    too_long = {name for name, n in lengths.items() if n > MAX_LINES}
    assert too_long == SPLIT_PENDING, {name: lengths[name] for name in too_long ^ SPLIT_PENDING}


def architecture_section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n## Architecture\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end > 0 else None]


def test_the_architecture_section_names_every_subpackage_feature_and_step():
    section = architecture_section()
    subpackages = {
        f"{init.parent.relative_to(PACKAGE).as_posix()}/"
        for init in PACKAGE.rglob("__init__.py")
        if init.parent != PACKAGE
    }
    site_modules = {
        f"website/{path.name}"
        for path in (PACKAGE / "website").glob("*.py")
        if path.stem != "__init__"
    }
    steps = {name for name in vars(Feature) if name.startswith("on_")}
    features = set()
    for feature in FEATURES:
        module = feature.__module__.removeprefix("espresso_static.").replace(".", "/") + ".py"
        (data,) = typing.get_args(type(feature).__orig_bases__[0])
        features |= {f"`{type(feature).__name__}`", f"`{module}`"}
        if data is not type(None):
            features.add(f"`{data.__name__}`")
    named = subpackages | site_modules | steps | features
    assert len(subpackages) >= 7 and len(features) >= 10 and len(steps) == 7
    assert {name for name in named if name not in section} == set()


def test_the_architecture_section_names_every_module():
    """Each module by its path, or by its name in its subpackage's box of the diagram
    (``data["data/<br>... fieldkinds, ...``)."""
    section = architecture_section()
    boxes = dict(re.findall(r'^ *\w+\["([\w/]+)/<br>(.*)"\]$', section, re.MULTILINE))
    unnamed = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        top = relative.split("/")[0]
        if path.stem in ("__init__", "__main__") or top in ("migrations", "vendor"):
            continue
        if relative not in section and not re.search(
            rf"(?<![\w/]){path.stem}(?!\w)", boxes.get(top, "")
        ):
            unnamed.add(relative)
    assert len(boxes) >= 6 and unnamed == set()


def test_every_path_the_architecture_section_names_exists():
    paths = set(re.findall(r"[\w/]+\.py\b", architecture_section()))
    assert len(paths) > 10
    outside = {path for path in paths if not (PACKAGE / path).is_file()}
    # The paths from the repository's root.
    assert outside == {"tests/test_architecture.py", "scripts/fetch_vendor.py"}
    assert all((REPO / path).is_file() for path in outside)


def test_the_pipeline_imports_no_encoder_libraries():
    """The build's workers are forked once the pipeline is imported: the libraries of
    the encoders (pandas for the status pages, pyarrow and NumPy for the downloads) are
    imported after the fork, each in the process that uses it, beside the other's
    work, not one after another before it."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, espresso_static.cli, espresso_static.website.pipeline; "
            "print(sorted(m for m in ('pandas', 'matplotlib', 'numpy', 'pyarrow', 'deflate') "
            "if m in sys.modules))",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"


def test_the_lexers_prepared_are_those_of_the_code_our_templates_write():
    from espresso_static.website.mkdocs_build import CODE_LANGUAGES

    fences = re.compile(r"(?:```|\{\{ fence \}\})([a-z]+)")
    written = {
        language
        for template in (REPO / "templates").glob("*.j2")
        for language in fences.findall(template.read_text(encoding="utf-8"))
    }
    assert written - {"mermaid"} == set(CODE_LANGUAGES)  # a diagram has no lexer
