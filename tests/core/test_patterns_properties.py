"""Property tests: join_k emits once per trace in arrival order and never leaks buckets;
map_concurrent stays under its limit and keeps input order."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from penguiflow import Headers, Message, Node, NodePolicy, create
from penguiflow.patterns import join_k, join_pending, map_concurrent

NONE = NodePolicy(validate="none")


async def yield_randomly(rng: random.Random, max_yields: int) -> None:
    for _ in range(rng.randint(0, max_yields)):
        await asyncio.sleep(0)


def dropped(payload: int, branch: int, drop_every: int) -> bool:
    """Branch 0 returns None for every ``drop_every``-th trace (0 = never)."""
    return drop_every > 0 and branch == 0 and payload % drop_every == 0


async def run_join(
    traces: int, k: int, maxsize: int, seed: int, max_yields: int, drop_every: int
) -> dict[str, Any]:
    """src -> b0..b(k-1) -> tap -> join_k(k) -> Rookery, many traces in flight.

    Branches take random time, so their outputs reach ``tap`` in random order.
    ``tap`` feeds the join through a single FIFO floe and records, per trace,
    the order in which the join is about to receive the payloads.
    """
    rng = random.Random(seed)
    arrivals: dict[str, list[Any]] = defaultdict(list)
    peak = 0

    async def src(msg: Message, _ctx: Any) -> Message:
        await yield_randomly(rng, max_yields)
        return msg

    def make_branch(index: int) -> Node:
        async def fn(msg: Message, _ctx: Any) -> Message | None:
            await yield_randomly(rng, max_yields)
            if dropped(msg.payload, index, drop_every):
                return None
            msg.meta[f"b{index}"] = index
            return msg.model_copy(update={"payload": (index, msg.payload)})

        return Node(fn, name=f"b{index}", policy=NONE)

    async def tap(msg: Message, _ctx: Any) -> Message:
        nonlocal peak
        peak = max(peak, join_pending(join))
        arrivals[msg.trace_id].append(msg.payload)
        return msg

    start = Node(src, name="src", policy=NONE)
    branches = [make_branch(i) for i in range(k)]
    tapper = Node(tap, name="tap", policy=NONE)
    join = join_k("join", k)
    flow = create(
        start.to(*branches),
        *(b.to(tapper) for b in branches),
        tapper.to(join),
        join.to(),
        queue_maxsize=maxsize,
    )
    flow.run()
    headers = Headers(tenant="t")
    messages = [Message(payload=i, headers=headers) for i in range(traces)]
    expected = sum(1 for i in range(traces) if not any(dropped(i, b, drop_every) for b in range(k)))

    async def produce() -> None:
        for message in messages:
            await flow.emit(message)

    async def consume() -> list[Message]:
        return [await flow.fetch() for _ in range(expected)]

    try:
        _, results = await asyncio.wait_for(asyncio.gather(produce(), consume()), 60)
        for message in messages:
            await asyncio.wait_for(flow.wait_idle(message.trace_id), 10)
        leftover = sum(floe.qsize() for floe in flow.floes)
        pending = join_pending(join)
    finally:
        await flow.stop()
    return {
        "messages": messages,
        "results": results,
        "arrivals": arrivals,
        "leftover": leftover,
        "pending": pending,
        "peak": peak,
        "expected": expected,
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    traces=st.integers(1, 300),
    k=st.integers(1, 6),
    maxsize=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    max_yields=st.integers(0, 3),
    drop_every=st.sampled_from([0, 0, 2, 5]),
)
def test_join_k_emits_once_per_trace_in_arrival_order(
    traces: int, k: int, maxsize: int, seed: int, max_yields: int, drop_every: int
) -> None:
    run = asyncio.run(run_join(traces, k, maxsize, seed, max_yields, drop_every))
    results: list[Message] = run["results"]
    by_trace = {out.trace_id: out for out in results}
    assert len(by_trace) == len(results) == run["expected"]  # exactly once per trace
    assert run["leftover"] == 0  # and nothing more came out
    originals = {m.trace_id: m for m in run["messages"]}
    for trace_id, out in by_trace.items():
        assert out.payload == run["arrivals"][trace_id]  # k items, arrival order
        assert len(out.payload) == k
        assert sorted(index for index, _ in out.payload) == list(range(k))
        assert {payload for _, payload in out.payload} == {originals[trace_id].payload}
        assert out.meta == {f"b{i}": i for i in range(k)}
    assert run["pending"] == 0  # short traces freed their buckets too


def test_join_k_buckets_do_not_grow_over_10k_traces() -> None:
    k, maxsize = 3, 4
    run = asyncio.run(run_join(10_000, k, maxsize, seed=7, max_yields=2, drop_every=3))
    assert len(run["results"]) == run["expected"] == 6_666
    assert run["pending"] == 0
    # A partly filled bucket belongs to a trace that still has a message queued or in a
    # node (else it is freed), so the count is bounded by what the floes can hold.
    in_flight_bound = maxsize * (1 + 2 * k + 1) + (1 + k + 1)
    assert run["peak"] <= in_flight_bound


async def map_with_probe(
    count: int, limit: int, seed: int, max_yields: int
) -> tuple[list[int], int]:
    rng = random.Random(seed)
    live = 0
    peak = 0

    async def work(item: int) -> int:
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await yield_randomly(rng, max_yields)
        live -= 1
        return item * item

    out = await asyncio.wait_for(map_concurrent(range(count), work, max_concurrency=limit), 30)
    return out, peak


@settings(max_examples=40, deadline=None)
@given(
    count=st.integers(0, 200),
    limit=st.integers(1, 20),
    seed=st.integers(0, 2**32 - 1),
    max_yields=st.integers(0, 5),
)
def test_map_concurrent_respects_its_limit_and_order(
    count: int, limit: int, seed: int, max_yields: int
) -> None:
    out, peak = asyncio.run(map_with_probe(count, limit, seed, max_yields))
    assert out == [i * i for i in range(count)]
    assert peak <= limit
