"""The subscription and delivery classes of `penguiflow.bus.nats.NatsJetStreamBus`.

A `NatsSubscription` is one group member: an async iterator of
`NatsDelivery` s fed by fetches on a JetStream pull consumer. A member of an
ephemeral group also keeps that group alive (see the design notes of
`penguiflow.bus.nats`): it remembers the first stream sequence it was not
handed, and checks for its consumer every ``ephemeral_ttl_s / 2`` at most.
It reaches the server, the options and its group through the bus's
`NatsConnection`. Imports the nats-py driver at import time; only
`penguiflow.bus.nats` imports this module, inside its guarded driver import.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
from typing import Any, Self

from nats import errors as nats_errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from penguiflow._drivers.cancel_safe import cancel_and_wait
from penguiflow.bus._codec import DeliveryBase, decode_envelope
from penguiflow.bus._nats_connection import NatsConnection
from penguiflow.bus.base import BusEnvelope, BusError, Delivery

__all__ = ["BEST_EFFORT", "POLL_S", "NatsDelivery", "NatsSubscription"]

POLL_S = (0.8, 1.0)
"""Bounds of a fetch's length, drawn afresh each time."""

BEST_EFFORT = (nats_errors.Error, OSError, ValueError)
"""Errors of a best-effort nak/unsubscribe; what they fail to do, ack_wait does later."""


class NatsDelivery(DeliveryBase):
    """One fetched JetStream message, held by the application until acknowledged."""

    __slots__ = ("_msg", "_owner", "_settled", "seq")

    def __init__(self, owner: NatsSubscription, msg: Msg, envelope: BusEnvelope) -> None:
        super().__init__(envelope, msg.metadata.num_delivered > 1)
        self._owner = owner
        self._msg = msg
        self._settled = False
        self.seq: int = msg.metadata.sequence.stream

    async def ack(self) -> None:
        """Acknowledge the message; a no-op once acknowledged or given back on close."""
        if self._settled:
            return
        await self._owner.connection.call(
            f"acknowledging message {self._envelope.message_id!r}", lambda js: self._msg.ack()
        )
        self._settled = True
        self._owner.unacked.discard(self)

    async def _give_back(self, *, nak: bool) -> None:
        if not self._settled:
            self._settled = True
            if nak:
                with contextlib.suppress(*BEST_EFFORT):
                    await self._msg.nak()

    def __repr__(self) -> str:
        envelope = self._envelope
        return (
            f"<NatsDelivery topic={envelope.topic!r} id={envelope.message_id!r} "
            f"redelivered={self._redelivered}>"
        )


class NatsSubscription:
    """A group member's async iterator of deliveries, fed by fetches on a pull consumer.

    One task iterates it; any task may close it.
    """

    def __init__(
        self,
        connection: NatsConnection,
        pull: JetStreamContext.PullSubscription,
        *,
        topic: str,
        group: str,
        consumer: str,
        batch: int,
        ack_wait_s: float,
        ephemeral: bool,
        next_seq: int,
    ) -> None:
        self.connection = connection
        self.unacked: set[NatsDelivery] = set()
        self.topic = topic
        self.group = group
        self._pull = pull
        self._consumer = consumer
        self._batch = batch
        self._ack_wait_s = ack_wait_s
        self._ephemeral = ephemeral
        self._next_seq = next_seq  # the first stream sequence not handed to this member
        self._buffer: collections.deque[Msg] = collections.deque()
        loop = asyncio.get_running_loop()
        self._closing: asyncio.Future[None] = loop.create_future()
        self._check_at = loop.time() + connection.options.ephemeral_ttl_s / 2

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Delivery:
        while not self._closing.done():
            if self._buffer:
                return await self._deliver(self._buffer.popleft())
            await self._fill()
        raise StopAsyncIteration

    async def close(self) -> None:
        """Stop receiving and give unacknowledged deliveries back to the group; idempotent.

        The bus's last member of an ephemeral group deletes the group instead.
        """
        if self._closing.done():
            return
        self._closing.set_result(None)
        self.connection.forget(self)
        drop = self._ephemeral and not self.connection.has_members(self.topic, self.group)
        pending, self.unacked = self.unacked, set()
        for delivery in pending:
            await delivery._give_back(nak=not drop)
        while self._buffer and not drop:
            with contextlib.suppress(*BEST_EFFORT):
                await self._buffer.popleft().nak()
        self._buffer.clear()
        with contextlib.suppress(*BEST_EFFORT):
            await self._pull.unsubscribe()
        if drop:
            await self.connection.drop_group(self.topic, self.group)

    def __repr__(self) -> str:
        state = "closed" if self._closing.done() else "open"
        return (
            f"<NatsSubscription topic={self.topic!r} group={self.group!r} "
            f"consumer={self._consumer!r}{' ephemeral' if self._ephemeral else ''} {state}>"
        )

    async def _deliver(self, msg: Msg) -> Delivery:
        try:
            envelope = decode_envelope(msg.data.decode("utf-8", "surrogatepass"))
        except ValueError as exc:
            # Terminate it so it cannot jam the group, and say so loudly.
            with contextlib.suppress(*BEST_EFFORT):
                await msg.term()
            meta = msg.metadata
            raise BusError(
                f"topic {self.topic!r} held an unreadable message (stream {meta.stream}, "
                f"sequence {meta.sequence.stream}): {exc}; it was terminated so the group "
                "can go on; was it published by something other than penguiflow?"
            ) from exc
        delivery = NatsDelivery(self, msg, envelope)
        self._next_seq = max(self._next_seq, delivery.seq + 1)
        self.unacked.add(delivery)
        return delivery

    async def _fill(self) -> None:
        """Fetch the next batch into the buffer, or return after one bounded wait."""
        action = f"receiving {self.topic!r} for group {self.group!r}"
        if not await self.connection.wait_online(self._closing, action, POLL_S[1]):
            return
        if self._ephemeral and asyncio.get_running_loop().time() >= self._check_at:
            # Our consumer may be gone: we did not pull for ephemeral_ttl_s, or another
            # connection's member closed it. Resume from what we have not finished.
            resume = min([d.seq for d in self.unacked] + [self._next_seq])
            await self.connection.revive_group(self.topic, self.group, self._ack_wait_s, resume)
            ttl = self.connection.options.ephemeral_ttl_s
            self._check_at = asyncio.get_running_loop().time() + ttl / 2
        poll = random.uniform(*POLL_S)
        fetch = asyncio.ensure_future(self._pull.fetch(self._batch, timeout=poll))
        try:
            waiters: set[asyncio.Future[Any]] = {fetch, self._closing}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Keep a batch that arrived just as the caller gave up waiting (it stays ours).
            await cancel_and_wait(fetch)
            problem = None if fetch.cancelled() else fetch.exception()
            if not fetch.cancelled() and problem is None:
                self._buffer.extend(fetch.result())
        # A poll that timed out found nothing; errors after close() do not matter.
        if problem is None or isinstance(problem, TimeoutError) or self._closing.done():
            return
        raise self.connection.error(action, problem) from problem
