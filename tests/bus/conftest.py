"""Bus factories for the bus tests: one per backend, each in its own throw-away namespace.

Redis gets a key prefix and NATS a stream prefix named after a fresh uuid,
removed again by the bus's ``destroy()`` when the test ends. The
service-backed ones skip (or fail under ``PENGUIFLOW_REQUIRE_SERVICES=1``)
through the ``redis_url`` / ``nats_url`` fixtures of ``tests/conftest.py``.
The in-memory bus shares nothing between instances, so its factory hands
out one bus and the suite's ``shared=False`` skips the case that needs two.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import pytest

from penguiflow.bus import InMemoryBus, MessageBus
from penguiflow.testkit import BusConformance

BACKENDS = ("memory", "redis", "nats")


class DestroyableBus(MessageBus, Protocol):
    """What every built-in backend offers beyond the protocol: wiping its own namespace."""

    async def destroy(self) -> None: ...


Factory = Callable[[], Awaitable[DestroyableBus]]


@dataclass(frozen=True)
class Backend:
    """A backend under test: its name, how to open a bus on it, and whether buses share."""

    name: str
    factory: Factory
    shared: bool

    def suite(self) -> BusConformance:
        return BusConformance(self.factory, shared=self.shared, ack_wait_s=1.0)


def _memory_factory() -> Factory:
    async def factory() -> DestroyableBus:
        return InMemoryBus()

    return factory


def _redis_factory(url: str, prefix: str) -> Factory:
    async def factory() -> DestroyableBus:
        from penguiflow.bus.redis_streams import RedisStreamsBus

        return await RedisStreamsBus.open(url, prefix=prefix)

    return factory


def _nats_factory(url: str, prefix: str) -> Factory:
    async def factory() -> DestroyableBus:
        from penguiflow.bus.nats import NatsJetStreamBus

        return await NatsJetStreamBus.open(url, stream_prefix=prefix)

    return factory


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """Each backend in turn, in a namespace of its own that is destroyed afterwards."""
    name: str = request.param
    unique = uuid.uuid4().hex[:12]
    if name == "memory":
        yield Backend(name, _memory_factory(), shared=False)
        return
    if name == "redis":
        factory = _redis_factory(request.getfixturevalue("redis_url"), f"pf-test-{unique}")
    else:
        factory = _nats_factory(request.getfixturevalue("nats_url"), f"pftest{unique}")
    try:
        yield Backend(name, factory, shared=True)
    finally:
        bus = await factory()
        await bus.destroy()
