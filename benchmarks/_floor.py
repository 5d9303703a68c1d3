"""The floor: hand-written chains of ``asyncio.Queue``s that any runtime of this shape pays.

One task per node, each task pulls from its inbound queue, awaits an
``async def`` node function and puts the result on its outbound queue. There
is no routing table, no bookkeeping and no error handling: this is the least
a design with one long-lived worker per node and bounded queues between them
can cost in CPython. Only the standard library and pydantic are used, so the
same module runs in our dev venv and in the published 2.7.3 venv.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter

__all__ = [
    "FloorChain",
    "FloorEnvelope",
    "FloorHeaders",
    "Item",
    "make_items",
]

NodeFn = Callable[[Any, Any], Awaitable[Any]]


class Item(BaseModel):
    """The payload model used by every envelope workload (ours, 2.7.3 and floor)."""

    id: int
    text: str


def make_items(count: int) -> list[Item]:
    """Build ``count`` distinct payloads."""
    return [Item(id=i, text=f"item-{i}") for i in range(count)]


class FloorHeaders(BaseModel):
    """Envelope headers for the floor; same fields as ``penguiflow.Headers``."""

    tenant: str
    topic: str | None = None
    priority: int = 0


class FloorEnvelope(BaseModel):
    """Envelope for the floor; same fields as ``penguiflow.Message``."""

    payload: Any
    headers: FloorHeaders
    trace_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    ts: float = Field(default_factory=time.time)
    deadline_s: float | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


async def _pass_through(value: Any, ctx: Any) -> Any:
    return value


class FloorChain:
    """A chain of ``len(fns)`` nodes joined by ``asyncio.Queue``s.

    ``fns[i]`` is awaited by task ``i`` for every item; ``inbox`` feeds the
    first node and ``outbox`` receives what the last node returns.

    Args:
        length: Number of nodes (ignored when ``fns`` is given).
        maxsize: ``maxsize`` of every queue (0 = unbounded).
        fns: Node functions; defaults to ``length`` pass-through nodes.
        adapter: When given, every node unwraps ``FloorEnvelope.payload``,
            validates it with this cached ``TypeAdapter`` before calling the
            node, validates the node's result and puts it back into the
            envelope — the same work a runtime does for ``validate="both"``.
    """

    def __init__(
        self,
        length: int = 10,
        *,
        maxsize: int = 64,
        fns: Sequence[NodeFn] | None = None,
        adapter: TypeAdapter[Any] | None = None,
    ) -> None:
        self.fns: list[NodeFn] = list(fns) if fns is not None else [_pass_through] * length
        self.queues: list[asyncio.Queue[Any]] = [
            asyncio.Queue(maxsize) for _ in range(len(self.fns) + 1)
        ]
        self.inbox = self.queues[0]
        self.outbox = self.queues[-1]
        self._adapter = adapter
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start one task per node."""
        worker = self._validating_worker if self._adapter is not None else self._worker
        for i, fn in enumerate(self.fns):
            task = asyncio.create_task(worker(fn, self.queues[i], self.queues[i + 1]))
            self._tasks.append(task)

    async def stop(self) -> None:
        """Cancel the node tasks and wait for them."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    @staticmethod
    async def _worker(fn: NodeFn, inbox: asyncio.Queue[Any], outbox: asyncio.Queue[Any]) -> None:
        while True:
            item = await inbox.get()
            out = await fn(item, None)
            if out is not None:
                await outbox.put(out)

    async def _validating_worker(
        self, fn: NodeFn, inbox: asyncio.Queue[Any], outbox: asyncio.Queue[Any]
    ) -> None:
        adapter = self._adapter
        assert adapter is not None
        validate = adapter.validate_python
        while True:
            env = await inbox.get()
            out = await fn(validate(env.payload), None)
            if out is not None:
                env.payload = validate(out)
                await outbox.put(env)
