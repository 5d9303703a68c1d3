"""The MessageBus protocol: durable topics with consumer groups and at-least-once delivery.

Design notes. Distributed execution (a node served by worker processes) needs
exactly three things from a broker, and every backend provides them the same
way:

* `publish(envelope)` appends a `BusEnvelope` to its topic (a Redis Stream, a
  NATS JetStream subject); it returns once the broker has stored it.
* `subscribe(topic, group=..., consumer=...)` yields `Delivery` objects. The
  members of one group share the topic's messages (each message goes to one
  member); different groups each see every message.
* A delivery must be `ack()`ed after the work is done. A message not acked
  within the subscription's ``ack_wait_s`` (its consumer died or hung) is
  delivered again, to any member of the group, with ``redelivered`` set — so
  delivery is at-least-once and receivers deduplicate by ``message_id``.
* A group sees the messages stored on the topic before it was created (from
  the start of the topic's retention), then every new one, in publish order.
  Retention is bounded per backend (documented there).
* An *ephemeral* group (``subscribe(..., ephemeral=True)``) is for
  broadcast-style listeners that must not leave durable state behind, such
  as a reply topic per owner or a control topic per worker. If it does not
  exist yet it is created at the *end* of the topic, so it sees only
  messages published after ``subscribe()`` returned; an existing group is
  joined as it is. Closing the subscription (or the bus) deletes the group
  from the broker, unacknowledged deliveries included, unless another open
  subscription of the same bus object is still on it (the last one to close
  deletes it). Members on *other* connections find the group gone and
  recreate it on their next read, from where they were (see the backends).
  A process that dies without closing leaves the group behind: NATS removes
  it after the bus's ``ephemeral_ttl_s`` without a reader, Redis keeps a
  small idle group until ``destroy()``. Acknowledgement and redelivery work
  as in any group. Do not mix ephemeral and durable subscriptions on one
  group name: closing the ephemeral one deletes the group for everyone.

Backends: in-memory (``memory://``, one process), Redis Streams with consumer
groups (``redis://``) and NATS JetStream (``nats://``), built by `open_bus(url)`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from penguiflow.errors import PenguiFlowError

__all__ = ["BusEnvelope", "BusError", "Delivery", "MessageBus", "Subscription"]


class BusError(PenguiFlowError, RuntimeError):
    """A bus could not be opened, reached or used (the message says which and why)."""


@dataclass(frozen=True, slots=True)
class BusEnvelope:
    """One message on the bus.

    Attributes:
        topic: Where it is published (letters, digits, ``.``, ``-``, ``_``).
        body: JSON-safe content (for flow traffic: the serialised message).
        headers: Small string metadata (trace id, node, reply topic, ...).
        message_id: Unique id; receivers deduplicate redeliveries by it.
        ts: Creation time, epoch seconds.
    """

    topic: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    message_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ts: float = field(default_factory=time.time)


@runtime_checkable
class Delivery(Protocol):
    """A received envelope that must be acknowledged once handled."""

    @property
    def envelope(self) -> BusEnvelope:
        """The message."""
        ...

    @property
    def redelivered(self) -> bool:
        """Whether an earlier delivery of this message was not acknowledged in time."""
        ...

    async def ack(self) -> None:
        """Confirm the message was handled; it will not be delivered again."""
        ...


@runtime_checkable
class Subscription(Protocol):
    """An async iterator of deliveries for one group member; close it when done."""

    def __aiter__(self) -> AsyncIterator[Delivery]: ...

    async def close(self) -> None:
        """Stop receiving; unacknowledged deliveries go back to the group (an
        ephemeral group is deleted instead). Idempotent."""
        ...


@runtime_checkable
class MessageBus(Protocol):
    """A durable, at-least-once message bus with consumer groups."""

    async def publish(self, envelope: BusEnvelope) -> None:
        """Store ``envelope`` on its topic; returns once the broker accepted it."""
        ...

    async def subscribe(
        self,
        topic: str,
        *,
        group: str,
        consumer: str,
        ack_wait_s: float = 30.0,
        ephemeral: bool = False,
    ) -> Subscription:
        """Join ``group`` on ``topic`` as ``consumer``.

        Messages not acked within ``ack_wait_s`` are redelivered to the group.
        A new group starts at the oldest retained message, or with
        ``ephemeral=True`` at the end of the topic; an ephemeral group is
        deleted from the broker when its subscription closes (see the module
        notes).

        Raises:
            TypeError: A name is not a string, or ``ephemeral`` is not a bool.
            ValueError: A bad topic, group or consumer name, or ``ack_wait_s``.
            BusError: The bus is closed or the broker refused or is unreachable.
        """
        ...

    async def close(self) -> None:
        """Release connections; idempotent."""
        ...
