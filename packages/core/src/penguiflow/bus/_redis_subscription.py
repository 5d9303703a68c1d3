"""The subscription and delivery classes of `penguiflow.bus.redis_streams.RedisStreamsBus`.

A `RedisSubscription` is one consumer-group member on one stream: an async
iterator of `RedisDelivery` s fed by ``XREADGROUP`` and ``XAUTOCLAIM``. It
reaches the server, the settings and its group through the bus's
`RedisConnection`. The design notes are in `penguiflow.bus.redis_streams`.
Imports the redis driver at import time; only `penguiflow.bus.redis_streams`
imports this module, inside its guarded driver import.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Self

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from penguiflow._drivers.cancel_safe import forget_outcome
from penguiflow.bus._codec import DeliveryBase, decode_envelope
from penguiflow.bus._redis_connection import RedisConnection
from penguiflow.bus.base import BusEnvelope, BusError

__all__ = ["FIELD", "PAGE", "RedisDelivery", "RedisSubscription"]

logger = logging.getLogger("penguiflow.bus")

FIELD = b"envelope"
"""The one field of a stream entry; it holds the envelope's JSON."""

PAGE = 500
"""Entries asked for per command when scanning a pending list or the key space."""

_HANDBACK_IDLE_MS = 365 * 24 * 3600 * 1000
_Entry = tuple[bytes, dict[bytes, bytes] | None, bool]  # (entry id, fields, redelivered)


class RedisDelivery(DeliveryBase):
    """One delivery of a `RedisStreamsBus` subscription."""

    __slots__ = ("_entry_id", "_subscription")

    def __init__(
        self,
        subscription: RedisSubscription,
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


class RedisSubscription:
    """A consumer-group member on one stream (iterate it from one task; close it when done)."""

    def __init__(
        self,
        connection: RedisConnection,
        topic: str,
        group: str,
        consumer: str,
        ack_wait_s: float,
        ephemeral: bool,
    ) -> None:
        self._connection = connection
        self._topic = topic
        self.key = connection.stream_key(topic)
        self.group = group
        self._consumer = consumer
        self._ephemeral = ephemeral
        self._last_read: bytes | None = None  # where a vanished ephemeral group restarts
        self._ack_wait_ms = max(1, round(ack_wait_s * 1000))
        self._claim_every = min(ack_wait_s / 4, connection.block_ms / 1000)
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

    async def __anext__(self) -> RedisDelivery:
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
                give_up_after = self._connection.reconnect_timeout_s
                if now - failing_since >= give_up_after:
                    raise BusError(
                        f"lost Redis at {self._connection.where} while reading {self.key!r} "
                        f"(group {self.group!r}) for {give_up_after}s: {exc}"
                    ) from exc
                self._recover = True
                await asyncio.sleep(backoff)  # waiting for the server to come back
                backoff = min(backoff * 2, 2.0)
            except redis_errors.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise BusError(
                        f"Redis at {self._connection.where} rejected a read of {self.key!r} "
                        f"(group {self.group!r}): {exc}"
                    ) from exc
                # The stream or group vanished (server restarted empty, key deleted).
                start = (self._last_read or b"$") if self._ephemeral else b"0"
                await self._connection.ensure_group(self.key, self.group, start)
            except redis_errors.RedisError as exc:
                raise BusError(
                    f"Redis at {self._connection.where} failed reading {self.key!r}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            else:
                failing_since, backoff = None, 0.1

    async def _fill(self) -> None:
        """Put the next entries into the buffer, or return empty-handed after blocking."""
        client = self._connection.client(f"reading {self.key!r}")
        loop = asyncio.get_running_loop()
        if self._recover:
            reply = await client.xreadgroup(self.group, self._consumer, {self.key: "0"}, count=PAGE)
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
                self.key,
                self.group,
                self._consumer,
                min_idle_time=self._ack_wait_ms,
                start_id=self._claim_cursor,
                count=self._connection.read_count,
            )
            self._claim_cursor = cursor
            scanning = cursor not in (b"0-0", "0-0")
            self._next_claim_at = now if scanning else now + self._claim_every
            self._buffer.extend((entry_id, f, True) for entry_id, f in claimed)
            if claimed or scanning:
                return
        until_claim_ms = max(1, int((self._next_claim_at - now) * 1000))
        block_ms = min(self._connection.block_ms, until_claim_ms)
        reply = await client.xreadgroup(
            self.group,
            self._consumer,
            {self.key: ">"},
            count=self._connection.read_count,
            block=block_ms,
        )
        entries = self._entries(reply)
        if entries:
            self._last_read = entries[-1][0]
        self._buffer.extend((entry_id, f, False) for entry_id, f in entries)

    @staticmethod
    def _entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
        streams = reply.values() if isinstance(reply, dict) else (s[1] for s in reply or ())
        return [(entry_id, fields) for entries in streams for entry_id, fields in entries]

    async def _deliver(self, entry: _Entry) -> RedisDelivery | None:
        entry_id, fields, redelivered = entry
        raw = None if fields is None else fields.get(FIELD)
        try:
            if raw is None:
                raise ValueError("no 'envelope' field (the entry was trimmed or is foreign)")
            envelope = decode_envelope(raw)
        except ValueError as exc:
            logger.error(
                "skipping unreadable entry %s of Redis stream %r (group %r): %s; "
                "it is acknowledged and left in the stream",
                entry_id.decode(errors="replace"),
                self.key,
                self.group,
                exc,
            )
            await self.ack(entry_id, None)
            return None
        self._outstanding.add(entry_id)
        return RedisDelivery(self, entry_id, envelope, redelivered)

    async def ack(self, entry_id: bytes, message_id: str | None) -> None:
        """``XACK`` one entry of this subscription's stream for its group."""
        what = f"acking message {message_id!r}" if message_id else "acking an entry"
        await self._connection.call(
            f"{what} (entry {entry_id.decode(errors='replace')} of {self.key!r})",
            lambda client: client.xack(self.key, self.group, entry_id),
        )
        self._outstanding.discard(entry_id)

    async def close(self) -> None:
        """Stop receiving and hand this member's unacknowledged entries back (idempotent).

        The last open member of an ephemeral group deletes the group instead.
        Never raises for an unreachable server: the entries then come back
        after ``ack_wait_s`` like those of a crashed member (an ephemeral
        group stays, idle, until ``destroy()``).
        """
        if self._closed:
            return
        self._closed = True
        self._connection.forget(self)
        read = self._read
        if read is not None and not read.done():
            read.cancel()
            await asyncio.wait((read,))
        self._buffer.clear()
        self._outstanding.clear()
        if self._ephemeral and not self._connection.has_members(self.key, self.group):
            try:
                await self._connection.drop_group(self.key, self.group)
            except BusError as exc:
                logger.warning("%s; the idle group stays until destroy()", exc)
            return
        try:
            await self._connection.call(
                f"handing back the pending entries of {self.key!r}", self._hand_back
            )
        except BusError as exc:
            logger.warning("%s; they are redelivered after ack_wait_s instead", exc)

    async def _hand_back(self, client: aioredis.Redis) -> None:
        start: bytes | str = "-"
        while True:
            page = await client.xpending_range(
                self.key, self.group, start, "+", PAGE, consumername=self._consumer
            )
            ids: list[Any] = [item["message_id"] for item in page]
            if ids:
                await client.xclaim(
                    self.key,
                    self.group,
                    self._consumer,
                    0,
                    ids,
                    idle=_HANDBACK_IDLE_MS,
                    justid=True,
                )
            if len(ids) < PAGE:
                return
            start = b"(" + ids[-1]

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<RedisStreamsBus subscription {self.key!r} group={self.group!r} "
            f"consumer={self._consumer!r}{' ephemeral' if self._ephemeral else ''} {state}>"
        )
