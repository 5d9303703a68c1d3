"""`RedisConnection`: what a `RedisStreamsBus` and its subscriptions share.

That is the client and its lifecycle, the settings a subscription reads, the
consumer groups, and the registry of open subscriptions (so that the bus can
close them, and the last member of an ephemeral group can tell it is the
last). The bus hands this object, never itself, to each subscription. The
design notes are in `penguiflow.bus.redis_streams`. Imports the redis driver
at import time; only the Redis bus modules import this one, inside the guarded
driver import of `penguiflow.bus.redis_streams`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from penguiflow._drivers.redis_support import call_redis
from penguiflow.bus._codec import check_topic
from penguiflow.bus.base import BusError

__all__ = ["Member", "RedisConnection"]

_T = TypeVar("_T")


class Member(Protocol):
    """An open subscription, as the registry sees it: one member of ``group`` on ``key``."""

    @property
    def key(self) -> str:
        """The Redis key of the subscription's stream."""
        ...

    @property
    def group(self) -> str:
        """The consumer group the subscription belongs to."""
        ...

    async def close(self) -> None:
        """Stop receiving; the registry calls it when the bus closes."""
        ...


class RedisConnection:
    """The client of a `RedisStreamsBus`, its settings, its groups and its open subscriptions.

    Args:
        connect: Makes a new client (called now, and again by `reopen`).
        where: ``host:port`` of the server, for messages.
        prefix: Namespace of every key (``{prefix}:bus:{topic}``).
        block_ms: Longest a read waits on the server for new entries.
        read_count: Entries fetched per read.
        reconnect_timeout_s: How long a subscription keeps retrying a lost server.
        connect_timeout: The client's bound on a connection attempt, for messages.
    """

    def __init__(
        self,
        connect: Callable[[], aioredis.Redis],
        *,
        where: str,
        prefix: str,
        block_ms: int,
        read_count: int,
        reconnect_timeout_s: float,
        connect_timeout: float,
    ) -> None:
        self._connect = connect
        self._client: aioredis.Redis | None = connect()
        self._where = where
        self._prefix = prefix
        self._block_ms = block_ms
        self._read_count = read_count
        self._reconnect_timeout_s = reconnect_timeout_s
        self._connect_timeout = connect_timeout
        self._members: set[Member] = set()

    @property
    def where(self) -> str:
        """``host:port`` of the server."""
        return self._where

    @property
    def prefix(self) -> str:
        """The namespace of the bus's keys."""
        return self._prefix

    @property
    def block_ms(self) -> int:
        """Longest a read waits on the server for new entries."""
        return self._block_ms

    @property
    def read_count(self) -> int:
        """Entries fetched per read."""
        return self._read_count

    @property
    def reconnect_timeout_s(self) -> float:
        """How long a subscription keeps retrying a lost server before raising `BusError`."""
        return self._reconnect_timeout_s

    @property
    def closed(self) -> bool:
        """Whether the client is closed."""
        return self._client is None

    def stream_key(self, topic: str) -> str:
        """The Redis key of ``topic``'s stream."""
        return f"{self._prefix}:bus:{check_topic(topic)}"

    def client(self, action: str) -> aioredis.Redis:
        """The open client, or `BusError` naming ``action`` when the bus is closed."""
        if self._client is None:
            raise BusError(f"{action}: the Redis bus at {self._where} is closed")
        return self._client

    async def call(self, action: str, operation: Callable[[aioredis.Redis], Awaitable[_T]]) -> _T:
        """Run ``operation`` with the client, turning driver errors into one-line `BusError` s.

        Raises:
            BusError: The bus is closed, or Redis failed ``operation``; the
                message names ``action``.
        """
        client = self.client(action)
        return await call_redis(
            operation(client),
            where=self._where,
            action=action,
            error=BusError,
            timed_out=lambda exc: f"in time while {action}: {exc}",
            connect_timeout=self._connect_timeout,
        )

    async def ensure_group(self, key: str, group: str, start: bytes) -> None:
        """Create ``group`` on ``key`` to read after entry id ``start``, unless it exists.

        ``b"0"`` is the stream's start, ``b"$"`` its end; ``BUSYGROUP`` (the
        group exists) is fine.

        Raises:
            BusError: The bus is closed or Redis cannot be reached.
        """

        async def create(client: aioredis.Redis) -> None:
            try:
                await client.xgroup_create(key, group, id=start, mkstream=True)
            except redis_errors.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

        await self.call(f"creating group {group!r} on {key!r}", create)

    async def drop_group(self, key: str, group: str) -> None:
        """``XGROUP DESTROY`` ``group`` of ``key``, pending list and all; a gone stream is fine.

        Raises:
            BusError: The bus is closed or Redis cannot be reached.
        """

        async def destroy(client: aioredis.Redis) -> None:
            try:
                await client.xgroup_destroy(key, group)
            except redis_errors.ResponseError as exc:
                # "requires the key to exist": the stream is gone, and the group with it.
                if "requires the key to exist" not in str(exc):
                    raise

        await self.call(f"deleting the ephemeral group {group!r} of {key!r}", destroy)

    def add(self, member: Member) -> None:
        """Register an open subscription (the bus does, right after creating it)."""
        self._members.add(member)

    def forget(self, member: Member) -> None:
        """Drop a closing subscription from the registry (the subscription does)."""
        self._members.discard(member)

    def has_members(self, key: str, group: str) -> bool:
        """Whether an open subscription of the bus is on ``group`` of stream ``key``."""
        return any(m.key == key and m.group == group for m in self._members)

    def reopen(self) -> None:
        """Make a new client if the connection is closed (``destroy`` works on a closed bus)."""
        if self._client is None:
            self._client = self._connect()

    async def close(self) -> None:
        """Close every open subscription (each hands back its entries), then the client.

        Idempotent.
        """
        for member in list(self._members):
            await member.close()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
