"""Fixtures for distributed execution: an owner flow and in-process workers on one bus."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from penguiflow import PenguiFlow
from penguiflow.bus import InMemoryBus, MessageBus, open_bus
from penguiflow.distributed import RemoteWorker


@pytest.fixture
async def memory_bus() -> AsyncIterator[InMemoryBus]:
    bus = InMemoryBus()
    yield bus
    await bus.close()


@pytest.fixture(params=["memory", "redis", "nats"])
async def bus_pair(request: pytest.FixtureRequest) -> AsyncIterator[tuple[MessageBus, MessageBus]]:
    """``(owner_bus, worker_bus)`` on each backend: one shared in-memory bus, or two
    connections to the real Redis / NATS server under a fresh prefix (skip or fail
    when the server is unreachable, as the service fixtures say)."""
    if request.param == "memory":
        bus = InMemoryBus()
        yield bus, bus
        await bus.close()
        return
    url = request.getfixturevalue(f"{request.param}_url")
    token = uuid.uuid4().hex[:10]
    options: dict[str, Any] = (
        {"prefix": f"pftest-{token}"}
        if request.param == "redis"
        else {"stream_prefix": f"PFTEST_{token}"}
    )
    owner_bus = await open_bus(url, **options)
    worker_bus = await open_bus(url, **options)
    yield owner_bus, worker_bus
    await worker_bus.close()
    await owner_bus.destroy()  # type: ignore[attr-defined]


@pytest.fixture
async def running() -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """``await running(flow_or_worker)``: start it now, stop it at teardown (flows first)."""
    flows: list[PenguiFlow] = []
    workers: list[RemoteWorker] = []

    async def start(thing: Any, *args: Any) -> Any:
        if isinstance(thing, RemoteWorker):
            await asyncio.wait_for(thing.start(), 10)
            workers.append(thing)
        else:
            thing.run(*args)
            flows.append(thing)
        return thing

    yield start
    for flow in flows:
        await asyncio.wait_for(flow.stop(), 10)
    for worker in workers:
        await asyncio.wait_for(worker.stop(), 10)
