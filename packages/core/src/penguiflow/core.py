"""The flow lifecycle: build a PenguiFlow, run it, emit into OpenSea, fetch from Rookery, stop."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Sequence
from typing import Any

from penguiflow._kernel.context import Context, NodeHost
from penguiflow._kernel.floe import EMPTY, Floe
from penguiflow._kernel.runtime import FlowRuntime
from penguiflow._kernel.timeouts import check_timeout
from penguiflow._kernel.worker import node_workers
from penguiflow.bus.base import MessageBus
from penguiflow.distributed._names import check_namespace, flow_namespace
from penguiflow.distributed._proxy import (
    WorkerNodeProxy,
    check_worker_nodes,
    renamed_remote_nodes,
)
from penguiflow.distributed.worker import registry_models
from penguiflow.errors import CycleError
from penguiflow.graph import Adjacency, FlowGraph, build_graph
from penguiflow.middlewares import Middleware
from penguiflow.node import Node, Targets
from penguiflow.playbook import call_playbook
from penguiflow.protocols import FlowState, FlowStatistics
from penguiflow.registry import ModelRegistry, registry_for
from penguiflow.state._persister import (
    EventPersister,
    StatePolicy,
    attach_persister,
    load_flushed,
)
from penguiflow.state.base import StateStore, StoredEvent
from penguiflow.types import Message, StreamChunk

__all__ = [
    "DEFAULT_QUEUE_MAXSIZE",
    "Context",
    "CycleError",
    "Floe",
    "FlowState",
    "FlowStatistics",
    "PenguiFlow",
    "create",
]

logger: logging.Logger = logging.getLogger("penguiflow.core")

DEFAULT_QUEUE_MAXSIZE = 64
"""Capacity of every floe unless ``queue_maxsize`` says otherwise."""

_STOP_GRACE_S = 5.0
_HISTORY_FLUSH_S = 10.0
"""Default bound of load_history's wait for the events still on their way to the store."""
_RUNNING = FlowState.RUNNING


class PenguiFlow:
    """A running graph of nodes joined by bounded floes.

    Build one with `create`. Lifecycle: ``run()`` once, then any
    number of ``emit``/``fetch``/``cancel`` calls, then ``await stop()``.

    Args:
        *adjacencies: ``node.to(successors...)`` results (or bare nodes).
        queue_maxsize: Capacity of each floe; ``0`` means unbounded.
        allow_cycles: Accept cycles even without an ``allow_cycle`` node.
        middlewares: Callables receiving every `FlowEvent`.
        emit_errors_to_rookery: Deliver ``FlowError``s through `fetch`
            instead of only logging them.
        state_store: A `penguiflow.state.StateStore`; every event of every trace
            is saved to it (see `load_history`). The flow does not close it.
        state_store_policy: What to do when the store lags: ``"drop"`` (never
            wait; events beyond a 10,000 backlog are dropped and counted) or
            ``"block"`` (deliveries wait while 1,000 events are pending).
        message_bus: A `penguiflow.bus.MessageBus` carrying the traffic of the
            ``worker_nodes``. The flow does not close it.
        worker_nodes: Nodes (or names) served by worker processes
            (`penguiflow.distributed.RemoteWorker`) instead of this process.
            At most ``queue_maxsize`` (64 if unbounded) of each one's messages
            are out at once.
        bus_namespace: Prefix of the flow's bus topics; by default a hash of
            the graph, so workers building the same flow find them.
        remote_nodes: Deprecated name of ``worker_nodes`` (a ``DeprecationWarning``).

    Raises:
        CycleError: The graph has a cycle nobody allowed.
        TypeError: An adjacency, middleware or the bus has the wrong type.
        ValueError: Bad ``queue_maxsize``, duplicate node names, empty flow,
            unknown ``worker_nodes`` or worker nodes without a bus.
    """

    def __init__(
        self,
        *adjacencies: Adjacency | Node,
        queue_maxsize: int = DEFAULT_QUEUE_MAXSIZE,
        allow_cycles: bool = False,
        middlewares: Sequence[Middleware] = (),
        emit_errors_to_rookery: bool = False,
        state_store: StateStore | None = None,
        state_store_policy: StatePolicy = "drop",
        message_bus: MessageBus | None = None,
        worker_nodes: Sequence[Node | str] = (),
        bus_namespace: str | None = None,
        remote_nodes: Sequence[Node | str] = (),
    ) -> None:
        if type(queue_maxsize) is not int or queue_maxsize < 0:
            raise ValueError(
                f"queue_maxsize must be an int >= 0 (0 = unbounded); got {queue_maxsize!r}"
            )
        self._graph = build_graph(adjacencies, allow_cycles=allow_cycles)
        self._runtime = FlowRuntime(
            self._graph,
            queue_maxsize=queue_maxsize,
            middlewares=middlewares,
            emit_errors_to_rookery=emit_errors_to_rookery,
        )
        if state_store_policy not in ("drop", "block"):
            raise ValueError(
                f"state_store_policy must be 'drop' or 'block'; got {state_store_policy!r}"
            )
        self._persister: EventPersister | None = None
        if state_store is not None:
            self._persister = attach_persister(self._runtime, state_store, state_store_policy)
        if remote_nodes:
            worker_nodes = renamed_remote_nodes(worker_nodes, remote_nodes)
        self._bus = message_bus
        self._workers = check_worker_nodes(self._graph, message_bus, worker_nodes)
        self._namespace = check_namespace(bus_namespace) if bus_namespace is not None else None
        self._state = FlowState.CREATED
        self._stopped: asyncio.Event | None = None

    # -- introspection ---------------------------------------------------
    @property
    def graph(self) -> FlowGraph:
        """The static shape of the flow (nodes, edges, ingress/egress, cycles)."""
        return self._graph

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node of the flow."""
        return self._graph.nodes

    @property
    def floes(self) -> list[Floe]:
        """Every floe, including those from OpenSea and to Rookery."""
        return self._runtime.all_floes()

    @property
    def state(self) -> FlowState:
        """Where the flow is in its lifecycle (created, running, stopped)."""
        return self._state

    @property
    def running(self) -> bool:
        """``True`` between `run` and `stop`."""
        return self._state is FlowState.RUNNING

    @property
    def emit_errors_to_rookery(self) -> bool:
        """Whether failures are delivered as `FlowError`s through `fetch` (else only logged)."""
        return self._runtime.emit_errors_to_rookery

    @emit_errors_to_rookery.setter
    def emit_errors_to_rookery(self, value: bool) -> None:
        self._runtime.emit_errors_to_rookery = bool(value)

    @property
    def message_bus(self) -> MessageBus | None:
        """The bus carrying the worker nodes' traffic, if any."""
        return self._bus

    @property
    def worker_nodes(self) -> frozenset[Node]:
        """Nodes served by worker processes (see `penguiflow.distributed`)."""
        return self._workers

    @property
    def remote_nodes(self) -> frozenset[Node]:
        """Deprecated name of `worker_nodes`."""
        warnings.warn(
            "flow.remote_nodes is deprecated; use flow.worker_nodes",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._workers

    @property
    def bus_namespace(self) -> str:
        """Prefix of this flow's bus topics (by default derived from the graph's shape)."""
        if self._namespace is None:
            self._namespace = flow_namespace(self._graph)
        return self._namespace

    @property
    def state_store(self) -> StateStore | None:
        """The store events are persisted to, if any."""
        return self._persister.store if self._persister is not None else None

    @property
    def state_store_errors(self) -> int:
        """Events the state store failed to save (each also reported as ``state_store_error``)."""
        return self._persister.errors if self._persister is not None else 0

    async def load_history(
        self,
        trace_id: str,
        *,
        tenant: str | None = None,
        timeout: float | None = _HISTORY_FLUSH_S,  # noqa: ASYNC109 - bounds the flush wait
    ) -> list[StoredEvent]:
        """Return the persisted events of ``trace_id`` in order (only ``tenant``'s if given).

        Waits first, at most ``timeout`` seconds, until the events emitted so far
        have reached the store (other middlewares are not waited for).

        Raises:
            RuntimeError: The flow has no state store.
            TenantMismatch: ``tenant`` is given and another tenant runs the trace.
            TimeoutError: The store did not save the pending events within ``timeout``.
        """
        if self._persister is None:
            raise RuntimeError("load_history needs a flow created with state_store=...")
        check_timeout(timeout)
        if tenant is not None:
            self._runtime.check_tenant(trace_id, tenant)
        if self._state is FlowState.RUNNING:
            hub = self._runtime.hub
            return await load_flushed(hub, self._persister, trace_id, tenant, timeout)
        return await self._persister.store.load_history(trace_id, tenant=tenant)

    def add_middleware(self, middleware: Middleware) -> None:
        """Subscribe ``middleware`` (sync or async callable) to every FlowEvent."""
        self._runtime.hub.add(middleware)

    async def drain_events(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until every middleware has handled the events emitted so far.

        Middlewares run in their own tasks, fed through bounded queues, so a slow
        one never holds up the flow; call this (or `stop`) before asserting on
        what a middleware recorded.

        Args:
            timeout: Seconds to wait at most; ``None`` waits as long as needed.

        Raises:
            TimeoutError: A middleware still had events queued after ``timeout`` seconds.
        """
        check_timeout(timeout)
        try:
            async with asyncio.timeout(timeout):
                await self._runtime.hub.drain()
        except TimeoutError:
            raise TimeoutError(
                f"middlewares did not handle their queued events within {timeout}s"
            ) from None

    @property
    def dropped_events(self) -> int:
        """Events dropped because a middleware fell more than 10,000 events behind."""
        return self._runtime.hub.dropped

    def statistics(self) -> FlowStatistics:
        """Take a snapshot of the flow's load and losses (cheap; safe to poll).

        Example:
            >>> stats = flow.statistics()  # doctest: +SKIP
            >>> stats.queued["retrieve"], stats.traces_in_flight  # doctest: +SKIP
            (3, 12)
        """
        return self._runtime.statistics(self._state, self.state_store_errors)

    # -- lifecycle -------------------------------------------------------
    def run(self, registry: ModelRegistry | None = None) -> None:
        """Start one worker per node on the running event loop.

        Args:
            registry: Models for validating nodes. When given, every node whose
                policy validates must be registered or fully annotated
                (``async def fn(msg: InModel, ctx) -> OutModel``, not ``Any``);
                annotated nodes are registered on a copy, never on ``registry``.
                Without a registry nothing is validated and nodes receive
                messages as emitted.

        Raises:
            RuntimeError: Called twice, after ``stop()``, or outside an event loop.
            ValueError: Validating nodes are neither in ``registry`` nor
                annotated (all are named).
            TypeError: A validating node's annotation cannot be resolved or
                is not a type pydantic can validate.
        """
        if self._state is not FlowState.CREATED:
            raise RuntimeError(
                f"flow.run() can only be called once; this flow is {self._state.value}"
            )
        if registry is not None:
            registry = registry_for(registry, self._graph.nodes)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "flow.run() needs a running event loop: call it from async code"
            ) from None
        runtime = self._runtime
        runtime.hub.start()
        host = NodeHost(flow=self, run_playbook=call_playbook)
        for node in self._graph.nodes:
            if node in self._workers:
                runtime.start_worker(self._worker_proxy(node, registry), loop)
            else:
                for worker in node_workers(runtime, node, registry, host):
                    runtime.start_worker(worker, loop)
        self._state = FlowState.RUNNING

    def _worker_proxy(self, node: Node, registry: ModelRegistry | None) -> WorkerNodeProxy:
        assert self._bus is not None  # checked in __init__
        return WorkerNodeProxy(
            self._runtime,
            node,
            self._bus,
            namespace=self.bus_namespace,
            max_inflight=self._runtime.queue_maxsize or DEFAULT_QUEUE_MAXSIZE,
            models=registry_models(registry),
        )

    async def stop(self) -> None:
        """Cancel every worker and wait for them; idempotent and bounded.

        Pending ``fetch``/``emit`` calls fail with ``RuntimeError``. Events already
        emitted are delivered to the middlewares first (for at most a few seconds).
        """
        if self._stopped is not None:
            await self._stopped.wait()
            return
        self._stopped = asyncio.Event()
        runtime = self._runtime
        runtime.stopping = True
        self._state = FlowState.STOPPED
        for inbox in (*runtime.inboxes.values(), runtime.rookery):
            inbox.close("flow stopped")
        tasks = [task for task in runtime.tasks if not task.done()]
        for task in tasks:
            task.cancel()
        try:
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=_STOP_GRACE_S)
                if pending:
                    logger.warning(
                        "flow.stop(): %d node(s) ignored cancellation for %.1fs and were left "
                        "running: %s",
                        len(pending),
                        _STOP_GRACE_S,
                        sorted(task.get_name() for task in pending),
                    )
            await runtime.hub.close(_STOP_GRACE_S)
        finally:
            # Even if this stop() is itself cancelled, later calls must not wait forever.
            runtime.traces.release_all()
            self._stopped.set()

    # -- OpenSea ---------------------------------------------------------
    async def emit(self, msg: Any, to: Targets = None) -> None:
        """Send ``msg`` into the flow at OpenSea, waiting while a floe is full.

        Args:
            msg: A payload or a ``Message``.
            to: Ingress node(s) or name(s); all ingress nodes when ``None``.

        Raises:
            RuntimeError: The flow is not running.
            ValueError: ``to`` is not an ingress node.
            TraceCancelled: The message's trace is being cancelled.
        """
        self._check_running("emit")
        runtime = self._runtime
        runtime.check_ingress(msg)
        await runtime.fan_out(self._ingress(to), msg)

    async def emit_chunk(
        self,
        parent: Message,
        text: str,
        *,
        stream_id: str | None = None,
        seq: int | None = None,
        done: bool = False,
        meta: dict[str, Any] | None = None,
        to: Targets = None,
    ) -> StreamChunk:
        """Send a `StreamChunk` into the flow at OpenSea (see `Context.emit_chunk`).

        Raises:
            RuntimeError: The flow is not running.
            TypeError: ``parent`` is not a ``Message`` or ``text`` is not a ``str``.
            ValueError: ``to`` is not an ingress node, or ``seq`` is negative.
        """
        self._check_running("emit_chunk")
        self._runtime.check_ingress(parent)
        floes = self._ingress(to)
        message = self._runtime.streams.build(
            parent, text, stream_id=stream_id, seq=seq, done=done, meta=meta, external=True
        )
        await self._runtime.fan_out(floes, message)
        chunk: StreamChunk = message.payload
        return chunk

    def emit_nowait(self, msg: Any, to: Targets = None) -> None:
        """Like `emit` but raise ``asyncio.QueueFull`` instead of waiting.

        Raises:
            asyncio.QueueFull: An ingress floe is full (nothing was sent).
        """
        self._check_running("emit_nowait")
        self._runtime.check_ingress(msg)
        self._runtime.deliver_nowait(self._ingress(to), msg)

    # -- Rookery -----------------------------------------------------------
    async def fetch(
        self,
        from_: Node | str | None = None,
        *,
        trace_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - SPEC 2.4's signature
        tenant: str | None = None,
    ) -> Any:
        """Return the next result that reached Rookery.

        With ``trace_id`` it returns that trace's results one by one, in order
        (others stay queued). An id not seen yet waits for the trace to start,
        so ``fetch`` may be awaited before ``emit``; once the trace is over and
        its results are taken, it raises `TraceEnded` instead of waiting. A bare
        value a node returned for the trace still belongs to it.

        Args:
            from_: Only take results produced by this egress node.
            trace_id: Only take results of this trace.
            timeout: Seconds to wait at most; ``None`` waits as long as needed.
            tenant: Refuse a trace another tenant started (needs ``trace_id``).

        Raises:
            TraceEnded: The trace is over and none of its results is left.
            FetchTimeout: Nothing arrived within ``timeout`` seconds.
            TenantMismatch: ``tenant`` did not start the trace (a ``PermissionError``).
            RuntimeError: The flow is not running (also if it stops while waiting).
            TypeError: ``trace_id`` is not a str.
            ValueError: ``from_`` is not an egress node, or ``tenant`` without ``trace_id``.
        """
        if (
            from_ is None
            and timeout is None
            and tenant is None
            and (trace_id is None or type(trace_id) is str)
            and self._state is _RUNNING
        ):
            # The per-item path: a plain `fetch()`, or `stream_flow` following one trace.
            runtime = self._runtime
            item = runtime.take_now(trace_id)
            if item is not EMPTY:
                return item
            if trace_id is None:
                return runtime.took_from_rookery(await runtime.rookery.take())
            return await runtime.take_result(None, trace_id)
        return await self._take(None if from_ is None else [from_], trace_id, timeout, tenant)

    async def fetch_any(
        self,
        from_: Sequence[Node | str] | None = None,
        *,
        trace_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - SPEC 2.4's signature
        tenant: str | None = None,
    ) -> Any:
        """Return the next Rookery result produced by any of ``from_`` (all when ``None``).

        ``trace_id``, ``timeout`` and ``tenant`` work as in `fetch`.
        """
        return await self._take(from_, trace_id, timeout, tenant)

    async def _take(
        self,
        sources: Sequence[Node | str] | None,
        trace_id: str | None,
        timeout: float | None,  # noqa: ASYNC109 - the public fetch's timeout, passed on
        tenant: str | None,
        *,
        unseen_ended: bool = False,
    ) -> Any:
        self._check_running("fetch")
        runtime = self._runtime
        floes = None if sources is None else runtime.egress_floes(sources)
        return await runtime.take(floes, trace_id, timeout, tenant, unseen_ended=unseen_ended)

    async def first_result(
        self,
        trace_id: str | None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - like fetch's timeout (SPEC 2.4)
    ) -> Any:
        """Return the first Rookery item of ``trace_id``, or fail once the trace ends without one.

        `fetch` for a trace already emitted: a trace the flow does not know
        (never emitted, or over) counts as ended instead of being waited for.
        With ``trace_id=None`` (payload-only flows, which have no traces) it is
        `fetch` with a timeout.

        Args:
            trace_id: The trace whose result to wait for.
            timeout: Seconds to wait at most; ``None`` waits as long as the trace runs.

        Raises:
            TraceEnded: Nothing of the trace is left in the flow and none of it
                reached Rookery (every branch returned ``None``, or it was cancelled).
            FetchTimeout: No result within ``timeout`` seconds.
            RuntimeError: The flow is not running (also if it stops while waiting).
        """
        self._check_running("first_result")
        return await self._take(None, trace_id, timeout, None, unseen_ended=True)

    # -- cancellation ----------------------------------------------------
    async def cancel(self, trace_id: str, *, tenant: str | None = None) -> bool:
        """Cancel one trace and wait until nothing of it is left in the flow.

        Its queued messages are dropped from every floe, nodes processing it
        are interrupted (they see ``CancelledError``; playbooks they started are
        stopped), and other traces keep running. Emits ``trace_cancel_start``
        and ``trace_cancel_finish`` once.

        Args:
            trace_id: The trace to cancel.
            tenant: Refuse the cancel if another tenant started the trace.

        Returns:
            ``True`` if the trace was in flight, ``False`` if unknown (or the flow is not running).

        Raises:
            TenantMismatch: ``tenant`` did not start the trace.
        """
        if not isinstance(trace_id, str):
            raise TypeError(f"trace_id must be a str; got {type(trace_id).__name__}")
        if self._state is not FlowState.RUNNING:
            return False
        return await self._runtime.cancel(trace_id, tenant)

    async def wait_idle(self, trace_id: str) -> None:
        """Wait until nothing of ``trace_id`` is queued, processed or waiting in Rookery.

        Returns at once for a trace that is not in flight. Useful to learn that a
        trace ended without a result (every branch returned ``None``).

        Raises:
            RuntimeError: The flow is not running.
        """
        self._check_running("wait_idle")
        await self._runtime.traces.idle_event(trace_id).wait()

    # -- helpers ---------------------------------------------------------
    def _check_running(self, action: str) -> None:
        if self._state is _RUNNING:
            return  # the per-message path: one identity check, no enum attribute lookups
        if self._state is FlowState.CREATED:
            raise RuntimeError(
                f"cannot {action}: the flow is not running yet, call flow.run() first"
            )
        if self._state is FlowState.STOPPED:
            raise RuntimeError(f"cannot {action}: the flow has been stopped")

    def _ingress(self, to: Targets) -> list[Floe]:
        return self._runtime.ingress(to)

    def __repr__(self) -> str:
        return (
            f"PenguiFlow(nodes={[n.name for n in self._graph.nodes]}, state={self._state.value!r})"
        )


def create(
    *adjacencies: Adjacency | Node,
    queue_maxsize: int = DEFAULT_QUEUE_MAXSIZE,
    allow_cycles: bool = False,
    middlewares: Sequence[Middleware] = (),
    emit_errors_to_rookery: bool = False,
    state_store: StateStore | None = None,
    state_store_policy: StatePolicy = "drop",
    message_bus: MessageBus | None = None,
    worker_nodes: Sequence[Node | str] = (),
    bus_namespace: str | None = None,
    remote_nodes: Sequence[Node | str] = (),
) -> PenguiFlow:
    """Build a `PenguiFlow` from ``node.to(...)`` adjacencies; the options are `PenguiFlow`'s.

    ``remote_nodes`` is the deprecated name of ``worker_nodes``.

    Example:
        >>> flow = create(triage.to(retrieve), retrieve.to(pack))  # doctest: +SKIP
    """
    if remote_nodes:
        worker_nodes = renamed_remote_nodes(worker_nodes, remote_nodes)
    return PenguiFlow(
        *adjacencies,
        queue_maxsize=queue_maxsize,
        allow_cycles=allow_cycles,
        middlewares=middlewares,
        emit_errors_to_rookery=emit_errors_to_rookery,
        state_store=state_store,
        state_store_policy=state_store_policy,
        message_bus=message_bus,
        worker_nodes=worker_nodes,
        bus_namespace=bus_namespace,
    )
