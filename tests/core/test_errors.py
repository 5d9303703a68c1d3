"""One error root per package: every exception class descends from it and is drawn in its tree.

The trees are the ``Hierarchy`` drawings in the docstrings of
`penguiflow.errors` and `penguiflow.planner.errors`; this test reads them,
so a drawing that lies (or a new exception class left out of it) fails.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

import penguiflow
import penguiflow.errors
import penguiflow.planner
import penguiflow.planner.errors
from penguiflow.errors import FlowError, FlowErrorCode, PenguiFlowError, TraceCancelled
from penguiflow.planner.errors import PlannerError

# Control-flow signals stay outside the roots on purpose (SPEC 1).
SIGNALS = {"TraceCancelled", "PauseRequested", "TokenBudgetSpent"}

_LINE = re.compile(r"^(?P<indent>[\s│]*)(?:[├└]── )?(?P<name>[A-Za-z_.]+)(?: \((?P<base>\w+)\))?")


@dataclass(frozen=True)
class Drawn:
    parent: str | None
    builtin: str | None


def drawn_tree(errors_module: ModuleType) -> dict[str, Drawn]:
    """Each class name drawn in the module's docstring tree, with its parent and built-in base."""
    doc = errors_module.__doc__ or ""
    block = doc.split("::", 1)[1]
    tree: dict[str, Drawn] = {}
    stack: list[tuple[int, str]] = []  # (depth, name) of the open ancestors
    for line in block.splitlines():
        if not line.strip():
            continue
        if not line.startswith("    "):
            break  # the drawing ended
        match = _LINE.match(line[4:])
        assert match is not None, f"unreadable tree line: {line!r}"
        depth = len(match["indent"]) // 4 + (1 if "──" in line else 0)
        name = match["name"].rsplit(".", 1)[-1]
        while stack and stack[-1][0] >= depth:
            stack.pop()
        tree[name] = Drawn(stack[-1][1] if stack else None, match["base"])
        stack.append((depth, name))
    return tree


def defined_exceptions(package: ModuleType, folder: Path) -> dict[str, type[BaseException]]:
    """Every exception class defined in the package's modules found under ``folder``."""
    found: dict[str, type[BaseException]] = {}
    names = [package.__name__]
    for info in pkgutil.walk_packages([str(folder)], prefix=f"{package.__name__}."):
        names.append(info.name)
    for module_name in names:
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module_name
            ):
                found[name] = value
    return found


def _folder(package: ModuleType, portion: str) -> Path:
    return next(Path(p) for p in package.__path__ if Path(p).parts[-3:-1] == (portion, "src"))


CORE = (penguiflow.errors, defined_exceptions(penguiflow, _folder(penguiflow, "core")))
PLANNER = (
    penguiflow.planner.errors,
    defined_exceptions(penguiflow.planner, Path(penguiflow.planner.__path__[0])),
)
CORE_ONLY = {
    name: cls
    for name, cls in CORE[1].items()
    if not cls.__module__.startswith(("penguiflow.planner", "penguiflow.tools"))
}


@pytest.mark.parametrize(
    ("errors_module", "classes", "root"),
    [(CORE[0], CORE_ONLY, PenguiFlowError), (PLANNER[0], PLANNER[1], PlannerError)],
    ids=["core", "planner"],
)
def test_every_exception_class_descends_from_the_root_and_is_drawn(
    errors_module: ModuleType, classes: dict[str, type[BaseException]], root: type[Exception]
) -> None:
    tree = drawn_tree(errors_module)
    assert root.__name__ in tree
    missing = sorted(set(classes) - set(tree))
    assert not missing, f"exception classes not drawn in {errors_module.__name__}: {missing}"
    for name, cls in classes.items():
        drawn = tree[name]
        if name in SIGNALS:
            assert not issubclass(cls, PenguiFlowError), f"{name} is a signal, not an error"
        else:
            assert issubclass(cls, root), f"{name} does not descend from {root.__name__}"
        if drawn.parent is not None and drawn.parent in classes:
            assert classes[drawn.parent] in cls.__bases__, f"{name}: drawn under {drawn.parent}"
        if drawn.builtin is not None:
            builtin = getattr(builtins, drawn.builtin)
            assert builtin in cls.__mro__, f"{name} lost its built-in base {drawn.builtin}"


def test_the_drawings_name_no_class_that_does_not_exist() -> None:
    known = {"Exception", "PenguiFlowError", *CORE_ONLY, *PLANNER[1]}
    for module in (CORE[0], PLANNER[0]):
        ghosts = sorted(set(drawn_tree(module)) - known)
        assert not ghosts, f"{module.__name__} draws classes that do not exist: {ghosts}"


def test_the_planner_root_hangs_under_the_core_root() -> None:
    assert issubclass(PlannerError, PenguiFlowError)
    assert drawn_tree(penguiflow.planner.errors)["PlannerError"].parent == "PenguiFlowError"


def test_except_penguiflow_error_lets_a_cancellation_through() -> None:
    caught: list[BaseException] = []
    with pytest.raises(TraceCancelled):
        try:
            raise TraceCancelled("t1")
        except PenguiFlowError as exc:  # must not match
            caught.append(exc)
    assert caught == []
    error = FlowError(
        trace_id="t1",
        node_name="n",
        node_id="n#1",
        code=FlowErrorCode.NODE_EXCEPTION,
        message="boom",
    )
    with pytest.raises(PenguiFlowError):
        raise error
