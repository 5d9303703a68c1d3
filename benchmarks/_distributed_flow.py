"""The flow of ``distributed_throughput.py``: ``a -> b -> c``, with ``b`` optionally remote.

This module is the only definition of the flow and its nodes: the benchmark
imports it to build the owning flow (in-process, or with ``b`` served over
a bus), and every worker process loads it by name
(``penguiflow worker _distributed_flow:build_flow --node b ...``, started
with ``benchmarks/`` as its working directory). Same code on both sides, so
the workers find the owner's topics (the bus namespace is a hash of the graph).

``b`` does a small fixed amount of CPU work — hashing a short string
`HASH_ROUNDS` times — so a remote ``b`` costs about what an in-process one
does and the difference between configurations is the bus round trip.
"""

from __future__ import annotations

import hashlib
from typing import Any

from penguiflow import ModelRegistry, Node, NodePolicy, PenguiFlow, create
from penguiflow.bus import MessageBus

__all__ = ["HASH_ROUNDS", "REMOTE_NODE", "a", "b", "build_flow", "c", "expected", "work"]

HASH_ROUNDS = 50
"""sha256 applications per call of ``b``."""
REMOTE_NODE = "b"
"""The node served by worker processes when the flow has a bus."""


def work(text: str) -> str:
    """``b``'s CPU work: sha256 ``text`` `HASH_ROUNDS` times, return the hex digest."""
    digest = text.encode()
    for _ in range(HASH_ROUNDS):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


async def a(n: int, _ctx: Any) -> str:
    """Turn the emitted number into a short document id."""
    return f"doc-{n}"


async def b(text: str, _ctx: Any) -> str:
    """The node that may run remotely: `work` on the document id."""
    return work(text)


async def c(digest: str, _ctx: Any) -> str:
    """Keep the first 16 hex digits."""
    return digest[:16]


def expected(n: int) -> str:
    """What the flow returns for the emitted payload ``n`` (for checking results)."""
    return work(f"doc-{n}")[:16]


def build_flow(
    message_bus: MessageBus | None = None, **options: Any
) -> tuple[PenguiFlow, ModelRegistry]:
    """Build ``a -> b -> c``; with ``message_bus``, ``b`` runs in worker processes.

    The registry declares each node's payload types so the runtime hands the
    nodes payloads (and keeps the envelopes); nothing is validated.

    Args:
        message_bus: The bus the owner reaches ``b``'s workers over; ``None``
            (what a worker's factory call passes) builds the in-process flow.
        **options: Passed to `penguiflow.create` (``queue_maxsize``, ...).

    Returns:
        The flow and the registry to run it with (``flow.run(registry)``).
    """
    registry = ModelRegistry()
    registry.register("a", int, str)
    registry.register(REMOTE_NODE, str, str)
    registry.register("c", str, str)
    plain = NodePolicy(validate="none")
    node_a = Node(a, name="a", policy=plain)
    node_b = Node(b, name=REMOTE_NODE, policy=plain)
    node_c = Node(c, name="c", policy=plain)
    remote = [REMOTE_NODE] if message_bus is not None else []
    flow = create(
        node_a.to(node_b),
        node_b.to(node_c),
        message_bus=message_bus,
        worker_nodes=remote,
        **options,
    )
    return flow, registry
