"""Patterns: bounded concurrent maps, routers and k-way joins, built from plain nodes.

`predicate_router`, `union_router` and `join_k` return ordinary `Node`s, so
they get retries, timeouts, validation and events like any hand-written
node. By default they use ``NodePolicy(validate="none")``; pass
``node_policy=`` to change that. `map_concurrent` is a helper for use inside
a node.

Routers send with ``ctx.emit(message, to=...)`` and return ``None``. When a
router received only the payload (its input model in the registry is not a
``Message``), it still sends an envelope: the one it is processing, carrying
that payload.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel, TypeAdapter

from penguiflow._kernel.context import Context
from penguiflow._kernel.envelope import rewrap
from penguiflow.node import Node, NodePolicy
from penguiflow.policies import RoutingDecision, RoutingPolicy, RoutingRequest
from penguiflow.types import Message

__all__ = [
    "Predicate",
    "join_k",
    "join_pending",
    "map_concurrent",
    "predicate_router",
    "union_router",
]

_T = TypeVar("_T")
_R = TypeVar("_R")

Predicate = Callable[[Any], RoutingDecision | Awaitable[RoutingDecision]]
"""A router predicate: gets the message, returns successor node(s) or name(s), or ``None``."""

_ROUTER_POLICY = NodePolicy(validate="none")


# -- map_concurrent ------------------------------------------------------------


async def map_concurrent(
    items: Iterable[_T],
    worker: Callable[[_T], Awaitable[_R]],
    max_concurrency: int = 8,
) -> list[_R]:
    """Run ``await worker(item)`` for every item, at most ``max_concurrency`` at a time.

    Results come back in the order of ``items``. If a call raises, the calls
    still running are cancelled and awaited, and the first exception is
    raised: no task outlives the call. Cancelling the caller cancels them too.

    Args:
        items: The inputs (consumed once, up front).
        worker: ``async def worker(item)``.
        max_concurrency: Calls allowed in flight at once; an ``int >= 1``.

    Returns:
        ``[await worker(item) for item in items]``, computed concurrently.

    Raises:
        ValueError: ``max_concurrency`` is not an int >= 1.
        TypeError: ``worker`` is not callable or does not return an awaitable.

    Example:
        >>> async def enrich(doc: str) -> str:
        ...     return doc.upper()
        >>> # inside a node: docs = await map_concurrent(["a", "b"], enrich, max_concurrency=4)
    """
    if type(max_concurrency) is not int or max_concurrency < 1:
        raise ValueError(
            f"map_concurrent: max_concurrency must be an int >= 1; got {max_concurrency!r}"
        )
    if not callable(worker):
        raise TypeError(f"map_concurrent: worker must be an async callable; got {worker!r}")
    inputs = list(items)
    if not inputs:
        return []
    results: list[Any] = [None] * len(inputs)
    failures: list[BaseException] = []
    # One shared iterator feeds a fixed pool of lanes: each index is taken exactly once,
    # and there are never more than max_concurrency calls (or tasks) alive.
    indices = iter(range(len(inputs)))

    async def lane() -> None:
        try:
            for index in indices:
                call = worker(inputs[index])
                if not inspect.isawaitable(call):
                    raise TypeError(
                        f"map_concurrent: worker {worker!r} returned {type(call).__name__}, "
                        "not an awaitable; pass an async function"
                    )
                results[index] = await call
        except Exception as exc:
            failures.append(exc)  # in the order they happen: the first one is raised
            raise

    lanes = [asyncio.create_task(lane()) for _ in range(min(max_concurrency, len(inputs)))]
    try:
        await asyncio.wait(lanes, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        # Also reached when the caller is cancelled: leave nothing running behind.
        unfinished = [task for task in lanes if not task.done()]
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.wait(unfinished)
    outcomes = [None if task.cancelled() else task.exception() for task in lanes]
    if failures:
        raise failures[0]
    for task, outcome in zip(lanes, outcomes, strict=True):
        if task.cancelled():
            raise asyncio.CancelledError("map_concurrent: a worker call was cancelled")
        if outcome is not None:
            raise outcome  # a BaseException that is not an Exception
    return results


# -- routing ---------------------------------------------------------------------


def _select_method(policy: Any, router: str) -> Callable[[RoutingRequest], Any] | None:
    if policy is None:
        return None
    select = getattr(policy, "select", None)
    if not callable(select):
        raise TypeError(
            f"router {router!r}: policy must be a RoutingPolicy (an object with a "
            f"select(request) method); got {type(policy).__name__}"
        )
    return select  # type: ignore[no-any-return]  # a callable attribute of an arbitrary object


def _resolve(ctx: Context, router: str, decision: Any, source: str) -> list[Node]:
    """Turn a predicate's or policy's answer into the router's successor nodes."""
    if decision is None:
        return []
    if isinstance(decision, Node | str):
        wanted: Sequence[Any] = (decision,)
    elif isinstance(decision, list | tuple):
        wanted = decision
    else:
        raise TypeError(
            f"{source} of router {router!r} returned {decision!r}; expected a successor "
            "node or name, a list of them, or None to drop the message"
        )
    successors: tuple[Node, ...] = ctx.runtime.graph.successors[ctx.owner]
    chosen: list[Node] = []
    for target in wanted:
        for node in successors:
            if node is target or (isinstance(target, str) and node.name == target):
                if node not in chosen:
                    chosen.append(node)
                break
        else:
            label = target.name if isinstance(target, Node) else target
            known = [node.name for node in successors]
            raise ValueError(
                f"{source} of router {router!r} selected {label!r}, which is not a successor "
                f"of {router!r}; successors: {known}"
            )
    return chosen


async def _route(
    ctx: Context,
    router: str,
    message: Any,
    outgoing: Any,
    proposed: list[Node],
    policy: Any,
    select: Callable[[RoutingRequest], Any] | None,
) -> None:
    if select is not None:
        request = RoutingRequest(
            message=message,
            context=ctx,
            node_name=router,
            proposed=tuple(proposed),
            trace_id=ctx.trace_id,
        )
        decision = select(request)
        if inspect.isawaitable(decision):
            decision = await decision
        proposed = _resolve(ctx, router, decision, f"routing policy {policy!r}")
    if not proposed:
        return
    await ctx.emit(outgoing, to=proposed[0] if len(proposed) == 1 else proposed)


def _as_sent(message: Any, ctx: Context) -> Any:
    # A router that received only the payload re-wraps it so the trace goes on.
    envelope = ctx.message
    if envelope is None or isinstance(message, Message):
        return message
    return envelope.model_copy(update={"payload": message})


def _node_policy(node_policy: NodePolicy | None, helper: str, name: str) -> NodePolicy:
    if node_policy is None:
        return _ROUTER_POLICY
    if not isinstance(node_policy, NodePolicy):
        raise TypeError(
            f"{helper}({name!r}): node_policy must be a NodePolicy; "
            f"got {type(node_policy).__name__}"
        )
    return node_policy


def predicate_router(
    name: str,
    predicate: Predicate,
    policy: RoutingPolicy | None = None,
    *,
    node_policy: NodePolicy | None = None,
) -> Node:
    """Build a node that sends each message to the successors its predicate picks.

    ``predicate(message)`` (plain or ``async``) gets the message as the router
    received it and returns a successor node or name, a list of them, or
    ``None``/``[]`` to drop the message. Several targets each get their own
    copy (a fan-out). With a ``policy``, the predicate's answer is only a
    proposal: the policy's `penguiflow.policies.RoutingPolicy.select` has the
    final word (override, keep or drop).

    Args:
        name: The router node's name.
        predicate: Picks the target(s) of a message.
        policy: Optional `penguiflow.policies.RoutingPolicy` consulted per message.
        node_policy: The node's `NodePolicy`; ``NodePolicy(validate="none")`` by default.

    Returns:
        A `Node` to wire with ``router.to(successor, ...)``.

    Raises:
        TypeError: ``predicate`` is not callable or ``policy`` has no ``select``.
        ValueError: Raised from the node (so reported as a ``FlowError``) when
            the predicate or policy names a node that is not a successor; the
            message names the router and its successors.

    Example:
        >>> def by_topic(msg):
        ...     return "billing" if msg.headers.topic == "billing" else "support"
        >>> router = predicate_router("triage", by_topic)
    """
    if not callable(predicate):
        raise TypeError(
            f"predicate_router({name!r}): predicate must be callable; got {predicate!r}"
        )
    select = _select_method(policy, name)

    async def route_by_predicate(message: Any, ctx: Context) -> None:
        answer = predicate(message)
        if inspect.isawaitable(answer):
            answer = await answer
        proposed = _resolve(ctx, name, answer, "predicate")
        if not proposed and select is None:
            return
        await _route(ctx, name, message, _as_sent(message, ctx), proposed, policy, select)

    return Node(
        route_by_predicate, name=name, policy=_node_policy(node_policy, "predicate_router", name)
    )


def _variant_names(cls: type) -> tuple[str, ...]:
    """Node names a variant class routes to: its class name, then its single-value str Literals."""
    names = [cls.__name__]
    if issubclass(cls, BaseModel):
        for field in cls.model_fields.values():
            if get_origin(field.annotation) is Literal:
                values = get_args(field.annotation)
                if len(values) == 1 and isinstance(values[0], str) and values[0] not in names:
                    names.append(values[0])
    return tuple(names)


def union_router(
    name: str,
    union_type: Any,
    policy: RoutingPolicy | None = None,
    *,
    node_policy: NodePolicy | None = None,
) -> Node:
    """Build a node that validates a discriminated union and routes by variant.

    The payload (of an envelope, or the message itself) is validated against
    ``union_type`` with a cached ``TypeAdapter``. The variant goes to the
    successor named like the variant's **class**; failing that, to the
    successor named like the value of one of the variant's single-value
    ``Literal[str]`` fields (the usual discriminator, e.g.
    ``kind: Literal["search"]`` routes to a node called ``search``). An
    envelope is routed as an envelope with the validated variant as its
    payload. With a ``policy``, the match is a proposal the policy may
    override, keep or drop.

    Args:
        name: The router node's name.
        union_type: A pydantic discriminated union such as
            ``Annotated[A | B, Field(discriminator="kind")]``.
        policy: Optional `penguiflow.policies.RoutingPolicy` consulted per message.
        node_policy: The node's `NodePolicy`; ``NodePolicy(validate="none")`` by default.

    Returns:
        A `Node` to wire with ``router.to(successor, ...)``.

    Raises:
        TypeError: pydantic cannot build a validator for ``union_type``.
        ValueError: Raised from the node (so reported as a ``FlowError``) when
            the payload is not a valid variant (a pydantic ``ValidationError``),
            or no successor matches the variant.
    """
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(union_type)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TypeError(
            f"union_router({name!r}): pydantic cannot validate {union_type!r}: {reason}"
        ) from exc
    select = _select_method(policy, name)
    names_of: dict[type, tuple[str, ...]] = {}

    async def route_by_variant(message: Any, ctx: Context) -> None:
        payload = message.payload if isinstance(message, Message) else message
        variant = adapter.validate_python(payload)
        cls = type(variant)
        candidates = names_of.get(cls)
        if candidates is None:
            candidates = names_of[cls] = _variant_names(cls)
        successors: tuple[Node, ...] = ctx.runtime.graph.successors[ctx.owner]
        target = next(
            (node for wanted in candidates for node in successors if node.name == wanted), None
        )
        if target is None:
            raise ValueError(
                f"union_router {name!r}: no successor for variant {cls.__name__!r} "
                f"(looked for a node named {' or '.join(map(repr, candidates))}); "
                f"successors: {[node.name for node in successors]}"
            )
        envelope = message if isinstance(message, Message) else ctx.message
        outgoing = variant if envelope is None else envelope.model_copy(update={"payload": variant})
        await _route(ctx, name, message, outgoing, [target], policy, select)

    return Node(route_by_variant, name=name, policy=_node_policy(node_policy, "union_router", name))


# -- join_k ----------------------------------------------------------------------


class _Bucket:
    __slots__ = ("envelope", "metas", "payloads")

    def __init__(self, envelope: Message) -> None:
        self.envelope = envelope
        self.payloads: list[Any] = []
        self.metas: list[dict[str, Any]] = []


class _KJoin:
    """The function of a `join_k` node: per-trace buckets of exactly ``k`` messages."""

    __slots__ = ("_buckets", "_shared", "k")

    def __init__(self, k: int) -> None:
        self.k = k
        self._buckets: dict[str, _Bucket] = {}
        self._shared: list[Any] = []

    async def __call__(self, message: Any, ctx: Context) -> Any:
        envelope = ctx.message
        if envelope is None:
            # Payload-only messages have no trace: they share one bucket.
            shared = self._shared
            shared.append(message)
            if len(shared) < self.k:
                return None
            self._shared = []
            return shared
        trace_id = envelope.trace_id
        bucket = self._buckets.get(trace_id)
        if bucket is None:
            bucket = self._buckets[trace_id] = _Bucket(envelope)
            # A trace that ends with the bucket partly filled can never fill it.
            ctx.on_trace_idle(self._forget)
        bucket.payloads.append(message.payload if message is envelope else message)
        bucket.metas.append(envelope.meta)
        if len(bucket.payloads) < self.k:
            return None
        del self._buckets[trace_id]
        meta: dict[str, Any] = {}
        for part in bucket.metas:
            meta.update(part)
        return rewrap(bucket.envelope, bucket.payloads, meta=meta)

    def _forget(self, trace_id: str) -> None:
        self._buckets.pop(trace_id, None)

    def pending(self) -> int:
        return len(self._buckets) + (1 if self._shared else 0)


def join_k(name: str, k: int, *, node_policy: NodePolicy | None = None) -> Node:
    """Build a node that waits for ``k`` messages of a trace and emits them as one.

    Envelopes are collected per ``trace_id``. The k-th arrival emits one
    ``Message`` built from the **first** arrival's envelope (trace id,
    headers, deadline), whose payload is the list of the k payloads in
    arrival order and whose ``meta`` merges the k metas in arrival order
    (on a key conflict the later arrival wins). Payload-only messages have
    no trace: they share one bucket and the k-th emits the plain list.

    Buckets never leak: a bucket is freed as soon as it emits, and the bucket
    of a trace that ends before k messages arrived (cancelled, deadline, or
    branches that returned ``None``) is freed when nothing of the trace is
    left in the flow. Messages of that trace that enter the flow later start
    a new bucket.

    Args:
        name: The join node's name.
        k: Messages per trace to wait for; an ``int >= 1``.
        node_policy: The node's `NodePolicy`; ``NodePolicy(validate="none")`` by default.

    Returns:
        A `Node`; `join_pending` reports its partly filled buckets.

    Raises:
        ValueError: ``k`` is not an int >= 1.

    Example:
        >>> join = join_k("join", 3)
        >>> join_pending(join)
        0
    """
    if type(k) is not int or k < 1:
        raise ValueError(f"join_k({name!r}): k must be an int >= 1; got {k!r}")
    return Node(_KJoin(k), name=name, policy=_node_policy(node_policy, "join_k", name))


def join_pending(node: Node) -> int:
    """Return how many partly filled buckets the `join_k` node ``node`` holds.

    One per trace waiting for more messages, plus one if the payload-only
    bucket is partly filled. Useful to check that nothing leaks.

    Raises:
        TypeError: ``node`` was not built by `join_k`.
    """
    func = getattr(node, "func", None)
    if not isinstance(func, _KJoin):
        raise TypeError(f"join_pending: {node!r} is not a node built by join_k")
    return func.pending()
