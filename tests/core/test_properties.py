"""Property tests: no loss, no duplication, FIFO per floe under random scheduling."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from penguiflow import Headers, Message, Node, NodePolicy, create

NONE = NodePolicy(validate="none")


def yielding_node(name: str, rng: random.Random, max_yields: int) -> Node:
    """A pass-through node that yields to the loop a random number of times (a random delay)."""

    async def fn(msg: Any, _ctx: Any) -> Any:
        for _ in range(rng.randint(0, max_yields)):
            await asyncio.sleep(0)
        return msg

    return Node(fn, name=name, policy=NONE)


async def run_diamond(count: int, seed: int, maxsize: int, max_yields: int) -> list[Any]:
    """src fans out to 3 branches of random latency; all feed Rookery. Returns what arrived."""
    rng = random.Random(seed)
    src = yielding_node("src", rng, max_yields)
    branches = [yielding_node(f"b{i}", rng, max_yields) for i in range(3)]
    tail = yielding_node("tail", rng, max_yields)
    flow = create(
        src.to(*branches),
        *(b.to(tail) for b in branches),
        tail.to(),
        queue_maxsize=maxsize,
    )
    flow.run()
    headers = Headers(tenant="t")
    messages = [Message(payload=i, headers=headers) for i in range(count)]

    async def produce() -> None:
        for message in messages:
            await flow.emit(message)

    async def consume() -> list[Any]:
        return [await flow.fetch() for _ in range(count * 3)]

    try:
        _, results = await asyncio.wait_for(asyncio.gather(produce(), consume()), 60)
    finally:
        await flow.stop()
    return results


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    maxsize=st.integers(1, 16),
    max_yields=st.integers(0, 4),
)
def test_no_loss_or_duplication_across_10k_messages(seed: int, maxsize: int, max_yields: int):
    count = 10_000 // 3 + 1  # 3 branches: > 10k deliveries per example
    results = asyncio.run(run_diamond(count, seed, maxsize, max_yields))
    per_payload = Counter(out.payload for out in results)
    assert per_payload == Counter({i: 3 for i in range(count)})
    # Each branch delivers its own copy once: (trace, branch) pairs are unique.
    assert len({(out.trace_id, id(out)) for out in results}) == count * 3


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    maxsize=st.integers(1, 8),
    count=st.integers(1, 300),
)
def test_chain_is_fifo_under_random_delays(seed: int, maxsize: int, count: int):
    async def scenario() -> list[int]:
        rng = random.Random(seed)
        nodes = [yielding_node(f"n{i}", rng, 3) for i in range(4)]
        flow = create(
            *(a.to(b) for a, b in itertools.pairwise(nodes)),
            nodes[-1].to(),
            queue_maxsize=maxsize,
        )
        flow.run()

        async def produce() -> None:
            for i in range(count):
                await flow.emit(i)

        try:
            _, got = await asyncio.wait_for(
                asyncio.gather(produce(), asyncio.gather(*[flow.fetch() for _ in range(count)])),
                30,
            )
        finally:
            await flow.stop()
        return list(got)

    assert asyncio.run(scenario()) == list(range(count))
