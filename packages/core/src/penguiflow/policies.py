"""Routing policies: runtime decisions that override, keep or drop a router's targets.

A router built by `penguiflow.patterns.predicate_router` or
`penguiflow.patterns.union_router` first works out where a message should go
(its *proposal*). When the router was given a ``policy``, it then asks the
policy with a `RoutingRequest`; whatever the policy's ``select`` returns is
where the message really goes:

* successor names or nodes (one or a list): send there instead (override);
* ``request.proposed``: send where the router proposed (keep);
* ``None`` or an empty list: send nothing (drop).

`DictRoutingPolicy` is the config-driven implementation: a mapping from a
key (by default the envelope's ``headers.topic``) to successor names, loaded
from a dict, JSON text, a JSON file or an environment variable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeAlias, runtime_checkable

from penguiflow._kernel.context import Context
from penguiflow.node import Node
from penguiflow.types import Message

__all__ = [
    "DictRoutingPolicy",
    "KeyGetter",
    "RouteTargets",
    "RoutingDecision",
    "RoutingPolicy",
    "RoutingRequest",
    "default_routing_key",
]

RoutingDecision: TypeAlias = Node | str | Sequence[Node | str] | None
"""What a policy returns: successor node(s) or name(s), or ``None`` (or ``[]``) to drop."""

RouteTargets: TypeAlias = str | Sequence[str] | None
"""A `DictRoutingPolicy` mapping value: one successor name, a list of them, or ``None`` (drop)."""

KeyGetter: TypeAlias = Callable[["RoutingRequest"], Hashable | None]
"""Extracts the lookup key of a `DictRoutingPolicy` from a request (``None``: no key)."""


@dataclass(frozen=True, slots=True)
class RoutingRequest:
    """Everything a `RoutingPolicy` may look at to decide where a message goes.

    Attributes:
        message: The message as the router received it (an envelope or a payload).
        context: The router's `Context` (``context.message`` is the envelope,
            also when the router received only the payload).
        node_name: Name of the router asking.
        proposed: The successors the router chose on its own, in order.
        trace_id: Trace of the message, or ``None`` for payload-only messages.
    """

    message: Any
    context: Context
    node_name: str
    proposed: tuple[Node, ...]
    trace_id: str | None

    @property
    def proposed_names(self) -> tuple[str, ...]:
        """Names of the proposed successors."""
        return tuple(node.name for node in self.proposed)


@runtime_checkable
class RoutingPolicy(Protocol):
    """Decides, per message, where a router sends it.

    ``select`` may be a plain or an ``async`` method. It returns successor
    names or nodes (override), ``request.proposed`` (keep) or ``None`` (drop).
    Naming a node that is not a successor of the router makes the router fail
    with a ``ValueError`` naming the policy, the node and the valid successors.

    Example:
        >>> class OnlyAudit:
        ...     def select(self, request):
        ...         return "audit" if request.trace_id else None
    """

    def select(self, request: RoutingRequest) -> RoutingDecision | Awaitable[RoutingDecision]:
        """Return where the message of ``request`` should go."""
        ...


def default_routing_key(request: RoutingRequest) -> Hashable | None:
    """The key `DictRoutingPolicy` looks up unless given a ``key_getter``.

    For an envelope: ``headers.topic``. For a payload-only message: the
    payload itself when it is a ``str``. Otherwise ``None`` (no key).
    """
    message = request.message
    envelope = message if isinstance(message, Message) else request.context.message
    if envelope is not None:
        return envelope.headers.topic
    return message if isinstance(message, str) else None


class DictRoutingPolicy:
    """A `RoutingPolicy` driven by a key-to-successors mapping.

    For each request the policy computes a key (``key_getter(request)``,
    by default `default_routing_key`: the envelope's ``headers.topic``, or a
    ``str`` payload) and returns, in this order:

    1. ``mapping[key]`` when the key is in the mapping (a ``None`` value drops
       the message);
    2. ``default`` when it is not ``None``;
    3. ``request.proposed``: the router's own choice is kept.

    Mapping values are a successor name or a list of names (``[]`` and
    ``None`` drop). YAML or other formats: load them yourself and pass the
    resulting dict.

    Args:
        mapping: Key to successor name(s).
        default: Successor name(s) for keys not in the mapping; ``None`` keeps
            the router's proposal.
        key_getter: Computes the key from a `RoutingRequest`.

    Raises:
        TypeError: ``mapping`` is not a mapping, a value is neither a ``str``
            nor a list of ``str``, or ``key_getter`` is not callable.
        ValueError: A name is empty.

    Example:
        >>> policy = DictRoutingPolicy({"billing": "ledger", "refund": ["ledger", "audit"]})
        >>> policy.mapping["refund"]
        ('ledger', 'audit')
    """

    __slots__ = ("_default", "_key_getter", "_mapping")

    def __init__(
        self,
        mapping: Mapping[Any, RouteTargets],
        default: RouteTargets = None,
        key_getter: KeyGetter | None = None,
    ) -> None:
        if key_getter is not None and not callable(key_getter):
            raise TypeError(
                f"DictRoutingPolicy key_getter must be callable; got {type(key_getter).__name__}"
            )
        self._mapping = _check_mapping(mapping)
        self._default = None if default is None else _check_targets(default, "default")
        self._key_getter: KeyGetter = key_getter if key_getter is not None else default_routing_key

    @property
    def mapping(self) -> Mapping[Hashable, tuple[str, ...] | None]:
        """The current mapping, values normalised to tuples of names (read-only view)."""
        return dict(self._mapping)

    @property
    def default(self) -> tuple[str, ...] | None:
        """Names used for keys not in the mapping, or ``None`` (keep the proposal)."""
        return self._default

    def key_for(self, request: RoutingRequest) -> Hashable | None:
        """Return the key the policy looks up for ``request``."""
        return self._key_getter(request)

    def select(self, request: RoutingRequest) -> RoutingDecision:
        """Return the successor names for ``request`` (see the class docstring).

        Raises:
            TypeError: The key is not hashable.
        """
        key = self._key_getter(request)
        if key is not None:
            mapping = self._mapping
            try:
                found = key in mapping
            except TypeError:
                raise TypeError(
                    f"DictRoutingPolicy key for router {request.node_name!r} must be hashable; "
                    f"the key getter returned {type(key).__name__}"
                ) from None
            if found:
                return mapping[key]
        if self._default is not None:
            return self._default
        return request.proposed

    def update_mapping(self, mapping: Mapping[Any, RouteTargets]) -> None:
        """Replace the mapping; later messages use the new one.

        The new mapping is checked completely before it replaces the old one,
        so a bad update leaves the policy unchanged.

        Raises:
            TypeError: See the class docstring.
            ValueError: See the class docstring.
        """
        self._mapping = _check_mapping(mapping)

    @classmethod
    def from_json(
        cls,
        text: str | bytes,
        *,
        default: RouteTargets = None,
        key_getter: KeyGetter | None = None,
    ) -> DictRoutingPolicy:
        """Build a policy from a JSON object mapping keys to successor name(s).

        Args:
            text: JSON such as ``{"billing": "ledger", "refund": ["ledger", "audit"]}``.
            default: As for the constructor.
            key_getter: As for the constructor.

        Raises:
            ValueError: ``text`` is not valid JSON or not a JSON object.
            TypeError: A value is not a name or a list of names.
        """
        return cls(_parse_json_object(text, "JSON text"), default, key_getter)

    @classmethod
    def from_json_file(
        cls,
        path: str | os.PathLike[str],
        *,
        default: RouteTargets = None,
        key_getter: KeyGetter | None = None,
    ) -> DictRoutingPolicy:
        """Build a policy from a UTF-8 JSON file (see `from_json`).

        Raises:
            OSError: The file cannot be read.
            ValueError: The file does not hold a JSON object.
        """
        file = Path(path)
        text = file.read_text(encoding="utf-8")
        return cls(_parse_json_object(text, f"file {str(file)!r}"), default, key_getter)

    @classmethod
    def from_env(
        cls,
        var_name: str,
        *,
        default: RouteTargets = None,
        key_getter: KeyGetter | None = None,
    ) -> DictRoutingPolicy:
        """Build a policy from JSON held in the environment variable ``var_name``.

        Raises:
            ValueError: The variable is not set, is empty, or does not hold a JSON object.
        """
        text = os.environ.get(var_name)
        if text is None or not text.strip():
            state = "is not set" if text is None else "is empty"
            raise ValueError(
                f"DictRoutingPolicy.from_env: environment variable {var_name!r} {state}; "
                'set it to a JSON object such as {"topic": "node_name"}'
            )
        source = f"environment variable {var_name!r}"
        return cls(_parse_json_object(text, source), default, key_getter)

    def __repr__(self) -> str:
        count = len(self._mapping)
        keys = "1 key" if count == 1 else f"{count} keys"
        return f"DictRoutingPolicy({keys}, default={self._default!r})"


def _parse_json_object(text: str | bytes, source: str) -> Mapping[str, Any]:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"DictRoutingPolicy: {source} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(
            f"DictRoutingPolicy: {source} must hold a JSON object mapping keys to successor "
            f"name(s); got a JSON {type(data).__name__}"
        )
    return data


def _check_mapping(mapping: Mapping[Any, RouteTargets]) -> dict[Hashable, tuple[str, ...] | None]:
    if not isinstance(mapping, Mapping):
        raise TypeError(
            f"DictRoutingPolicy mapping must be a mapping of key -> successor name(s); "
            f"got {type(mapping).__name__}"
        )
    checked: dict[Hashable, tuple[str, ...] | None] = {}
    for key, value in mapping.items():
        checked[key] = None if value is None else _check_targets(value, f"mapping[{key!r}]")
    return checked


def _check_targets(value: object, where: str) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise TypeError(
            f"DictRoutingPolicy {where} must be a successor name or a list of names; got {value!r}"
        )
    if any(not name for name in names):
        raise ValueError(f"DictRoutingPolicy {where} contains an empty node name: {value!r}")
    return tuple(names)
