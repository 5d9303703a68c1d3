"""Property tests for streaming: gap-free, duplicate-free seq per stream; emit's backpressure."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from penguiflow import Context, Headers, Message, Node, NodePolicy, PenguiFlow, StreamChunk, create

__all__: list[str] = []

NONE = NodePolicy(validate="none")
HEADERS = Headers(tenant="t")
PRODUCERS = 3


@dataclass(frozen=True)
class Plan:
    """What one trace streams: ``rounds[i]`` chunks per round, each round ending with done=True."""

    stream_id: str | None  # None: the default stream (the trace id)
    rounds: tuple[int, ...]
    external: bool  # emitted from outside with flow.emit_chunk instead of by a node
    seed: int

    def expected(self) -> list[int]:
        return [seq for count in self.rounds for seq in range(count)]


plans = st.builds(
    Plan,
    stream_id=st.one_of(st.none(), st.just("explicit")),
    rounds=st.lists(st.integers(1, 12), min_size=1, max_size=3).map(tuple),
    external=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)


async def emit_plan(send: Any, parent: Message, plan: Plan, index: int) -> list[int]:
    """Emit the plan's chunks through ``send``; yield to the loop at random between them."""
    rng = random.Random(plan.seed)
    stream_id = None if plan.stream_id is None else f"{plan.stream_id}-{index}"
    assigned: list[int] = []
    for count in plan.rounds:
        for seq in range(count):
            for _ in range(rng.randint(0, 2)):
                await asyncio.sleep(0)
            chunk = await send(parent, f"{index}:{seq}", stream_id=stream_id, done=seq == count - 1)
            assigned.append(chunk.seq)
    return assigned


def build_flow(maxsize: int, sink_seed: int, assigned: dict[str, list[int]]) -> PenguiFlow:
    """p0..p2 and relay (all ingress) -> sink -> Rookery; sink yields at random."""
    rng = random.Random(sink_seed)

    async def producer(msg: Message, ctx: Context) -> None:
        plan, index = msg.payload
        assigned[msg.trace_id] = await emit_plan(ctx.emit_chunk, msg, plan, index)

    async def relay(msg: Message, ctx: Context) -> Message:
        return msg

    async def sink(msg: Message, ctx: Context) -> Message:
        for _ in range(rng.randint(0, 1)):
            await asyncio.sleep(0)
        return msg

    sink_node = Node(sink, name="sink", policy=NONE)
    producers = [Node(producer, name=f"p{i}", policy=NONE) for i in range(PRODUCERS)]
    return create(
        *(p.to(sink_node) for p in producers),
        Node(relay, name="relay", policy=NONE).to(sink_node),
        sink_node.to(),
        queue_maxsize=maxsize,
    )


async def run_streams(traces: list[Plan], maxsize: int, sink_seed: int) -> None:
    assigned: dict[str, list[int]] = {}
    flow = build_flow(maxsize, sink_seed, assigned)
    flow.run()
    try:
        parents = [Message(payload=(plan, i), headers=HEADERS) for i, plan in enumerate(traces)]
        total = sum(len(plan.expected()) for plan in traces)

        async def external(parent: Message, plan: Plan, index: int) -> None:
            send = _opensea_sender(flow)
            assigned[parent.trace_id] = await emit_plan(send, parent, plan, index)

        async def start(parent: Message, plan: Plan, index: int) -> None:
            if plan.external:
                await external(parent, plan, index)
            else:
                await flow.emit(parent, to=f"p{index % PRODUCERS}")

        async def collect() -> list[Message]:
            return [await flow.fetch() for _ in range(total)]

        jobs = [start(p, plan, i) for i, (p, plan) in enumerate(zip(parents, traces, strict=True))]
        *_, arrived = await asyncio.wait_for(asyncio.gather(*jobs, collect()), 60)
        for parent in parents:
            await asyncio.wait_for(flow.wait_idle(parent.trace_id), 10)

        per_stream: dict[tuple[str, str], list[int]] = defaultdict(list)
        for message in arrived:
            chunk = message.payload
            assert isinstance(chunk, StreamChunk)
            per_stream[message.trace_id, chunk.stream_id].append(chunk.seq)
        assert len(per_stream) == len(traces)
        for index, (parent, plan) in enumerate(zip(parents, traces, strict=True)):
            stream_id = parent.trace_id if plan.stream_id is None else f"{plan.stream_id}-{index}"
            # Arrival order and the seq numbers handed out both count 0..n-1 per round.
            assert per_stream[parent.trace_id, stream_id] == plan.expected()
            assert assigned[parent.trace_id] == plan.expected()

        # Every stream ended with done=True, so a new trace may reuse its id from 0.
        # Each reuse chunk is fetched right away: the floes are tiny, and chunks nobody
        # takes would (rightly) block the next emit through backpressure.
        reuse = Message(payload="reuse", headers=HEADERS)
        for index, plan in enumerate(traces):
            if plan.stream_id is not None:
                chunk = await asyncio.wait_for(
                    flow.emit_chunk(
                        reuse, "again", stream_id=f"{plan.stream_id}-{index}", to="relay"
                    ),
                    10,
                )
                assert chunk.seq == 0
                echoed = await asyncio.wait_for(flow.fetch(trace_id=reuse.trace_id), 10)
                assert echoed.payload.seq == 0
    finally:
        await flow.stop()


def _opensea_sender(flow: PenguiFlow) -> Any:
    async def send(parent: Message, text: str, **kwargs: Any) -> StreamChunk:
        return await flow.emit_chunk(parent, text, to="relay", **kwargs)

    return send


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    traces=st.lists(plans, min_size=1, max_size=6),
    maxsize=st.integers(1, 4),
    sink_seed=st.integers(0, 2**32 - 1),
)
def test_seq_is_gap_free_and_duplicate_free_per_stream(
    traces: list[Plan], maxsize: int, sink_seed: int
) -> None:
    asyncio.run(run_streams(traces, maxsize, sink_seed))


# -- backpressure ----------------------------------------------------------------------------


async def measure_backpressure(method: str, where: str, maxsize: int) -> tuple[int, list[Any]]:
    """How many sends complete while the consumer holds its first message, then what arrives.

    The consumer node blocks on a gate with the first message; a producer (a node, or
    a task emitting at OpenSea) tries ``maxsize + 3`` sends. With backpressure it
    completes exactly ``maxsize + 1`` of them (one held by the consumer, ``maxsize``
    queued) and is suspended inside the next one.
    """
    attempts = maxsize + 3
    gate = asyncio.Event()
    blocked_attempt = asyncio.Event()
    done: list[int] = []
    received: list[Any] = []

    async def send_all(send: Any, parent: Message) -> None:
        for i in range(attempts):
            if i == maxsize + 1:
                blocked_attempt.set()
            if method == "emit":
                await send(parent.model_copy(update={"payload": i}))
            else:
                await send(parent, str(i))
            done.append(i)

    async def consumer(msg: Message, ctx: Context) -> None:
        await gate.wait()
        received.append(msg.payload)

    consumer_node = Node(consumer, name="consumer", policy=NONE)
    parent = Message(payload="start", headers=HEADERS)
    producer_task: asyncio.Task[None] | None = None
    if where == "node":

        async def producer(msg: Message, ctx: Context) -> None:
            send = ctx.emit if method == "emit" else ctx.emit_chunk
            await send_all(send, msg)

        flow = create(
            Node(producer, name="producer", policy=NONE).to(consumer_node),
            queue_maxsize=maxsize,
        )
        flow.run()
        await flow.emit(parent)
    else:
        flow = create(consumer_node.to(), queue_maxsize=maxsize)
        flow.run()
        send = flow.emit if method == "emit" else flow.emit_chunk
        producer_task = asyncio.create_task(send_all(send, parent))
    try:
        await asyncio.wait_for(blocked_attempt.wait(), 10)
        for _ in range(20):  # let the producer run on if it could: it must not
            await asyncio.sleep(0)
        completed = len(done)
        gate.set()
        await asyncio.wait_for(flow.wait_idle(parent.trace_id), 10)
        if producer_task is not None:
            await asyncio.wait_for(producer_task, 10)
        await asyncio.wait_for(flow.wait_idle(parent.trace_id), 10)
    finally:
        await flow.stop()
    return completed, received


@settings(max_examples=30, deadline=None)
@given(maxsize=st.integers(1, 6), where=st.sampled_from(["node", "opensea"]))
def test_emit_chunk_backpressure_is_the_same_as_emit(maxsize: int, where: str) -> None:
    emitted, plain = asyncio.run(measure_backpressure("emit", where, maxsize))
    chunked, chunks = asyncio.run(measure_backpressure("emit_chunk", where, maxsize))
    assert emitted == chunked == maxsize + 1
    assert plain == list(range(maxsize + 3))
    assert [(c.seq, c.text) for c in chunks] == [(i, str(i)) for i in range(maxsize + 3)]
