"""The import graph of penguiflow-core and penguiflow-planner: no cycles, no late imports.

grimp (the graph import-linter checks the layer contracts on) counts
function-level and ``TYPE_CHECKING`` imports too, so a circle cannot hide
behind either. The layer contracts themselves run in ``scripts/check``
(``scripts/lint_imports.py``); these tests guard what contracts cannot say.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from pathlib import Path

import grimp
import pytest

import penguiflow
import penguiflow.planner

CORE_SRC = next(Path(p) for p in penguiflow.__path__ if Path(p).parts[-3:-1] == ("core", "src"))
PLANNER_SRC = Path(penguiflow.planner.__path__[0])

# Modules that import a penguiflow module late on purpose. The package facade
# exports these modules' names lazily (to keep `import penguiflow` cheap) and
# imports them under TYPE_CHECKING so type checkers and the API docs see them;
# grimp counts those imports, so no cycle can hide there. (Optional drivers are
# found by name through importlib in state/opening.py and bus/opening.py.)
LATE_IMPORTS_ALLOWED: set[tuple[str, str]] = {
    ("penguiflow", "penguiflow.catalog"),
    ("penguiflow", "penguiflow.patterns"),
    ("penguiflow", "penguiflow.policies"),
    ("penguiflow", "penguiflow.streaming"),
    ("penguiflow", "penguiflow.viz"),
}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("penguiflow", include_external_packages=False)


def strongly_connected(
    nodes: Iterable[str], successors: Callable[[str], Iterable[str]]
) -> list[set[str]]:
    """Tarjan's components with more than one member (the import cycles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in successors(node):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize(
    "package",
    ["core", "planner"],
)
def test_no_import_cycle(graph: grimp.ImportGraph, package: str) -> None:
    planner = {m for m in graph.modules if m.startswith("penguiflow.planner")}
    siblings = {
        m for m in graph.modules if m.startswith(("penguiflow.tools", "penguiflow.playground"))
    }
    members = planner if package == "planner" else set(graph.modules) - planner - siblings
    assert len(members) > 20, f"grimp found only {sorted(members)}: is the package on the path?"

    def successors(module: str) -> list[str]:
        return sorted(graph.find_modules_directly_imported_by(module) & members)

    cycles = strongly_connected(members, successors)
    assert not cycles, f"import cycles in {package}: {[sorted(c) for c in cycles]}"


def late_penguiflow_imports(source: Path, module: str) -> list[tuple[str, str, int]]:
    """``(module, imported, line)`` of each penguiflow import in a function or TYPE_CHECKING."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    found: list[tuple[str, str, int]] = []

    def imported_names(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            return [node.module]
        return []

    def walk(node: ast.AST, late: bool) -> None:
        for child in ast.iter_child_nodes(node):
            child_late = late or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                child_late = True
            for name in imported_names(child):
                if late and name.split(".")[0] == "penguiflow":
                    found.append((module, name, child.lineno))
            walk(child, child_late)

    walk(tree, False)
    return found


def _sources() -> list[tuple[Path, str]]:
    found = []
    for root, prefix in ((CORE_SRC, "penguiflow"), (PLANNER_SRC, "penguiflow.planner")):
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            found.append((path, ".".join((prefix, *parts))))
    return found


def test_no_function_level_or_type_checking_import_of_a_penguiflow_module() -> None:
    late = [
        (module, imported, line)
        for path, module in _sources()
        for module, imported, line in late_penguiflow_imports(path, module)
        if (module, imported) not in LATE_IMPORTS_ALLOWED
    ]
    assert not late, "import these at the top (and fix the layering if that makes a cycle): " + (
        ", ".join(f"{m}:{line} imports {i}" for m, i, line in late)
    )
