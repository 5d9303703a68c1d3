"""The factory contract: load the flow, planner or other object a ``module:attr`` spec names.

Everything that loads user code by name goes through this module:
``penguiflow worker``, ``penguiflow-admin --state-store module:factory``,
and the sibling commands and generated projects (``penguiflow a2a serve``,
``penguiflow dev``) through `load_target`.

A spec is ``module:attr``, where ``attr`` may be dotted
(``myapp.flows:Builders.main``). It names the target itself or a callable
taking no arguments, sync or async, that returns it. Loading takes fixed
steps, and each mistake stops it with a one-line `FactoryError` naming the
module, the attribute and what was found, plus a stable `FactoryErrorCode`:

1. the spec must look like ``module:attr`` (``MALFORMED_SPEC``);
2. the module is imported with the working directory on ``sys.path``, as
   ``python -m`` has it (``IMPORT_FAILED``);
3. the attribute is looked up part by part (``ATTRIBUTE_MISSING``);
4. a class is refused: an instance, or a factory building one, is needed
   (``CLASS_NOT_INSTANCE``);
5. an accepted object is returned as is; otherwise a callable must be
   callable without arguments, which is checked on its signature before
   calling it (``NEEDS_ARGUMENTS``);
6. the call runs, and its result is awaited when the factory is async
   (``FACTORY_RAISED``);
7. what was found or returned must be of an accepted kind (``WRONG_KIND``).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from types import ModuleType
from typing import Literal, TypeAlias, cast

from penguiflow.errors import PenguiFlowError
from penguiflow.protocols import Flow, Planner, is_flow, is_planner
from penguiflow.registry import ModelRegistry

__all__ = [
    "FactoryError",
    "FactoryErrorCode",
    "LoadedTarget",
    "TargetKind",
    "is_factory_spec",
    "load_object",
    "load_target",
]

TargetKind: TypeAlias = Literal["flow", "planner"]
"""What `load_target` loads: a `penguiflow.protocols.Flow` or a `penguiflow.protocols.Planner`."""

_KINDS: frozenset[TargetKind] = frozenset(("flow", "planner"))
_SPEC = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_EXAMPLE = "myapp.flows:build_flow"


class FactoryErrorCode(StrEnum):
    """Which step of loading a ``module:attr`` spec failed (see the module docstring)."""

    MALFORMED_SPEC = "MALFORMED_SPEC"
    """The spec does not look like ``module:attr``."""
    IMPORT_FAILED = "IMPORT_FAILED"
    """The module cannot be imported, or raised while being imported."""
    ATTRIBUTE_MISSING = "ATTRIBUTE_MISSING"
    """The module has no such attribute."""
    CLASS_NOT_INSTANCE = "CLASS_NOT_INSTANCE"
    """The attribute, or what the factory returned, is a class, not an instance."""
    NEEDS_ARGUMENTS = "NEEDS_ARGUMENTS"
    """The factory has parameters without defaults; it is called with none."""
    FACTORY_RAISED = "FACTORY_RAISED"
    """Calling (or awaiting) the factory raised."""
    WRONG_KIND = "WRONG_KIND"
    """The attribute or the factory's result is not of an accepted kind."""


class FactoryError(PenguiFlowError):
    """A ``module:attr`` spec did not load what was expected; the message is one line.

    Attributes:
        spec: The spec that failed.
        code: Which step failed.
    """

    def __init__(self, message: str, *, spec: str, code: FactoryErrorCode) -> None:
        super().__init__(message)
        self.spec = spec
        self.code = code


@dataclass(frozen=True, slots=True)
class LoadedTarget:
    """What `load_target` found behind a spec.

    Attributes:
        target: The flow or the planner.
        kind: ``"flow"`` or ``"planner"``.
        registry: The `ModelRegistry` of a ``(flow, registry)`` pair, else ``None``.
        spec: The ``module:attr`` spec it was loaded from.
    """

    target: Flow | Planner
    kind: TargetKind
    registry: ModelRegistry | None
    spec: str

    @property
    def flow(self) -> Flow:
        """The target as a flow.

        Raises:
            TypeError: The target is a planner.
        """
        if self.kind != "flow":
            raise TypeError(f"{self.spec} loaded a {self.kind}, not a flow")
        return cast(Flow, self.target)

    @property
    def planner(self) -> Planner:
        """The target as a planner.

        Raises:
            TypeError: The target is a flow.
        """
        if self.kind != "planner":
            raise TypeError(f"{self.spec} loaded a {self.kind}, not a planner")
        return cast(Planner, self.target)


def is_factory_spec(spec: str) -> bool:
    """Whether ``spec`` looks like ``module:attr`` (both parts dotted identifiers)."""
    return _SPEC.fullmatch(spec) is not None


async def load_target(
    spec: str, *, accept: Collection[TargetKind] = ("flow", "planner")
) -> LoadedTarget:
    """Load the flow or planner that ``spec`` names, following the factory contract.

    ``spec`` is ``module:attr``; the attribute is a flow (an instance
    satisfying `penguiflow.protocols.Flow`), a ``(flow, ModelRegistry)``
    pair, a planner (`penguiflow.protocols.Planner`), or a callable, sync or
    async, taking no arguments and returning one of those.

    Args:
        spec: ``module:attr``, e.g. ``"myapp.flows:build_flow"``.
        accept: The kinds the caller can use; anything else is a
            ``WRONG_KIND`` error naming what was found.

    Returns:
        The target, its kind, the registry of a pair (or ``None``) and the spec.

    Raises:
        FactoryError: One line naming the module, the attribute and what was
            found; its ``code`` says which step failed.
        ValueError: ``accept`` is empty or names an unknown kind.

    Example:
        ```python
        loaded = await load_target("myapp.flows:build_flow", accept=("flow",))
        loaded.flow.run(registry=loaded.registry)
        ```
    """
    kinds = frozenset(accept)
    if not kinds or not kinds <= _KINDS:
        raise ValueError(f"accept must name 'flow' and/or 'planner'; got {sorted(kinds)}")
    found = await load_object(
        spec, expected=_expected(kinds), accepts=lambda candidate: _kind_of(candidate) in kinds
    )
    kind = _kind_of(found)
    assert kind is not None  # load_object returns only what `accepts` approved
    if isinstance(found, tuple):
        flow, registry = found
        return LoadedTarget(target=flow, kind=kind, registry=registry, spec=spec)
    return LoadedTarget(target=cast(Flow | Planner, found), kind=kind, registry=None, spec=spec)


async def load_object(spec: str, *, expected: str, accepts: Callable[[object], bool]) -> object:
    """Load the object ``spec`` names, calling it first when it is a factory.

    The lower-level half of the contract, for commands that load something
    other than a flow or a planner (``penguiflow-admin`` loads a state store).
    The attribute is returned as is when ``accepts`` approves it; otherwise it
    must be a callable taking no arguments (sync or async) whose result
    ``accepts`` approves. Classes are never accepted.

    Args:
        spec: ``module:attr``, e.g. ``"myapp.stores:open_production"``.
        expected: What an accepted object is, for messages (``"a StateStore"``).
        accepts: Whether an object is what the caller needs; never called
            with a class.

    Returns:
        The accepted object.

    Raises:
        FactoryError: One line naming the module, the attribute and what was
            found; its ``code`` says which step failed.
    """
    module_name, attribute = _parse(spec)
    found = _attribute(spec, _import(spec, module_name), module_name, attribute)
    if isinstance(found, type):
        raise _class_error(spec, f"{spec} is", found)
    if accepts(found):
        return found
    if not callable(found):
        raise FactoryError(
            f"{spec} is {_describe(found)}; expected {expected}, "
            "or a callable taking no arguments that returns one",
            spec=spec,
            code=FactoryErrorCode.WRONG_KIND,
        )
    _check_no_arguments(spec, found, expected)
    result = await _call(spec, found)
    if isinstance(result, type):
        raise _class_error(spec, f"{spec}() returned", result)
    if not accepts(result):
        generated = inspect.isgenerator(result) or inspect.isasyncgen(result)
        hint = " (use return, not yield)" if generated else ""
        raise FactoryError(
            f"{spec}() returned {_describe(result)}; expected {expected}{hint}",
            spec=spec,
            code=FactoryErrorCode.WRONG_KIND,
        )
    return result


# -- the steps -----------------------------------------------------------------------


def _parse(spec: str) -> tuple[str, str]:
    if not is_factory_spec(spec):
        raise FactoryError(
            f"expected module:attribute (for example {_EXAMPLE}); got {spec!r}",
            spec=spec,
            code=FactoryErrorCode.MALFORMED_SPEC,
        )
    module_name, _, attribute = spec.partition(":")
    return module_name, attribute


def _import(spec: str, module_name: str) -> ModuleType:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        # A console script does not see the working directory; `python -m` does. Match it.
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        if isinstance(exc, ImportError):
            message = f"cannot import module {module_name!r} (for {spec}): {_exception(exc)}"
        else:  # the module's own code failed while it was being imported
            message = f"importing module {module_name!r} (for {spec}) raised {_exception(exc)}"
        raise FactoryError(message, spec=spec, code=FactoryErrorCode.IMPORT_FAILED) from exc


def _attribute(spec: str, module: ModuleType, module_name: str, attribute: str) -> object:
    found: object = module
    walked: list[str] = []
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            detail = ""
            if walked:
                detail = f": {'.'.join(walked)} is {_describe(found)} without {part!r}"
            raise FactoryError(
                f"module {module_name!r} has no attribute {attribute!r}{detail} (for {spec})",
                spec=spec,
                code=FactoryErrorCode.ATTRIBUTE_MISSING,
            ) from None
        walked.append(part)
    return found


def _class_error(spec: str, subject: str, cls: type) -> FactoryError:
    return FactoryError(
        f"{subject} the class {cls.__qualname__}, not an instance; create the instance "
        f"(e.g. target = {cls.__name__}(...)) or give a factory function returning one",
        spec=spec,
        code=FactoryErrorCode.CLASS_NOT_INSTANCE,
    )


def _check_no_arguments(spec: str, factory: Callable[..., object], expected: str) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # some built-ins have no signature: let the call decide
        return
    positional_or_keyword = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )
    required = [
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind in positional_or_keyword and parameter.default is parameter.empty
    ]
    if required:
        raise FactoryError(
            f"{spec} needs arguments ({', '.join(required)}) but is called with none; "
            f"give a callable taking no arguments that returns {expected}",
            spec=spec,
            code=FactoryErrorCode.NEEDS_ARGUMENTS,
        )


async def _call(spec: str, factory: Callable[[], object]) -> object:
    try:
        result = factory()
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        raise FactoryError(
            f"{spec}() raised {_exception(exc)}", spec=spec, code=FactoryErrorCode.FACTORY_RAISED
        ) from exc
    return result


# -- what was found ------------------------------------------------------------------


def _kind_of(candidate: object) -> TargetKind | None:
    """The kind of ``candidate``, or ``None`` (classes are never targets)."""
    if isinstance(candidate, tuple):
        if len(candidate) != 2:
            return None
        flow, registry = candidate
        is_registry = registry is None or isinstance(registry, ModelRegistry)
        return "flow" if _kind_of(flow) == "flow" and is_registry else None
    if is_flow(candidate):
        return "flow"
    if is_planner(candidate):
        return "planner"
    return None  # classes included: is_flow and is_planner refuse them


def _expected(kinds: frozenset[TargetKind]) -> str:
    if kinds == {"flow"}:
        return "a flow or a (flow, ModelRegistry) pair"
    if kinds == {"planner"}:
        return "a planner"
    return "a flow, a (flow, ModelRegistry) pair or a planner"


def _describe(found: object) -> str:
    """What ``found`` is, in a few words: ``str``, ``the class Foo``, ``a planner (Agent)``."""
    if isinstance(found, type):
        return f"the class {found.__qualname__}"
    if isinstance(found, ModuleType):
        return f"the module {found.__name__}"
    if isinstance(found, tuple) and len(found) <= 4:
        return f"tuple ({', '.join(_describe(item) for item in found)})"
    kind = _kind_of(found)
    if kind is not None:
        return f"a {kind} ({type(found).__name__})"
    return "None" if found is None else type(found).__name__


def _exception(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
