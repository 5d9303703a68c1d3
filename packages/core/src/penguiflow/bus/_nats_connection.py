"""`NatsConnection`: what a `NatsJetStreamBus` and its subscriptions share.

That is the nats-py client and its lifecycle (connecting, reconnect events,
closing), the "run a JetStream call, turn driver errors into one-line
`BusError` s" helper, the options, the topic streams, the consumer groups
(joining, deleting, and recreating an ephemeral one the server lost), and the
registry of open subscriptions (so that the bus can close them, and the last
member of an ephemeral group can tell it is the last). The bus hands this
object, never itself, to each subscription. The design notes are in
`penguiflow.bus.nats`. Imports the nats-py driver at import time; only the
NATS bus modules import this one, inside the guarded driver import of
`penguiflow.bus.nats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from nats import errors as nats_errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api
from nats.js import errors as js_errors

from penguiflow._drivers.cancel_safe import cancel_and_wait
from penguiflow.bus._codec import check_topic
from penguiflow.bus._nats_groups import find_group, group_config, join_group
from penguiflow.bus.base import BusError

__all__ = ["Member", "NatsConnection", "NatsOptions"]

_T = TypeVar("_T")
# Named after the public module: what the bus logs is found under the bus's name.
_log = logging.getLogger("penguiflow.bus.nats")

_STREAM_NAME_IN_USE = 10058  # JetStream err_code: the name exists with another configuration


@dataclass(frozen=True, slots=True)
class NatsOptions:
    """The checked options of `NatsJetStreamBus.open`."""

    stream_prefix: str
    max_age_s: float
    max_msgs: int
    connect_timeout: float
    request_timeout: float
    max_reconnect_attempts: int
    fetch_batch: int
    ephemeral_ttl_s: float


class Member(Protocol):
    """An open subscription, as the registry sees it: one member of ``group`` on ``topic``."""

    @property
    def topic(self) -> str:
        """The topic the subscription receives."""
        ...

    @property
    def group(self) -> str:
        """The group the subscription belongs to."""
        ...

    async def close(self) -> None:
        """Stop receiving; the registry calls it when the bus closes."""
        ...


class NatsConnection:
    """The NATS client of a `NatsJetStreamBus`, its streams, groups and open subscriptions.

    Args:
        url: The server's URL (it may hold credentials; never printed).
        where: ``host:port`` of the server, for messages.
        options: The bus's checked options.
    """

    def __init__(self, url: str, where: str, options: NatsOptions) -> None:
        self._url = url
        self._where = where
        self._options = options
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._online = asyncio.Event()
        self._connect_failed: asyncio.Future[BaseException] | None = None
        self._streams: set[str] = set()
        self._members: set[Member] = set()

    @property
    def where(self) -> str:
        """``host:port`` of the server."""
        return self._where

    @property
    def options(self) -> NatsOptions:
        """The bus's checked options."""
        return self._options

    @property
    def closed(self) -> bool:
        """Whether the client is closed (or was never connected)."""
        return self._nc is None

    def stream_name(self, topic: str) -> str:
        """Return the name of the JetStream stream that holds ``topic``."""
        digest = hashlib.sha256(check_topic(topic).encode()).hexdigest()[:10]
        return f"{self.options.stream_prefix}_{topic.replace('.', '_')[:48]}_{digest}"

    def subject(self, topic: str) -> str:
        """Return the NATS subject ``topic`` is published on."""
        return f"{self.options.stream_prefix}.{check_topic(topic)}"

    def client(self, action: str) -> NATS:
        """The open client, or `BusError` naming ``action`` when the bus is closed."""
        if self._nc is None:
            raise BusError(f"NATS at {self.where}, {action}: the bus is closed")
        return self._nc

    async def call(self, action: str, operation: Callable[[JetStreamContext], Awaitable[_T]]) -> _T:
        """Run ``operation`` with the JetStream context, turning driver errors into `BusError`."""
        self.client(action)
        js = self._js
        assert js is not None
        try:
            return await operation(js)
        except (TimeoutError, nats_errors.Error, OSError) as exc:
            raise self.error(action, exc) from exc

    def error(self, action: str, exc: BaseException) -> BusError:
        """Say in one line what went wrong with ``action``."""
        at, options = f"NATS at {self.where}", self.options
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

    async def wait_online(self, closing: asyncio.Future[None], action: str, within: float) -> bool:
        """Return whether the connection is up, after waiting up to ``within`` seconds if not.

        The wait also ends when ``closing`` is done (the subscription closed).

        Raises:
            BusError: The bus is closed, or nats-py gave up reconnecting.
        """
        nc = self.client(action)
        if nc.is_connected:
            return True
        if nc.is_closed:
            raise self.error(action, nats_errors.ConnectionClosedError())
        online = asyncio.ensure_future(self._online.wait())
        try:
            waiters: set[asyncio.Future[Any]] = {online, closing}
            await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(online)
        return False

    async def ensure_stream(self, topic: str) -> str:
        """Create the topic's stream once per connection (idempotent across processes)."""
        name = self.stream_name(topic)
        if name in self._streams:
            return name
        js = self._js
        assert js is not None
        subject = self.subject(topic)
        options = self.options
        config = api.StreamConfig(
            name=name,
            description=f"penguiflow bus topic {topic!r}",
            subjects=[subject],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            discard=api.DiscardPolicy.OLD,
            max_age=options.max_age_s,
            max_msgs=options.max_msgs,
            duplicate_window=min(120.0, options.max_age_s),
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
                    f"stream {name!r} at {self.where} has subjects {found}, not "
                    f"[{subject!r}]: it is not a penguiflow bus topic; use another stream_prefix"
                ) from exc
        self._streams.add(name)
        return name

    def forget_stream(self, name: str) -> None:
        """Let `ensure_stream` create stream ``name`` again (it was deleted behind our back)."""
        self._streams.discard(name)

    async def join_group(
        self, topic: str, group: str, ack_wait_s: float, *, ephemeral: bool
    ) -> tuple[JetStreamContext.PullSubscription, int]:
        """Create or update ``group`` on ``topic`` and bind a pull subscription to it.

        Returns:
            The pull subscription, and the first stream sequence the group
            has not delivered yet.

        Raises:
            BusError: NATS refused or is unreachable.
        """
        ttl = self.options.ephemeral_ttl_s if ephemeral else None
        config = group_config(self.subject(topic), group, ack_wait_s, ephemeral_ttl_s=ttl)

        async def join(
            js: JetStreamContext,
        ) -> tuple[api.ConsumerInfo, JetStreamContext.PullSubscription]:
            stream = await self.ensure_stream(topic)
            info = await join_group(js, stream, config)
            return info, await js.pull_subscribe_bind(durable=group, stream=stream)

        info, pull = await self.call(f"joining group {group!r} on topic {topic!r}", join)
        delivered = info.delivered.stream_seq if info.delivered is not None else 0
        return pull, delivered + 1

    async def drop_group(self, topic: str, group: str) -> None:
        """Delete ``group`` (an ephemeral one whose last subscription closed).

        Never raises: a group that cannot be deleted now is left for the
        server to remove after ``ephemeral_ttl_s`` without readers.
        """
        stream = self.stream_name(topic)
        nc = self._nc
        later = f"the server deletes it after {self.options.ephemeral_ttl_s:g}s without readers"
        if nc is None or not nc.is_connected:
            why = f"not connected, so the ephemeral group {group!r} of topic {topic!r} stays"
            _log.warning("NATS bus at %s: %s; %s", self.where, why, later)
            return

        async def delete(js: JetStreamContext) -> None:
            with contextlib.suppress(js_errors.NotFoundError):  # already gone: done
                await js.delete_consumer(stream, group)

        try:
            await self.call(f"deleting the ephemeral group {group!r} of topic {topic!r}", delete)
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
        ttl = self.options.ephemeral_ttl_s

        async def revive(js: JetStreamContext) -> None:
            found = await find_group(js, stream, group)
            if found == "found":
                return
            # A stream created anew holds only messages this member has not seen.
            start = 1 if found == "no stream" else resume_seq
            self._streams.discard(stream)
            await self.ensure_stream(topic)
            subject = self.subject(topic)
            config = group_config(subject, group, ack_wait_s, ephemeral_ttl_s=ttl, start_seq=start)
            await join_group(js, stream, config)
            _log.info(
                "NATS bus at %s: recreated the ephemeral group %r of topic %r (idle for "
                "%gs, or deleted elsewhere) from stream sequence %d",
                self.where,
                group,
                topic,
                ttl,
                start,
            )

        await self.call(f"checking the ephemeral group {group!r} of topic {topic!r}", revive)

    def add(self, member: Member) -> None:
        """Register an open subscription (the bus does, right after creating it)."""
        self._members.add(member)

    def forget(self, member: Member) -> None:
        """Drop a closing subscription from the registry (the subscription does)."""
        self._members.discard(member)

    def has_members(self, topic: str, group: str) -> bool:
        """Whether an open subscription of the bus is on ``group`` of ``topic``."""
        return any(m.topic == topic and m.group == group for m in self._members)

    async def connect(self) -> None:
        """Connect, failing at the first refused attempt and within ``connect_timeout``.

        Raises:
            BusError: The server cannot be reached, refuses us or lacks JetStream.
        """
        options = self.options
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
                connect_timeout=math.ceil(options.connect_timeout),
                max_reconnect_attempts=options.max_reconnect_attempts,
                ping_interval=20,
            )
        )
        try:
            waiters: set[asyncio.Future[Any]] = {connecting, failed}
            await asyncio.wait(
                waiters, timeout=options.connect_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._connect_failed = None
            await cancel_and_wait(connecting)
        if connecting.cancelled() or connecting.exception() is not None:
            problem = None if connecting.cancelled() else connecting.exception()
            if problem is None and failed.done():
                problem = failed.result()
            with contextlib.suppress(Exception):
                await nc.close()
            reason = (
                f"no answer within {options.connect_timeout}s"
                if problem is None
                else (str(problem) or type(problem).__name__)
            )
            raise BusError(
                f"cannot reach NATS at {self.where}: {reason}; check that the server is "
                "running and the URL's host, port and credentials"
            )
        self._nc, self._js = nc, nc.jetstream(timeout=options.request_timeout)
        self._online.set()
        try:
            await self.call("checking for JetStream", lambda js: js.account_info())
        except BusError:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the open subscriptions (each gives back what it did not acknowledge),
        flush what is still buffered and close the client; idempotent."""
        for member in list(self._members):
            await member.close()
        nc, self._nc, self._js = self._nc, None, None
        self._streams.clear()
        if nc is None:
            return
        if nc.is_connected:
            with contextlib.suppress(nats_errors.Error, OSError, TimeoutError):
                await nc.flush(timeout=math.ceil(self.options.request_timeout))
        await nc.close()

    async def _on_error(self, exc: Exception) -> None:
        failed = self._connect_failed
        if failed is None:
            _log.warning("NATS bus at %s: %s", self.where, str(exc) or type(exc).__name__)
        elif not failed.done():
            failed.set_result(exc)

    async def _on_disconnected(self) -> None:
        self._online.clear()

    async def _on_reconnected(self) -> None:
        self._online.set()

    async def _on_closed(self) -> None:
        self._online.set()  # wake waiting subscriptions, so they find the client closed
