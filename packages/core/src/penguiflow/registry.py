"""Typed contracts: input/output models per node, validated through cached TypeAdapters."""

from __future__ import annotations

import functools
import inspect
import sys
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from pydantic import TypeAdapter

from penguiflow.node import Node
from penguiflow.types import Message

__all__ = ["ModelRegistry", "NodeModels", "annotated_models", "registry_for"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass(frozen=True, slots=True)
class NodeModels:
    """The registered contract of one node.

    Attributes:
        in_model: Type the node accepts.
        out_model: Type the node returns.
        in_adapter: Cached adapter validating ``in_model``.
        out_adapter: Cached adapter validating ``out_model``.
        unwraps_envelope: ``True`` when ``in_model`` is not a ``Message``: the
            runtime then hands the node the payload of an incoming envelope and
            wraps its result back into that envelope.
    """

    in_model: Any
    out_model: Any
    in_adapter: TypeAdapter[Any]
    out_adapter: TypeAdapter[Any]
    unwraps_envelope: bool


class ModelRegistry:
    """Maps node names to their input and output models.

    Example:
        >>> registry = ModelRegistry()
        >>> registry.register("triage", dict, dict)
        >>> "triage" in registry
        True
    """

    def __init__(self) -> None:
        self._entries: dict[str, NodeModels] = {}

    def register(self, node_name: str, in_model: Any, out_model: Any) -> None:
        """Declare the input and output types of ``node_name``.

        Args:
            node_name: The node's name as given to `Node`.
            in_model: Type of what the node accepts (a pydantic model, or any
                type pydantic can validate).
            out_model: Type of what the node returns.

        Raises:
            ValueError: If the node is already registered.
            TypeError: If a model is not a type pydantic can build an adapter for.
        """
        if type(node_name) is not str or not node_name:
            raise ValueError(f"node_name must be a non-empty string; got {node_name!r}")
        if node_name in self._entries:
            raise ValueError(f"node {node_name!r} is already registered")
        try:
            in_adapter: TypeAdapter[Any] = TypeAdapter(in_model)
            out_adapter: TypeAdapter[Any] = TypeAdapter(out_model)
        except Exception as exc:
            raise TypeError(f"cannot register node {node_name!r}: {exc}") from exc
        unwraps = not (isinstance(in_model, type) and issubclass(in_model, Message))
        self._entries[node_name] = NodeModels(in_model, out_model, in_adapter, out_adapter, unwraps)

    def register_from_annotations(self, node: Node) -> bool:
        """Register ``node`` with the models its function's annotations declare.

        For ``async def fn(msg: InModel, ctx) -> OutModel`` this is
        ``register(node.name, InModel, OutModel)``; ``msg: Message`` makes the
        node take whole envelopes, exactly as registering ``Message`` does.
        See `annotated_models` for how the annotations are read.

        Args:
            node: The node to register under its name.

        Returns:
            ``True`` if the node was registered; ``False``, registering nothing,
            when its message parameter or its return is not annotated (or is
            annotated ``Any``).

        Raises:
            ValueError: If the node is already registered.
            TypeError: If an annotation cannot be resolved or pydantic cannot
                validate the type it names.
        """
        try:
            in_model, out_model = annotated_models(node.func)
        except TypeError as exc:
            raise TypeError(f"node {node.name!r}: {exc}") from exc
        if in_model is inspect.Parameter.empty or out_model is inspect.Parameter.empty:
            return False
        self.register(node.name, in_model, out_model)
        return True

    def copy(self) -> ModelRegistry:
        """Return a new registry with the same entries (and the same cached adapters)."""
        twin = ModelRegistry()
        twin._entries = dict(self._entries)
        return twin

    def get(self, node_name: str) -> NodeModels | None:
        """Return the contract of ``node_name``, or ``None`` if it is not registered."""
        return self._entries.get(node_name)

    def adapters(self, node_name: str) -> tuple[TypeAdapter[Any], TypeAdapter[Any]]:
        """Return the cached ``(in_adapter, out_adapter)`` of ``node_name``.

        Raises:
            KeyError: If the node is not registered.
        """
        entry = self._entries.get(node_name)
        if entry is None:
            raise KeyError(f"node {node_name!r} is not registered in the ModelRegistry")
        return entry.in_adapter, entry.out_adapter

    def models(self, node_name: str) -> tuple[Any, Any]:
        """Return ``(in_model, out_model)`` of ``node_name``.

        Raises:
            KeyError: If the node is not registered.
        """
        entry = self._entries.get(node_name)
        if entry is None:
            raise KeyError(f"node {node_name!r} is not registered in the ModelRegistry")
        return entry.in_model, entry.out_model

    def __contains__(self, node_name: object) -> bool:
        return node_name in self._entries

    def names(self) -> list[str]:
        """Return the registered node names in registration order."""
        return list(self._entries)


def annotated_models(func: Callable[..., Any]) -> tuple[Any, Any]:
    """Read ``(in_model, out_model)`` from an ``async def fn(msg: In, ctx) -> Out`` function.

    The first positional parameter's annotation is the input model and the
    return annotation the output model. String annotations (``from
    __future__ import annotations``) are resolved in the function's module
    with `typing.get_type_hints`, one at a time, so a context annotated with
    a name imported only under ``TYPE_CHECKING`` does not get in the way.
    ``functools.partial`` objects and async callable objects are read
    through to the function they call.

    Args:
        func: A node or tool function.

    Returns:
        The two types. A side that is not annotated, or annotated ``Any``
        (which declares no contract), is ``inspect.Parameter.empty``.

    Raises:
        TypeError: If an annotation names something that cannot be resolved,
            for example a model defined inside a function.
    """
    empty = inspect.Parameter.empty
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return empty, empty  # builtins without a signature declare nothing
    positional = [p for p in signature.parameters.values() if p.kind in _POSITIONAL]
    owner = _annotation_owner(func)
    in_raw = positional[0].annotation if positional else empty
    return (
        _resolve(in_raw, owner, "message parameter"),
        _resolve(signature.return_annotation, owner, "return"),
    )


def _annotation_owner(func: Any) -> Any:
    """Return the plain function whose module a string annotation of ``func`` refers to."""
    target = func
    while isinstance(target, functools.partial):
        target = target.func
    target = inspect.unwrap(target)
    if inspect.ismethod(target):
        target = target.__func__
    if not inspect.isfunction(target):
        target = inspect.unwrap(getattr(type(target), "__call__", target))  # noqa: B004
    return target


def _resolve(annotation: Any, owner: Any, side: str) -> Any:
    empty = inspect.Parameter.empty
    if annotation is empty:
        return empty
    if isinstance(annotation, str):
        globalns = getattr(owner, "__globals__", None)
        if globalns is None:
            module = sys.modules.get(getattr(owner, "__module__", None) or "")
            globalns = vars(module) if module is not None else {}
        # get_type_hints wants an object with __annotations__; give it just this one.
        holder = SimpleNamespace(__annotations__={"value": annotation})
        try:
            annotation = typing.get_type_hints(holder, globalns, include_extras=True)["value"]
        except Exception as exc:
            name = getattr(owner, "__qualname__", repr(owner))
            raise TypeError(
                f"cannot resolve the {side} annotation {annotation!r} of {name} ({exc}); "
                "define the type at module level (not inside a function or under "
                "TYPE_CHECKING), or register the models explicitly"
            ) from exc
    if annotation is Any:
        return empty
    return type(None) if annotation is None else annotation


def registry_for(registry: object, nodes: Iterable[Node]) -> ModelRegistry:
    """Return the registry a flow runs ``nodes`` with: ``registry`` plus the annotated nodes.

    Nodes typed ``async def fn(msg: In, ctx) -> Out`` need no entry; they are
    added to a copy, so the caller's registry (maybe shared by flows) stays as given.

    Raises:
        TypeError: ``registry`` is not a ModelRegistry, or an annotation cannot be resolved.
        ValueError: Validating nodes are neither registered nor annotated (all are named).
    """
    if not isinstance(registry, ModelRegistry):
        raise TypeError(f"registry must be a ModelRegistry; got {type(registry).__name__}")
    registry = registry.copy()
    missing = [
        node.name
        for node in nodes
        if node.policy.validate != "none"
        and node.name not in registry
        and not registry.register_from_annotations(node)
    ]
    if missing:
        raise ValueError(
            f"nodes {missing} validate their messages but are not registered in the "
            "ModelRegistry: call registry.register(name, InModel, OutModel) for each, "
            "annotate them as 'async def fn(msg: InModel, ctx) -> OutModel', "
            "or give them NodePolicy(validate='none')"
        )
    return registry
