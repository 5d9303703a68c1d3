"""Streaming from worker nodes: chunks reach the owner as the worker emits them.

Each test runs on the in-memory bus and on the real Redis and NATS servers
(``bus_pair``); the workers are in-process `RemoteWorker` s on their own bus
connection, so an `asyncio.Event` can hold the node mid-stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from penguiflow import (
    FlowError,
    Headers,
    Message,
    Node,
    NodePolicy,
    StreamChunk,
    TraceEnded,
    create,
)
from penguiflow.bus import BusEnvelope, MessageBus
from penguiflow.distributed import RemoteWorker

Start = Callable[..., Awaitable[Any]]
Buses = tuple[MessageBus, MessageBus]

WAIT_S = 10.0


def _message(payload: Any = "go") -> Message:
    return Message(payload=payload, headers=Headers(tenant="acme"))


def _chunk(item: Any) -> StreamChunk:
    assert isinstance(item, Message), item
    assert isinstance(item.payload, StreamChunk), item.payload
    return item.payload


async def test_chunks_reach_the_owner_while_the_worker_node_still_runs(
    bus_pair: Buses, running: Start
) -> None:
    gate = asyncio.Event()

    async def talk(message: Message, ctx: Any) -> Message:
        await ctx.emit_chunk(message, "first")
        await asyncio.wait_for(gate.wait(), 30)
        for word in ("second", "third"):
            await ctx.emit_chunk(message, word)
        await ctx.emit_chunk(message, "last", done=True)
        return message.model_copy(update={"payload": "answer"})

    def flow(**options: Any) -> Any:
        return create(Node(talk, name="talk", policy=NodePolicy(validate="none")), **options)

    owner_bus, worker_bus = bus_pair
    owner = await running(flow(message_bus=owner_bus, worker_nodes=["talk"]))
    worker = await running(RemoteWorker(flow(), "talk", worker_bus))
    message = _message()
    await owner.emit(message)

    # The gate is still closed: the first chunk must already be at the owner.
    first = _chunk(await asyncio.wait_for(owner.fetch(trace_id=message.trace_id), WAIT_S))
    assert (first.text, first.seq, first.done) == ("first", 0, False)
    assert worker.processed == 0

    gate.set()
    rest = [
        await asyncio.wait_for(owner.fetch(trace_id=message.trace_id), WAIT_S) for _ in range(4)
    ]
    chunks = [_chunk(item) for item in rest[:3]]
    assert [(c.text, c.seq, c.done) for c in chunks] == [
        ("second", 1, False),
        ("third", 2, False),
        ("last", 3, True),
    ]
    assert {c.stream_id for c in [first, *chunks]} == {message.trace_id}
    assert rest[3].payload == "answer"
    await asyncio.wait_for(owner.wait_idle(message.trace_id), WAIT_S)
    assert owner._runtime.rookery.qsize() == 0  # nothing twice


async def test_cancel_reaches_a_worker_node_while_it_streams(
    bus_pair: Buses, running: Start
) -> None:
    interrupted = asyncio.Event()

    async def talk(message: Message, ctx: Any) -> Message:
        await ctx.emit_chunk(message, "first")
        if message.payload == "hold":
            try:
                await asyncio.Event().wait()  # until cancelled
            except asyncio.CancelledError:
                interrupted.set()
                raise
        await ctx.emit_chunk(message, "last", done=True)
        return message.model_copy(update={"payload": "answer"})

    def flow(**options: Any) -> Any:
        return create(Node(talk, name="talk", policy=NodePolicy(validate="none")), **options)

    owner_bus, worker_bus = bus_pair
    owner = await running(flow(message_bus=owner_bus, worker_nodes=["talk"]))
    worker = await running(RemoteWorker(flow(), "talk", worker_bus))
    held = _message("hold")
    await owner.emit(held)
    first = _chunk(await asyncio.wait_for(owner.fetch(trace_id=held.trace_id), WAIT_S))
    assert first.text == "first"

    assert await asyncio.wait_for(owner.cancel(held.trace_id), WAIT_S) is True
    await asyncio.wait_for(interrupted.wait(), WAIT_S)
    await asyncio.wait_for(owner.wait_idle(held.trace_id), WAIT_S)
    runtime = owner._runtime
    assert held.trace_id not in runtime.traces
    assert len(runtime.streams) == 0  # the cancelled stream's counter is gone
    assert all(floe.qsize() == 0 for floe in runtime.all_floes())
    proxy = next(w for w in runtime.workers if w.node.name == "talk")
    assert proxy.pending == {}
    assert worker.processed == 0

    # The worker serves the next trace; nothing of the cancelled one shows up.
    other = _message("quick")
    await owner.emit(other)
    got = [await asyncio.wait_for(owner.fetch(), WAIT_S) for _ in range(3)]
    assert [item.trace_id for item in got] == [other.trace_id] * 3
    assert [(c.text, c.seq) for c in map(_chunk, got[:2])] == [("first", 0), ("last", 1)]
    assert got[2].payload == "answer"


async def test_a_full_downstream_floe_holds_chunks_back_without_dropping_any(
    bus_pair: Buses, running: Start
) -> None:
    count = 25
    talk_done = asyncio.Event()
    sink_started = asyncio.Event()
    sink_open = asyncio.Event()
    seen: list[Any] = []

    async def talk(message: Message, ctx: Any) -> Message:
        for i in range(count):
            await ctx.emit_chunk(message, f"t{i}", done=i == count - 1)
        talk_done.set()
        return message.model_copy(update={"payload": "answer"})

    async def sink(message: Message, ctx: Any) -> Message:
        sink_started.set()
        await asyncio.wait_for(sink_open.wait(), 30)
        seen.append(message.payload)
        return message

    def flow(**options: Any) -> Any:
        policy = NodePolicy(validate="none")
        t = Node(talk, name="talk", policy=policy)
        s = Node(sink, name="sink", policy=policy)
        return create(t.to(s), **options)

    owner_bus, worker_bus = bus_pair
    # talk -> sink holds two messages and sink one: with 26 outputs the owner's
    # deliveries must wait for room (and the worker goes on), never drop.
    owner = await running(flow(message_bus=owner_bus, worker_nodes=["talk"], queue_maxsize=2))
    await running(RemoteWorker(flow(), "talk", worker_bus))
    message = _message()
    await owner.emit(message)
    await asyncio.wait_for(talk_done.wait(), WAIT_S)
    await asyncio.wait_for(sink_started.wait(), WAIT_S)
    sink_open.set()
    got = [await asyncio.wait_for(owner.fetch(), WAIT_S) for _ in range(count + 1)]
    chunks = [c for c in seen if isinstance(c, StreamChunk)]
    assert [(c.seq, c.text) for c in chunks] == [(i, f"t{i}") for i in range(count)]
    assert seen[-1] == "answer" and len(seen) == count + 1
    assert [item.payload for item in got] == seen


class _TwiceBus:
    """A worker's bus that stores every reply twice (as a broker retry might)."""

    def __init__(self, bus: MessageBus) -> None:
        self._bus = bus

    async def publish(self, envelope: BusEnvelope) -> None:
        await self._bus.publish(envelope)
        if ".reply." in envelope.topic:
            await self._bus.publish(envelope)

    async def subscribe(self, topic: str, **options: Any) -> Any:
        return await self._bus.subscribe(topic, **options)

    async def close(self) -> None:
        """The fixture closes the real bus."""


async def test_duplicated_stream_messages_are_routed_once(bus_pair: Buses, running: Start) -> None:
    gate = asyncio.Event()

    async def talk(message: Message, ctx: Any) -> Message:
        await ctx.emit_chunk(message, "a")
        await asyncio.wait_for(gate.wait(), 30)
        await ctx.emit_chunk(message, "b", done=True)
        return message.model_copy(update={"payload": "answer"})

    def flow(**options: Any) -> Any:
        return create(Node(talk, name="talk", policy=NodePolicy(validate="none")), **options)

    owner_bus, worker_bus = bus_pair
    owner = await running(flow(message_bus=owner_bus, worker_nodes=["talk"]))
    await running(RemoteWorker(flow(), "talk", _TwiceBus(worker_bus)))  # type: ignore[arg-type]
    message = _message()
    await owner.emit(message)
    assert _chunk(await asyncio.wait_for(owner.fetch(), WAIT_S)).text == "a"
    gate.set()
    rest = [await asyncio.wait_for(owner.fetch(), WAIT_S) for _ in range(2)]
    assert _chunk(rest[0]).text == "b" and _chunk(rest[0]).seq == 1
    assert rest[1].payload == "answer"
    await asyncio.wait_for(owner.wait_idle(message.trace_id), WAIT_S)
    assert owner._runtime.rookery.qsize() == 0


async def test_seq_counts_on_across_invocations_served_by_different_workers(
    bus_pair: Buses, running: Start
) -> None:
    """Two messages of one trace stream into the same stream id on two workers: the
    owner's consumers see one gap-free sequence, as with an in-process node."""
    both_started = asyncio.Barrier(2)

    async def talk(message: Message, ctx: Any) -> None:
        await asyncio.wait_for(both_started.wait(), WAIT_S)
        await ctx.emit_chunk(message, message.payload, stream_id="shared")

    async def fan(message: Message, ctx: Any) -> None:
        for word in ("x", "y"):
            await ctx.emit(message.model_copy(update={"payload": word}))

    def flow(**options: Any) -> Any:
        policy = NodePolicy(validate="none")
        f = Node(fan, name="fan", policy=policy)
        t = Node(talk, name="talk", policy=policy)
        return create(f.to(t), **options)

    owner_bus, worker_bus = bus_pair
    owner = await running(flow(message_bus=owner_bus, worker_nodes=["talk"]))
    await running(RemoteWorker(flow(), "talk", worker_bus, concurrency=2))
    message = _message()
    await owner.emit(message)
    got = [_chunk(await asyncio.wait_for(owner.fetch(), WAIT_S)) for _ in range(2)]
    assert sorted(c.text for c in got) == ["x", "y"]
    assert [c.seq for c in got] == [0, 1]


async def test_a_node_failing_mid_stream_sends_its_chunks_then_the_error(
    bus_pair: Buses, running: Start
) -> None:
    async def talk(message: Message, ctx: Any) -> Message:
        await ctx.emit_chunk(message, "partial")
        raise RuntimeError("model went away")

    def flow(**options: Any) -> Any:
        return create(Node(talk, name="talk", policy=NodePolicy(validate="none")), **options)

    owner_bus, worker_bus = bus_pair
    owner = await running(
        flow(message_bus=owner_bus, worker_nodes=["talk"], emit_errors_to_rookery=True)
    )
    await running(RemoteWorker(flow(), "talk", worker_bus))
    message = _message()
    await owner.emit(message)
    assert _chunk(await asyncio.wait_for(owner.fetch(), WAIT_S)).text == "partial"
    error = await asyncio.wait_for(owner.fetch(), WAIT_S)
    assert isinstance(error, FlowError) and "model went away" in error.message
    await asyncio.wait_for(owner.wait_idle(message.trace_id), WAIT_S)


async def test_a_bare_value_from_a_worker_node_still_belongs_to_its_trace(
    bus_pair: Buses, running: Start
) -> None:
    async def to_text(message: Message, ctx: Any) -> str:
        return f"text of {message.payload}"

    def flow(**options: Any) -> Any:
        return create(Node(to_text, name="to_text", policy=NodePolicy(validate="none")), **options)

    owner_bus, worker_bus = bus_pair
    owner = await running(flow(message_bus=owner_bus, worker_nodes=["to_text"]))
    await running(RemoteWorker(flow(), "to_text", worker_bus))
    message = _message("mine")
    await owner.emit(message)
    got = await asyncio.wait_for(owner.fetch(trace_id=message.trace_id), WAIT_S)
    assert got == "text of mine"
    with pytest.raises(TraceEnded):
        await owner.fetch(trace_id=message.trace_id, timeout=WAIT_S)
