"""Worker processes: serve one node of a flow from a message bus (`RemoteWorker`).

The owning flow is built with ``create(..., message_bus=bus,
worker_nodes=["heavy"])``; any number of worker processes build the *same*
flow (the same factory) and serve ``heavy`` with `RemoteWorker` (or the
``penguiflow worker module:factory --node heavy --bus URL`` command).

Design notes.

* Workers of one node form one consumer group on the node's topic, so each
  request goes to one of them; a request is acknowledged only after the
  node finished and its reply was published. A worker that dies holding a
  request (killed, OOM, lost network) never acknowledges it, and the bus
  hands it to another worker once ``ack_wait_s`` has passed: at-least-once.
  The owner routes the first reply per request and drops the others, so a
  result reaches Rookery exactly once.
* A worker runs the node exactly like the in-process runtime does (the same
  `NodeWorker` loop, with the node's policy: validation, timeout, retries)
  on a private runtime whose floes it empties as the node emits: what the
  node emits while it runs (``ctx.emit_chunk``, ``ctx.emit``) is published
  at once as reply parts, in order, and the final reply carries the rest
  (the returned value, any FlowError — delivered or logged by the owner, by
  its own settings) with the events the runtime recorded (replayed to the
  owner's middlewares). See ``penguiflow.distributed._reply_stream``.
* Every worker also reads the namespace's control topic (an ephemeral group
  of its own): a cancel notice interrupts the trace's processing, and later
  deliveries of that trace are acknowledged without running.
* ``concurrency`` requests run at once, each on its own runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from penguiflow._kernel.context import NodeHost
from penguiflow._kernel.floe import Floe
from penguiflow._kernel.runtime import FlowRuntime, trace_of
from penguiflow.bus.base import BusEnvelope, BusError, Delivery, MessageBus, Subscription
from penguiflow.distributed._bus_calls import (
    PUBLISH_PATIENCE_S,
    ack_quietly,
    close_quietly,
    publish_patiently,
)
from penguiflow.distributed._names import (
    check_namespace,
    control_topic,
    default_consumer,
    new_id,
    node_topic,
    work_group,
)
from penguiflow.distributed._reply_stream import (
    MarkingSequencer,
    PartSender,
    PublishPart,
    TappedNodeWorker,
)
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
from penguiflow.events import FlowEvent
from penguiflow.node import Node
from penguiflow.playbook import call_playbook
from penguiflow.protocols import Flow, is_flow
from penguiflow.registry import ModelRegistry

__all__ = ["RemoteWorker", "registry_models", "serve_node"]

logger: logging.Logger = logging.getLogger("penguiflow.distributed")

_CANCELLED_MEMORY = 10_000
"""Cancelled trace ids a worker remembers (oldest forgotten first)."""
_CLOSE_TIMEOUT_S = 5.0


def registry_models(registry: ModelRegistry | None) -> tuple[type[BaseModel], ...]:
    """Every pydantic model class registered in ``registry`` (for decoding by name)."""
    if registry is None:
        return ()
    found: list[type[BaseModel]] = []
    for name in registry.names():
        for model in registry.models(name):
            if isinstance(model, type) and issubclass(model, BaseModel) and model not in found:
                found.append(model)
    return tuple(found)


class _Slot:
    """One request at a time: a private runtime holding just the served node's worker."""

    def __init__(self, flow: Flow, node: Node, registry: ModelRegistry | None) -> None:
        self.events: list[FlowEvent] = []
        self.runtime = FlowRuntime(
            flow.graph,
            queue_maxsize=0,
            middlewares=[self.events.append],
            emit_errors_to_rookery=True,
        )
        self.node = node
        host = NodeHost(flow=flow, run_playbook=call_playbook)
        self.worker = TappedNodeWorker(self.runtime, node, registry, host, self._routed)
        self.streams = MarkingSequencer()
        self.sender: PartSender | None = None
        # Where the node's output lands, named as the owner routes it.
        self.sources: list[tuple[str, Floe]] = [
            (f.target.name, f) for f in self.runtime.out_floes[node]
        ]
        rookery = self.runtime.rookery_floes.get(node)
        if rookery is not None:
            self.sources.append((ROOKERY_TARGET, rookery))
        self.sources.append((RUNTIME_TARGET, self.runtime.runtime_floe))

    def start(self) -> None:
        self.runtime.hub.start()

    async def run(self, item: Any, publish_part: PublishPart) -> _Reply:
        """Process ``item``, publishing its outputs as parts while the node runs (see
        `penguiflow.distributed._reply_stream`); return what goes into the final reply."""
        runtime = self.runtime
        for _, floe in self.sources:  # leftovers of a request interrupted by stop()
            floe.remove_if(_always)
        runtime.traces.release_all()
        self.events.clear()
        # A fresh sequencer per request: the owner's sequencer numbers the streams.
        self.streams = runtime.streams = MarkingSequencer()
        self.worker.task = asyncio.current_task()
        trace_id = trace_of(item)
        if trace_id is not None:
            runtime.traces.add(trace_id)
        sender = self.sender = PartSender(publish_part)
        try:
            await self.worker.process(item)
            sender.add(self._take_outputs())  # delivered without a route: failures, deadlines
            first, outputs = await sender.finish()
        finally:
            self.sender = None
            await sender.abort()
        await runtime.hub.drain()
        events = [event.to_payload() for event in self.events]
        return _Reply(first, outputs, events)

    def _routed(self) -> None:
        if self.sender is not None:
            self.sender.add(self._take_outputs())

    def _take_outputs(self) -> list[dict[str, Any]]:
        """Empty the private floes into wire outputs, oldest first."""
        outputs: list[dict[str, Any]] = []
        where = f"node {self.node.name!r}"
        for target, floe in self.sources:
            for out in floe.remove_if(_always):
                out_trace = trace_of(out)
                if out_trace is not None:
                    self.runtime.traces.done(out_trace)
                output: dict[str, Any]
                try:
                    output = {"to": target, "item": encode_item(out, where)}
                except WireError as exc:
                    error = remote_error(self.node, out_trace, str(exc))
                    output = {"to": RUNTIME_TARGET, "item": encode_item(error, where)}
                else:
                    how = self.streams.built(out)
                    if how is not None:
                        output[EMITTED_CHUNK] = how
                outputs.append(output)
        return outputs


@dataclass(frozen=True, slots=True)
class _Reply:
    """The final reply's content: outputs from position ``first`` on, and the events."""

    first: int
    outputs: list[dict[str, Any]]
    events: list[dict[str, Any]]


def _always(_: Any) -> bool:
    return True


class RemoteWorker:
    """Serves one node of a flow from the bus until stopped.

    Args:
        flow: The flow, built by the same code as the owner's (it is not run).
        node: The node to serve (a ``Node`` of ``flow`` or its name).
        bus: An open `penguiflow.bus.MessageBus`; the worker does not close it.
        registry: The `ModelRegistry` the owner runs with (validation and
            decoding of registered models).
        concurrency: Requests processed at once.
        ack_wait_s: Seconds a request may stay unacknowledged before the bus
            gives it to another worker; keep it above the node's longest run.
        consumer: This worker's name in the group (default ``host-pid-random``).
        namespace: The flow's bus namespace, if the owner set one explicitly.

    Raises:
        TypeError: ``flow`` is not a PenguiFlow, ``bus`` not a MessageBus.
        ValueError: Unknown node, bad ``concurrency`` or ``namespace``.

    Example:
        >>> async with RemoteWorker(build_flow(), "heavy", bus):  # doctest: +SKIP
        ...     await stop_requested.wait()
    """

    def __init__(
        self,
        flow: Flow,
        node: Node | str,
        bus: MessageBus,
        *,
        registry: ModelRegistry | None = None,
        concurrency: int = 1,
        ack_wait_s: float = 30.0,
        consumer: str | None = None,
        namespace: str | None = None,
    ) -> None:
        if not is_flow(flow):
            raise TypeError(f"flow must be a PenguiFlow; got {type(flow).__name__}")
        name: object = node.name if isinstance(node, Node) else node
        served = flow.graph.node_named(name) if isinstance(name, str) else None
        if served is None:
            known = [n.name for n in flow.nodes]
            raise ValueError(f"the flow has no node {node!r}; its nodes are {known}")
        if not isinstance(bus, MessageBus):
            raise TypeError(f"bus must be a penguiflow.bus.MessageBus; got {type(bus).__name__}")
        if type(concurrency) is not int or concurrency < 1:
            raise ValueError(f"concurrency must be an int >= 1; got {concurrency!r}")
        if registry is not None and not isinstance(registry, ModelRegistry):
            raise TypeError(f"registry must be a ModelRegistry; got {type(registry).__name__}")
        self.flow = flow
        self.node = served
        self.bus = bus
        self.registry = registry
        self.models: tuple[type[BaseModel], ...] = registry_models(registry)
        self.namespace: str = check_namespace(
            namespace if namespace is not None else flow.bus_namespace
        )
        self.ack_wait_s = ack_wait_s
        self.consumer: str = consumer or default_consumer()
        self.worker_id: str = new_id()
        self._slots = [_Slot(flow, served, registry) for _ in range(concurrency)]
        self._busy: dict[asyncio.Task[None], _Slot] = {}
        self._cancelled: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.processed: int = 0
        """Requests handled and acknowledged."""
        self.skipped: int = 0
        """Requests of cancelled traces acknowledged without running."""

    # -- lifecycle -------------------------------------------------------
    async def __aenter__(self) -> RemoteWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Run `serve` in the background and wait until it receives requests.

        Raises:
            BusError: The bus refused the subscriptions.
        """
        if self._task is not None:
            raise RuntimeError("this RemoteWorker was already started")
        self._task = asyncio.get_running_loop().create_task(
            self.serve(), name=f"penguiflow-remote-worker:{self.node.name}"
        )
        ready = asyncio.get_running_loop().create_task(self._ready.wait())
        await asyncio.wait({self._task, ready}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if self._task.done():
            self._task.result()  # raises what stopped it

    async def stop(self) -> None:
        """Stop receiving; requests in process are interrupted and go back to the group."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def serve(self) -> None:
        """Receive and process requests until cancelled.

        Raises:
            BusError: The bus refused the subscriptions or failed for good.
        """
        work = await self.bus.subscribe(
            node_topic(self.namespace, self.node.name),
            group=work_group(self.namespace, self.node.name),
            consumer=self.consumer,
            ack_wait_s=self.ack_wait_s,
        )
        control: Subscription | None = None
        watcher: asyncio.Task[None] | None = None
        try:
            control = await self.bus.subscribe(
                control_topic(self.namespace),
                group=f"ctl-{self.worker_id}",
                consumer=self.consumer,
                ephemeral=True,
            )
            watcher = asyncio.get_running_loop().create_task(self._watch(control))
            free: asyncio.Queue[_Slot] = asyncio.Queue()
            for slot in self._slots:
                slot.start()
                free.put_nowait(slot)
            self._ready.set()
            logger.info(
                "worker %s serves node %r of %s", self.consumer, self.node.name, self.namespace
            )
            deliveries = aiter(work)
            while True:
                # Take a request only with a slot free: one waiting here would age unprocessed.
                slot = await free.get()
                try:
                    delivery = await anext(deliveries)
                except StopAsyncIteration:
                    break
                task = asyncio.get_running_loop().create_task(self._handle(slot, delivery))
                self._busy[task] = slot
                task.add_done_callback(lambda t: free.put_nowait(self._busy.pop(t)))
        finally:
            for task in list(self._busy):
                task.cancel()
            if self._busy:
                await asyncio.wait(list(self._busy), timeout=_CLOSE_TIMEOUT_S)
            if watcher is not None:
                watcher.cancel()
            for subscription in (work, control):
                if subscription is not None:
                    await close_quietly(subscription)
            for slot in self._slots:
                await slot.runtime.hub.close(_CLOSE_TIMEOUT_S)

    # -- one request -------------------------------------------------------
    async def _handle(self, slot: _Slot, delivery: Delivery) -> None:
        try:
            await self._answer(slot, delivery)
        except Exception:
            # Not acknowledged: the request comes back after ack_wait_s.
            logger.exception("worker %s failed on request %s", self.consumer, delivery)

    async def _answer(self, slot: _Slot, delivery: Delivery) -> None:
        envelope = delivery.envelope
        trace_id = envelope.headers.get("trace_id") or None
        if trace_id is not None and trace_id in self._cancelled:
            self.skipped += 1
            await ack_quietly(delivery)
            return
        reply_to = envelope.headers.get("reply_to")
        if not reply_to:
            logger.error("request %s has no reply_to header; dropped", envelope.message_id)
            await ack_quietly(delivery)
            return
        headers = {
            "owner": envelope.headers.get("owner", ""),
            "trace_id": trace_id or "",
            "node": self.node.name,
        }
        patience = min(PUBLISH_PATIENCE_S, self.ack_wait_s)

        async def publish_part(first: int, outputs: list[dict[str, Any]]) -> None:
            if trace_id is not None and trace_id in self._cancelled:
                return  # the owner dropped the trace: spare the bus
            body = {"request": envelope.message_id, "first": first, "outputs": outputs}
            body |= {REPLY_PART: True, "worker": self.consumer}
            part = BusEnvelope(topic=reply_to, body=body, headers=headers)
            await publish_patiently(self.bus, part, patience)

        try:
            item = decode_item(envelope.body.get("item"), self.models)
        except WireError as exc:
            error = remote_error(self.node, trace_id, f"cannot read the request: {exc}")
            reply = _Reply(0, [{"to": RUNTIME_TARGET, "item": encode_item(error, "worker")}], [])
        else:
            try:
                reply = await slot.run(item, publish_part)
            except (BusError, OSError) as exc:
                # Not acknowledged: the request comes back; the owner skips what it has.
                logger.warning(
                    "request %s: a reply part not sent (%s); it will be redelivered",
                    envelope.message_id,
                    exc,
                )
                return
        if trace_id is not None and trace_id in self._cancelled:
            self.skipped += 1
            await ack_quietly(delivery)
            return
        final = BusEnvelope(
            topic=reply_to,
            body={
                "request": envelope.message_id,
                "first": reply.first,
                "outputs": reply.outputs,
                "events": reply.events,
                "worker": self.consumer,
            },
            headers=headers,
        )
        try:
            await publish_patiently(self.bus, final, patience)
            await delivery.ack()
        except (BusError, OSError) as exc:
            # Not acknowledged: the request comes back (to this or another worker).
            logger.warning(
                "request %s: reply not sent (%s); it will be redelivered", envelope.message_id, exc
            )
            return
        self.processed += 1

    async def _watch(self, control: Subscription) -> None:
        try:
            async for delivery in control:
                trace_id = delivery.envelope.body.get("cancel")
                if isinstance(trace_id, str):
                    self._remember_cancel(trace_id)
                await ack_quietly(delivery)
        except (BusError, OSError) as exc:
            logger.error("worker %s lost its control subscription: %s", self.consumer, exc)

    def _remember_cancel(self, trace_id: str) -> None:
        self._cancelled[trace_id] = None
        self._cancelled.move_to_end(trace_id)
        while len(self._cancelled) > _CANCELLED_MEMORY:
            self._cancelled.popitem(last=False)
        for slot in self._busy.values():
            slot.worker.cancel_trace(trace_id)

    def __repr__(self) -> str:
        return (
            f"RemoteWorker(node={self.node.name!r}, namespace={self.namespace!r}, "
            f"consumer={self.consumer!r}, processed={self.processed})"
        )


async def serve_node(
    flow: Flow,
    node: Node | str,
    bus: MessageBus,
    **options: Any,
) -> None:
    """Serve ``node`` of ``flow`` from ``bus`` until cancelled (see `RemoteWorker`)."""
    await RemoteWorker(flow, node, bus, **options).serve()
