"""Reply parts: the worker's `PartSender` and sequencer, and how the owner reads parts.

The owner-side tests answer requests with hand-made replies (a fake worker on
the in-memory bus), to reach cases a real worker only meets after a fault:
overlapping parts from a rerun, and a gap in the positions.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from penguiflow import (
    FlowError,
    FlowErrorCode,
    Headers,
    Message,
    Node,
    NodePolicy,
    StreamChunk,
    create,
)
from penguiflow.bus import BusEnvelope, BusError, InMemoryBus, MessageBus
from penguiflow.distributed import RemoteWorker
from penguiflow.distributed._reply_stream import MarkingSequencer, PartSender
from penguiflow.distributed._wire import encode_item

WAIT_S = 10.0


def _out(n: int) -> dict[str, Any]:
    return {"to": "x", "item": {"kind": "payload", "payload": n}}


# -- PartSender -------------------------------------------------------------


async def test_parts_go_out_one_at_a_time_in_order_and_batch_what_piles_up() -> None:
    published: list[tuple[int, list[int]]] = []
    release = asyncio.Event()
    first_in_flight = asyncio.Event()

    async def publish(first: int, outputs: list[dict[str, Any]]) -> None:
        if not published:
            first_in_flight.set()
            await asyncio.wait_for(release.wait(), WAIT_S)
        published.append((first, [o["item"]["payload"] for o in outputs]))

    sender = PartSender(publish)
    sender.add([_out(0)])
    await asyncio.wait_for(first_in_flight.wait(), WAIT_S)
    sender.add([_out(1)])
    sender.add([_out(2), _out(3)])
    release.set()
    first_unsent, unsent = await asyncio.wait_for(sender.finish(), WAIT_S)
    # 1..3 piled up during the first publish; finish came before the loop took them.
    assert published == [(0, [0])]
    assert (first_unsent, [o["item"]["payload"] for o in unsent]) == (1, [1, 2, 3])


async def test_outputs_added_just_before_finish_stay_for_the_final_reply() -> None:
    calls: list[Any] = []

    async def publish(first: int, outputs: list[dict[str, Any]]) -> None:
        calls.append(first)

    sender = PartSender(publish)
    sender.add([_out(0), _out(1)])
    first, unsent = await sender.finish()
    assert calls == [] and first == 0 and len(unsent) == 2
    await sender.abort()  # idempotent after finish


async def test_a_part_that_cannot_be_published_fails_finish() -> None:
    tried = asyncio.Event()

    async def publish(first: int, outputs: list[dict[str, Any]]) -> None:
        tried.set()
        raise BusError("broker away")

    sender = PartSender(publish)
    sender.add([_out(0)])
    await asyncio.wait_for(tried.wait(), WAIT_S)
    sender.add([_out(1)])  # the node goes on; nothing publishes it any more
    with pytest.raises(BusError, match="broker away"):
        await asyncio.wait_for(sender.finish(), WAIT_S)


async def test_abort_stops_a_publish_in_flight() -> None:
    started = asyncio.Event()
    stopped = asyncio.Event()

    async def publish(first: int, outputs: list[dict[str, Any]]) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopped.set()
            raise

    sender = PartSender(publish)
    sender.add([_out(0)])
    await asyncio.wait_for(started.wait(), WAIT_S)
    await asyncio.wait_for(sender.abort(), WAIT_S)
    assert stopped.is_set()


# -- MarkingSequencer ---------------------------------------------------------


def test_the_sequencer_tells_how_it_numbered_the_chunks_it_built() -> None:
    streams = MarkingSequencer()
    parent = Message(payload="p", headers=Headers(tenant="acme"))
    auto = streams.build(parent, "a", stream_id=None, seq=None, done=False, meta=None)
    explicit = streams.build(parent, "b", stream_id=None, seq=5, done=False, meta=None)
    forwarded = Message(
        payload=StreamChunk(stream_id="s", seq=7, text="c"), headers=Headers(tenant="acme")
    )
    assert streams.built(auto) == "auto"
    assert streams.built(auto) is None  # asked once per chunk
    assert streams.built(explicit) == "explicit"
    assert streams.built(forwarded) is None
    assert streams.built(parent) is None


# -- end to end ---------------------------------------------------------------


class _CountingBus:
    """The worker's bus, counting the replies it publishes."""

    def __init__(self, bus: MessageBus) -> None:
        self._bus = bus
        self.replies: list[BusEnvelope] = []

    async def publish(self, envelope: BusEnvelope) -> None:
        if ".reply." in envelope.topic:
            self.replies.append(envelope)
        await self._bus.publish(envelope)

    async def subscribe(self, topic: str, **options: Any) -> Any:
        return await self._bus.subscribe(topic, **options)

    async def close(self) -> None:
        """The test closes the real bus."""


async def test_a_node_that_emits_only_as_it_returns_sends_one_reply(
    memory_bus: InMemoryBus, running: Any
) -> None:
    async def talk(message: Message, ctx: Any) -> Message:
        await ctx.emit_chunk(message, "all at once", done=True)
        return message.model_copy(update={"payload": "answer"})

    def flow(**options: Any) -> Any:
        return create(Node(talk, name="talk", policy=NodePolicy(validate="none")), **options)

    counting = _CountingBus(memory_bus)
    owner = await running(flow(message_bus=memory_bus, worker_nodes=["talk"]))
    await running(RemoteWorker(flow(), "talk", counting))  # type: ignore[arg-type]
    message = Message(payload="go", headers=Headers(tenant="acme"))
    await owner.emit(message)
    got = [await asyncio.wait_for(owner.fetch(), WAIT_S) for _ in range(2)]
    assert got[0].payload.text == "all at once" and got[1].payload == "answer"
    assert len(counting.replies) == 1 and "part" not in counting.replies[0].body


async def test_explicit_seqs_cross_as_they_are_and_automatic_ones_follow_them(
    memory_bus: InMemoryBus, running: Any
) -> None:
    async def talk(message: Message, ctx: Any) -> None:
        await ctx.emit_chunk(message, "a", stream_id="s", seq=10)
        await ctx.emit_chunk(message, "b", stream_id="s")
        forwarded = message.model_copy(
            update={"payload": StreamChunk(stream_id="t", seq=4, text="c")}
        )
        await ctx.emit(forwarded)

    def flow(**options: Any) -> Any:
        return create(Node(talk, name="talk", policy=NodePolicy(validate="none")), **options)

    owner = await running(flow(message_bus=memory_bus, worker_nodes=["talk"]))
    await running(RemoteWorker(flow(), "talk", memory_bus))
    await owner.emit(Message(payload="go", headers=Headers(tenant="acme")))
    got = [(await asyncio.wait_for(owner.fetch(), WAIT_S)).payload for _ in range(3)]
    assert [(c.stream_id, c.seq, c.text) for c in got] == [
        ("s", 10, "a"),
        ("s", 11, "b"),
        ("t", 4, "c"),
    ]


async def _fake_worker(bus: MessageBus, owner: Any, node: str) -> tuple[Any, BusEnvelope]:
    """Take the next request for ``node``; return (subscription, request envelope)."""
    requests = await bus.subscribe(
        f"{owner.bus_namespace}.node.{node}", group=f"{owner.bus_namespace}-{node}", consumer="fake"
    )
    delivery = await asyncio.wait_for(anext(aiter(requests)), WAIT_S)
    await delivery.ack()
    return requests, delivery.envelope


def _reply(request: BusEnvelope, first: int, items: list[Any], *, part: bool) -> BusEnvelope:
    body: dict[str, Any] = {
        "request": request.message_id,
        "first": first,
        "outputs": [{"to": "@rookery", "item": encode_item(i, "fake")} for i in items],
        "worker": "fake",
    }
    if part:
        body["part"] = True
    else:
        body["events"] = []
    return BusEnvelope(
        topic=request.headers["reply_to"],
        body=body,
        headers={"owner": request.headers["owner"], "trace_id": request.headers["trace_id"]},
    )


def _echo_flow(**options: Any) -> Any:
    async def echo(message: Message, ctx: Any) -> Message:
        return message

    return create(Node(echo, name="echo", policy=NodePolicy(validate="none")), **options)


async def test_overlapping_parts_of_a_rerun_are_routed_from_where_the_owner_is(
    memory_bus: InMemoryBus, running: Any
) -> None:
    owner = await running(_echo_flow(message_bus=memory_bus, worker_nodes=["echo"]))
    message = Message(payload="go", headers=Headers(tenant="acme"))
    await owner.emit(message)
    requests, request = await _fake_worker(memory_bus, owner, "echo")
    try:
        out = [message.model_copy(update={"payload": n}) for n in range(5)]
        await memory_bus.publish(_reply(request, 0, out[:2], part=True))  # first run: 0, 1
        await memory_bus.publish(_reply(request, 0, out[:3], part=True))  # a rerun: 0, 1, 2
        await memory_bus.publish(_reply(request, 3, out[3:], part=False))
        got = [(await asyncio.wait_for(owner.fetch(), WAIT_S)).payload for _ in range(5)]
        assert got == [0, 1, 2, 3, 4]
        await asyncio.wait_for(owner.wait_idle(message.trace_id), WAIT_S)
        assert owner._runtime.rookery.qsize() == 0
    finally:
        await requests.close()


async def test_a_gap_in_the_positions_fails_the_trace(
    memory_bus: InMemoryBus, running: Any
) -> None:
    owner = await running(
        _echo_flow(message_bus=memory_bus, worker_nodes=["echo"], emit_errors_to_rookery=True)
    )
    message = Message(payload="go", headers=Headers(tenant="acme"))
    await owner.emit(message)
    requests, request = await _fake_worker(memory_bus, owner, "echo")
    try:
        out = [message.model_copy(update={"payload": n}) for n in range(4)]
        await memory_bus.publish(_reply(request, 0, out[:1], part=True))
        await memory_bus.publish(_reply(request, 2, out[2:], part=False))  # 1 never came
        assert (await asyncio.wait_for(owner.fetch(), WAIT_S)).payload == 0
        error = await asyncio.wait_for(owner.fetch(), WAIT_S)
        assert isinstance(error, FlowError) and error.code is FlowErrorCode.REMOTE_ERROR
        assert "outputs 1..1" in error.message and "'echo'" in error.message
        await asyncio.wait_for(owner.wait_idle(message.trace_id), WAIT_S)
        assert owner._runtime.rookery.qsize() == 0  # nothing after the gap was routed
    finally:
        await requests.close()
