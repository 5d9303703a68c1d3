"""Planners in flows and flows as tools: `planner_node` and `flow_tool`.

Two bridges between the flow runtime and the planner:

* `planner_node` wraps a `ReactPlanner` in a flow `Node`. Each message that
  reaches the node starts one planner run; the node returns a `PlannerOutcome`
  in the same envelope (same trace id, headers and meta), so the result
  reaches the next node or Rookery like any other. The run is a plain
  ``await`` inside the node: cancelling the trace (``flow.cancel``), the
  node's ``timeout_s`` or stopping the flow interrupts the planner and the
  tool it is running.
* `flow_tool` describes a flow or playbook as a catalog entry (`NodeSpec`):
  when the planner calls it, the tool runs the flow with the validated
  arguments as payload, waits for the first result (bounded by
  ``timeout_s``), always cleans up, and returns the result validated as
  ``out_model``. Failures raise, so the planner's tool runner turns them into
  observations the LLM can react to.

Tools of a planner running inside a flow find where the run came from with
`flow_origin` (the envelope, its trace id and tenant); a `flow_tool` uses it
to run its subflow in the same trace and for the same tenant.

Design notes. The node's only state is the tenant of every pause it issued
(so a `PlannerResume` from another tenant is refused). A subflow started by
`flow_tool` from a builder is owned by the call and stopped in a
``finally``; a shared, already-running flow is never stopped by the tool,
only the call's own trace is cancelled once the call ends.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from penguiflow.catalog import NodeSpec, SideEffect
from penguiflow.context import Context
from penguiflow.errors import FlowError, TraceEnded
from penguiflow.node import Node, NodePolicy
from penguiflow.planner.errors import PlannerError
from penguiflow.planner.events import EventCallback, chain_callbacks
from penguiflow.planner.execution import describe_validation
from penguiflow.planner.flow_stream import ChunkForwarder, NodeEventCallback, check_event_callback
from penguiflow.planner.react import ReactPlanner
from penguiflow.planner.trajectory import PlannerFinish, PlannerPause, to_json_value
from penguiflow.playbook import PlaybookBuilder, call_playbook
from penguiflow.protocols import Flow, is_flow
from penguiflow.types import Headers, Message, StreamChunk

__all__ = [
    "FlowOrigin",
    "FlowToolError",
    "PlannerOutcome",
    "PlannerResume",
    "flow_origin",
    "flow_tool",
    "planner_node",
]

_FLOW_KEY = "flow"
"""The ``tool_context`` key under which `planner_node` puts the `FlowOrigin`."""

QueryGetter = Callable[[Any], str]
ContextGetter = Callable[["FlowOrigin"], Mapping[str, Any] | None]


class FlowToolError(PlannerError, RuntimeError):
    """A `flow_tool` call failed: no result in time, a result of the wrong shape, or no flow.

    Failures of a node inside the flow are raised as the flow's own
    `penguiflow.FlowError` instead.
    """


# -- what a planner node receives and returns -------------------------------------
@dataclass(frozen=True, slots=True)
class FlowOrigin:
    """Where a planner run inside a flow came from: the message and the node.

    `planner_node` hands it to its ``llm_context``/``tool_context`` callables
    and puts it in every tool's ``ctx.tool_context["flow"]`` (read it with
    `flow_origin`).

    Attributes:
        payload: The payload the node received.
        message: The envelope, or ``None`` in a payload-only flow.
        node_name: The planner node's name.
    """

    payload: Any
    message: Message | None
    node_name: str
    _ctx: Context | None = field(default=None, repr=False, compare=False)

    @property
    def trace_id(self) -> str | None:
        """The flow's trace id (``None`` without an envelope)."""
        return self.message.trace_id if self.message is not None else None

    @property
    def tenant(self) -> str | None:
        """The envelope's tenant (``None`` without an envelope)."""
        return self.message.headers.tenant if self.message is not None else None

    @property
    def headers(self) -> Headers | None:
        """The envelope's headers (``None`` without an envelope)."""
        return self.message.headers if self.message is not None else None

    async def emit_chunk(
        self,
        text: str,
        *,
        stream_id: str | None = None,
        done: bool = False,
        meta: dict[str, Any] | None = None,
    ) -> StreamChunk:
        """Stream ``text`` out of the planner node, in the flow's trace, while the run goes on.

        The chunk goes where the node's results go (its successors or Rookery);
        see `penguiflow.Context.emit_chunk` for ``stream_id``, ``seq`` and ``done``.

        Raises:
            RuntimeError: The flow is payload-only (chunks need an envelope).
        """
        if self.message is None or self._ctx is None:
            raise RuntimeError(
                f"planner node {self.node_name!r}: emit_chunk needs an envelope (Message); "
                "this flow sends bare payloads"
            )
        return await self._ctx.emit_chunk(
            self.message, text, stream_id=stream_id, done=done, meta=meta
        )


def flow_origin(ctx: Any) -> FlowOrigin | None:
    """Return the `FlowOrigin` of a tool call, or ``None`` outside a `planner_node`.

    Args:
        ctx: The tool's context (`penguiflow.planner.ToolContext`).

    Example:
        >>> async def lookup(args, ctx):  # doctest: +SKIP
        ...     origin = flow_origin(ctx)
        ...     tenant = origin.tenant if origin else "default"
    """
    tools = getattr(ctx, "tool_context", None)
    origin = tools.get(_FLOW_KEY) if isinstance(tools, Mapping) else None
    return origin if isinstance(origin, FlowOrigin) else None


class PlannerResume(BaseModel):
    """Send this payload to a `planner_node` to continue a paused run.

    Attributes:
        resume_token: ``PlannerOutcome.resume_token`` of the paused run.
        user_input: What the paused tool's step observes (the person's decision).
    """

    model_config = ConfigDict(frozen=True)

    resume_token: str = Field(min_length=1)
    user_input: Any = None


class PlannerOutcome(BaseModel):
    """What a `planner_node` returns: a finished or a paused run, JSON-safe.

    One model for both endings keeps a single type on the floe (a registry or
    a router can check it, and it serialises for SSE, stores and buses); the
    planner's own `PlannerFinish`/`PlannerPause` are plain dataclasses.

    Attributes:
        status: ``"finished"`` or ``"paused"``.
        reason: The `FinishReason` (``"answer_complete"``, ``"max_iters"``, ...)
            or, when paused, the reason the tool gave.
        answer: The answer (``None`` when a limit or failure stopped the run, or when paused).
        metadata: The finished run's metadata (steps, cost, planner trace id, ...).
        resume_token: When paused: send ``PlannerResume(resume_token=...)`` to continue.
        pause_payload: When paused: the tool's JSON payload (what to show the person).
    """

    model_config = ConfigDict(frozen=True)

    status: Literal["finished", "paused"]
    reason: str
    answer: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    resume_token: str | None = None
    pause_payload: dict[str, Any] | None = None

    @classmethod
    def from_result(cls, result: PlannerFinish | PlannerPause) -> PlannerOutcome:
        """Convert ``planner.run``/``resume``'s result.

        Raises:
            TypeError: ``result`` is neither a `PlannerFinish` nor a `PlannerPause`.
        """
        if isinstance(result, PlannerFinish):
            return cls(
                status="finished",
                reason=result.reason,
                answer=to_json_value(result.payload),
                metadata=to_json_value(result.metadata),
            )
        if isinstance(result, PlannerPause):
            return cls(
                status="paused",
                reason=result.reason,
                resume_token=result.resume_token,
                pause_payload=to_json_value(result.payload),
            )
        raise TypeError(f"expected a PlannerFinish or PlannerPause; got {type(result).__name__}")


# -- planner_node ------------------------------------------------------------------
def default_query(payload: Any) -> str:
    """The query of a payload: a ``str``, or the ``query`` key/attribute of a mapping or model.

    Raises:
        TypeError: No query string found.
    """
    if isinstance(payload, str):
        return payload
    value = (
        payload.get("query") if isinstance(payload, Mapping) else getattr(payload, "query", None)
    )
    if isinstance(value, str):
        return value
    raise TypeError(
        f"no query in a {type(payload).__name__} payload: send a str, or a mapping or model "
        "with a 'query' string, or give planner_node(query=lambda payload: ...)"
    )


def default_llm_context(origin: FlowOrigin) -> Mapping[str, Any] | None:
    """The ``llm_context`` key/attribute of a mapping or model payload, if it has one."""
    payload = origin.payload
    if isinstance(payload, Mapping):
        value = payload.get("llm_context")
    else:
        value = getattr(payload, "llm_context", None)
    return value if isinstance(value, Mapping) else None


def planner_node(
    planner_or_factory: ReactPlanner | Callable[[], ReactPlanner],
    *,
    name: str = "planner",
    policy: NodePolicy | None = None,
    query: QueryGetter | None = None,
    llm_context: ContextGetter | None = None,
    tool_context: ContextGetter | None = None,
    stream_chunks: bool = False,
    event_callback: NodeEventCallback | None = None,
) -> Node:
    """Wrap a planner in a flow node: one planner run per message.

    The contract, per message:

    * **Input**: a `PlannerResume` payload resumes a paused run; any other
      payload is a new run whose query is ``query(payload)`` (by default: a
      ``str`` payload, or the ``query`` of a mapping/model). The node takes
      envelopes and bare payloads, and typed (registry-unwrapped) payloads.
    * **Contexts**: ``llm_context(origin)`` (JSON, shown to the LLM; by
      default the payload's ``llm_context`` key/attribute) and
      ``tool_context(origin)`` (Python objects, tools only) receive the
      `FlowOrigin`. The origin itself is always added to the tool context
      under ``"flow"`` (see `flow_origin`): tools learn the flow's trace id and
      tenant there, and nested `flow_tool` subflows run in that trace.
    * **Output**: a `PlannerOutcome` in the incoming envelope (same trace id,
      headers and meta), or bare in a payload-only flow.
    * **Pause**: a paused run returns ``status="paused"`` with a
      ``resume_token``; emit ``PlannerResume(resume_token=..., user_input=...)``
      (any trace) to continue it. The planner must still hold the paused run:
      pass one planner instance, or a factory whose planners share a
      ``state_store``. A resume from another tenant than the pause's is refused.
    * **Streaming** (``stream_chunks=True``, off by default): the streamed
      answer and the tools' chunks go where the outcome goes, before it, as
      chunks of the message's trace (`penguiflow.planner.flow_stream`); a
      payload-only message then fails before the planner runs.
    * **Events**: ``event_callback(event, origin)`` (sync or async) receives
      every `PlannerEvent` of each run, after the planner's own ``event_callback``.
    * **Cancellation**: the run is awaited inside the node, so ``flow.cancel``,
      the policy's ``timeout_s`` and ``flow.stop`` interrupt it (the running
      tool sees ``CancelledError``). Failures (a bad payload, a factory error)
      become the flow's usual `FlowError`.

    Args:
        planner_or_factory: A `ReactPlanner` (reused for every message), or a
            function with no arguments returning a new one for each message.
        name: The node's name.
        policy: The node's policy; by default ``NodePolicy(validate="none")``
            (register the node in a registry and pass another policy to validate).
        query: ``payload -> str``.
        llm_context: ``FlowOrigin -> mapping | None`` (must be JSON-serialisable).
        tool_context: ``FlowOrigin -> mapping | None``; must not use the key ``"flow"``.
        stream_chunks: Forward the answer and tool chunks into the flow's trace.
        event_callback: ``(PlannerEvent, FlowOrigin) -> None`` (or awaitable),
            called for every event of every run; a failing call is logged.

    Returns:
        The node, ready for ``create(...)``.

    Raises:
        TypeError: ``planner_or_factory`` is neither a planner nor a plain
            function, an extractor is not callable, ``policy`` is not a
            NodePolicy, ``stream_chunks`` is not a bool, or ``event_callback``
            cannot be called with two arguments.
        ValueError: ``name`` is empty.

    Example:
        >>> node = planner_node(planner, query=lambda ticket: ticket.text)  # doctest: +SKIP
        >>> flow = create(ingest.to(node), node.to())  # doctest: +SKIP
    """
    get_planner = _planner_source(planner_or_factory, name)
    query_of = _extractor(query, "query", default_query, name)
    llm_context_of = _extractor(llm_context, "llm_context", default_llm_context, name)
    tool_context_of = _extractor(tool_context, "tool_context", None, name)
    if not isinstance(stream_chunks, bool):
        raise TypeError(
            f"planner_node {name!r}: stream_chunks must be a bool; got {stream_chunks!r}"
        )
    on_event = check_event_callback(event_callback, name)
    pause_tenants: dict[str, str | None] = {}

    async def start(
        planner: ReactPlanner, origin: FlowOrigin, callback: EventCallback | None
    ) -> PlannerFinish | PlannerPause:
        payload = origin.payload
        tools = _tool_context(tool_context_of(origin) if tool_context_of else None, origin)
        if isinstance(payload, PlannerResume):
            _claim_pause(pause_tenants, payload.resume_token, origin)
            return await planner.resume(
                payload.resume_token,
                payload.user_input,
                tool_context=tools,
                event_callback=callback,
            )
        return await planner.run(
            query_of(payload),
            llm_context=llm_context_of(origin),
            tool_context=tools,
            trace_id=origin.trace_id,
            event_callback=callback,
        )

    async def run_planner(item: Any, ctx: Context) -> Any:
        message = item if isinstance(item, Message) else ctx.message
        payload = item.payload if isinstance(item, Message) else item
        origin = FlowOrigin(payload=payload, message=message, node_name=name, _ctx=ctx)
        forwarder = ChunkForwarder(ctx, message, name) if stream_chunks else None
        callback = chain_callbacks(
            (lambda event: on_event(event, origin)) if on_event is not None else None,
            forwarder.on_event if forwarder is not None else None,
        )
        try:
            result = await start(get_planner(), origin, callback)
        except Exception:
            if forwarder is not None:
                await forwarder.close()  # end the streams before the node fails
            raise
        if forwarder is not None:
            await forwarder.close()
        if isinstance(result, PlannerPause):
            pause_tenants[result.resume_token] = origin.tenant
        outcome = PlannerOutcome.from_result(result)
        if isinstance(item, Message):
            return item.model_copy(update={"payload": outcome})
        return outcome  # a typed node: the runtime puts it back in the envelope

    return Node(run_planner, name=name, policy=policy or NodePolicy(validate="none"))


def _planner_source(value: Any, name: str) -> Callable[[], ReactPlanner]:
    if isinstance(value, ReactPlanner):
        return lambda: value
    if isinstance(value, type) or not callable(value):
        raise TypeError(
            f"planner_node {name!r}: give a ReactPlanner or a function returning one; "
            f"got {value!r:.80}"
        )
    if inspect.iscoroutinefunction(value):
        raise TypeError(
            f"planner_node {name!r}: the planner factory must be a plain function returning "
            "a ReactPlanner, not an async function"
        )

    def build() -> ReactPlanner:
        planner = value()
        if not isinstance(planner, ReactPlanner):
            raise TypeError(
                f"planner_node {name!r}: the factory returned {type(planner).__name__}, "
                "not a ReactPlanner"
            )
        return planner

    return build


def _extractor(value: Any, what: str, default: Any, name: str) -> Any:
    if value is None:
        return default
    if not callable(value) or inspect.iscoroutinefunction(value):
        raise TypeError(
            f"planner_node {name!r}: {what}= must be a plain function; got {value!r:.80}"
        )
    return value


def _tool_context(given: Mapping[str, Any] | None, origin: FlowOrigin) -> dict[str, Any]:
    if given is not None and not isinstance(given, Mapping):
        raise TypeError(
            f"planner node {origin.node_name!r}: tool_context returned a "
            f"{type(given).__name__}, not a mapping"
        )
    tools = dict(given or {})
    if _FLOW_KEY in tools:
        raise ValueError(
            f"planner node {origin.node_name!r}: tool_context must not set the key "
            f"{_FLOW_KEY!r}; the node puts the FlowOrigin there (read it with flow_origin(ctx))"
        )
    tools[_FLOW_KEY] = origin
    return tools


def _claim_pause(pause_tenants: dict[str, str | None], token: str, origin: FlowOrigin) -> None:
    if token in pause_tenants and pause_tenants[token] != origin.tenant:
        raise PermissionError(
            f"planner node {origin.node_name!r}: resume token {token[:8]}... belongs to "
            f"another tenant than {origin.tenant!r}"
        )
    pause_tenants.pop(token, None)


# -- flow_tool ---------------------------------------------------------------------
def flow_tool(
    flow_builder: PlaybookBuilder | Flow,
    *,
    name: str,
    desc: str,
    args_model: Any,
    out_model: Any,
    timeout_s: float | None = None,
    tags: Iterable[str] = (),
    side_effects: SideEffect = "read",
    tenant: str = "planner",
) -> NodeSpec:
    """Describe a flow (or playbook) as a planner tool.

    A call sends the validated arguments (an ``args_model`` value) into the
    flow as the payload of an envelope, waits for the first result and
    returns its payload validated as ``out_model``.

    * **A builder** (``() -> flow | (flow, registry)``, as for playbooks):
      every call builds a fresh flow and runs it with
      `penguiflow.call_playbook`, which always stops it. Inside a
      `planner_node` the envelope carries the flow's trace id, headers,
      deadline and meta (``meta`` keys the subflow sets are merged back, as
      for playbooks); cancelling that trace stops the subflow too.
    * **A running PenguiFlow** you own (started and stopped by you): every
      call emits with a fresh trace id and fetches that trace's result. When
      the call ends (result, timeout, error or cancellation) the trace is
      cancelled, so nothing of it is left behind. Create the flow with
      ``emit_errors_to_rookery=True`` to see why a node failed.

    Outside a `planner_node` the envelope's tenant is ``tenant``.

    Args:
        flow_builder: A playbook builder, or a running `PenguiFlow`.
        name: The tool's name in the catalog.
        desc: What the tool does, for the LLM.
        args_model: The arguments' type (the flow's input payload).
        out_model: The result's type.
        timeout_s: Seconds to wait for a result (``None``: only the flow's end
            bounds the wait). On timeout the call raises `FlowToolError`.
        tags: Catalog tags (for `ToolPolicy` filters).
        side_effects: What calling the flow does to the world.
        tenant: Tenant of the envelope when no flow origin is known.

    Returns:
        A `NodeSpec` to put in the planner's catalog.

    Raises:
        TypeError: ``flow_builder`` is neither callable nor a PenguiFlow, or a
            model has no JSON schema.
        ValueError: ``name``/``desc``/``tenant`` is empty, ``timeout_s`` is not
            positive, or ``side_effects``/``tags`` are invalid.

    Example:
        >>> lookup = flow_tool(
        ...     build_lookup_playbook,
        ...     name="lookup",
        ...     desc="Look an order up",
        ...     args_model=OrderQuery,
        ...     out_model=Order,
        ...     timeout_s=5,
        ... )  # doctest: +SKIP
    """
    limit: Any = timeout_s
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0
    ):
        raise ValueError(f"flow_tool {name!r}: timeout_s must be a number > 0 or None")
    if type(tenant) is not str or not tenant:
        raise ValueError(f"flow_tool {name!r}: tenant must be a non-empty string")
    shared: Flow | None = flow_builder if is_flow(flow_builder) else None
    builder = cast(PlaybookBuilder, flow_builder)  # used only when shared is None
    if shared is None and (not callable(flow_builder) or isinstance(flow_builder, type)):
        raise TypeError(
            f"flow_tool {name!r}: flow_builder must be a playbook builder (a function returning "
            f"a flow or (flow, registry)) or a running PenguiFlow; got {flow_builder!r:.80}"
        )
    # A lone string is passed on as is, for NodeSpec's "write tags=('x',)" error.
    tag_values: Any = tuple(tags) if isinstance(tags, list | tuple | set | frozenset) else tags
    label = name
    adapter: TypeAdapter[Any] | None = None

    async def call_flow(args: Any, ctx: Any) -> Any:
        nonlocal adapter
        parent = _parent_message(args, ctx, tenant)
        try:
            if shared is not None:
                result = await _call_shared(shared, parent, timeout_s, label)
            else:
                result = await call_playbook(builder, parent, timeout=timeout_s)
        except TimeoutError as exc:
            # Never let a TimeoutError out: to the planner it means "the tool's policy timed out".
            cleanup = "its trace was cancelled" if shared is not None else "its flow was stopped"
            waited = f"within {timeout_s}s" if timeout_s is not None else f"({exc})"
            raise FlowToolError(f"flow tool {label!r} gave no result {waited}; {cleanup}") from exc
        if adapter is None:
            adapter = TypeAdapter(out_model)
        try:
            return adapter.validate_python(result)
        except ValidationError as exc:
            raise FlowToolError(
                f"flow tool {label!r}: the flow returned a {type(result).__name__} that is not "
                f"a valid {getattr(out_model, '__name__', out_model)}: {describe_validation(exc)}"
            ) from None

    call_flow.__name__ = call_flow.__qualname__ = f"flow_tool_{name}"
    node = Node(call_flow, name=name, policy=NodePolicy(validate="none"))
    source = "running flow" if shared is not None else "builder"
    return NodeSpec(
        node=node,
        name=name,
        desc=desc,
        args_model=args_model,
        out_model=out_model,
        side_effects=side_effects,
        tags=tag_values,
        extra={"kind": "flow_tool", "flow": source},
    )


def _parent_message(args: Any, ctx: Any, tenant: str) -> Message:
    """The envelope the call is made for; the subflow's result meta is merged into its meta."""
    origin = flow_origin(ctx)
    if origin is not None and origin.message is not None:
        # Shares the outer envelope's meta dict, as call_playbook does with its parent.
        return origin.message.model_copy(update={"payload": args})
    message = Message(payload=args, headers=Headers(tenant=tenant))
    run_id = getattr(ctx, "trace_id", None)
    if isinstance(run_id, str) and run_id:
        # A standalone planner: the subflow runs in a trace named after the planner run.
        message = message.model_copy(update={"trace_id": run_id})
    return message


async def _call_shared(flow: Flow, parent: Message, timeout_s: float | None, label: str) -> Any:
    if not flow.running:
        raise FlowToolError(
            f"flow tool {label!r}: its flow is not running; call flow.run() before the planner "
            "uses it (the tool never starts or stops a flow it did not build)"
        )
    child = parent.model_copy(update={"trace_id": uuid.uuid4().hex, "meta": dict(parent.meta)})
    try:
        async with asyncio.timeout(timeout_s):
            await flow.emit(child)
            result = await flow.first_result(child.trace_id)
    except TraceEnded:
        raise FlowToolError(
            f"flow tool {label!r}: trace {child.trace_id!r} ended without a result (a node "
            "returned None or failed; create the flow with emit_errors_to_rookery=True to see "
            "failures)"
        ) from None
    finally:
        # Whatever happened, leave nothing of this call's trace in the shared flow.
        await asyncio.shield(flow.cancel(child.trace_id))
    if isinstance(result, FlowError):
        raise result
    if isinstance(result, Message):
        parent.meta.update(result.meta)
        return result.payload
    return result
