"""Tool catalog: `@tool` metadata on node functions and `NodeSpec` descriptions built from them.

A catalog is what a planner (or any other caller that picks nodes at run
time) knows about the nodes it may call: a name, a description, the argument
and result models with their JSON schemas, and hints such as side effects
and latency. It lives in the core so that flows, the planner and tool
integrations share one description of a node. This module imports nothing
from the planner and talks to no LLM.

The models come from the tool function's annotations, or from a
`ModelRegistry` for functions that are not annotated.

Example:
    >>> from pydantic import BaseModel
    >>> class Query(BaseModel):
    ...     text: str
    >>> class Documents(BaseModel):
    ...     results: list[str]
    >>> @tool(desc="Search documentation", side_effects="read", tags=("docs",))
    ... async def search_docs(args: Query, ctx) -> Documents:
    ...     return Documents(results=[args.text])
    >>> [spec] = build_catalog([search_docs])
    >>> spec.name, spec.side_effects, spec.args_schema["required"]
    ('search_docs', 'read', ['text'])
"""

from __future__ import annotations

import copy
import inspect
import json
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, TypeVar, get_args

from pydantic import TypeAdapter, ValidationError

from penguiflow.node import Node
from penguiflow.registry import ModelRegistry, annotated_models

__all__ = ["NodeSpec", "SideEffect", "ToolFunc", "build_catalog", "tool"]

SideEffect: TypeAlias = Literal["pure", "read", "write", "external", "stateful"]
"""What calling a tool does to the world.

* ``"pure"``: computes from its arguments only; safe to retry or run in parallel.
* ``"read"``: reads data (a database, files, an index) without changing it.
* ``"write"``: changes data the application owns.
* ``"external"``: acts on a third-party system (sends mail, calls a paid API).
* ``"stateful"``: depends on or changes state kept between calls (a session, a cursor).
"""

ToolFunc = TypeVar("ToolFunc", bound=Callable[..., Awaitable[Any]])
"""An ``async def fn(args, ctx)`` function, as `tool` receives and returns it."""

_SIDE_EFFECTS: tuple[str, ...] = get_args(SideEffect)
_TOOL_ATTRIBUTE = "__penguiflow_tool__"
_EMPTY = inspect.Parameter.empty


@dataclass(frozen=True, slots=True)
class _ToolMeta:
    """What `tool` attaches to a function; `build_catalog` turns it into a `NodeSpec`."""

    name: str | None
    desc: str
    side_effects: SideEffect
    tags: tuple[str, ...]
    auth_scopes: tuple[str, ...]
    cost_hint: str | None
    latency_hint_ms: float | None
    examples: tuple[Mapping[str, Any], ...]


def tool(
    desc: str,
    *,
    side_effects: SideEffect = "pure",
    tags: Iterable[str] = (),
    auth_scopes: Iterable[str] = (),
    cost_hint: str | None = None,
    latency_hint_ms: float | None = None,
    examples: Iterable[Mapping[str, Any]] = (),
    name: str | None = None,
) -> Callable[[ToolFunc], ToolFunc]:
    """Describe an ``async def fn(args, ctx)`` node function for a tool catalog.

    The decorator returns the function itself: it is called exactly as
    before and can still be wrapped in a `Node`. It only attaches the
    metadata that `build_catalog` reads. Every argument is checked here, so a
    mistake fails at import time, not when the catalog is built.

    Declare the argument and result models once, as annotations
    (``async def fn(args: ArgsModel, ctx) -> OutModel``): `build_catalog`
    reads them, so the tool needs no `ModelRegistry` entry.

    Args:
        desc: What the tool does, in one or two sentences for an LLM.
        side_effects: One of ``"pure"``, ``"read"``, ``"write"``,
            ``"external"``, ``"stateful"`` (see `SideEffect`).
        tags: Free-form labels, for example for filtering a catalog.
        auth_scopes: Permissions a caller needs to use the tool.
        cost_hint: Free text about the cost of a call (``"low"``, ``"$0.01"``).
        latency_hint_ms: Typical latency of a call in milliseconds.
        examples: Sample arguments, each a JSON-safe mapping that the tool's
            argument model accepts (checked by `build_catalog`).
        name: Name of the tool and of the node `build_catalog` wraps it in;
            defaults to the function's name.

    Returns:
        A decorator that returns the function it decorates, unchanged.

    Raises:
        ValueError: If ``desc`` or ``name`` is empty, ``side_effects`` is
            unknown, ``latency_hint_ms`` is negative, a tag or scope is empty,
            an example is not JSON-safe, or the function is already a tool.
        TypeError: If an argument has the wrong type, ``@tool`` is used
            without arguments, or the decorated object is not an async
            function of two positional parameters ``(args, ctx)``.

    Example:
        >>> @tool(desc="Summarize results", side_effects="external", latency_hint_ms=800)
        ... async def summarize(args, ctx):
        ...     return args
    """
    if callable(desc):
        raise TypeError("@tool needs arguments: write @tool(desc='what the tool does')")
    label = f"@tool {name!r}" if name is not None else "@tool"
    if name is not None and (type(name) is not str or not name.strip()):
        raise ValueError(f"{label}: name must be a non-empty string; got {name!r}")
    meta = _ToolMeta(
        name=name,
        desc=_check_desc(desc, label),
        side_effects=_check_side_effects(side_effects, label),
        tags=_check_strings(tags, "tags", label),
        auth_scopes=_check_strings(auth_scopes, "auth_scopes", label),
        cost_hint=_check_cost_hint(cost_hint, label),
        latency_hint_ms=_check_latency(latency_hint_ms, label),
        examples=_check_examples(examples, label),
    )

    def decorate(func: ToolFunc) -> ToolFunc:
        # Node runs the same checks the runtime relies on: async, (args, ctx).
        Node(func, name=name)
        if getattr(func, _TOOL_ATTRIBUTE, None) is not None:
            raise ValueError(f"{func!r} is already decorated with @tool; decorate it once")
        try:
            setattr(func, _TOOL_ATTRIBUTE, meta)
        except (AttributeError, TypeError) as exc:
            raise TypeError(
                f"@tool cannot attach metadata to {func!r}; decorate a plain 'async def' "
                "function (or an async callable object) instead"
            ) from exc
        return func

    return decorate


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """Everything a caller needs to choose and call one node as a tool.

    Usually built by `build_catalog`; construct it directly to describe a
    node that has no `tool` decorator. The JSON schemas are generated once,
    from the models, when the spec is created.

    Attributes:
        node: The node that runs the tool.
        name: The tool's name (the node's name when built by `build_catalog`).
        desc: What the tool does.
        args_model: Type of the arguments the tool accepts (the node's input model).
        out_model: Type of what the tool returns (the node's output model).
        side_effects: What calling the tool does to the world (`SideEffect`).
        tags: Free-form labels.
        auth_scopes: Permissions a caller needs.
        cost_hint: Free text about the cost of a call, or ``None``.
        latency_hint_ms: Typical latency in milliseconds, or ``None``.
        examples: Sample arguments, each valid for ``args_model``.
        extra: Metadata for integrations (for example where a tool comes
            from); not part of `to_tool_json`.

    Raises:
        TypeError: If ``node`` is not a `Node` or a model has no JSON schema.
        ValueError: If a field is empty or out of range, or an example does
            not validate against ``args_model``.
    """

    node: Node
    name: str
    desc: str
    args_model: Any
    out_model: Any
    side_effects: SideEffect = "pure"
    tags: tuple[str, ...] = ()
    auth_scopes: tuple[str, ...] = ()
    cost_hint: str | None = None
    latency_hint_ms: float | None = None
    examples: tuple[Mapping[str, Any], ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    _args_schema: dict[str, Any] = field(init=False, repr=False, compare=False)
    _out_schema: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.node, Node):
            raise TypeError(f"NodeSpec.node must be a Node; got {type(self.node).__name__}")
        if type(self.name) is not str or not self.name.strip():
            raise ValueError(f"NodeSpec.name must be a non-empty string; got {self.name!r}")
        label = f"tool {self.name!r}"
        examples = _check_examples(self.examples, label)
        values = {
            "desc": _check_desc(self.desc, label),
            "side_effects": _check_side_effects(self.side_effects, label),
            "tags": _check_strings(self.tags, "tags", label),
            "auth_scopes": _check_strings(self.auth_scopes, "auth_scopes", label),
            "cost_hint": _check_cost_hint(self.cost_hint, label),
            "latency_hint_ms": _check_latency(self.latency_hint_ms, label),
            "examples": examples,
            "extra": MappingProxyType(dict(self.extra)),
            "_args_schema": _json_schema(self.args_model, "args_model", label),
            "_out_schema": _json_schema(self.out_model, "out_model", label),
        }
        for key, value in values.items():
            object.__setattr__(self, key, value)
        _check_examples_validate(examples, self.args_model, label)

    @property
    def args_schema(self) -> dict[str, Any]:
        """JSON schema of ``args_model`` (a fresh copy on every access)."""
        return copy.deepcopy(self._args_schema)

    @property
    def out_schema(self) -> dict[str, Any]:
        """JSON schema of ``out_model`` (a fresh copy on every access)."""
        return copy.deepcopy(self._out_schema)

    def to_tool_json(self) -> dict[str, Any]:
        """Describe the tool compactly for an LLM prompt.

        Returns:
            A new JSON-safe dict with ``name``, ``desc``, ``side_effects``,
            ``args_schema`` and ``out_schema``, plus ``tags``,
            ``auth_scopes``, ``cost_hint``, ``latency_hint_ms`` and
            ``examples`` when they are set. ``extra`` is left out.
        """
        described: dict[str, Any] = {
            "name": self.name,
            "desc": self.desc,
            "side_effects": self.side_effects,
            "args_schema": self.args_schema,
            "out_schema": self.out_schema,
        }
        if self.tags:
            described["tags"] = list(self.tags)
        if self.auth_scopes:
            described["auth_scopes"] = list(self.auth_scopes)
        if self.cost_hint is not None:
            described["cost_hint"] = self.cost_hint
        if self.latency_hint_ms is not None:
            described["latency_hint_ms"] = self.latency_hint_ms
        if self.examples:
            described["examples"] = [copy.deepcopy(dict(e)) for e in self.examples]
        return described


def build_catalog(
    nodes_or_functions: Iterable[Node | Callable[..., Awaitable[Any]]],
    registry: ModelRegistry | None = None,
) -> list[NodeSpec]:
    """Describe nodes and tool functions as `NodeSpec`s, with their argument and result models.

    Each item may be:

    * a function decorated with `tool`: it is wrapped in a new `Node` named
      after the tool;
    * a `Node`: its name is the tool's name; its function's `tool` metadata
      is used when present;
    * a plain ``async def fn(args, ctx)`` function: wrapped in a `Node` like
      a tool with the default metadata.

    Without `tool` metadata, the description is the first paragraph of the
    function's docstring. The argument and result models are what
    ``registry`` declares for the node's name or, without an entry, the
    function's annotations: ``async def fn(args: ArgsModel, ctx) -> OutModel``
    (string annotations are resolved; ``Any`` declares nothing). So typed
    tools need no registry at all. When both exist they must agree.

    Args:
        nodes_or_functions: The tools, in catalog order.
        registry: ``(args_model, out_model)`` for tools whose function is not
            annotated (or to state them explicitly); ``None`` to rely on
            annotations only.

    Returns:
        One `NodeSpec` per item, in the same order.

    Raises:
        TypeError: If ``nodes_or_functions`` is not a list-like of nodes and
            async functions, ``registry`` is not a `ModelRegistry`, or an
            annotation a tool relies on cannot be resolved.
        ValueError: If two tools share a name, a tool has no description, an
            annotation disagrees with the registry entry (both are named), or
            tools have neither an entry nor annotations (all of them are named).

    Examples:
        >>> from pydantic import BaseModel
        >>> class Echo(BaseModel):
        ...     text: str
        >>> @tool(desc="Echo the arguments back")
        ... async def echo(args: Echo, ctx) -> Echo:
        ...     return args
        >>> schema = build_catalog([echo])[0].to_tool_json()["args_schema"]
        >>> schema.get("required")
        ['text']
    """
    if isinstance(nodes_or_functions, Node) or callable(nodes_or_functions):
        raise TypeError(
            "build_catalog takes a list of nodes or tool functions; "
            f"wrap the single one in a list: build_catalog([{_describe(nodes_or_functions)}], ...)"
        )
    if registry is not None and not isinstance(registry, ModelRegistry):
        raise TypeError(f"registry must be a ModelRegistry; got {type(registry).__name__}")
    entries: list[tuple[Node, _ToolMeta | None]] = []
    seen: set[str] = set()
    for index, item in enumerate(nodes_or_functions):
        node = _as_node(item, index)
        if node.name in seen:
            raise ValueError(f"the catalog has two tools named {node.name!r}; names must be unique")
        seen.add(node.name)
        entries.append((node, getattr(node.func, _TOOL_ATTRIBUTE, None)))
    models = {node.name: _models_for(node, registry) for node, _ in entries}
    missing = [name for name, found in models.items() if found is None]
    if missing:
        raise ValueError(
            f"tools missing from the ModelRegistry: {', '.join(map(repr, missing))}; "
            "call registry.register(name, ArgsModel, OutModel) for each, or annotate "
            "them as 'async def fn(args: ArgsModel, ctx) -> OutModel'"
        )
    return [_spec_for(node, meta, models[node.name]) for node, meta in entries]


def _models_for(node: Node, registry: ModelRegistry | None) -> tuple[Any, Any] | None:
    """Return a tool's ``(args_model, out_model)``: the registry's, else its annotations'."""
    entry = registry.get(node.name) if registry is not None else None
    if entry is None:
        args_model, out_model = annotated_models(node.func)
        if args_model is _EMPTY or out_model is _EMPTY:
            return None
        return args_model, out_model
    try:
        annotated = annotated_models(node.func)
    except TypeError:
        # Unresolvable annotations (say, a TYPE_CHECKING-only import) are what
        # the registry entry is for: nothing to compare, the entry wins.
        annotated = (_EMPTY, _EMPTY)
    registered = (entry.in_model, entry.out_model)
    for side, declared, have in zip(("args", "out"), annotated, registered, strict=True):
        if declared is not _EMPTY and declared != have:
            raise ValueError(
                f"tool {node.name!r}: its {side} annotation is {_type_name(declared)} but the "
                f"ModelRegistry registers {_type_name(have)}; make them agree (or drop the "
                "registry entry: the annotations are enough)"
            )
    return registered


def _type_name(model: Any) -> str:
    return getattr(model, "__qualname__", None) or repr(model)


def _as_node(item: object, index: int) -> Node:
    if isinstance(item, Node):
        return item
    if callable(item):
        meta = getattr(item, _TOOL_ATTRIBUTE, None)
        name = meta.name if isinstance(meta, _ToolMeta) else None
        return Node(item, name=name)  # Node checks that it is async and takes (args, ctx)
    raise TypeError(f"catalog item #{index} must be a Node or an async tool function; got {item!r}")


def _spec_for(node: Node, meta: _ToolMeta | None, models: tuple[Any, Any] | None) -> NodeSpec:
    assert models is not None  # build_catalog reported every tool without models
    args_model, out_model = models
    if meta is None:
        desc = _docstring_summary(node.func)
        if not desc:
            raise ValueError(
                f"tool {node.name!r} has no description: decorate its function with "
                "@tool(desc=...) or give it a docstring"
            )
        return NodeSpec(node, node.name, desc, args_model, out_model)
    return NodeSpec(
        node=node,
        name=node.name,
        desc=meta.desc,
        args_model=args_model,
        out_model=out_model,
        side_effects=meta.side_effects,
        tags=meta.tags,
        auth_scopes=meta.auth_scopes,
        cost_hint=meta.cost_hint,
        latency_hint_ms=meta.latency_hint_ms,
        examples=meta.examples,
    )


def _docstring_summary(func: object) -> str:
    doc = inspect.getdoc(func) or ""
    first_paragraph = doc.strip().split("\n\n", 1)[0]
    return " ".join(first_paragraph.split())


def _describe(value: object) -> str:
    return getattr(value, "__name__", None) or getattr(value, "name", None) or repr(value)


def _check_desc(desc: object, label: str) -> str:
    if type(desc) is not str:
        raise TypeError(f"{label}: desc must be a string; got {type(desc).__name__}")
    if not desc.strip():
        raise ValueError(f"{label}: desc must not be empty; say what the tool does")
    return desc.strip()


def _check_side_effects(value: object, label: str) -> SideEffect:
    if value not in _SIDE_EFFECTS:
        raise ValueError(
            f"{label}: side_effects must be one of {', '.join(map(repr, _SIDE_EFFECTS))}; "
            f"got {value!r}"
        )
    return value  # type: ignore[return-value]  # narrowed by the membership test


def _check_strings(values: object, what: str, label: str) -> tuple[str, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise TypeError(
            f"{label}: {what} must be a list or tuple of strings; got {values!r} "
            f"(for one value write {what}=({values!r},))"
        )
    result: list[str] = []
    for value in values:
        if type(value) is not str or not value.strip():
            raise ValueError(
                f"{label}: every entry of {what} must be a non-empty string; got {value!r}"
            )
        if value not in result:
            result.append(value)
    return tuple(result)


def _check_cost_hint(value: object, label: str) -> str | None:
    if value is None:
        return None
    if type(value) is not str or not value.strip():
        raise TypeError(f"{label}: cost_hint must be a non-empty string or None; got {value!r}")
    return value


def _check_latency(value: object, label: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{label}: latency_hint_ms must be a number or None; got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{label}: latency_hint_ms must be a finite number >= 0; got {value!r}")
    return float(value)


def _check_examples(examples: object, label: str) -> tuple[Mapping[str, Any], ...]:
    if isinstance(examples, str | bytes | Mapping) or not isinstance(examples, Iterable):
        raise TypeError(f"{label}: examples must be a list of argument mappings; got {examples!r}")
    checked: list[Mapping[str, Any]] = []
    for index, example in enumerate(examples):
        if not isinstance(example, Mapping) or not all(type(k) is str for k in example):
            raise TypeError(
                f"{label}: example #{index} must be a mapping with string keys; got {example!r}"
            )
        try:
            # A JSON round trip both proves the example is JSON-safe and detaches it
            # from the caller's (possibly mutable) objects.
            frozen = json.loads(json.dumps(dict(example), allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{label}: example #{index} is not JSON-safe: {exc}") from exc
        checked.append(MappingProxyType(frozen))
    return tuple(checked)


def _check_examples_validate(
    examples: tuple[Mapping[str, Any], ...], args_model: Any, label: str
) -> None:
    if not examples:
        return
    adapter: TypeAdapter[Any] = TypeAdapter(args_model)
    for index, example in enumerate(examples):
        try:
            adapter.validate_python(dict(example))
        except ValidationError as exc:
            raise ValueError(
                f"{label}: example #{index} does not match the args model: {exc}"
            ) from exc


def _json_schema(model: Any, what: str, label: str) -> dict[str, Any]:
    try:
        return TypeAdapter(model).json_schema()
    except Exception as exc:
        raise TypeError(f"{label}: cannot build a JSON schema for {what} {model!r}: {exc}") from exc
