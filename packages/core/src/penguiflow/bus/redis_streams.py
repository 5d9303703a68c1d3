"""`RedisStreamsBus`: the MessageBus on Redis Streams with consumer groups (redis-py asyncio).

Design notes.

* A topic is the stream ``{prefix}:bus:{topic}``; an envelope is one entry
  with a single field, ``envelope``, holding its JSON. ``XADD`` trims with an
  approximate ``MAXLEN`` (``maxlen``, 100,000 by default), so a stream keeps
  roughly its last ``maxlen`` entries; a group lagging further behind skips
  what was trimmed.
* A group is a Redis consumer group, created on subscribe with
  ``XGROUP CREATE ... 0 MKSTREAM`` (a new group starts at the oldest retained
  entry; ``BUSYGROUP`` means it exists, which is fine). A member reads new
  entries with ``XREADGROUP ... >`` (blocking at most ``block_ms``) and, at
  least every ``min(ack_wait_s / 4, block_ms)``, runs ``XAUTOCLAIM`` with
  ``min-idle = ack_wait_s`` to take over entries any member of the group
  left unacknowledged for too long: those come back ``redelivered``. ``ack``
  is ``XACK``.
* Closing a subscription hands its unacknowledged entries back: they stay in
  the group's pending list but are marked idle for a year (``XCLAIM ... IDLE
  ... JUSTID``), so the next ``XAUTOCLAIM`` of any member takes them at once.
  Consumer names stay registered in the group; reuse stable names per worker.
* An ephemeral group is created at ``$`` (after the newest entry). When its
  subscription closes and no other open subscription of the bus is on it,
  ``XGROUP DESTROY`` deletes it, pending list and all, instead of handing
  entries back. Redis has no expiry for groups: a process that dies without
  closing leaves a small idle group behind (harmless; ``destroy()`` removes
  it). A member that finds its ephemeral group gone (``NOGROUP``: another
  connection's member closed it) recreates it after the last entry it read,
  or at ``$`` if it has read none.
* A subscription reads ``read_count`` entries at a time (1 by default): with
  more, entries waiting in the local buffer age toward ``ack_wait_s`` too.
* A record that is not an envelope (written by something else, or damaged)
  is logged as an error naming the stream and entry id on the
  ``penguiflow.bus`` logger, acknowledged and skipped, so it can neither stop
  the iterator nor come back forever; the entry itself stays in the stream
  for inspection (``XRANGE key id id``).
* Dropped connections: redis-py's retry reconnects a command whose
  connection failed (twice, short backoff); a timeout is not retried, so
  connecting (TCP and redis-py's handshake) takes at most
  ``connect_timeout`` and a command at most ``command_timeout``, and opening
  a bus on something that accepts connections but never answers fails after
  ``connect_timeout``. A subscription that still cannot reach the server keeps
  trying with backoff for up to ``reconnect_timeout_s`` and then raises
  `BusError`; when the server comes back in time, iteration simply goes on
  (a group lost with the server's data is recreated). A read interrupted by
  cancellation is recovered on the next iteration (``XREADGROUP ... 0``), so
  cancelling ``__anext__`` loses nothing.
* Every command runs in a task of its own that the caller waits for with
  ``asyncio.wait``: redis-py can swallow a cancellation that arrives in the
  middle of a command, and a caller's cancellation must never be lost.
* ``publish`` retried after a lost reply may store an envelope twice; both
  copies carry the same ``message_id``, which receivers deduplicate on.
* Layout of the code: the bus holds a `RedisConnection`
  (``bus/_redis_connection.py``: the client, the settings, the groups, the
  open subscriptions) and hands it, never itself, to each `RedisSubscription`
  (``bus/_redis_subscription.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from penguiflow.bus._codec import (
    check_ack_wait,
    check_consumer,
    check_count,
    check_ephemeral,
    check_group,
    check_seconds,
    encode_envelope,
)
from penguiflow.bus.base import BusEnvelope

try:
    import redis.asyncio as aioredis

    from penguiflow._drivers.redis_support import KEY_PREFIX, pooled_client, redis_where
    from penguiflow.bus._redis_connection import RedisConnection as _RedisConnection
    from penguiflow.bus._redis_subscription import FIELD as _FIELD
    from penguiflow.bus._redis_subscription import PAGE as _PAGE
    from penguiflow.bus._redis_subscription import RedisSubscription as _RedisSubscription
except ImportError as _missing:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        f'RedisStreamsBus needs the redis driver ({_missing}): pip install "penguiflow-core[redis]"'
    ) from _missing

__all__ = ["RedisStreamsBus"]


class RedisStreamsBus:
    """A `MessageBus` on Redis Streams with consumer groups.

    Open it with `RedisStreamsBus.open` (or `penguiflow.bus.open_bus` with a
    ``redis://`` URL). See the module notes for the key layout, redelivery
    and retention.

    Example:
        >>> bus = await RedisStreamsBus.open("redis://cache:6379/0")  # doctest: +SKIP
        >>> await bus.publish(BusEnvelope(topic="jobs", body={"n": 1}))  # doctest: +SKIP
    """

    def __init__(
        self,
        connect: Callable[[], aioredis.Redis],
        *,
        where: str,
        prefix: str,
        maxlen: int,
        block_ms: int,
        read_count: int,
        reconnect_timeout_s: float,
        connect_timeout: float,
    ) -> None:
        self._connection = _RedisConnection(
            connect,
            where=where,
            prefix=prefix,
            block_ms=block_ms,
            read_count=read_count,
            reconnect_timeout_s=reconnect_timeout_s,
            connect_timeout=connect_timeout,
        )
        self._maxlen = maxlen

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        prefix: str = "penguiflow",
        maxlen: int = 100_000,
        block_ms: int = 2_000,
        read_count: int = 1,
        connect_timeout: float = 5.0,
        command_timeout: float = 30.0,
        reconnect_timeout_s: float = 30.0,
        max_connections: int = 100,
    ) -> Self:
        """Connect to Redis at ``url`` and check that it answers.

        Args:
            url: ``redis://[user:password@]host[:port][/db]`` (``rediss://`` for TLS).
            prefix: Namespace of every key (``{prefix}:bus:{topic}``); letters,
                digits, ``_``, ``.``, ``-``.
            maxlen: Approximate number of entries each stream keeps.
            block_ms: Longest a read waits on the server for new entries.
            read_count: Entries fetched per read (see the module notes).
            connect_timeout: Seconds allowed for each connection attempt, the
                handshake included (a timeout is not retried).
            command_timeout: Seconds allowed for each command's reply (a
                timeout is not retried); must exceed ``block_ms``.
            reconnect_timeout_s: How long a subscription keeps retrying a lost
                server before raising `BusError`.
            max_connections: Most connections the pool opens; every
                subscription that is waiting for entries holds one.

        Raises:
            ValueError: Bad URL, prefix or option.
            BusError: The server cannot be reached or refuses us.
        """
        where = redis_where(url, not_a_string="a Redis URL must be a string")
        if not KEY_PREFIX.match(str(prefix)):
            raise ValueError(
                f"invalid Redis key prefix {prefix!r}: use 1-100 letters, digits, '_', '.' or '-'"
            )
        counts = ("maxlen", maxlen), ("block_ms", block_ms), ("read_count", read_count)
        for name, count in (*counts, ("max_connections", max_connections)):
            check_count(name, count)
        for name, seconds in (
            ("connect_timeout", connect_timeout),
            ("command_timeout", command_timeout),
            ("reconnect_timeout_s", reconnect_timeout_s),
        ):
            check_seconds(name, seconds)
        if command_timeout * 1000 <= block_ms:
            raise ValueError(
                f"command_timeout ({command_timeout}s) must exceed block_ms ({block_ms}ms), "
                "or every blocking read would time out"
            )

        def connect() -> aioredis.Redis:
            return pooled_client(
                url,
                max_connections=max_connections,
                connect_timeout=connect_timeout,
                command_timeout=command_timeout,
            )

        bus = cls(
            connect,
            where=where,
            prefix=prefix,
            maxlen=maxlen,
            block_ms=block_ms,
            read_count=read_count,
            reconnect_timeout_s=reconnect_timeout_s,
            connect_timeout=connect_timeout,
        )
        try:
            await bus._connection.call("opening the bus", lambda client: client.ping())
        except BaseException:
            await bus.close()
            raise
        return bus

    @property
    def prefix(self) -> str:
        """The namespace of this bus's keys."""
        return self._connection.prefix

    @property
    def where(self) -> str:
        """``host:port`` of the server (never the password)."""
        return self._connection.where

    @property
    def block_ms(self) -> int:
        """Longest a read waits on the server for new entries."""
        return self._connection.block_ms

    @property
    def read_count(self) -> int:
        """Entries fetched per read."""
        return self._connection.read_count

    @property
    def reconnect_timeout_s(self) -> float:
        """How long a subscription keeps retrying a lost server before raising `BusError`."""
        return self._connection.reconnect_timeout_s

    def stream_key(self, topic: str) -> str:
        """The Redis key of ``topic``'s stream."""
        return self._connection.stream_key(topic)

    async def publish(self, envelope: BusEnvelope) -> None:
        """``XADD`` ``envelope`` to its topic's stream (trimmed to about ``maxlen``).

        Raises:
            ValueError: Bad topic or a body that is not JSON-safe.
            TypeError: ``envelope`` is not a `BusEnvelope` or has mistyped fields.
            BusError: The bus is closed or Redis cannot be reached.
        """
        text = encode_envelope(envelope)
        key = self.stream_key(envelope.topic)
        await self._connection.call(
            f"publishing message {envelope.message_id!r} to {key!r}",
            lambda client: client.xadd(key, {_FIELD: text}, maxlen=self._maxlen, approximate=True),
        )

    async def subscribe(
        self,
        topic: str,
        *,
        group: str,
        consumer: str,
        ack_wait_s: float = 30.0,
        ephemeral: bool = False,
    ) -> _RedisSubscription:
        """Join ``group`` on ``topic`` as ``consumer`` (creating the group if needed).

        A new group starts at the stream's oldest entry, or with
        ``ephemeral=True`` after its newest; an ephemeral group is deleted
        when its last subscription on this bus closes.

        Raises:
            ValueError: Bad topic, group, consumer or ``ack_wait_s``.
            TypeError: A name is not a string, or ``ephemeral`` is not a bool.
            BusError: The bus is closed or Redis cannot be reached.
        """
        key = self.stream_key(topic)
        check_group(group)
        check_consumer(consumer)
        ack_wait = check_ack_wait(ack_wait_s)
        check_ephemeral(ephemeral)
        connection = self._connection
        await connection.ensure_group(key, group, b"$" if ephemeral else b"0")
        subscription = _RedisSubscription(connection, topic, group, consumer, ack_wait, ephemeral)
        connection.add(subscription)
        return subscription

    async def close(self) -> None:
        """Close every subscription (handing back its entries), then the client; idempotent."""
        await self._connection.close()

    async def destroy(self) -> None:
        """Delete every stream under ``{prefix}:bus:``, then close the bus.

        Works on a closed bus too (it reconnects for the deletion).
        """
        await self.close()
        pattern = f"{self.prefix}:bus:*"

        async def delete_all(client: aioredis.Redis) -> None:
            batch: list[bytes] = []
            async for key in client.scan_iter(match=pattern, count=_PAGE):
                batch.append(key)
                if len(batch) >= _PAGE:
                    await client.unlink(*batch)
                    batch.clear()
            if batch:
                await client.unlink(*batch)

        self._connection.reopen()
        try:
            await self._connection.call(f"deleting the keys {pattern!r}", delete_all)
        finally:
            await self._connection.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._connection.closed else "open"
        return f"<RedisStreamsBus {self.where} prefix={self.prefix!r} {state}>"
