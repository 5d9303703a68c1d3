"""NATS JetStream MessageBus backend (nats-py): a stream per topic, a pull consumer per group.

Design notes.

* Names, under ``stream_prefix`` (1-32 letters, digits, ``_``, ``-``; no dot,
  so a prefix is never a subject token of another): topic ``t`` is published
  on subject ``{prefix}.{t}`` and stored in stream
  ``{prefix}_{t with '.' -> '_', cut to 48}_{10 hex of sha256(t)}`` (topics that
  sanitise alike, ``a.b`` / ``a_b``, still get their own). Group ``g`` is the
  durable consumer ``g`` on that stream: the shared name rules of
  `penguiflow.bus`, checked before any I/O, already make it a valid NATS name.
* A stream per topic, not one per prefix, gives each topic its own retention,
  so a chatty topic cannot evict a quiet one's messages: limits retention,
  file storage, ``max_age_s`` and ``max_msgs`` (oldest dropped). Messages stay
  after they are acknowledged, which lets a group created later read the topic
  from its start. A stream that already exists is used as it is.
* A group is a durable pull consumer (``deliver_policy=all``,
  ``ack_policy=explicit``, ``ack_wait=ack_wait_s``, unlimited redeliveries)
  that every subscriber creates or updates, so the latest subscriber's
  ``ack_wait_s`` applies to the group. Subscriptions long-poll with fetches of
  ``fetch_batch`` messages lasting at most a second (idle: one request a
  second, no CPU). ``redelivered`` means JetStream delivered it before; the
  fetch length is jittered because a fetch that expires just as the server
  redelivers can make nats-server (seen on 2.9) under-count the delivery.
* An ephemeral group is a durable consumer with ``deliver_policy=new`` and
  ``inactive_threshold=ephemeral_ttl_s`` (300 s): the server deletes it once
  nobody pulled from it for that long, the cleanup after a crash. A group
  that exists is joined keeping its deliver policy and inactivity limit. The
  bus's last subscription on it deletes it on close (left to the limit when
  disconnected). A live member can lose it too (not iterated for
  ``ephemeral_ttl_s``, or closed by a member elsewhere), so at most every
  ``ephemeral_ttl_s / 2`` it checks, before a fetch, that the consumer
  exists, and recreates it from the first stream sequence it was not handed
  or has not acknowledged (those come again, not flagged ``redelivered``).
* An envelope travels as its shared JSON form, headers included. The
  ``Nats-Msg-Id`` header (a hash of ``message_id``) makes the stream drop a
  duplicate publish within two minutes, so a publish that timed out can be
  repeated with the same envelope.
* Closing a subscription ``nak`` s what it handed out unacknowledged, so that
  goes straight back to the group; what the server had already sent towards a
  fetch in flight comes back after ``ack_wait_s``.
* Faults: connecting fails at the first refused attempt, and within
  ``connect_timeout`` anyway; requests and publish confirmations are bounded by
  ``request_timeout``. A lost connection is restored by nats-py
  (``max_reconnect_attempts`` tries, two seconds apart) while subscriptions
  wait; deliveries lost with it come back after ``ack_wait_s``. Once nats-py
  gives up, every call and subscription raises `BusError`.
* `NatsJetStreamBus.destroy` deletes every stream under the prefix, with its
  consumers, whichever instance created it.
* Layout of the code: the bus holds a `NatsConnection`
  (``bus/_nats_connection.py``: the client and its reconnect events, the
  streams, the groups, the open subscriptions; it uses ``bus/_nats_groups.py``
  for the consumer configuration) and hands it, never itself, to each
  `NatsSubscription` (``bus/_nats_subscription.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from types import TracebackType
from typing import Self

from penguiflow._drivers.urls import printable_where
from penguiflow.bus._codec import (
    check_ack_wait,
    check_consumer,
    check_count,
    check_ephemeral,
    check_group,
    check_seconds,
    check_topic,
    encode_envelope,
)
from penguiflow.bus.base import BusEnvelope, BusError, Subscription

try:
    from nats.js import JetStreamContext, api
    from nats.js import errors as js_errors

    from penguiflow.bus._nats_connection import NatsConnection as _NatsConnection
    from penguiflow.bus._nats_connection import NatsOptions as _Options
    from penguiflow.bus._nats_subscription import NatsSubscription as _NatsSubscription
except ImportError as _missing:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        f"NatsJetStreamBus needs the nats-py driver ({_missing}): "
        'pip install "penguiflow-core[nats]"'
    ) from _missing

__all__ = ["NatsJetStreamBus"]

_PREFIX = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")


class NatsJetStreamBus:
    """A `MessageBus` on NATS JetStream through nats-py.

    Open it with `NatsJetStreamBus.open` (or `penguiflow.bus.open_bus` with a
    ``nats://`` URL).

    Example:
        >>> bus = await NatsJetStreamBus.open("nats://broker:4222")  # doctest: +SKIP
        >>> await bus.publish(BusEnvelope("jobs", {"n": 1}))  # doctest: +SKIP
    """

    def __init__(self, url: str, where: str, options: _Options) -> None:
        self._where = where
        self._options = options
        self._prefix = options.stream_prefix
        self._connection = _NatsConnection(url, where, options)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        stream_prefix: str = "PENGUIFLOW",
        max_age_s: float = 86400.0,
        max_msgs: int = 100_000,
        connect_timeout: float = 5.0,
        request_timeout: float = 5.0,
        max_reconnect_attempts: int = 60,
        fetch_batch: int = 1,
        ephemeral_ttl_s: float = 300.0,
    ) -> Self:
        """Connect to NATS at ``url`` and check that JetStream is available.

        Args:
            url: ``nats://[user:password@]host[:port]`` (``tls://`` for TLS).
            stream_prefix: Namespace of the streams and subjects: 1-32 letters,
                digits, ``_`` or ``-``.
            max_age_s: Seconds a message is kept on its topic.
            max_msgs: Most messages kept per topic (the oldest are dropped).
            connect_timeout: Seconds allowed for connecting.
            request_timeout: Seconds allowed for each JetStream request and
                publish confirmation.
            max_reconnect_attempts: Tries, two seconds apart, to get a lost
                connection back before calls fail with `BusError`.
            fetch_batch: Messages fetched per request. More is faster, but a
                fetched message waits in memory, spending its ``ack_wait_s``,
                and the group's members share the messages less evenly.
            ephemeral_ttl_s: Seconds without a reader after which the server
                deletes an ephemeral group (the cleanup after a crash).

        Raises:
            ValueError: Bad URL, prefix or option.
            BusError: The server cannot be reached, refuses us or lacks JetStream.
        """
        where = printable_where(
            url,
            schemes=("nats", "tls"),
            default_port=4222,
            name="NATS",
            expected="nats://host:4222 (or tls://host:4222)",
            not_a_string="NatsJetStreamBus.open() takes a URL string",
        )
        prefix: object = stream_prefix
        if not isinstance(prefix, str) or not _PREFIX.match(prefix):
            raise ValueError(
                f"invalid NATS stream prefix {prefix!r}: use 1-32 letters, digits, "
                "'_' or '-' (no '.', so prefixes never overlap)"
            )
        options = _Options(
            stream_prefix=prefix,
            max_age_s=check_seconds("max_age_s", max_age_s),
            max_msgs=check_count("max_msgs", max_msgs),
            connect_timeout=check_seconds("connect_timeout", connect_timeout),
            request_timeout=check_seconds("request_timeout", request_timeout),
            max_reconnect_attempts=check_count("max_reconnect_attempts", max_reconnect_attempts),
            fetch_batch=check_count("fetch_batch", fetch_batch),
            ephemeral_ttl_s=check_seconds("ephemeral_ttl_s", ephemeral_ttl_s),
        )
        bus = cls(url, where, options)
        await bus._connection.connect()
        return bus

    @property
    def stream_prefix(self) -> str:
        """The namespace of this bus's streams and subjects."""
        return self._prefix

    @property
    def ephemeral_ttl_s(self) -> float:
        """Seconds without a reader after which the server deletes an ephemeral group."""
        return self._options.ephemeral_ttl_s

    def stream_name(self, topic: str) -> str:
        """Return the name of the JetStream stream that holds ``topic``."""
        return self._connection.stream_name(topic)

    def subject(self, topic: str) -> str:
        """Return the NATS subject ``topic`` is published on."""
        return self._connection.subject(topic)

    async def publish(self, envelope: BusEnvelope) -> None:
        """Store ``envelope`` on its topic's stream; returns once JetStream confirmed it.

        Raises:
            TypeError: Not a `BusEnvelope`, or a field of the wrong type.
            ValueError: A bad topic name, or a body that is not JSON-safe.
            BusError: Not confirmed within ``request_timeout`` (publishing the
                same envelope again is safe: the stream drops the duplicate),
                too large for the server, or NATS refused or is unreachable.
        """
        # surrogatepass: a lone surrogate in a string survives the trip, as in memory.
        data = encode_envelope(envelope).encode("utf-8", "surrogatepass")
        topic = envelope.topic
        action = f"publishing message {envelope.message_id!r} to {topic!r}"
        connection = self._connection
        max_payload = connection.client(action).max_payload
        if len(data) > max_payload:
            raise BusError(
                f"message {envelope.message_id!r} on topic {topic!r} is {len(data)} bytes, "
                f"more than the {max_payload} NATS at {self._where} accepts"
            )
        subject = self.subject(topic)
        msg_id = hashlib.sha256(envelope.message_id.encode("utf-8", "surrogatepass")).hexdigest()

        async def publish(js: JetStreamContext) -> None:
            for attempt in (1, 2):
                stream = await connection.ensure_stream(topic)
                try:
                    await js.publish(
                        subject,
                        data,
                        timeout=self._options.request_timeout,
                        stream=stream,
                        headers={"Nats-Msg-Id": msg_id},
                    )
                    return
                except js_errors.NoStreamResponseError:
                    connection.forget_stream(stream)  # deleted behind our back: create it again
                    if attempt == 2:
                        raise

        await connection.call(action, publish)

    async def subscribe(
        self,
        topic: str,
        *,
        group: str,
        consumer: str,
        ack_wait_s: float = 30.0,
        ephemeral: bool = False,
    ) -> Subscription:
        """Join ``group`` on ``topic`` as ``consumer``, creating the group if needed.

        A new group starts at the oldest message the topic's stream still
        holds, or with ``ephemeral=True`` after the newest one; an ephemeral
        group is deleted when its last subscription on this bus closes (see
        the module notes). ``ack_wait_s`` is the group's on NATS: the latest
        subscriber's value applies.

        Raises:
            ValueError: A bad topic, group or consumer name, or ``ack_wait_s``.
            TypeError: A name is not a string, or ``ephemeral`` is not a bool.
            BusError: NATS refused or is unreachable.
        """
        check_topic(topic)
        check_group(group)
        check_consumer(consumer)
        ack_wait = check_ack_wait(ack_wait_s)
        check_ephemeral(ephemeral)
        connection = self._connection
        pull, next_seq = await connection.join_group(topic, group, ack_wait, ephemeral=ephemeral)
        subscription = _NatsSubscription(
            connection,
            pull,
            topic=topic,
            group=group,
            consumer=consumer,
            batch=self._options.fetch_batch,
            ack_wait_s=ack_wait,
            ephemeral=ephemeral,
            next_seq=next_seq,
        )
        connection.add(subscription)
        return subscription

    async def close(self) -> None:
        """Close the open subscriptions (giving back what they did not acknowledge),
        flush what is still buffered and close the connection; idempotent."""
        await self._connection.close()

    async def destroy(self) -> None:
        """Delete every stream under this bus's prefix (with its groups), then close.

        Works on a closed bus too (it reconnects for the deletion).
        """
        if self._connection.closed:
            await self._connection.connect()

        async def delete_all(js: JetStreamContext) -> None:
            streams: list[api.StreamInfo] = []
            while page := await js.streams_info(offset=len(streams)):
                streams += page
            for info in streams:
                name, subjects = info.config.name or "", info.config.subjects or []
                if (
                    name.startswith(f"{self._prefix}_")
                    and subjects
                    and all(s.startswith(f"{self._prefix}.") for s in subjects)
                ):
                    with contextlib.suppress(js_errors.NotFoundError):
                        await js.delete_stream(name)

        action = f"deleting the streams of prefix {self._prefix!r}"
        try:
            await self._connection.call(action, delete_all)
        finally:
            await self.close()

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
        return f"<NatsJetStreamBus {self._where} prefix={self._prefix!r} {state}>"
