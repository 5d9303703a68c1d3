"""NodePolicy(max_concurrency=N): N invocations at once, one per trace, each trace in order."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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

HEADERS = Headers(tenant="t")


def policy(n: int, **kwargs: Any) -> NodePolicy:
    return NodePolicy(validate="none", max_concurrency=n, **kwargs)


class Gauge:
    """Counts invocations in flight, overall and per trace, and remembers the peaks."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.per_trace: Counter[str] = Counter()
        self.peak_per_trace = 0

    def enter(self, trace_id: str | None) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        if trace_id is not None:
            self.per_trace[trace_id] += 1
            self.peak_per_trace = max(self.peak_per_trace, self.per_trace[trace_id])

    def leave(self, trace_id: str | None) -> None:
        self.now -= 1
        if trace_id is not None:
            self.per_trace[trace_id] -= 1


def test_max_concurrency_is_validated_at_construction() -> None:
    for bad in (0, -1, 1.5, True, "4"):
        with pytest.raises(ValueError, match="max_concurrency"):
            NodePolicy(max_concurrency=bad)  # type: ignore[arg-type]
    assert NodePolicy().max_concurrency == 1


async def test_traces_run_side_by_side_up_to_the_bound(stop_after: Any) -> None:
    gauge = Gauge()
    release = asyncio.Event()
    entered = asyncio.Event()

    async def work(msg: Message, ctx: Any) -> Message:
        gauge.enter(msg.trace_id)
        if gauge.now == 4:
            entered.set()
        try:
            await release.wait()
        finally:
            gauge.leave(msg.trace_id)
        return msg

    node = Node(work, policy=policy(4))
    flow = stop_after(create(node.to(), queue_maxsize=0))
    flow.run()
    messages = [Message(payload=i, headers=HEADERS) for i in range(10)]
    for message in messages:
        await flow.emit(message)
    await asyncio.wait_for(entered.wait(), 5)
    # Four invocations run; the other six messages stay queued (backpressure unchanged).
    assert gauge.now == 4
    assert flow.statistics().queued["work"] == 6
    release.set()
    results = [await flow.fetch() for _ in messages]
    assert sorted(r.payload for r in results) == list(range(10))
    assert gauge.peak == 4


async def test_one_trace_is_processed_in_order_while_other_traces_overtake_it(
    stop_after: Any,
) -> None:
    gates: dict[tuple[str, int], asyncio.Event] = defaultdict(asyncio.Event)
    started: list[tuple[str, int]] = []

    async def work(msg: Message, ctx: Any) -> Message:
        key = (msg.trace_id, msg.payload)
        started.append(key)
        await gates[key].wait()
        return msg

    node = Node(work, policy=policy(4))
    flow = stop_after(create(node.to(), queue_maxsize=0))
    flow.run()
    slow = [Message(payload=i, headers=HEADERS, trace_id="slow") for i in range(3)]
    fast = Message(payload=0, headers=HEADERS, trace_id="fast")
    for message in slow:
        await flow.emit(message)
    await flow.emit(fast)
    gates[("fast", 0)].set()
    # "fast" is not held up by the messages of "slow" queued before it...
    assert (await asyncio.wait_for(flow.fetch(trace_id="fast"), 5)).trace_id == "fast"
    # ...and only the first "slow" message has started: the others wait for their turn.
    assert [key for key in started if key[0] == "slow"] == [("slow", 0)]
    for i in (2, 1, 0):  # released out of order, still processed in order
        gates[("slow", i)].set()
    results = [await asyncio.wait_for(flow.fetch(trace_id="slow"), 5) for _ in slow]
    assert [r.payload for r in results] == [0, 1, 2]
    assert [key for key in started if key[0] == "slow"] == [("slow", 0), ("slow", 1), ("slow", 2)]


async def test_payload_only_messages_count_as_a_trace_each(stop_after: Any) -> None:
    gauge = Gauge()
    all_in = asyncio.Event()
    release = asyncio.Event()

    async def work(payload: int, ctx: Any) -> int:
        gauge.enter(None)
        if gauge.now == 3:
            all_in.set()
        await release.wait()
        gauge.leave(None)
        return payload

    flow = stop_after(create(Node(work, policy=policy(3)).to()))
    flow.run()
    for i in range(3):
        await flow.emit(i)
    await asyncio.wait_for(all_in.wait(), 5)
    release.set()
    assert sorted([await flow.fetch() for _ in range(3)]) == [0, 1, 2]


async def test_cancel_stops_one_trace_and_leaves_the_other_invocations_running(
    stop_after: Any,
) -> None:
    n = 4
    running: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
    cancelled: list[str] = []
    release = asyncio.Event()

    async def work(msg: Message, ctx: Any) -> Message:
        running[msg.trace_id].set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            cancelled.append(msg.trace_id)
            raise
        return msg

    flow = stop_after(create(Node(work, policy=policy(n)).to()))
    flow.run()
    ids = [f"t{i}" for i in range(n)]
    for trace_id in ids:
        await flow.emit(Message(payload=trace_id, headers=HEADERS, trace_id=trace_id))
    await asyncio.wait_for(asyncio.gather(*(running[t].wait() for t in ids)), 5)

    assert await asyncio.wait_for(flow.cancel("t1"), 5) is True
    assert cancelled == ["t1"]
    release.set()
    survivors = {(await asyncio.wait_for(flow.fetch(), 5)).trace_id for _ in range(n - 1)}
    assert survivors == {"t0", "t2", "t3"}
    assert flow.statistics().traces_in_flight == 0
    # The worker that served t1 is back at work.
    await flow.emit(Message(payload="again", headers=HEADERS, trace_id="t1"))
    assert (await asyncio.wait_for(flow.fetch(trace_id="t1"), 5)).payload == "again"


async def test_timeouts_and_retries_apply_per_invocation(stop_after: Any) -> None:
    attempts: Counter[str] = Counter()
    hang = asyncio.Event()  # never set: the "stuck" trace times out

    async def work(msg: Message, ctx: Any) -> Message:
        attempts[msg.trace_id] += 1
        if msg.trace_id == "stuck":
            await hang.wait()
        if msg.trace_id == "flaky" and attempts["flaky"] == 1:
            raise RuntimeError("first attempt fails")
        return msg

    node = Node(work, policy=policy(2, timeout_s=0.2, max_retries=1, backoff_base=0))
    flow = stop_after(create(node.to(), emit_errors_to_rookery=True))
    flow.run()
    for trace_id in ("stuck", "flaky", "fine"):
        await flow.emit(Message(payload=trace_id, headers=HEADERS, trace_id=trace_id))
    flaky = await asyncio.wait_for(flow.fetch(trace_id="flaky"), 5)
    fine = await asyncio.wait_for(flow.fetch(trace_id="fine"), 5)
    stuck = await asyncio.wait_for(flow.fetch(trace_id="stuck"), 5)
    assert (flaky.payload, fine.payload) == ("flaky", "fine")
    assert isinstance(stuck, FlowError) and stuck.code is FlowErrorCode.NODE_TIMEOUT
    assert attempts == Counter({"stuck": 2, "flaky": 2, "fine": 1})


async def test_streams_stay_gap_free_per_stream_with_concurrent_traces(stop_after: Any) -> None:
    rng = random.Random(7)

    async def talk(msg: Message, ctx: Any) -> Message:
        for i in range(20):
            await ctx.emit_chunk(parent=msg, text=f"{msg.payload}:{i}", done=i == 19)
            for _ in range(rng.randint(0, 3)):
                await asyncio.sleep(0)
        return msg

    flow = stop_after(create(Node(talk, policy=policy(8)).to(), queue_maxsize=0))
    flow.run()
    messages = [Message(payload=i, headers=HEADERS) for i in range(16)]
    for message in messages:
        await flow.emit(message)
    for message in messages:
        chunks = [
            (await asyncio.wait_for(flow.fetch(trace_id=message.trace_id), 5)).payload
            for _ in range(20)
        ]
        assert all(isinstance(chunk, StreamChunk) for chunk in chunks)
        assert [c.seq for c in chunks] == list(range(20))
        assert [c.text for c in chunks] == [f"{message.payload}:{i}" for i in range(20)]
        assert (await asyncio.wait_for(flow.fetch(trace_id=message.trace_id), 5)) is message


async def test_a_full_downstream_floe_holds_every_invocation(stop_after: Any) -> None:
    """Backpressure: with the successor's floe full, no more than N messages leave the inbox."""
    taken = 0
    saturated = asyncio.Event()

    async def work(msg: Message, ctx: Any) -> Message:
        nonlocal taken
        taken += 1
        if taken == 6:
            saturated.set()
        return msg

    sink_open = asyncio.Event()

    async def sink(msg: Message, ctx: Any) -> Message:
        await sink_open.wait()
        return msg

    a = Node(work, policy=policy(3))
    b = Node(sink, policy=policy(1))
    flow = stop_after(create(a.to(b), b.to(), queue_maxsize=2))
    flow.run()
    messages = [Message(payload=i, headers=HEADERS) for i in range(12)]
    producer = asyncio.ensure_future(_emit_all(flow, messages))
    # Saturated: the sink holds 1, its floe 2, and `work` has 3 invocations waiting to put.
    await asyncio.wait_for(saturated.wait(), 5)
    for _ in range(50):  # give the loop every chance to take a seventh message
        await asyncio.sleep(0)
    assert taken == 6
    assert not producer.done()
    sink_open.set()
    results = [await asyncio.wait_for(flow.fetch(), 5) for _ in messages]
    await asyncio.wait_for(producer, 5)
    assert sorted(r.payload for r in results) == list(range(12))


async def _emit_all(flow: Any, messages: list[Message]) -> None:
    for message in messages:
        await flow.emit(message)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 8),
    traces=st.integers(1, 12),
    per_trace=st.integers(1, 6),
    maxsize=st.sampled_from([0, 1, 3]),
    seed=st.integers(0, 2**16),
)
def test_property_order_per_trace_no_loss_no_duplicates_and_the_bound(
    n: int, traces: int, per_trace: int, maxsize: int, seed: int
) -> None:
    asyncio.run(_check_properties(n, traces, per_trace, maxsize, seed))


async def _check_properties(n: int, traces: int, per_trace: int, maxsize: int, seed: int) -> None:
    rng = random.Random(seed)
    gauges = {"first": Gauge(), "second": Gauge()}
    seen: dict[str, list[int]] = defaultdict(list)

    async def hop(name: str, msg: Message) -> Message:
        gauges[name].enter(msg.trace_id)
        try:
            for _ in range(rng.randint(0, 4)):
                await asyncio.sleep(0)
        finally:
            gauges[name].leave(msg.trace_id)
        return msg

    async def first(msg: Message, ctx: Any) -> Message:
        seen[msg.trace_id].append(msg.payload)
        return await hop("first", msg)

    async def second(msg: Message, ctx: Any) -> Message:
        return await hop("second", msg)

    a = Node(first, policy=policy(n))
    b = Node(second, policy=policy(max(1, n // 2)))
    flow = create(a.to(b), b.to(), queue_maxsize=maxsize)
    flow.run()
    ids = [f"trace-{i}" for i in range(traces)]
    sent = [Message(payload=k, headers=HEADERS, trace_id=t) for k in range(per_trace) for t in ids]
    rng.shuffle(sent)
    expected: dict[str, list[int]] = defaultdict(list)
    for message in sent:
        expected[message.trace_id].append(message.payload)

    async def consume() -> dict[str, list[int]]:
        got: dict[str, list[int]] = defaultdict(list)
        for _ in sent:
            item = await flow.fetch()
            got[item.trace_id].append(item.payload)
        return got

    try:
        _, got = await asyncio.wait_for(asyncio.gather(_emit_all(flow, sent), consume()), 30)
    finally:
        await flow.stop()
    assert got == expected  # per-trace arrival order at both hops, nothing lost or doubled
    assert seen == expected
    assert gauges["first"].peak <= n
    assert gauges["second"].peak <= max(1, n // 2)
    # Never two invocations of one node for one trace.
    assert gauges["first"].peak_per_trace == gauges["second"].peak_per_trace == 1
