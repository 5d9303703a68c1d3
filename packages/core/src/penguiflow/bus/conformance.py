"""`BusConformance`: the behaviour every MessageBus backend must show, as runnable cases.

One suite runs unchanged against every backend, built-in or third-party.
It needs only a *factory*: a zero-argument coroutine function that opens a
bus on the broker (and namespace) under test. Each case opens its bus(es)
through the factory and closes them; with ``shared=True`` (the default) two
buses from the factory must see each other's messages, as two processes on
one broker do. Cases use fresh random topic names, so they can share the
namespace; cleaning it up afterwards is the caller's job.

Plain asyncio::

    report = await BusConformance(lambda: MyBus.open(url)).run_all()

pytest, one test per case::

    @pytest.mark.parametrize("case", BusConformance.cases())
    async def test_my_bus(case: str) -> None:
        suite = BusConformance(lambda: MyBus.open(url))
        if (reason := suite.skip_reason(case)) is not None:
            pytest.skip(reason)
        await suite.run(case)

The ephemeral cases check that an ``ephemeral=True`` group starts at the end
of the topic, is deleted when its subscription closes, fans out like any
group and redelivers like any group.

Timing: the redelivery cases subscribe with ``ack_wait_s`` (1 s by default)
and wait for the redelivery itself, never for a fixed time; a few cases check
that something does *not* arrive by waiting ``3 * ack_wait_s`` for it. Every
wait is bounded, and a whole case by ``timeout_s``. Cases cancel pending
``__anext__`` calls (that is how a wait is bounded), so a subscription must
stay usable after one is cancelled.

A failed check raises ``AssertionError`` naming the case and what differed.
Nothing here imports pytest or any driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from penguiflow._drivers.conformance import UNICODE_SAMPLES as _UNICODE_SAMPLES
from penguiflow._drivers.conformance import ConformanceSuite
from penguiflow._drivers.conformance import check as _check
from penguiflow._drivers.conformance import same as _same
from penguiflow.bus._conformance_member import Member as _Member
from penguiflow.bus._conformance_member import fresh_topic as _topic
from penguiflow.bus._conformance_member import numbered as _message
from penguiflow.bus.base import BusEnvelope, BusError, Delivery, MessageBus, Subscription
from penguiflow.errors import PenguiFlowError

__all__ = ["BusConformance", "BusConformanceReport", "BusConformanceSkipped", "BusFactory"]

BusFactory = Callable[[], Awaitable[MessageBus]]
"""Opens a bus on the broker under test (the same broker and namespace on every call)."""

_LONG_ACK_WAIT_S = 60.0  # for cases where no redelivery may happen

_BAD_TOPICS: tuple[Any, ...] = ("", "has space", "star*", "gt>", "a/b", "colon:x", "a..b", ".a")
_BAD_MEMBER_NAMES: tuple[Any, ...] = ("", "has space", "star*", "gt>", "a/b")
_BAD_FLAGS: tuple[Any, ...] = ("yes", 1, None)


class BusConformanceSkipped(PenguiFlowError):
    """`BusConformance.run` was asked for a case this backend declared it cannot meet."""


@dataclass(frozen=True, slots=True)
class BusConformanceReport:
    """What `BusConformance.run_all` did.

    Attributes:
        passed: Cases that passed, in run order.
        skipped: Case name -> reason, for cases the backend opted out of.
    """

    passed: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)


class BusConformance(ConformanceSuite[MessageBus, BusConformanceReport]):
    """The reusable MessageBus conformance suite.

    Cases are listed by `cases`, run one at a time by `run` (which raises
    `BusConformanceSkipped` for a case `skip_reason` rules out) and all at
    once by `run_all`, which returns a `BusConformanceReport`.

    Args:
        factory: Zero-argument coroutine function returning an open bus on
            the broker under test; every call must reach the same broker.
        shared: Whether buses from separate factory calls share messages.
            ``False`` (the in-memory bus) skips the case that needs two.
        ack_wait_s: The short acknowledgement deadline the redelivery cases
            subscribe with.
        delivery_timeout_s: How long a case waits for a delivery that must
            come (on top of ``ack_wait_s`` where a redelivery is awaited).
        timeout_s: Upper bound for one case; a hanging backend fails the
            case instead of the whole test run.

    Raises:
        TypeError: ``factory`` is not callable.
        ValueError: A duration is not positive.
    """

    _resource_type = MessageBus
    _resource_phrase = "no MessageBus"
    _report_type = BusConformanceReport
    _skipped_type = BusConformanceSkipped

    def __init__(
        self,
        factory: BusFactory,
        *,
        shared: bool = True,
        ack_wait_s: float = 1.0,
        delivery_timeout_s: float = 10.0,
        timeout_s: float = 120.0,
    ) -> None:
        super().__init__(
            factory,
            timeout_s=timeout_s,
            durations=(("ack_wait_s", ack_wait_s), ("delivery_timeout_s", delivery_timeout_s)),
        )
        self._shared = shared
        self._ack_wait_s = ack_wait_s
        self._wait_s = delivery_timeout_s

    def _opt_out(self, case: str) -> str | None:
        if case == "separate_connections" and not self._shared:
            return "buses from separate factory calls share nothing (shared=False)"
        return None

    async def _join(
        self,
        bus: MessageBus,
        topic: str,
        group: str,
        consumer: str,
        ack_wait_s: float = _LONG_ACK_WAIT_S,
        *,
        ephemeral: bool = False,
    ) -> _Member:
        # Only the ephemeral cases pass the flag, so the others hold for any bus.
        extra: dict[str, Any] = {"ephemeral": True} if ephemeral else {}
        subscription = await bus.subscribe(
            topic, group=group, consumer=consumer, ack_wait_s=ack_wait_s, **extra
        )
        _check(
            isinstance(subscription, Subscription),
            f"subscribe() returned {subscription!r}, which is no Subscription",
        )
        return _Member(subscription, f"{group}/{consumer}")

    async def _receive(self, member: _Member, count: int, what: str) -> list[Delivery]:
        """The next ``count`` deliveries of ``member``, each acknowledged."""
        deliveries = []
        for number in range(count):
            delivery = await member.next(self._wait_s, f"{what}, delivery {number + 1} of {count}")
            await delivery.ack()
            deliveries.append(delivery)
        return deliveries

    # -- delivery -------------------------------------------------------------
    async def case_publish_and_receive(self) -> None:
        """A published envelope reaches the group's member, equal and not marked redelivered."""
        topic = _topic("basic")
        async with self._open() as bus:
            member = await self._join(bus, topic, "workers", "w1")
            sent = _message(topic, 1)
            await bus.publish(sent)
            delivery = await member.next(self._wait_s, "the one published envelope")
            _check(isinstance(delivery, Delivery), f"{delivery!r} is no Delivery")
            _same(delivery.envelope, sent, "delivered envelope")
            _same(delivery.redelivered, False, "redelivered flag of a first delivery")
            await delivery.ack()
            await member.subscription.close()

    async def case_group_members_share_messages(self) -> None:
        """While one member holds a message, another member of its group gets the next one."""
        topic = _topic("share")
        async with self._open() as bus:
            first = await self._join(bus, topic, "workers", "w1")
            second = await self._join(bus, topic, "workers", "w2")
            sent = [_message(topic, i) for i in range(2)]
            for envelope in sent:
                await bus.publish(envelope)
            held = await first.next(self._wait_s, "the first message")
            other = await second.next(self._wait_s, "the message the first member did not take")
            _same(
                {held.envelope.message_id, other.envelope.message_id},
                {e.message_id for e in sent},
                "message ids received by the two members",
            )
            _check(
                not held.redelivered and not other.redelivered, "a first delivery was redelivered"
            )
            await held.ack()
            await other.ack()

    async def case_group_delivers_each_message_once(self) -> None:
        """Two members consuming 30 messages together get each exactly once, none lost."""
        topic = _topic("once")
        total = 30
        async with self._open() as bus:
            members = [await self._join(bus, topic, "workers", f"w{i}") for i in range(2)]
            sent = [_message(topic, i) for i in range(total)]
            received: list[tuple[str, Delivery]] = []
            done = asyncio.Event()

            async def consume(member: _Member) -> None:
                async for delivery in member.subscription:
                    received.append((member.name, delivery))
                    await delivery.ack()
                    if len(received) >= total:
                        done.set()

            tasks = [asyncio.create_task(consume(member)) for member in members]
            try:
                for envelope in sent:
                    await bus.publish(envelope)
                try:
                    async with asyncio.timeout(self._wait_s + total * 0.5):
                        await done.wait()
                except TimeoutError:
                    raise AssertionError(
                        f"the group received {len(received)} of {total} messages in time"
                    ) from None
            finally:
                for task in tasks:
                    task.cancel()
                _, stuck = await asyncio.wait(tasks, timeout=self._wait_s)
                if stuck:
                    raise AssertionError(
                        f"{len(stuck)} consumer task(s) ignored cancellation for "
                        f"{self._wait_s:g} s (does the driver swallow CancelledError?)"
                    )
        ids = [delivery.envelope.message_id for _, delivery in received]
        _same(len(ids), total, "deliveries to the group (duplicates or extras?)")
        _same(set(ids), {e.message_id for e in sent}, "message ids delivered to the group")
        _check(
            not any(delivery.redelivered for _, delivery in received),
            "a message was redelivered although every delivery was acknowledged in time",
        )

    async def case_groups_each_see_every_message(self) -> None:
        """Two groups on one topic each receive every message, in publish order."""
        topic = _topic("fanout")
        async with self._open() as bus:
            audit = await self._join(bus, topic, "audit", "a1")
            workers = await self._join(bus, topic, "workers", "w1")
            sent = [_message(topic, i) for i in range(10)]
            for envelope in sent:
                await bus.publish(envelope)
            for member in (audit, workers):
                got = await self._receive(member, len(sent), f"group {member.name}")
                _same([d.envelope for d in got], sent, f"envelopes received by {member.name}")

    async def case_order_within_topic(self) -> None:
        """A single consumer receives a topic's messages in publish order, old and new."""
        topic = _topic("order")
        sent = [_message(topic, i) for i in range(60)]
        async with self._open() as bus:
            for envelope in sent[:30]:
                await bus.publish(envelope)
            member = await self._join(bus, topic, "workers", "w1")
            for envelope in sent[30:]:
                await bus.publish(envelope)
            got = await self._receive(member, len(sent), "60 ordered messages")
        _same([d.envelope.body["index"] for d in got], list(range(60)), "order of delivery")

    async def case_late_group_sees_history(self) -> None:
        """A group created after messages were published receives them, oldest first."""
        topic = _topic("late")
        sent = [_message(topic, i) for i in range(5)]
        async with self._open() as bus:
            for envelope in sent:
                await bus.publish(envelope)
            early = await self._join(bus, topic, "early", "e1")
            await self._receive(early, len(sent), "the first group")
            late = await self._join(bus, topic, "late", "l1")
            got = await self._receive(late, len(sent), "a group created after publishing")
        _same([d.envelope for d in got], sent, "envelopes seen by the late group")

    async def case_topic_isolation(self) -> None:
        """Each topic's subscribers see that topic's messages only, even for look-alike names."""
        base = _topic("iso")
        topics = [base, f"{base}.sub", f"{base}-1", f"{base}_", f"x{base}"]
        async with self._open() as bus:
            members = {t: await self._join(bus, t, "workers", "w1") for t in topics}
            for round_ in range(3):
                for t in topics:
                    await bus.publish(_message(t, round_, {"topic": t}))
            for t in topics:
                await bus.publish(_message(t, 99, {"topic": t, "end": True}))
            for t, member in members.items():
                got = await self._receive(member, 4, f"topic {t!r}")
                _same([d.envelope.topic for d in got], [t] * 4, f"topics delivered for {t!r}")
                _same(
                    [d.envelope.body for d in got],
                    [{"index": i, "topic": t} for i in range(3)]
                    + [{"index": 99, "topic": t, "end": True}],
                    f"bodies delivered for {t!r}",
                )

    async def case_envelope_round_trip(self) -> None:
        """Envelopes come back equal: unicode, nested JSON, exact numbers, a 512 KiB body."""
        topic = _topic("roundtrip")
        nested: dict[str, Any] = {
            "int": 2**53 + 1,
            "negative": -7,
            "float": 0.1,
            "whole_float": 2.0,
            "true": True,
            "null": None,
            "list": [1, "two", 3.5, None, [], {}],
            "nested": {"a": {"b": {"c": [{"d": "deep"}]}}},
            "empty": {},
        }
        sent = [
            BusEnvelope(
                topic=topic,
                body={text: [text, {"nested": text}]},
                headers={"text": text, text[:5]: "key"},
            )
            for text in _UNICODE_SAMPLES
        ]
        sent.append(BusEnvelope(topic=topic, body=nested, headers={}, ts=1712345678.123456))
        # 512 KiB of UTF-8: a quarter four-byte characters, the rest ASCII.
        big = {"blob": "\U0001f427" * 32 * 1024 + "x" * 384 * 1024, "text": list(_UNICODE_SAMPLES)}
        sent.append(BusEnvelope(topic=topic, body=big, message_id="big-" + uuid.uuid4().hex))
        async with self._open() as bus:
            member = await self._join(bus, topic, "workers", "w1")
            for envelope in sent:
                await bus.publish(envelope)
            got = await self._receive(member, len(sent), "round-trip envelopes")
        for index, (delivery, envelope) in enumerate(zip(got, sent, strict=True)):
            _check(delivery.envelope == envelope, f"envelope {index} changed on the way")
        loaded = got[len(_UNICODE_SAMPLES)].envelope.body
        for key in ("int", "negative"):
            _check(type(loaded[key]) is int, f"body[{key!r}] came back as {type(loaded[key])}")
        for key in ("float", "whole_float"):
            _check(type(loaded[key]) is float, f"body[{key!r}] came back as {type(loaded[key])}")

    # -- acknowledgement and redelivery ---------------------------------------
    async def case_ack_prevents_redelivery(self) -> None:
        """An acknowledged message is not delivered again, even after ``ack_wait_s`` passes."""
        topic = _topic("acked")
        async with self._open() as bus:
            member = await self._join(bus, topic, "workers", "w1", self._ack_wait_s)
            await bus.publish(_message(topic, 1))
            first = await member.next(self._wait_s, "the message")
            await first.ack()
            await first.ack()  # a repeated ack is harmless
            await member.nothing(3 * self._ack_wait_s, "the message was acknowledged")
            marker = _message(topic, 2)
            await bus.publish(marker)
            after = await member.next(self._wait_s, "a later message")
            _same(after.envelope, marker, "the delivery after an acknowledged message")
            _same(after.redelivered, False, "redelivered flag of the later message")
            await after.ack()

    async def case_unacked_is_redelivered(self) -> None:
        """A message not acked within ``ack_wait_s`` comes again, to another member or the same."""
        topic = _topic("redeliver")
        wait = self._ack_wait_s + self._wait_s
        async with self._open() as bus:
            crashed = await self._join(bus, topic, "workers", "w1", self._ack_wait_s)
            sent = _message(topic, 1)
            await bus.publish(sent)
            held = await crashed.next(self._wait_s, "the first delivery")
            _same(held.redelivered, False, "redelivered flag of the first delivery")
            # w1 now stalls without acking; a member joining later must get the message.
            rescuer = await self._join(bus, topic, "workers", "w2", self._ack_wait_s)
            again = await rescuer.next(wait, "the redelivery of the unacknowledged message")
            _same(again.envelope, sent, "redelivered envelope")
            _same(again.envelope.message_id, sent.message_id, "message_id of the redelivery")
            _same(again.redelivered, True, "redelivered flag of the redelivery")
            await again.ack()
            await held.ack()  # the stalled member's late ack must be harmless
            await rescuer.nothing(3 * self._ack_wait_s, "the redelivery was acknowledged")

            alone = _message(topic, 2)
            await bus.publish(alone)
            first = await rescuer.next(self._wait_s, "a second message")
            _same(first.envelope, alone, "the second message")
            second = await rescuer.next(wait, "its redelivery to the same member")
            _same(second.envelope.message_id, alone.message_id, "message_id redelivered")
            _same(second.redelivered, True, "redelivered flag for the same member")
            await second.ack()

    async def case_close_returns_unacked(self) -> None:
        """Closing a subscription hands its unacked deliveries to the group well before ack_wait."""
        topic = _topic("handback")
        async with self._open() as bus:
            leaving = await self._join(bus, topic, "workers", "w1")
            sent = _message(topic, 1)
            await bus.publish(sent)
            held = await leaving.next(self._wait_s, "the message before closing")
            staying = await self._join(bus, topic, "workers", "w2")
            await leaving.subscription.close()
            back = await staying.next(self._wait_s, "the message handed back by a closed member")
            _same(back.envelope, sent, "envelope handed back")
            _same(back.redelivered, True, "redelivered flag of a handed-back message")
            await back.ack()
            await held.ack()

    # -- ephemeral groups -----------------------------------------------------
    async def case_ephemeral_group_sees_only_new_messages(self) -> None:
        """An ephemeral group skips the topic's history; a second member joins it as it is."""
        topic = _topic("eph-new")
        async with self._open() as bus:
            for index in range(3):
                await bus.publish(_message(topic, index))
            first = await self._join(bus, topic, "replies", "r1", ephemeral=True)
            sent = [_message(topic, index) for index in (3, 4)]
            for envelope in sent:
                await bus.publish(envelope)
            got = await first.next(self._wait_s, "a message published after subscribing")
            _same(got.envelope, sent[0], "first delivery of a new ephemeral group (history?)")
            # Joining the existing group must not move it to the end: message 4 waits there.
            second = await self._join(bus, topic, "replies", "r2", ephemeral=True)
            other = await second.next(self._wait_s, "the message the first member left")
            _same(other.envelope, sent[1], "delivery to a member joining an ephemeral group")
            await got.ack()
            await other.ack()
            await second.subscription.close()
            await first.subscription.close()

    async def case_ephemeral_group_is_deleted_on_close(self) -> None:
        """After its subscription closes, an ephemeral group is gone: rejoining starts afresh."""
        topic = _topic("eph-gone")
        async with self._open() as bus:
            member = await self._join(bus, topic, "replies", "r1", ephemeral=True)
            await bus.publish(_message(topic, 0))
            await self._receive(member, 1, "a message before closing")
            await member.subscription.close()
            for index in range(1, 4):  # nobody is subscribed: a kept group would hold these
                await bus.publish(_message(topic, index))
            again = await self._join(bus, topic, "replies", "r1", ephemeral=True)
            marker = _message(topic, 99)
            await bus.publish(marker)
            got = await again.next(self._wait_s, "the message published after rejoining")
            _same(
                got.envelope.body,
                marker.body,
                "first delivery after rejoining a closed ephemeral group (was it deleted?)",
            )
            await got.ack()
            await again.subscription.close()

    async def case_ephemeral_groups_each_see_every_message(self) -> None:
        """Two ephemeral groups on one topic each receive every message, in publish order."""
        topic = _topic("eph-fanout")
        async with self._open() as bus:
            members = [
                await self._join(bus, topic, f"listener-{n}", "l1", ephemeral=True)
                for n in range(2)
            ]
            sent = [_message(topic, i) for i in range(5)]
            for envelope in sent:
                await bus.publish(envelope)
            for member in members:
                got = await self._receive(member, len(sent), f"ephemeral group {member.name}")
                _same([d.envelope for d in got], sent, f"envelopes received by {member.name}")
                await member.subscription.close()

    async def case_ephemeral_unacked_is_redelivered(self) -> None:
        """In an ephemeral group too, a message not acked within ``ack_wait_s`` comes again."""
        topic = _topic("eph-redeliver")
        async with self._open() as bus:
            member = await self._join(bus, topic, "replies", "r1", self._ack_wait_s, ephemeral=True)
            sent = _message(topic, 1)
            await bus.publish(sent)
            held = await member.next(self._wait_s, "the first delivery")
            _same(held.redelivered, False, "redelivered flag of the first delivery")
            again = await member.next(
                self._ack_wait_s + self._wait_s, "the redelivery of the unacknowledged message"
            )
            _same(again.envelope, sent, "redelivered envelope")
            _same(again.redelivered, True, "redelivered flag of the redelivery")
            await again.ack()
            await held.ack()
            await member.nothing(2 * self._ack_wait_s, "the redelivery was acknowledged")
            await member.subscription.close()

    # -- lifecycle and validation ---------------------------------------------
    async def case_close_idempotent(self) -> None:
        """Closing twice is harmless; closed things stop and refuse work with `BusError`."""
        topic = _topic("close")
        bus: Any = await self._factory()
        try:
            _check(
                hasattr(bus, "__aenter__") and hasattr(bus, "__aexit__"),
                "the bus is no async context manager",
            )
            async with bus as entered:
                _check(entered is bus, f"async with yielded {entered!r} instead of the bus")
                member = await self._join(bus, topic, "workers", "w1")
                await member.subscription.close()
                await member.subscription.close()
                with contextlib.suppress(StopAsyncIteration):
                    async with asyncio.timeout(self._wait_s):
                        delivery = await anext(aiter(member.subscription))
                    raise AssertionError(f"a closed subscription delivered {delivery!r}")
                waiting = await self._join(bus, topic, "workers", "w2")
                pending = asyncio.create_task(waiting.next(self._wait_s * 2, "-"))
                await asyncio.sleep(0)  # let the iteration start waiting
            # Leaving `async with` closed the bus: the waiting iteration must end.
            try:
                async with asyncio.timeout(self._wait_s):
                    await pending
            except TimeoutError:
                raise AssertionError("closing the bus left an iteration waiting") from None
            except (AssertionError, BusError):
                pass  # the iteration ended (StopAsyncIteration) or failed with BusError
            await bus.close()
            try:
                await bus.publish(_message(topic, 1))
            except BusError:
                pass
            else:
                raise AssertionError("publish() on a closed bus did not raise BusError")
        finally:
            await bus.close()

    async def case_invalid_names_rejected(self) -> None:
        """Bad names, ``ack_wait_s`` and ``ephemeral`` fail with ValueError/TypeError."""
        topic = _topic("names")
        async with self._open() as bus:
            for bad in (*_BAD_TOPICS, None, 7):
                what = f"topic {bad!r}"
                await self._rejects(partial(bus.publish, BusEnvelope(topic=bad, body={})), what)
                await self._rejects(partial(bus.subscribe, bad, group="g", consumer="c"), what)
            for bad in (*_BAD_MEMBER_NAMES, None):
                await self._rejects(
                    partial(bus.subscribe, topic, group=bad, consumer="c"), f"group {bad!r}"
                )
                await self._rejects(
                    partial(bus.subscribe, topic, group="g", consumer=bad), f"consumer {bad!r}"
                )
            for wait in (0, -1.0, float("nan")):
                await self._rejects(
                    partial(bus.subscribe, topic, group="g", consumer="c", ack_wait_s=wait),
                    f"ack_wait_s={wait!r}",
                )
            for flag in _BAD_FLAGS:
                await self._rejects(
                    partial(bus.subscribe, topic, group="g", consumer="c", ephemeral=flag),
                    f"ephemeral={flag!r}",
                )
            await bus.publish(_message(topic, 1))  # the bus still works

    @staticmethod
    async def _rejects(call: Callable[[], Awaitable[object]], what: str) -> None:
        try:
            result = await call()
        except (ValueError, TypeError):
            return
        with contextlib.suppress(Exception):
            close = getattr(result, "close", None)
            if close is not None:
                await close()
        raise AssertionError(f"{what} was accepted; expected ValueError or TypeError")

    async def case_separate_connections(self) -> None:
        """Two buses on one broker: one publishes, the other's group members split the messages."""
        topic = _topic("shared")
        async with self._open() as publisher, self._open() as worker_a, self._open() as worker_b:
            first = await self._join(worker_a, topic, "workers", "a")
            second = await self._join(worker_b, topic, "workers", "b")
            sent = [_message(topic, i) for i in range(2)]
            for envelope in sent:
                await publisher.publish(envelope)
            held = await first.next(self._wait_s, "a message from another connection")
            other = await second.next(self._wait_s, "the message the other worker did not take")
            _same(
                {held.envelope.message_id, other.envelope.message_id},
                {e.message_id for e in sent},
                "message ids received across connections",
            )
            await held.ack()
            await other.ack()
