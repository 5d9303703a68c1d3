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
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

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
    from nats import errors as nats_errors
    from nats.aio.client import Client as NATS
    from nats.js import JetStreamContext, api
    from nats.js import errors as js_errors

    from penguiflow.bus._nats_groups import find_group as _find_group
    from penguiflow.bus._nats_groups import group_config as _group_config
    from penguiflow.bus._nats_groups import join_group as _join_group
    from penguiflow.bus._nats_subscription import POLL_S as _POLL_S
    from penguiflow.bus._nats_subscription import NatsSubscription as _NatsSubscription
    from penguiflow.bus._nats_subscription import cancel_and_wait as _cancel_and_wait
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        f'NatsJetStreamBus needs the nats-py driver ({exc}): pip install "penguiflow-core[nats]"'
    ) from exc

__all__ = ["NatsJetStreamBus"]

_T = TypeVar("_T")
_log = logging.getLogger(__name__)

_PREFIX = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")
_STREAM_NAME_IN_USE = 10058  # JetStream err_code: the name exists with another configuration


@dataclass(frozen=True, slots=True)
class _Options:
    """The checked options of `NatsJetStreamBus.open`."""

    stream_prefix: str
    max_age_s: float
    max_msgs: int
    connect_timeout: float
    request_timeout: float
    max_reconnect_attempts: int
    fetch_batch: int
    ephemeral_ttl_s: float


class NatsJetStreamBus:
    """A `MessageBus` on NATS JetStream through nats-py.

    Open it with `NatsJetStreamBus.open` (or `penguiflow.bus.open_bus` with a
    ``nats://`` URL).

    Example:
        >>> bus = await NatsJetStreamBus.open("nats://broker:4222")  # doctest: +SKIP
        >>> await bus.publish(BusEnvelope("jobs", {"n": 1}))  # doctest: +SKIP
    """

    def __init__(self, url: str, where: str, options: _Options) -> None:
        self._url = url
        self._where = where
        self._options = options
        self._prefix = options.stream_prefix
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._online = asyncio.Event()
        self._connect_failed: asyncio.Future[BaseException] | None = None
        self._streams: set[str] = set()
        self._subscriptions: set[_NatsSubscription] = set()

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
        await bus._connect()
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
        digest = hashlib.sha256(check_topic(topic).encode()).hexdigest()[:10]
        return f"{self._prefix}_{topic.replace('.', '_')[:48]}_{digest}"

    def subject(self, topic: str) -> str:
        """Return the NATS subject ``topic`` is published on."""
        return f"{self._prefix}.{check_topic(topic)}"

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
        max_payload = self._client(action).max_payload
        if len(data) > max_payload:
            raise BusError(
                f"message {envelope.message_id!r} on topic {topic!r} is {len(data)} bytes, "
                f"more than the {max_payload} NATS at {self._where} accepts"
            )
        subject = self.subject(topic)
        msg_id = hashlib.sha256(envelope.message_id.encode("utf-8", "surrogatepass")).hexdigest()

        async def publish(js: JetStreamContext) -> None:
            for attempt in (1, 2):
                stream = await self._ensure_stream(topic)
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
                    self._streams.discard(stream)  # deleted behind our back: create it again
                    if attempt == 2:
                        raise

        await self._call(action, publish)

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
        durable = check_group(group)
        check_consumer(consumer)
        ack_wait = check_ack_wait(ack_wait_s)
        check_ephemeral(ephemeral)
        ttl = self._options.ephemeral_ttl_s if ephemeral else None
        config = _group_config(self.subject(topic), durable, ack_wait, ephemeral_ttl_s=ttl)

        async def join(
            js: JetStreamContext,
        ) -> tuple[api.ConsumerInfo, JetStreamContext.PullSubscription]:
            stream = await self._ensure_stream(topic)
            info = await _join_group(js, stream, config)
            return info, await js.pull_subscribe_bind(durable=durable, stream=stream)

        info, pull = await self._call(f"joining group {group!r} on topic {topic!r}", join)
        delivered = info.delivered.stream_seq if info.delivered is not None else 0
        subscription = _NatsSubscription(
            self,
            pull,
            topic=topic,
            group=group,
            consumer=consumer,
            batch=self._options.fetch_batch,
            ack_wait_s=ack_wait,
            ephemeral=ephemeral,
            next_seq=delivered + 1,
        )
        self._subscriptions.add(subscription)
        return subscription

    def has_members(self, topic: str, group: str) -> bool:
        """Whether an open subscription of this bus is on ``group`` of ``topic``."""
        return any(s.topic == topic and s.group == group for s in self._subscriptions)

    async def drop_group(self, topic: str, group: str) -> None:
        """Delete ``group`` (an ephemeral one whose last subscription closed).

        Never raises: a group that cannot be deleted now is left for the
        server to remove after ``ephemeral_ttl_s`` without readers.
        """
        stream = self.stream_name(topic)
        nc = self._nc
        later = f"the server deletes it after {self.ephemeral_ttl_s:g}s without readers"
        if nc is None or not nc.is_connected:
            why = f"not connected, so the ephemeral group {group!r} of topic {topic!r} stays"
            _log.warning("NATS bus at %s: %s; %s", self._where, why, later)
            return

        async def delete(js: JetStreamContext) -> None:
            with contextlib.suppress(js_errors.NotFoundError):  # already gone: done
                await js.delete_consumer(stream, group)

        try:
            await self._call(f"deleting the ephemeral group {group!r} of topic {topic!r}", delete)
        except BusError as exc:
            _log.warning("%s; %s", exc, later)

    async def revive_group(
        self, topic: str, group: str, ack_wait_s: float, resume_seq: int
    ) -> None:
        """Recreate the ephemeral ``group`` if the server lost it, from ``resume_seq`` on.

        Raises:
            BusError: NATS refused or is unreachable.
        """
        stream = self.stream_name(topic)

        async def revive(js: JetStreamContext) -> None:
            found = await _find_group(js, stream, group)
            if found == "found":
                return
            # A stream created anew holds only messages this member has not seen.
            start = 1 if found == "no stream" else resume_seq
            self._streams.discard(stream)
            await self._ensure_stream(topic)
            config = _group_config(
                self.subject(topic),
                group,
                ack_wait_s,
                ephemeral_ttl_s=self.ephemeral_ttl_s,
                start_seq=start,
            )
            await _join_group(js, stream, config)
            _log.info(
                "NATS bus at %s: recreated the ephemeral group %r of topic %r (idle for "
                "%gs, or deleted elsewhere) from stream sequence %d",
                self._where,
                group,
                topic,
                self.ephemeral_ttl_s,
                start,
            )

        await self._call(f"checking the ephemeral group {group!r} of topic {topic!r}", revive)

    async def close(self) -> None:
        """Close the open subscriptions (giving back what they did not acknowledge),
        flush what is still buffered and close the connection; idempotent."""
        for subscription in list(self._subscriptions):
            await subscription.close()
        nc, self._nc, self._js = self._nc, None, None
        self._streams.clear()
        if nc is None:
            return
        if nc.is_connected:
            with contextlib.suppress(nats_errors.Error, OSError, TimeoutError):
                await nc.flush(timeout=math.ceil(self._options.request_timeout))
        await nc.close()

    async def destroy(self) -> None:
        """Delete every stream under this bus's prefix (with its groups), then close.

        Works on a closed bus too (it reconnects for the deletion).
        """
        if self._nc is None:
            await self._connect()

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

        try:
            await self._call(f"deleting the streams of prefix {self._prefix!r}", delete_all)
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
        state = "closed" if self._nc is None else "open"
        return f"<NatsJetStreamBus {self._where} prefix={self._prefix!r} {state}>"

    def _client(self, action: str) -> NATS:
        if self._nc is None:
            raise BusError(f"NATS at {self._where}, {action}: the bus is closed")
        return self._nc

    async def _call(
        self, action: str, operation: Callable[[JetStreamContext], Awaitable[_T]]
    ) -> _T:
        """Run ``operation`` with the JetStream context, turning driver errors into `BusError`."""
        self._client(action)
        js = self._js
        assert js is not None
        try:
            return await operation(js)
        except (TimeoutError, nats_errors.Error, OSError) as exc:
            raise self._error(action, exc) from exc

    def _error(self, action: str, exc: BaseException) -> BusError:
        """Say in one line what went wrong with ``action``."""
        at, options = f"NATS at {self._where}", self._options
        if isinstance(exc, BusError):
            return exc
        if self._nc is None:
            why = "the bus is closed"
        elif isinstance(exc, nats_errors.ConnectionClosedError):
            why = (
                f"the connection was lost and {options.max_reconnect_attempts} reconnect "
                "attempts failed; check the server"
            )
        elif isinstance(exc, js_errors.ServiceUnavailableError | js_errors.NoStreamResponseError):
            why = "JetStream did not answer; is it enabled on the server (nats-server -js)?"
        elif isinstance(exc, js_errors.APIError):
            why = f"JetStream refused: {exc.description} (code {exc.code}, err_code {exc.err_code})"
        elif isinstance(exc, TimeoutError):
            why = (
                f"no answer within {options.request_timeout}s; check the server's load "
                "or raise request_timeout"
            )
        else:
            why = str(exc) or type(exc).__name__
        return BusError(f"{at}, {action}: {why}")

    async def _wait_online(self, closing: asyncio.Future[None], action: str) -> bool:
        """Return whether the connection is up, after waiting up to one poll if it is not."""
        nc = self._client(action)
        if nc.is_connected:
            return True
        if nc.is_closed:
            raise self._error(action, nats_errors.ConnectionClosedError())
        online = asyncio.ensure_future(self._online.wait())
        try:
            waiters: set[asyncio.Future[Any]] = {online, closing}
            await asyncio.wait(waiters, timeout=_POLL_S[1], return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancel_and_wait(online)
        return False

    async def _ensure_stream(self, topic: str) -> str:
        """Create the topic's stream once per connection (idempotent across processes)."""
        name = self.stream_name(topic)
        if name in self._streams:
            return name
        js = self._js
        assert js is not None
        subject = self.subject(topic)
        config = api.StreamConfig(
            name=name,
            description=f"penguiflow bus topic {topic!r}",
            subjects=[subject],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            discard=api.DiscardPolicy.OLD,
            max_age=self._options.max_age_s,
            max_msgs=self._options.max_msgs,
            duplicate_window=min(120.0, self._options.max_age_s),
        )
        try:
            await js.add_stream(config)
        except js_errors.BadRequestError as exc:
            if exc.err_code != _STREAM_NAME_IN_USE:
                raise
            # It exists with other limits (another process's options): use it as it is.
            found = (await js.stream_info(name)).config.subjects
            if found != [subject]:
                raise BusError(
                    f"stream {name!r} at {self._where} has subjects {found}, not "
                    f"[{subject!r}]: it is not a penguiflow bus topic; use another stream_prefix"
                ) from exc
        self._streams.add(name)
        return name

    async def _connect(self) -> None:
        """Connect, failing at the first refused attempt and within ``connect_timeout``."""
        nc = NATS()
        failed: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
        self._connect_failed = failed
        connecting = asyncio.ensure_future(
            nc.connect(
                self._url,
                name="penguiflow-bus",
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
                closed_cb=self._on_closed,
                connect_timeout=math.ceil(self._options.connect_timeout),
                max_reconnect_attempts=self._options.max_reconnect_attempts,
                ping_interval=20,
            )
        )
        try:
            waiters: set[asyncio.Future[Any]] = {connecting, failed}
            await asyncio.wait(
                waiters, timeout=self._options.connect_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._connect_failed = None
            await _cancel_and_wait(connecting)
        if connecting.cancelled() or connecting.exception() is not None:
            problem = None if connecting.cancelled() else connecting.exception()
            if problem is None and failed.done():
                problem = failed.result()
            with contextlib.suppress(Exception):
                await nc.close()
            reason = (
                f"no answer within {self._options.connect_timeout}s"
                if problem is None
                else (str(problem) or type(problem).__name__)
            )
            raise BusError(
                f"cannot reach NATS at {self._where}: {reason}; check that the server is "
                "running and the URL's host, port and credentials"
            )
        self._nc, self._js = nc, nc.jetstream(timeout=self._options.request_timeout)
        self._online.set()
        try:
            await self._call("checking for JetStream", lambda js: js.account_info())
        except BusError:
            await self.close()
            raise

    async def _on_error(self, exc: Exception) -> None:
        failed = self._connect_failed
        if failed is None:
            _log.warning("NATS bus at %s: %s", self._where, str(exc) or type(exc).__name__)
        elif not failed.done():
            failed.set_result(exc)

    async def _on_disconnected(self) -> None:
        self._online.clear()

    async def _on_reconnected(self) -> None:
        self._online.set()

    async def _on_closed(self) -> None:
        self._online.set()  # wake waiting subscriptions, so they find the client closed
