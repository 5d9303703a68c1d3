"""`InMemoryBus`: the MessageBus inside one process, for tests and single-process runs.

Design notes.

* Each topic is a log (a deque of encoded envelopes) numbered by a sequence
  that never repeats. Each consumer group keeps a cursor (the next sequence
  it has not handed out) and a pending table: sequence -> the delivery not
  acknowledged yet, who holds it and when its ``ack_wait_s`` runs out.
* A member asking for the next delivery first takes any pending entry whose
  deadline has passed (a redelivery, ``redelivered=True``), then the entry at
  the group's cursor. With nothing to take it waits on the group's wake-up
  event, with a timeout equal to the earliest pending deadline, so an expired
  entry is picked up at that moment without polling. Publishing, closing a
  subscription and handing out an entry with an earlier deadline wake the
  waiting members.
* Deadlines live in a heap with lazy deletion: each pending entry carries a
  token, and heap items whose token is stale (the entry was acknowledged,
  redelivered or handed back since) are dropped when they reach the top.
* Retention: each topic keeps its last ``maxlen`` messages (100,000 by
  default); older ones are dropped, and a group that lagged further behind
  skips them. A pending entry keeps its own copy, so trimming never loses a
  message that was delivered but not acknowledged.
* An ephemeral group is created with its cursor at the topic's next
  sequence, so it skips the retained history. When an ephemeral
  subscription closes and no other open subscription of the bus is on its
  group, the group is dropped from the topic, pending entries and all; a
  later subscribe creates a fresh one at the end. Closing the bus closes
  every subscription, so it drops them all.
* Envelopes are stored as JSON text, so this bus accepts exactly what the
  brokers accept and every delivery is a fresh copy.
* Timing uses the event loop's clock. No method awaits anything while it
  changes the tables, so concurrent tasks never see a half-done update.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from penguiflow.bus._codec import (
    DeliveryBase,
    check_ack_wait,
    check_consumer,
    check_count,
    check_ephemeral,
    check_group,
    check_topic,
    decode_envelope,
    encode_envelope,
)
from penguiflow.bus.base import BusEnvelope, BusError

__all__ = ["DEFAULT_MAXLEN", "InMemoryBus"]

DEFAULT_MAXLEN = 100_000
"""Messages an `InMemoryBus` keeps per topic unless told otherwise."""

_tokens = itertools.count()


@dataclass(slots=True)
class _Pending:
    """A delivered, not yet acknowledged message of one group."""

    text: str
    holder: _MemorySubscription
    token: int


class _Topic:
    __slots__ = ("first_seq", "groups", "log")

    def __init__(self) -> None:
        self.log: deque[str] = deque()
        self.first_seq = 0
        self.groups: dict[str, _Group] = {}

    @property
    def next_seq(self) -> int:
        return self.first_seq + len(self.log)


class _Group:
    __slots__ = ("cursor", "expiry", "pending", "topic", "wakeup")

    def __init__(self, topic: _Topic, *, at_end: bool) -> None:
        self.topic = topic
        # A new group starts at the oldest retained message, an ephemeral one after the newest.
        self.cursor = topic.next_seq if at_end else topic.first_seq
        self.pending: dict[int, _Pending] = {}
        self.expiry: list[tuple[float, int, int]] = []  # (deadline, token, seq), a heap
        self.wakeup = asyncio.Event()

    def notify(self) -> None:
        """Wake every member waiting on this group."""
        self.wakeup.set()
        self.wakeup = asyncio.Event()

    def next_deadline(self) -> float | None:
        """The earliest live deadline, dropping stale heap items on the way."""
        while self.expiry:
            _, token, seq = self.expiry[0]
            entry = self.pending.get(seq)
            if entry is not None and entry.token == token:
                return self.expiry[0][0]
            heapq.heappop(self.expiry)
        return None

    def schedule(self, seq: int, entry: _Pending, deadline: float) -> None:
        earliest = self.next_deadline()
        entry.token = next(_tokens)
        heapq.heappush(self.expiry, (deadline, entry.token, seq))
        if earliest is None or deadline < earliest:
            self.notify()  # waiting members computed their timeout from a later deadline

    def take(
        self, holder: _MemorySubscription, now: float, ack_wait_s: float
    ) -> tuple[int, _Pending, bool] | None:
        """Hand ``holder`` an expired pending entry, else the next new one, else nothing."""
        deadline = self.next_deadline()
        if deadline is not None and deadline <= now:
            _, _, seq = heapq.heappop(self.expiry)
            entry = self.pending[seq]
            entry.holder = holder
            self.schedule(seq, entry, now + ack_wait_s)
            return seq, entry, True
        topic = self.topic
        self.cursor = max(self.cursor, topic.first_seq)  # skip what retention dropped
        if self.cursor >= topic.next_seq:
            return None
        seq = self.cursor
        self.cursor += 1
        entry = _Pending(topic.log[seq - topic.first_seq], holder, -1)
        self.pending[seq] = entry
        self.schedule(seq, entry, now + ack_wait_s)
        return seq, entry, False


class _MemoryDelivery(DeliveryBase):
    """One delivery of an `InMemoryBus` subscription."""

    __slots__ = ("_group", "_seq", "_subscription")

    def __init__(
        self,
        subscription: _MemorySubscription,
        group: _Group,
        seq: int,
        envelope: BusEnvelope,
        redelivered: bool,
    ) -> None:
        super().__init__(envelope, redelivered)
        self._subscription = subscription
        self._group = group
        self._seq = seq

    async def ack(self) -> None:
        """Confirm the message was handled; a late or repeated ack is harmless.

        Raises:
            BusError: The bus was closed.
        """
        if self._subscription.bus.closed:
            raise BusError(
                f"cannot ack message {self._envelope.message_id!r}: the in-memory bus is closed"
            )
        self._group.pending.pop(self._seq, None)  # its heap item goes stale

    def __repr__(self) -> str:
        return (
            f"<Delivery {self._envelope.message_id} on {self._envelope.topic!r}"
            f"{' redelivered' if self._redelivered else ''}>"
        )


class _MemorySubscription:
    """A group member's view of an `InMemoryBus` topic (iterate it; close it when done)."""

    def __init__(
        self,
        bus: InMemoryBus,
        group: _Group,
        topic: str,
        name: str,
        consumer: str,
        ack_wait: float,
        ephemeral: bool,
    ) -> None:
        self.bus = bus
        self.group = group
        self._topic = topic
        self._name = name
        self._consumer = consumer
        self._ack_wait_s = ack_wait
        self._ephemeral = ephemeral
        self._closed = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> _MemoryDelivery:
        loop = asyncio.get_running_loop()
        group = self.group
        while True:
            if self._closed:
                raise StopAsyncIteration
            now = loop.time()
            taken = group.take(self, now, self._ack_wait_s)
            if taken is not None:
                seq, entry, redelivered = taken
                envelope = decode_envelope(entry.text)
                return _MemoryDelivery(self, group, seq, envelope, redelivered)
            deadline = group.next_deadline()
            wakeup = group.wakeup
            try:
                # Cancelling here is safe: nothing was taken yet.
                async with asyncio.timeout_at(deadline):
                    await wakeup.wait()
            except TimeoutError:
                pass  # a pending entry expired: take it on the next turn

    async def close(self) -> None:
        """Stop receiving and give this member's unacknowledged deliveries back (idempotent).

        The last open member of an ephemeral group drops the group instead.
        """
        if self._closed:
            return
        self._closed = True
        self.bus._forget(self)
        group = self.group
        if self._ephemeral and not self.bus._has_members(group):
            if group.topic.groups.get(self._name) is group:
                del group.topic.groups[self._name]
            group.notify()  # wakes this member's own iteration, which then stops
            return
        returned = [seq for seq, entry in group.pending.items() if entry.holder is self]
        for seq in returned:
            group.schedule(seq, group.pending[seq], -math.inf)
        group.notify()  # wakes this member's own iteration too, which then stops

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<InMemoryBus subscription {self._topic!r} group={self._name!r} "
            f"consumer={self._consumer!r}{' ephemeral' if self._ephemeral else ''} {state}>"
        )


class InMemoryBus:
    """A `MessageBus` held in process memory (``memory://``).

    Consumer groups, acknowledgements and redelivery after ``ack_wait_s``
    behave as on the brokers, so code tested against this bus runs unchanged
    on Redis Streams or NATS JetStream. Nothing survives the process, and
    only subscriptions of this very object share its messages.

    Args:
        maxlen: Messages kept per topic; older ones are dropped (see the
            module notes on retention).

    Raises:
        ValueError: ``maxlen`` is not a positive int.

    Example:
        >>> bus = InMemoryBus()
        >>> # await bus.publish(BusEnvelope(topic="jobs", body={"n": 1}))
        >>> # sub = await bus.subscribe("jobs", group="workers", consumer="w1")
    """

    def __init__(self, *, maxlen: int = DEFAULT_MAXLEN) -> None:
        check_count("maxlen", maxlen)
        self._maxlen = maxlen
        self._topics: dict[str, _Topic] = {}
        self._subscriptions: set[_MemorySubscription] = set()
        self._closed = False

    @classmethod
    async def open(cls, url: str = "memory://", *, maxlen: int = DEFAULT_MAXLEN) -> Self:
        """Return a new, empty bus for ``memory://``.

        Args:
            url: Exactly ``memory://``.
            maxlen: Messages kept per topic (see the class).

        Raises:
            ValueError: Another URL or a bad ``maxlen``.
        """
        if url != "memory://":
            raise ValueError(f"InMemoryBus takes the URL 'memory://' only, got {url!r}")
        return cls(maxlen=maxlen)

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._closed

    @property
    def maxlen(self) -> int:
        """Messages kept per topic."""
        return self._maxlen

    async def publish(self, envelope: BusEnvelope) -> None:
        """Append ``envelope`` to its topic and wake the groups' waiting members.

        Raises:
            ValueError: Bad topic or a body that is not JSON-safe.
            TypeError: ``envelope`` is not a `BusEnvelope` or has mistyped fields.
            BusError: The bus is closed.
        """
        text = encode_envelope(envelope)
        if self._closed:
            raise BusError(
                f"cannot publish {envelope.message_id!r} to {envelope.topic!r}: "
                "the in-memory bus is closed"
            )
        topic = self._topics.get(envelope.topic)
        if topic is None:
            topic = self._topics[envelope.topic] = _Topic()
        topic.log.append(text)
        if len(topic.log) > self._maxlen:
            topic.log.popleft()
            topic.first_seq += 1
        for group in topic.groups.values():
            group.notify()

    async def subscribe(
        self,
        topic: str,
        *,
        group: str,
        consumer: str,
        ack_wait_s: float = 30.0,
        ephemeral: bool = False,
    ) -> _MemorySubscription:
        """Join ``group`` on ``topic`` as ``consumer``.

        A group that does not exist yet starts at the oldest message the topic
        still holds, or with ``ephemeral=True`` after the newest one; closing
        the last subscription of an ephemeral group drops the group. Iterate
        the returned subscription from one task at a time.

        Raises:
            ValueError: Bad topic, group, consumer or ``ack_wait_s``.
            TypeError: A name is not a string, or ``ephemeral`` is not a bool.
            BusError: The bus is closed.
        """
        check_topic(topic)
        check_group(group)
        check_consumer(consumer)
        ack_wait = check_ack_wait(ack_wait_s)
        check_ephemeral(ephemeral)
        if self._closed:
            raise BusError(f"cannot subscribe to {topic!r}: the in-memory bus is closed")
        log = self._topics.get(topic)
        if log is None:
            log = self._topics[topic] = _Topic()
        state = log.groups.get(group)
        if state is None:
            state = log.groups[group] = _Group(log, at_end=ephemeral)
        subscription = _MemorySubscription(self, state, topic, group, consumer, ack_wait, ephemeral)
        self._subscriptions.add(subscription)
        return subscription

    def _forget(self, subscription: _MemorySubscription) -> None:
        """Drop a closed subscription from the bus's registry (called by the subscription)."""
        self._subscriptions.discard(subscription)

    def _has_members(self, group: _Group) -> bool:
        """Whether an open subscription of this bus is on ``group``."""
        return any(subscription.group is group for subscription in self._subscriptions)

    async def close(self) -> None:
        """Close every subscription and refuse further use; idempotent."""
        if self._closed:
            return
        self._closed = True
        for subscription in list(self._subscriptions):
            await subscription.close()

    async def destroy(self) -> None:
        """Close the bus and forget every topic, group and message."""
        await self.close()
        self._topics.clear()

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
        state = "closed" if self._closed else "open"
        return f"<InMemoryBus topics={len(self._topics)} maxlen={self._maxlen} {state}>"
