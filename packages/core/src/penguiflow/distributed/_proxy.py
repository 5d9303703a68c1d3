"""The owner's side of a worker node: send its messages over the bus, route the results back.

Design notes. In the owning flow a worker node keeps its inbox and its
outgoing floes; only the worker task is replaced by this proxy, so routing,
backpressure and trace accounting stay the runtime's own:

* The proxy takes a message from the inbox (at most ``max_inflight`` out at
  once), publishes it as a request on the node's topic with a fresh
  ``message_id``, and remembers it as *pending*. Publishes overlap, so
  requests may reach the topic out of order (as they would finish out of
  order on several workers anyway). The message still counts
  for its trace, exactly as if a local worker were processing it.
* A reader consumes the node's reply topic through an ephemeral group of
  this proxy's own, created before the first request; replies addressed to
  other owners of the same flow are acknowledged and skipped. A reply names
  its request; the outputs it
  carries are delivered to the node's successors / Rookery, the events the
  worker recorded are replayed to the middlewares (so history and metrics
  look the same as in-process), and only then is the request's trace count
  released and the reply acknowledged.
* While the node runs, the worker streams its outputs (``ctx.emit_chunk``
  and ``ctx.emit``) as reply *parts* (see
  ``penguiflow.distributed._reply_stream``); the final reply carries the
  rest. The reader routes a part like a reply's outputs but keeps the
  request pending, so the trace stays busy until the final reply. Replies
  are handled one at a time, in topic order, and each output carries its
  position in the request, so the owner's floes get a request's outputs in
  emission order, each once: positions already routed (a redelivered part,
  or a rerun of the request on another worker after the first died) are
  skipped. A chunk made by ``ctx.emit_chunk`` is built again in the owner's
  sequencer (an automatic ``seq`` numbered afresh, an explicit one kept), so
  ``seq`` stays gap-free per stream however many invocations and workers
  feed it.
* Backpressure: routing waits while a target floe is full, like a local
  node's emit, and the reader does not take the next reply meanwhile (for
  any trace of this node). The worker is not held back: it keeps running
  and publishing, the bus keeps the replies, and its request is
  acknowledged once the final reply is stored, however slow the owner. A
  reply the owner holds longer than its reply group's ``ack_wait_s`` (30 s)
  is delivered again and skipped by position. A gap in the positions
  (replies trimmed by the topic's retention before the owner read them)
  fails the trace with a ``REMOTE_ERROR``.
* A reply for a request that is no longer pending is a duplicate (the
  request was redelivered to a second worker after the first one died or
  ran past ``ack_wait_s``) or belongs to a cancelled trace: it is
  acknowledged and dropped, so each request is routed exactly once.
* ``cancel_trace`` forgets the trace's pending requests and publishes a
  cancel notice that every worker sees; a worker running it is interrupted.
* When the message cannot be encoded, or the bus refuses it, or the reply
  reader dies, the affected trace gets a ``REMOTE_ERROR`` FlowError:
  nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel

from penguiflow._kernel.envelope import rewrap
from penguiflow._kernel.floe import Floe, FloeClosed
from penguiflow._kernel.runtime import FlowRuntime, trace_of
from penguiflow.bus.base import BusEnvelope, BusError, Delivery, MessageBus, Subscription
from penguiflow.distributed._bus_calls import (
    PUBLISH_PATIENCE_S,
    ack_quietly,
    close_quietly,
    patiently,
    publish_patiently,
)
from penguiflow.distributed._names import control_topic, new_id, node_topic, reply_topic
from penguiflow.distributed._wire import (
    EMITTED_CHUNK,
    REPLY_PART,
    ROOKERY_TARGET,
    RUNTIME_TARGET,
    WireError,
    decode_item,
    encode_item,
    remote_error,
)
from penguiflow.errors import FlowError, FlowErrorCode, TraceCancelled
from penguiflow.events import FLOW_EVENT_TYPES, FlowEventType
from penguiflow.graph import FlowGraph
from penguiflow.node import Node
from penguiflow.types import FinalAnswer, Message, StreamChunk

__all__ = ["WorkerNodeProxy", "check_worker_nodes", "renamed_remote_nodes"]

logger: logging.Logger = logging.getLogger("penguiflow.distributed")

# Events the owner makes itself when it handles the reply (not replayed from the worker).
_OWNER_EVENTS = frozenset({"node_failed"})


@dataclass(slots=True)
class _Pending:
    trace_id: str | None
    item: Any
    routed: int = 0
    """Outputs of the request routed so far (the next expected position)."""
    broken: bool = False
    """A reply part was unreadable: reported once, the rest of the stream is skipped."""


class WorkerNodeProxy:
    """Stands in for a node's local worker when worker processes serve the node."""

    def __init__(
        self,
        runtime: FlowRuntime,
        node: Node,
        bus: MessageBus,
        *,
        namespace: str,
        max_inflight: int,
        models: tuple[type[BaseModel], ...],
    ) -> None:
        self.runtime = runtime
        self.node = node
        self.bus = bus
        self.inbox = runtime.inboxes[node]
        self.namespace = namespace
        self.owner_id = new_id()
        self.topic = node_topic(namespace, node.name)
        self.reply_topic = reply_topic(namespace, node.name)
        self.models = models
        self.targets: dict[str, Floe] = {f.target.name: f for f in runtime.out_floes[node]}
        rookery = runtime.rookery_floes.get(node)
        if rookery is not None:
            self.targets[ROOKERY_TARGET] = rookery
        self.pending: dict[str, _Pending] = {}
        self.slots = asyncio.Semaphore(max_inflight)
        self.discarded = 0
        self.broken: str | None = None
        # Read by FlowRuntime.inflight / cancel like a NodeWorker's.
        self.current_trace: str | None = None
        self.task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    # -- sending ---------------------------------------------------------
    async def run(self) -> None:
        """Forward the node's inbox to the bus until the flow stops."""
        try:
            replies = await patiently(
                lambda: self.bus.subscribe(
                    self.reply_topic,
                    group=f"reply-{self.owner_id}",
                    consumer=self.owner_id,
                    ephemeral=True,
                ),
                PUBLISH_PATIENCE_S,
            )
        except (BusError, OSError) as exc:
            self.broken = f"cannot subscribe to {self.reply_topic!r}: {exc}"
            replies = None
        reader = (
            asyncio.get_running_loop().create_task(
                self._read(replies), name=f"penguiflow-remote-replies:{self.node.name}"
            )
            if replies is not None
            else None
        )
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self.slots.acquire()
                try:
                    item = await self.inbox.take()
                except BaseException:
                    self.slots.release()
                    raise
                # Up to max_inflight publishes overlap: a broker round trip each
                # would otherwise cap the node at one request per round trip.
                task = loop.create_task(self._send(item))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        except FloeClosed:
            return
        finally:
            for task in list(self._background):
                task.cancel()
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
            if replies is not None:
                await close_quietly(replies)

    async def _send(self, item: Any) -> None:
        runtime = self.runtime
        trace_id = trace_of(item)
        state = runtime.traces.get(trace_id) if trace_id is not None else None
        if state is not None and state.cancelled:
            self._finish(trace_id)
            return
        if self.broken is not None:
            await self._fail(trace_id, item, f"worker node unavailable: {self.broken}")
            return
        request_id = new_id() + new_id()
        try:
            body = {"item": encode_item(item, f"worker node {self.node.name!r}")}
        except WireError as exc:
            await self._fail(trace_id, item, str(exc))
            return
        envelope = BusEnvelope(
            topic=self.topic,
            body=body,
            headers={
                "reply_to": self.reply_topic,
                "owner": self.owner_id,
                "trace_id": trace_id or "",
                "node": self.node.name,
            },
            message_id=request_id,
        )
        self.pending[request_id] = _Pending(trace_id, item)
        runtime.emit_event("remote_dispatch", self.node, trace_id, extra={"request_id": request_id})
        try:
            await publish_patiently(self.bus, envelope, PUBLISH_PATIENCE_S)
        except (BusError, OSError) as exc:
            if self.pending.pop(request_id, None) is not None:
                await self._fail(trace_id, item, f"publishing to {self.topic!r} failed: {exc}")

    # -- receiving -------------------------------------------------------
    async def _read(self, replies: Subscription) -> None:
        try:
            async for delivery in replies:
                await self._handle(delivery)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.broken = f"the reply subscription on {self.reply_topic!r} failed: {exc}"
            logger.error("worker node %r: %s", self.node.name, self.broken)
            for request_id in list(self.pending):
                entry = self.pending.pop(request_id)
                await self._fail(entry.trace_id, entry.item, self.broken)

    async def _handle(self, delivery: Delivery) -> None:
        if delivery.envelope.headers.get("owner") != self.owner_id:
            await ack_quietly(delivery)  # another owning process's reply
            return
        body = delivery.envelope.body
        request_id = str(body.get("request"))
        final = not body.get(REPLY_PART)
        entry = self.pending.pop(request_id, None) if final else self.pending.get(request_id)
        if entry is None:
            # A redelivered request answered twice, or a trace cancelled meanwhile.
            if final:
                self.discarded += 1
                self.runtime.emit_event(
                    "remote_discarded",
                    self.node,
                    delivery.envelope.headers.get("trace_id") or None,
                    extra={"request_id": body.get("request"), "worker": body.get("worker")},
                )
            await ack_quietly(delivery)
            return
        try:
            if final:
                self._replay(body.get("events"), entry.trace_id, body.get("worker"))
            await self._route_outputs(body, entry)
        except TraceCancelled:
            pass
        except (WireError, TypeError, ValueError, AttributeError) as exc:
            entry.broken = True
            await self._fail(entry.trace_id, entry.item, f"unreadable reply: {exc}", done=False)
        finally:
            if final:
                self._finish(entry.trace_id)
        # The outputs are routed: acknowledge without holding up the next reply.
        task = asyncio.get_running_loop().create_task(ack_quietly(delivery))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _route_outputs(self, body: dict[str, Any], entry: _Pending) -> None:
        """Route the reply's outputs the request has not routed yet, in order."""
        if entry.broken:
            return  # already reported; the rest of its stream is not trusted
        first = body.get("first", 0)
        if type(first) is not int or first < 0:
            raise WireError(f"the reply's 'first' is {first!r}, not a position")
        if first > entry.routed:
            raise WireError(
                f"outputs {entry.routed}..{first - 1} of the request never arrived "
                "(trimmed from the reply topic?)"
            )
        for position, output in enumerate(body.get("outputs") or (), start=first):
            if position < entry.routed:
                continue  # routed from an earlier copy: a redelivery, or a rerun elsewhere
            item = decode_item(output.get("item"), self.models)
            how = output.get(EMITTED_CHUNK)
            if how is not None:
                item = self._sequence(item, explicit=how == "explicit")
            entry.routed = position + 1
            await self._route(str(output.get("to")), item, entry)

    def _sequence(self, chunk_message: Any, *, explicit: bool) -> Any:
        """Build an emitted chunk again in the owner's sequencer (its place in the stream)."""
        if not isinstance(chunk_message, Message) or not isinstance(
            chunk_message.payload, StreamChunk
        ):
            raise WireError("the reply marks an item that is not a chunk as an emitted chunk")
        state = self.runtime.traces.get(chunk_message.trace_id)
        if state is None or state.cancelled:
            # Never open a stream counter for a trace that is gone.
            raise TraceCancelled(chunk_message.trace_id)
        chunk = chunk_message.payload
        return self.runtime.streams.build(
            chunk_message,
            chunk.text,
            stream_id=chunk.stream_id,
            seq=chunk.seq if explicit else None,
            done=chunk.done,
            meta=chunk.meta,
        )

    async def _route(self, target: str, item: Any, entry: _Pending) -> None:
        runtime = self.runtime
        if target == RUNTIME_TARGET:
            if isinstance(item, FlowError):
                await self._runtime_result(item, entry)
            else:
                await runtime.deliver(runtime.runtime_floe, item)
            return
        floe = self.targets.get(target)
        if floe is None:
            raise WireError(f"the reply routes to {target!r}; {self.node.name!r} does not feed it")
        await runtime.deliver(floe, item)

    async def _runtime_result(self, error: FlowError, entry: _Pending) -> None:
        runtime = self.runtime
        if error.code is not FlowErrorCode.DEADLINE_EXCEEDED:
            await runtime.report_failure(error)
            return
        # Same rule as a local deadline skip: one final answer per trace.
        state = runtime.traces.get(entry.trace_id) if entry.trace_id else None
        if state is None or state.finalized:
            return
        state.finalized = True
        final: Any = error
        if not runtime.emit_errors_to_rookery and isinstance(entry.item, Message):
            final = rewrap(entry.item, FinalAnswer(text=error.message))
        await runtime.deliver(runtime.runtime_floe, final)

    def _replay(self, events: Any, trace_id: str | None, worker: Any) -> None:
        runtime = self.runtime
        if not runtime.hub.listeners or not isinstance(events, list):
            return
        for event in events:
            if not isinstance(event, dict) or event.get("event") in _OWNER_EVENTS:
                continue
            kind = event.get("event")
            if kind not in FLOW_EVENT_TYPES:
                logger.warning("worker node %r: skipping unknown event %r", self.node.name, kind)
                continue
            extra = dict(event.get("extra") or {})
            extra["worker"] = worker
            runtime.emit_event(
                cast(FlowEventType, kind),
                self.node,
                trace_id,
                attempt=int(event.get("attempt") or 0),
                latency_ms=event.get("latency_ms"),
                extra=extra,
                ts=event.get("ts"),
            )

    # -- cancellation and failures ----------------------------------------
    def cancel_trace(self, trace_id: str) -> None:
        """Drop the trace's pending requests and tell every worker to stop it."""
        for request_id, entry in list(self.pending.items()):
            if entry.trace_id == trace_id:
                del self.pending[request_id]
                self._finish(trace_id)
        notice = BusEnvelope(
            topic=control_topic(self.namespace),
            body={"cancel": trace_id},
            headers={"trace_id": trace_id, "node": self.node.name},
        )
        task = asyncio.get_running_loop().create_task(self._publish_notice(notice))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _publish_notice(self, notice: BusEnvelope) -> None:
        try:
            await publish_patiently(self.bus, notice, PUBLISH_PATIENCE_S)
        except (BusError, OSError) as exc:
            # The owner already dropped the trace's results; workers finish it for nothing.
            logger.warning("could not tell workers to cancel trace %r: %s", notice.body, exc)

    def _finish(self, trace_id: str | None) -> None:
        self.slots.release()
        if trace_id is not None:
            self.runtime.traces.done(trace_id)

    async def _fail(self, trace_id: str | None, item: Any, text: str, *, done: bool = True) -> None:
        """Report ``item`` as failed remotely (a ``REMOTE_ERROR``), then release it."""
        error = remote_error(self.node, trace_id, text)
        try:
            await self.runtime.report_failure(error)
        except (TraceCancelled, FloeClosed):
            pass
        finally:
            if done:
                self._finish(trace_id)


def check_worker_nodes(
    graph: FlowGraph, bus: MessageBus | None, worker_nodes: Sequence[Node | str]
) -> frozenset[Node]:
    """Resolve a flow's ``worker_nodes`` option (nodes or names) to its nodes.

    Raises:
        ValueError: A name is not a node of ``graph``, or worker nodes have no bus.
        TypeError: ``bus`` is not a `penguiflow.bus.MessageBus`.
    """
    if isinstance(worker_nodes, str | Node):
        worker_nodes = [worker_nodes]
    served: set[Node] = set()
    for entry in worker_nodes:
        name: object = entry.name if isinstance(entry, Node) else entry
        node = graph.node_named(name) if isinstance(name, str) else None
        if node is None or (isinstance(entry, Node) and node is not entry):
            known = [n.name for n in graph.nodes]
            raise ValueError(f"worker_nodes names {entry!r}, not a node of this flow {known}")
        served.add(node)
    if bus is not None:
        if not isinstance(bus, MessageBus):
            raise TypeError(
                f"message_bus must be a penguiflow.bus.MessageBus; got {type(bus).__name__}"
            )
    elif served:
        raise ValueError(
            f"worker_nodes {sorted(n.name for n in served)} need a message_bus to reach "
            "their workers: create(..., message_bus=await open_bus(url))"
        )
    return frozenset(served)


def renamed_remote_nodes(
    worker_nodes: Sequence[Node | str], remote_nodes: Sequence[Node | str]
) -> Sequence[Node | str]:
    """Accept ``remote_nodes=``, the deprecated name of ``worker_nodes=`` (a warning).

    Raises:
        ValueError: Both names were given.
    """
    warnings.warn(
        "create(..., remote_nodes=...) is deprecated; call them worker_nodes=... "
        "(remote nodes are A2A agents, penguiflow_a2a.RemoteNode)",
        DeprecationWarning,
        stacklevel=3,  # the caller of create() or PenguiFlow()
    )
    if worker_nodes:
        raise ValueError("give worker_nodes=... or its old name remote_nodes=..., not both")
    return remote_nodes
