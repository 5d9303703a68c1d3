"""The mechanics behind a PenguiFlow: floes, delivery, events, failures and cancellation.

``PenguiFlow`` (in ``penguiflow.core``) is the public facade; this object owns
the state its workers and contexts share, and knows nothing of the facade.
Delivery counts envelopes per trace (see `penguiflow._kernel.traces`) so
cancellation knows what is in flight without any per-message task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from penguiflow._kernel.envelope import Traced, rewrap
from penguiflow._kernel.floe import EMPTY, Floe, FloeClosed, Inbox
from penguiflow._kernel.hub import EventHub
from penguiflow._kernel.sequencer import StreamSequencer
from penguiflow._kernel.timeouts import check_timeout
from penguiflow._kernel.traces import TraceState, TraceTable
from penguiflow.errors import FetchTimeout, FlowError, TenantMismatch, TraceCancelled, TraceEnded
from penguiflow.events import FlowEvent, FlowEventType
from penguiflow.graph import OPEN_SEA, ROOKERY, Endpoint, FlowGraph
from penguiflow.node import Node
from penguiflow.protocols import FlowState, FlowStatistics
from penguiflow.types import Message

__all__ = ["RUNTIME", "FlowRuntime", "NodeRunner", "trace_of"]

logger: logging.Logger = logging.getLogger("penguiflow.core")

RUNTIME = Endpoint("Runtime")
"""Source of the floe that carries runtime-made results (errors, deadline answers) to Rookery."""


def trace_of(item: Any) -> str | None:
    """Return the trace id of an envelope, ``FlowError`` or `Traced` value, else ``None``."""
    if isinstance(item, Message):
        return item.trace_id
    if isinstance(item, FlowError | Traced):
        return item.trace_id
    return None


class NodeRunner(Protocol):
    """What the runtime needs of the task serving one node.

    `penguiflow._kernel.worker.NodeWorker` runs the node in this process; a
    distributed flow's worker-node proxy forwards its messages to worker
    processes instead.
    """

    node: Node
    current_trace: str | None
    task: asyncio.Task[None] | None

    async def run(self) -> None:
        """Serve the node until the flow stops."""
        ...

    def cancel_trace(self, trace_id: str) -> None:
        """Interrupt or forget whatever this runner does for ``trace_id``."""
        ...


class FlowRuntime:
    """Shared runtime state of one flow (see the module docstring)."""

    def __init__(
        self,
        graph: FlowGraph,
        *,
        queue_maxsize: int,
        middlewares: Sequence[Any],
        emit_errors_to_rookery: bool,
    ) -> None:
        self.graph = graph
        self.queue_maxsize = queue_maxsize
        self.emit_errors_to_rookery = emit_errors_to_rookery
        self.hub: EventHub = EventHub(list(middlewares))
        self.streams: StreamSequencer = StreamSequencer()
        self.traces: TraceTable = TraceTable(on_end=self._trace_ended)
        self.trace_states: dict[str, TraceState] = self.traces.states
        self.workers: list[NodeRunner] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = False
        # Awaited before every delivery when the state store's "block" policy is on.
        self.gate: Callable[[], Awaitable[None]] | None = None
        self.inboxes: dict[Node, Inbox] = {node: Inbox() for node in graph.nodes}
        self.rookery: Inbox = Inbox()
        self.ingress_floes: dict[Node, Floe] = {
            node: Floe(OPEN_SEA, node, queue_maxsize, self.inboxes[node]) for node in graph.ingress
        }
        self.out_floes: dict[Node, list[Floe]] = {
            node: [
                Floe(node, succ, queue_maxsize, self.inboxes[succ])
                for succ in graph.successors[node]
            ]
            for node in graph.nodes
        }
        self.rookery_floes: dict[Node, Floe] = {
            node: Floe(node, ROOKERY, queue_maxsize, self.rookery) for node in graph.egress
        }
        self.runtime_floe: Floe = Floe(RUNTIME, ROOKERY, queue_maxsize, self.rookery)

    def _trace_ended(self, trace_id: str) -> None:
        # Streams the trace's nodes left open (no done=True) end with it.
        self.streams.forget_trace(trace_id, keep_external=True)

    def start_worker(self, worker: NodeRunner, loop: asyncio.AbstractEventLoop) -> None:
        """Start ``worker``'s task on ``loop`` (``flow.run``); ``stop`` cancels it."""
        node = worker.node
        siblings = sum(1 for w in self.workers if w.node is node)
        suffix = f"#{siblings}" if node.policy.max_concurrency > 1 else ""
        task = loop.create_task(worker.run(), name=f"penguiflow-node:{node.name}{suffix}")
        task.add_done_callback(_report_worker_crash)
        worker.task = task
        self.workers.append(worker)
        self.tasks.append(task)

    # -- introspection -------------------------------------------------
    def all_floes(self) -> list[Floe]:
        """Every floe of the flow, OpenSea and Rookery ones included."""
        floes: list[Floe] = list(self.ingress_floes.values())
        for out in self.out_floes.values():
            floes.extend(out)
        floes.extend(self.rookery.floes)
        return floes

    def depth_in(self, node: Node) -> int:
        """Messages queued for ``node``."""
        return self.inboxes[node].qsize()

    def depth_out(self, node: Node) -> int:
        """Messages queued in ``node``'s outgoing floes (Rookery included)."""
        total = 0
        for floe in self.out_floes[node]:
            total += floe.qsize()
        rookery = self.rookery_floes.get(node)
        return total + (rookery.qsize() if rookery is not None else 0)

    def inflight(self, trace_id: str | None) -> int:
        """Number of workers processing a message of ``trace_id`` right now."""
        count = 0
        if trace_id is not None:
            for worker in self.workers:
                if worker.current_trace == trace_id:
                    count += 1
        return count

    def check_tenant(self, trace_id: str, tenant: str) -> None:
        """Refuse ``tenant`` if another tenant's trace in flight holds ``trace_id``.

        Raises:
            TenantMismatch: The trace is in flight for another tenant.
        """
        state = self.traces.get(trace_id)
        if state is not None and state.tenant is not None and state.tenant != tenant:
            raise TenantMismatch(trace_id, tenant)

    def check_ingress(self, item: Any) -> None:
        """Refuse an envelope emitted at OpenSea into another tenant's trace (SPEC 2.4).

        Raises:
            TenantMismatch: The envelope's trace id is in flight for another tenant.
        """
        if isinstance(item, Message):
            state = self.traces.get(item.trace_id)
            if (
                state is not None
                and state.tenant is not None
                and state.tenant != item.headers.tenant
            ):
                raise TenantMismatch(item.trace_id, item.headers.tenant)

    # -- delivery ------------------------------------------------------
    async def deliver(self, floe: Floe, item: Any) -> None:
        """Put ``item`` on ``floe`` (waiting while full), counting it for its trace.

        Raises:
            TraceCancelled: The item's trace is being cancelled.
            FloeClosed: The flow was stopped.
        """
        if self.gate is not None:
            await self.gate()
        if isinstance(item, Message):
            # `_count` inlined for envelopes: this is the per-hop path.
            trace_id = item.trace_id
            state = self.trace_states.get(trace_id)
            if state is None:
                state = self.traces.add(trace_id)
                state.tenant = item.headers.tenant
            elif state.cancelled:
                raise TraceCancelled(trace_id)
            else:
                state.count += 1
        else:
            found = trace_of(item)
            if found is None:
                if floe.full():
                    await floe.put(item)
                else:
                    floe.put_nowait(item)
                return
            trace_id = found
            state = self._count(trace_id, item)
        try:
            items = floe._items
            if 0 < floe.maxsize <= len(items):
                while floe.full():
                    await floe.wait_for_space()
                    if state.cancelled:
                        raise TraceCancelled(trace_id)
            inbox = floe._inbox  # `Floe.put_nowait`, inlined (room was checked above)
            if inbox.closed is not None:
                raise FloeClosed(inbox.closed)
            items.append(item)
            if inbox.waiters:
                inbox.notify(floe, item)
        except BaseException:
            state.count -= 1
            if state.count <= 0:
                self.traces.end(trace_id, state)
            raise

    def try_deliver(self, floe: Floe, item: Message) -> bool:
        """Put envelope ``item`` on ``floe`` now if nothing could make `deliver` wait or fail.

        The per-hop path: no coroutine, no waiting. Returns ``False`` (nothing
        done) when the floe is full or closed, a delivery gate is set, or the
        trace is new or being cancelled; the caller then awaits `deliver`.
        """
        if self.gate is not None:
            return False
        state = self.trace_states.get(item.trace_id)
        if state is None or state.cancelled:
            return False
        items = floe._items
        inbox = floe._inbox
        if 0 < floe.maxsize <= len(items) or inbox.closed is not None:
            return False
        state.count += 1
        items.append(item)
        if inbox.waiters:
            inbox.notify(floe, item)
        return True

    def pass_on(self, floe: Floe, item: Message, state: TraceState) -> bool:
        """Like `try_deliver`, for the result of a message of the same trace being processed.

        ``item`` takes over the count of that message (``state`` is its trace's),
        so the count is left as is: the caller must not mark the message done.
        """
        if self.gate is not None or state.cancelled:
            return False
        items = floe._items
        inbox = floe._inbox
        if 0 < floe.maxsize <= len(items) or inbox.closed is not None:
            return False
        items.append(item)
        if inbox.waiters:
            inbox.notify(floe, item)
        return True

    def deliver_nowait(self, floes: Sequence[Floe], item: Any) -> None:
        """Put ``item`` on every floe now, or on none of them.

        Raises:
            asyncio.QueueFull: One of the floes is full (nothing was put).
            TraceCancelled: The item's trace is being cancelled.
        """
        for floe in floes:
            if floe.full():
                raise asyncio.QueueFull(f"{floe!r} is full")
        for floe, branch in zip(floes, self.branches(item, len(floes)), strict=True):
            trace_id = trace_of(branch)
            if trace_id is not None:
                self._count(trace_id, branch)
            floe.put_nowait(branch)

    async def fan_out(self, floes: Sequence[Floe], item: Any) -> None:
        """Deliver ``item`` to every floe; each extra envelope branch gets its own meta copy."""
        count = len(floes)
        if count == 1:
            await self.deliver(floes[0], item)
            return
        if self.gate is None and isinstance(item, Message):
            # Every floe has room: count the branches at once and put them (no waits).
            state = self.trace_states.get(item.trace_id)
            if state is not None and not state.cancelled and _all_have_room(floes):
                branches = self.branches(item, count)
                state.count += count
                for floe, branch in zip(floes, branches, strict=True):
                    floe._items.append(branch)
                    inbox = floe._inbox
                    if inbox.waiters:
                        inbox.notify(floe, branch)
                return
        for floe, branch in zip(floes, self.branches(item, count), strict=True):
            await self.deliver(floe, branch)

    @staticmethod
    def branches(item: Any, count: int) -> list[Any]:
        """Copies of ``item`` for ``count`` branches, all made before any is delivered."""
        if count == 1 or not isinstance(item, Message):
            return [item] * count
        return [item] + [rewrap(item, item.payload, copy_meta=True) for _ in range(count - 1)]

    def _count(self, trace_id: str, item: Any) -> TraceState:
        state = self.traces.get(trace_id)
        if state is None:
            state = self.traces.add(trace_id)
            if isinstance(item, Message):
                state.tenant = item.headers.tenant
            return state
        if state.cancelled:
            raise TraceCancelled(trace_id)
        state.count += 1
        return state

    async def take_result(
        self,
        floes: Sequence[Floe] | None,
        trace_id: str,
        *,
        tenant: str | None = None,
        unseen_ended: bool = False,
    ) -> Any:
        """Take the next Rookery item of ``trace_id``; raise once the trace is over.

        An id not in flight waits for the trace to start unless it ended
        recently (or ``unseen_ended``: the caller emitted it already). A
        result waiting in Rookery keeps its trace in flight, so "over" never
        hides one.

        Raises:
            TraceEnded: Nothing of the trace is left in the flow and no item of it is waiting.
            TenantMismatch: ``tenant`` is given and another tenant started the trace.
            FloeClosed: The flow was stopped (also while waiting).
        """
        rookery = self.rookery
        traces = self.traces
        while True:
            state = traces.get(trace_id)
            if state is None:
                if unseen_ended or traces.ended(trace_id):
                    raise TraceEnded(trace_id)
            elif tenant is not None and state.tenant != tenant:
                raise TenantMismatch(trace_id, tenant)
            else:
                item = rookery.try_take(floes, trace_id)
                if item is not EMPTY:
                    return self.took_from_rookery(item)
            if rookery.closed is not None:
                raise FloeClosed(rookery.closed)
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            traces.watch(trace_id, future)
            try:
                await rookery.wait(floes, trace_id, future)
            finally:
                traces.unwatch(trace_id, future)

    async def take(
        self,
        floes: Sequence[Floe] | None,
        trace_id: str | None,
        timeout: float | None,  # noqa: ASYNC109 - the public fetch's timeout, passed on
        tenant: str | None,
        *,
        unseen_ended: bool = False,
    ) -> Any:
        """The body of ``flow.fetch``: check the arguments, take, bound the wait.

        Raises:
            FetchTimeout: Nothing arrived within ``timeout`` seconds.
            TypeError: ``trace_id`` is not a str.
            ValueError: ``tenant`` without ``trace_id``, or a bad ``timeout``.
            TraceEnded, TenantMismatch, FloeClosed: See `take_result`.
        """
        if trace_id is None:
            if tenant is not None:
                raise ValueError("fetch(tenant=...) needs trace_id=...: tenants own traces")
            if timeout is None:
                return self.took_from_rookery(await self.rookery.take(floes))
        elif type(trace_id) is not str:
            raise TypeError(f"trace_id must be a str; got {type(trace_id).__name__}")
        elif timeout is None:
            return await self.take_result(floes, trace_id, tenant=tenant, unseen_ended=unseen_ended)
        check_timeout(timeout)
        try:
            async with asyncio.timeout(timeout):
                if trace_id is None:
                    return self.took_from_rookery(await self.rookery.take(floes))
                return await self.take_result(
                    floes, trace_id, tenant=tenant, unseen_ended=unseen_ended
                )
        except TimeoutError:
            raise FetchTimeout(trace_id, timeout) from None

    def egress_floes(self, sources: Sequence[Node | str]) -> list[Floe]:
        """The Rookery floes of the egress nodes ``sources`` (nodes or names).

        Raises:
            ValueError: A source does not feed Rookery.
        """
        floes: list[Floe] = []
        for source in sources:
            name = source.name if isinstance(source, Node) else source
            floe = next((f for n, f in self.rookery_floes.items() if n.name == name), None)
            if floe is None:
                egress = [n.name for n in self.rookery_floes]
                raise ValueError(f"{name!r} does not feed Rookery; egress nodes are {egress}")
            floes.append(floe)
        return floes

    def ingress(self, to: Node | str | Sequence[Node | str] | None) -> list[Floe]:
        """The OpenSea floes of the ingress nodes ``to`` (all when ``None``).

        Raises:
            ValueError: A target is not an ingress node.
        """
        floes = self.ingress_floes
        if to is None:
            return list(floes.values())
        wanted = [to] if isinstance(to, Node | str) else list(to)
        result: list[Floe] = []
        for target in wanted:
            name = target.name if isinstance(target, Node) else target
            floe = next((f for n, f in floes.items() if n.name == name), None)
            if floe is None:
                known = [n.name for n in floes]
                raise ValueError(f"unknown target {name!r}: OpenSea feeds only {known}")
            result.append(floe)
        return result

    def take_now(self, trace_id: str | None) -> Any:
        """The next Rookery item (of ``trace_id``, if given) waiting now, else `EMPTY`."""
        if trace_id is None:
            item = self.rookery.try_take()
        elif trace_id in self.trace_states:
            item = self.rookery.try_take(None, trace_id)
        else:
            return EMPTY
        return item if item is EMPTY else self.took_from_rookery(item)

    def statistics(self, state: FlowState, state_store_errors: int) -> FlowStatistics:
        """A snapshot of the flow's load and losses (see `penguiflow.core.PenguiFlow`)."""
        return FlowStatistics(
            state=state,
            queued={node.name: self.depth_in(node) for node in self.graph.nodes},
            queued_in_rookery=self.rookery.qsize(),
            traces_in_flight=len(self.traces),
            dropped_events=self.hub.dropped,
            state_store_errors=state_store_errors,
        )

    def took_from_rookery(self, item: Any) -> Any:
        """Account for an item that left the flow through Rookery; return what the user gets."""
        if isinstance(item, Message):
            state = self.trace_states.get(item.trace_id)  # `TraceTable.done`, inlined
            if state is not None:
                state.count -= 1
                if state.count <= 0:
                    self.traces.end(item.trace_id, state)
        elif isinstance(item, FlowError):
            if item.trace_id is not None:
                self.traces.done(item.trace_id)
        elif type(item) is Traced:
            self.traces.done(item.trace_id)
            return item.value
        return item

    # -- events and failures --------------------------------------------
    def emit_event(
        self,
        event_type: FlowEventType,
        node: Node | None,
        trace_id: str | None,
        *,
        attempt: int = 0,
        latency_ms: float | None = None,
        extra: dict[str, Any] | None = None,
        ts: float | None = None,
    ) -> None:
        """Build a `FlowEvent` and queue it for the middlewares (if any); never waits.

        ``ts`` replaces the current time for events that happened elsewhere (a remote worker).
        """
        if not self.hub.listeners:
            return
        state = self.traces.get(trace_id) if trace_id is not None else None
        event = FlowEvent(
            event_type=event_type,
            ts=time.time() if ts is None else ts,
            node_name=node.name if node is not None else None,
            node_id=node.node_id if node is not None else None,
            trace_id=trace_id,
            attempt=attempt,
            latency_ms=latency_ms,
            q_depth_in=self.depth_in(node) if node is not None else 0,
            q_depth_out=self.depth_out(node) if node is not None else 0,
            outgoing=len(self.out_floes[node]) if node is not None else 0,
            trace_pending=state.count if state is not None else (None if trace_id is None else 0),
            trace_inflight=self.inflight(trace_id),
            trace_cancelled=bool(state is not None and state.cancelled),
            extra=extra or {},
            tenant=state.tenant if state is not None else None,
        )
        self.hub.dispatch(event)

    async def report_failure(self, error: FlowError) -> None:
        """Deliver ``error`` to Rookery (error mode) or log it.

        An egress node's error travels on that node's own Rookery floe, so it
        reaches a trace-scoped fetch after the chunks the node sent before failing.
        """
        if self.stopping:
            return  # a node interrupted by stop() did not fail; there is nobody to tell
        node = self.graph.node_named(error.node_name) if error.node_name else None
        self.emit_event(
            "node_failed",
            node,
            error.trace_id,
            attempt=int(error.metadata.get("attempts", 1)) - 1,
            extra={"code": error.code.value, "error": error.to_payload()},
        )
        if self.emit_errors_to_rookery:
            floe = self.rookery_floes.get(node) if node is not None else None
            await self.deliver(floe or self.runtime_floe, error)
        else:
            logger.error(
                "node %r failed for trace %r [%s]: %s",
                error.node_name,
                error.trace_id,
                error.code.value,
                error.message,
                exc_info=error.original_exc,
            )

    # -- cancellation ----------------------------------------------------
    async def cancel(self, trace_id: str, tenant: str | None = None) -> bool:
        """Cancel one trace; see `penguiflow.core.PenguiFlow.cancel`."""
        state = self.traces.get(trace_id)
        if state is None:
            return False
        if tenant is not None and state.tenant is not None and state.tenant != tenant:
            raise TenantMismatch(trace_id, tenant)
        if state.cancelled:
            await self.traces.idle_event(trace_id).wait()
            return True
        state.cancelled = True
        drained = self.traces.idle_event(trace_id)
        self.streams.forget_trace(trace_id)
        self.emit_event("trace_cancel_start", None, trace_id, extra={"pending": state.count})
        dropped = 0
        for floe in self.all_floes():
            removed = floe.remove_if(lambda item: trace_of(item) == trace_id)
            if removed:
                dropped += len(removed)
                self.traces.done(trace_id, len(removed))
            # Producers of this trace blocked on a full floe re-check and give up.
            floe.wake_all_putters()
        for worker in self.workers:
            worker.cancel_trace(trace_id)
        await drained.wait()
        self.emit_event("trace_cancel_finish", None, trace_id, extra={"dropped": dropped})
        return True


def _all_have_room(floes: Sequence[Floe]) -> bool:
    for floe in floes:
        if floe._inbox.closed is not None or 0 < floe.maxsize <= len(floe._items):
            return False
    return True


def _report_worker_crash(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        logger.error("worker %s crashed", task.get_name(), exc_info=exc)
