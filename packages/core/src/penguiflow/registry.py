"""Typed contracts: input/output models per node, validated through cached TypeAdapters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from penguiflow.types import Message

__all__ = ["ModelRegistry", "NodeModels"]


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
