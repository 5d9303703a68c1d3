"""Fixtures for distributed execution: an owner flow and in-process workers on one bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from penguiflow import PenguiFlow
from penguiflow.bus import InMemoryBus
from penguiflow.distributed import RemoteWorker


@pytest.fixture
async def memory_bus() -> AsyncIterator[InMemoryBus]:
    bus = InMemoryBus()
    yield bus
    await bus.close()


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
