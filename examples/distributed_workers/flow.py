"""The flow of the distributed_workers example: ``tokenize -> embed -> rank``.

``embed`` is the heavy step. `build_flow` is the only place the flow is
defined: the owning process calls it with a bus (``embed`` then runs in
worker processes), a worker calls it without one (``penguiflow worker
flow:build_flow --node embed ...``), and a test calls it without one to run
everything in-process. Same code, different configuration.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from pydantic import BaseModel

from penguiflow import Context, ModelRegistry, Node, NodePolicy, PenguiFlow, create
from penguiflow.bus import MessageBus

__all__ = ["Doc", "Embedded", "Ranked", "Tokens", "build_flow"]

DIMENSIONS = 16


class Doc(BaseModel):
    id: str
    text: str


class Tokens(BaseModel):
    id: str
    tokens: list[str]


class Embedded(BaseModel):
    id: str
    vector: list[float]


class Ranked(BaseModel):
    id: str
    norm: float
    top_dimension: int


async def tokenize(doc: Doc, ctx: Context) -> Tokens:
    return Tokens(id=doc.id, tokens=doc.text.lower().split())


async def embed(tokens: Tokens, ctx: Context) -> Embedded:
    # A stand-in for a model call: hash every token into a fixed-size vector.
    vector = [0.0] * DIMENSIONS
    for token in tokens.tokens:
        digest = hashlib.sha256(token.encode()).digest()
        for i in range(DIMENSIONS):
            vector[i] += digest[i] / 255.0
    return Embedded(id=tokens.id, vector=vector)


async def rank(item: Embedded, ctx: Context) -> Ranked:
    norm = math.sqrt(sum(v * v for v in item.vector))
    top = max(range(DIMENSIONS), key=lambda i: item.vector[i])
    return Ranked(id=item.id, norm=round(norm, 3), top_dimension=top)


def build_flow(
    message_bus: MessageBus | None = None, **options: Any
) -> tuple[PenguiFlow, ModelRegistry]:
    """Build the flow; with ``message_bus`` the ``embed`` node runs in worker processes."""
    registry = ModelRegistry()
    registry.register("tokenize", Doc, Tokens)
    registry.register("embed", Tokens, Embedded)
    registry.register("rank", Embedded, Ranked)
    t = Node(tokenize, name="tokenize", policy=NodePolicy(validate="both"))
    e = Node(embed, name="embed", policy=NodePolicy(validate="both", timeout_s=10, max_retries=2))
    r = Node(rank, name="rank", policy=NodePolicy(validate="both"))
    remote = ["embed"] if message_bus is not None else []
    flow = create(t.to(e), e.to(r), message_bus=message_bus, worker_nodes=remote, **options)
    return flow, registry
