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
* A subscription reads ``read_count`` entries at a time (1 by default): with
  more, entries waiting in the local buffer age toward ``ack_wait_s`` too.
* A record that is not an envelope (written by something else, or damaged)
  is logged as an error naming the stream and entry id on the
  ``penguiflow.bus`` logger, acknowledged and skipped, so it can neither stop
  the iterator nor come back forever; the entry itself stays in the stream
  for inspection (``XRANGE key id id``).
* Dropped connections: redis-py's retry reconnects a failed command (twice,
  short backoff). A subscription that still cannot reach the server keeps
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
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar

from penguiflow._cancel_safe import forget_outcome
from penguiflow.bus._codec import (
    DeliveryBase,
    check_ack_wait,
    check_consumer,
    check_group,
    check_topic,
    decode_envelope,
    encode_envelope,
)
from penguiflow.bus.base import BusEnvelope, BusError

try:
    import redis.asyncio as aioredis
    from redis import exceptions as redis_errors

    from penguiflow._redis_support import KEY_PREFIX, call_redis, pooled_client, redis_where
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        f'RedisStreamsBus needs the redis driver ({exc}): pip install "penguiflow-core[redis]"'
    ) from exc

__all__ = ["RedisStreamsBus"]

logger = logging.getLogger("penguiflow.bus")

_T = TypeVar("_T")
_FIELD = b"envelope"
_HANDBACK_IDLE_MS = 365 * 24 * 3600 * 1000
_PAGE = 500
_Entry = tuple[bytes, dict[bytes, bytes] | None, bool]  # (entry id, fields, redelivered)


def _positive(name: str, value: object, *, integer: bool = False) -> None:
    valid = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not valid or not value > 0:  # type: ignore[operator]
        raise ValueError(
            f"{name} must be a positive {'int' if integer else 'number'}, got {value!r}"
        )


class _RedisDelivery(DeliveryBase):
    """One delivery of a `RedisStreamsBus` subscription."""

    __slots__ = ("_entry_id", "_subscription")

    def __init__(
        self,
        subscription: _RedisSubscription,
        entry_id: bytes,
        envelope: BusEnvelope,
        redelivered: bool,
    ) -> None:
        super().__init__(envelope, redelivered)
        self._subscription = subscription
        self._entry_id = entry_id

    @property
    def entry_id(self) -> str:
        """The Redis stream entry id (``<ms>-<seq>``)."""
        return self._entry_id.decode()

    async def ack(self) -> None:
        """``XACK`` the entry; a late or repeated ack is harmless.

        Raises:
            BusError: The bus is closed or Redis cannot be reached.
        """
        await self._subscription.ack(self._entry_id, self._envelope.message_id)

    def __repr__(self) -> str:
        return (
            f"<Delivery {self._envelope.message_id} entry {self.entry_id} "
            f"on {self._envelope.topic!r}{' redelivered' if self._redelivered else ''}>"
        )


class _RedisSubscription:
    """A consumer-group member on one stream (iterate it from one task; close it when done)."""

    def __init__(
        self, bus: RedisStreamsBus, topic: str, group: str, consumer: str, ack_wait_s: float
    ) -> None:
        self._bus = bus
        self._topic = topic
        self._key = bus.stream_key(topic)
        self._group = group
        self._consumer = consumer
        self._ack_wait_ms = max(1, round(ack_wait_s * 1000))
        self._claim_every = min(ack_wait_s / 4, bus.block_ms / 1000)
        self._next_claim_at = 0.0  # claim at once: a dead member may have left entries
        self._claim_cursor: bytes | str = "0-0"
        self._buffer: deque[_Entry] = deque()
        self._outstanding: set[bytes] = set()  # yielded, not acked by us yet
        self._recover = False
        self._read: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._closed

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> _RedisDelivery:
        failing_since: float | None = None
        backoff = 0.1
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._buffer:
                delivery = await self._deliver(self._buffer.popleft())
                if delivery is not None:
                    return delivery
                continue
            orphan = self._read
            if orphan is not None and not orphan.done():
                # A read of a cancelled __anext__ still running: let it finish first.
                await asyncio.wait((orphan,))
            self._read = read = asyncio.ensure_future(self._fill())
            read.add_done_callback(forget_outcome)
            try:
                # `wait` does not cancel `read` on our behalf: should the driver
                # swallow the cancellation of `read`, ours still goes through.
                await asyncio.wait((read,))
            except asyncio.CancelledError:
                read.cancel()
                self._recover = True  # the server may have handed us entries we never saw
                raise
            if read.cancelled():  # close() stopped the read
                self._recover = True
                continue
            try:
                read.result()
            except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
                now = loop.time()
                failing_since = now if failing_since is None else failing_since
                if now - failing_since >= self._bus.reconnect_timeout_s:
                    raise BusError(
                        f"lost Redis at {self._bus.where} while reading {self._key!r} "
                        f"(group {self._group!r}) for {self._bus.reconnect_timeout_s}s: {exc}"
                    ) from exc
                self._recover = True
                await asyncio.sleep(backoff)  # waiting for the server to come back
                backoff = min(backoff * 2, 2.0)
            except redis_errors.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise BusError(
                        f"Redis at {self._bus.where} rejected a read of {self._key!r} "
                        f"(group {self._group!r}): {exc}"
                    ) from exc
                # The stream or group vanished (server restarted empty, key deleted).
                await self._bus.ensure_group(self._key, self._group)
            except redis_errors.RedisError as exc:
                raise BusError(
                    f"Redis at {self._bus.where} failed reading {self._key!r}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            else:
                failing_since, backoff = None, 0.1

    async def _fill(self) -> None:
        """Put the next entries into the buffer, or return empty-handed after blocking."""
        client = self._bus.client(f"reading {self._key!r}")
        loop = asyncio.get_running_loop()
        if self._recover:
            reply = await client.xreadgroup(
                self._group, self._consumer, {self._key: "0"}, count=_PAGE
            )
            self._recover = False
            known = self._outstanding | {entry_id for entry_id, _, _ in self._buffer}
            self._buffer.extend(
                (entry_id, f, False)
                for entry_id, f in self._entries(reply)
                if entry_id not in known
            )
            return
        now = loop.time()
        if now >= self._next_claim_at:
            cursor, claimed, *_ = await client.xautoclaim(
                self._key,
                self._group,
                self._consumer,
                min_idle_time=self._ack_wait_ms,
                start_id=self._claim_cursor,
                count=self._bus.read_count,
            )
            self._claim_cursor = cursor
            scanning = cursor not in (b"0-0", "0-0")
            self._next_claim_at = now if scanning else now + self._claim_every
            self._buffer.extend((entry_id, f, True) for entry_id, f in claimed)
            if claimed or scanning:
                return
        block_ms = min(self._bus.block_ms, max(1, int((self._next_claim_at - now) * 1000)))
        reply = await client.xreadgroup(
            self._group,
            self._consumer,
            {self._key: ">"},
            count=self._bus.read_count,
            block=block_ms,
        )
        self._buffer.extend((entry_id, f, False) for entry_id, f in self._entries(reply))

    @staticmethod
    def _entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
        streams = reply.values() if isinstance(reply, dict) else (s[1] for s in reply or ())
        return [(entry_id, fields) for entries in streams for entry_id, fields in entries]

    async def _deliver(self, entry: _Entry) -> _RedisDelivery | None:
        entry_id, fields, redelivered = entry
        raw = None if fields is None else fields.get(_FIELD)
        try:
            if raw is None:
                raise ValueError("no 'envelope' field (the entry was trimmed or is foreign)")
            envelope = decode_envelope(raw)
        except ValueError as exc:
            logger.error(
                "skipping unreadable entry %s of Redis stream %r (group %r): %s; "
                "it is acknowledged and left in the stream",
                entry_id.decode(errors="replace"),
                self._key,
                self._group,
                exc,
            )
            await self.ack(entry_id, None)
            return None
        self._outstanding.add(entry_id)
        return _RedisDelivery(self, entry_id, envelope, redelivered)

    async def ack(self, entry_id: bytes, message_id: str | None) -> None:
        """``XACK`` one entry of this subscription's stream for its group."""
        what = f"acking message {message_id!r}" if message_id else "acking an entry"
        await self._bus.call(
            f"{what} (entry {entry_id.decode(errors='replace')} of {self._key!r})",
            lambda client: client.xack(self._key, self._group, entry_id),
        )
        self._outstanding.discard(entry_id)

    async def close(self) -> None:
        """Stop receiving and hand this member's unacknowledged entries back (idempotent).

        Never raises for an unreachable server: the entries then come back
        after ``ack_wait_s`` like those of a crashed member.
        """
        if self._closed:
            return
        self._closed = True
        self._bus.forget(self)
        read = self._read
        if read is not None and not read.done():
            read.cancel()
            await asyncio.wait((read,))
        self._buffer.clear()
        self._outstanding.clear()
        try:
            await self._bus.call(
                f"handing back the pending entries of {self._key!r}", self._hand_back
            )
        except BusError as exc:
            logger.warning("%s; they are redelivered after ack_wait_s instead", exc)

    async def _hand_back(self, client: aioredis.Redis) -> None:
        start: bytes | str = "-"
        while True:
            page = await client.xpending_range(
                self._key, self._group, start, "+", _PAGE, consumername=self._consumer
            )
            ids: list[Any] = [item["message_id"] for item in page]
            if ids:
                await client.xclaim(
                    self._key,
                    self._group,
                    self._consumer,
                    0,
                    ids,
                    idle=_HANDBACK_IDLE_MS,
                    justid=True,
                )
            if len(ids) < _PAGE:
                return
            start = b"(" + ids[-1]

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<RedisStreamsBus subscription {self._key!r} group={self._group!r} "
            f"consumer={self._consumer!r} {state}>"
        )


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
    ) -> None:
        self._connect = connect
        self._client: aioredis.Redis | None = connect()
        self.where = where
        self._prefix = prefix
        self._maxlen = maxlen
        self.block_ms = block_ms
        self.read_count = read_count
        self.reconnect_timeout_s = reconnect_timeout_s
        self._subscriptions: set[_RedisSubscription] = set()

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
            connect_timeout: Seconds allowed for each connection attempt.
            command_timeout: Seconds allowed for each command's reply; must
                exceed ``block_ms``.
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
        for name, value in (("maxlen", maxlen), ("block_ms", block_ms)):
            _positive(name, value, integer=True)
        _positive("read_count", read_count, integer=True)
        _positive("max_connections", max_connections, integer=True)
        for name, seconds in (
            ("connect_timeout", connect_timeout),
            ("command_timeout", command_timeout),
            ("reconnect_timeout_s", reconnect_timeout_s),
        ):
            _positive(name, seconds)
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
        )
        try:
            await bus.call("opening the bus", lambda client: client.ping())
        except BaseException:
            await bus.close()
            raise
        return bus

    @property
    def prefix(self) -> str:
        """The namespace of this bus's keys."""
        return self._prefix

    def stream_key(self, topic: str) -> str:
        """The Redis key of ``topic``'s stream."""
        return f"{self._prefix}:bus:{check_topic(topic)}"

    async def publish(self, envelope: BusEnvelope) -> None:
        """``XADD`` ``envelope`` to its topic's stream (trimmed to about ``maxlen``).

        Raises:
            ValueError: Bad topic or a body that is not JSON-safe.
            TypeError: ``envelope`` is not a `BusEnvelope` or has mistyped fields.
            BusError: The bus is closed or Redis cannot be reached.
        """
        text = encode_envelope(envelope)
        key = self.stream_key(envelope.topic)
        await self.call(
            f"publishing message {envelope.message_id!r} to {key!r}",
            lambda client: client.xadd(key, {_FIELD: text}, maxlen=self._maxlen, approximate=True),
        )

    async def subscribe(
        self, topic: str, *, group: str, consumer: str, ack_wait_s: float = 30.0
    ) -> _RedisSubscription:
        """Join ``group`` on ``topic`` as ``consumer`` (creating the group if needed).

        Raises:
            ValueError: Bad topic, group, consumer or ``ack_wait_s``.
            TypeError: A name is not a string.
            BusError: The bus is closed or Redis cannot be reached.
        """
        key = self.stream_key(topic)
        check_group(group)
        check_consumer(consumer)
        ack_wait = check_ack_wait(ack_wait_s)
        await self.ensure_group(key, group)
        subscription = _RedisSubscription(self, topic, group, consumer, ack_wait)
        self._subscriptions.add(subscription)
        return subscription

    async def ensure_group(self, key: str, group: str) -> None:
        """Create ``group`` on ``key`` from the stream's start, unless it exists."""

        async def create(client: aioredis.Redis) -> None:
            try:
                await client.xgroup_create(key, group, id="0", mkstream=True)
            except redis_errors.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

        await self.call(f"creating group {group!r} on {key!r}", create)

    def forget(self, subscription: _RedisSubscription) -> None:
        """Drop a closed subscription from the registry (called by the subscription)."""
        self._subscriptions.discard(subscription)

    async def close(self) -> None:
        """Close every subscription (handing back its entries), then the client; idempotent."""
        for subscription in list(self._subscriptions):
            await subscription.close()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def destroy(self) -> None:
        """Delete every stream under ``{prefix}:bus:``, then close the bus.

        Works on a closed bus too (it reconnects for the deletion).
        """
        await self.close()
        pattern = f"{self._prefix}:bus:*"

        async def delete_all(client: aioredis.Redis) -> None:
            batch: list[bytes] = []
            async for key in client.scan_iter(match=pattern, count=_PAGE):
                batch.append(key)
                if len(batch) >= _PAGE:
                    await client.unlink(*batch)
                    batch.clear()
            if batch:
                await client.unlink(*batch)

        self._client = self._connect()
        try:
            await self.call(f"deleting the keys {pattern!r}", delete_all)
        finally:
            client, self._client = self._client, None
            if client is not None:
                await client.aclose()

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
        state = "closed" if self._client is None else "open"
        return f"<RedisStreamsBus {self.where} prefix={self._prefix!r} {state}>"

    def client(self, action: str) -> aioredis.Redis:
        """The open client, or `BusError` naming ``action`` when the bus is closed."""
        if self._client is None:
            raise BusError(f"{action}: the Redis bus at {self.where} is closed")
        return self._client

    async def call(self, action: str, operation: Callable[[aioredis.Redis], Awaitable[_T]]) -> _T:
        """Run ``operation`` with the client, turning driver errors into one-line `BusError` s."""
        client = self.client(action)
        return await call_redis(
            operation(client),
            where=self.where,
            action=action,
            error=BusError,
            timed_out=lambda exc: f"in time while {action}: {exc}",
        )
