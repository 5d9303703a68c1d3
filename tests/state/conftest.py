"""Store factories for the state tests: one per backend, each on its own throw-away storage.

SQLite gets a file under ``tmp_path``; PostgreSQL a schema and Redis a key
prefix named after a fresh uuid, dropped again by the store's ``destroy()``
when the test ends. The service-backed ones skip (or fail under
``PENGUIFLOW_REQUIRE_SERVICES=1``) through the ``postgres_url`` / ``redis_url``
fixtures of ``tests/conftest.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from penguiflow.state import InMemoryStateStore, StateStore
from penguiflow.testkit import StateStoreConformance

BACKENDS = ("memory", "sqlite", "postgres", "redis")


class DestroyableStore(StateStore, Protocol):
    """What every built-in backend offers beyond the protocol: wiping its own storage."""

    async def destroy(self) -> None: ...


Factory = Callable[[], Awaitable[DestroyableStore]]


@dataclass(frozen=True)
class Backend:
    """A backend under test: its name, how to open its storage, and whether that persists."""

    name: str
    factory: Factory
    persistent: bool

    def suite(self) -> StateStoreConformance:
        return StateStoreConformance(self.factory, persistent=self.persistent)


async def _open_memory() -> DestroyableStore:
    return InMemoryStateStore()


def _sqlite_factory(path: Path) -> Factory:
    async def factory() -> DestroyableStore:
        from penguiflow.state.sqlite import SQLiteStateStore

        return await SQLiteStateStore.open(f"sqlite:///{path}")

    return factory


def _postgres_factory(url: str, schema: str) -> Factory:
    async def factory() -> DestroyableStore:
        from penguiflow.state.postgres import PostgresStateStore

        return await PostgresStateStore.open(url, schema=schema)

    return factory


def _redis_factory(url: str, prefix: str) -> Factory:
    async def factory() -> DestroyableStore:
        from penguiflow.state.redis import RedisStateStore

        return await RedisStateStore.open(url, prefix=prefix)

    return factory


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each backend in turn, on storage of its own that is destroyed afterwards."""
    name: str = request.param
    unique = uuid.uuid4().hex[:12]
    if name == "memory":
        yield Backend(name, _open_memory, persistent=False)
        return
    if name == "sqlite":
        factory = _sqlite_factory(tmp_path / "state.db")
    elif name == "postgres":
        factory = _postgres_factory(request.getfixturevalue("postgres_url"), f"pf_test_{unique}")
    else:
        factory = _redis_factory(request.getfixturevalue("redis_url"), f"pf-test-{unique}")
    try:
        yield Backend(name, factory, persistent=True)
    finally:
        store = await factory()
        await store.destroy()
