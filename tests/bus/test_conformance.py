"""The MessageBus conformance suite against every backend, and the suite's own behaviour."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from penguiflow.bus import BusEnvelope, InMemoryBus, MessageBus
from penguiflow.bus.conformance import BusConformanceSkipped
from penguiflow.testkit import BusConformance


@pytest.mark.parametrize("case", BusConformance.cases())
async def test_backend_conforms(backend: Any, case: str) -> None:
    suite = backend.suite()
    reason = suite.skip_reason(case)
    if reason is not None:
        pytest.skip(f"{backend.name}: {reason}")
    await suite.run(case)


def test_cases_cover_the_contract() -> None:
    cases = BusConformance.cases()
    assert len(cases) == len(set(cases))
    for required in (
        "publish_and_receive",
        "group_members_share_messages",
        "group_delivers_each_message_once",
        "groups_each_see_every_message",
        "order_within_topic",
        "ack_prevents_redelivery",
        "unacked_is_redelivered",
        "late_group_sees_history",
        "envelope_round_trip",
        "topic_isolation",
        "close_idempotent",
        "close_returns_unacked",
        "invalid_names_rejected",
        "separate_connections",
        "ephemeral_group_sees_only_new_messages",
        "ephemeral_group_is_deleted_on_close",
        "ephemeral_groups_each_see_every_message",
        "ephemeral_unacked_is_redelivered",
    ):
        assert required in cases


async def _memory() -> MessageBus:
    return InMemoryBus()


async def test_run_all_reports_passed_and_skipped_cases() -> None:
    report = await BusConformance(_memory, shared=False, ack_wait_s=0.2).run_all()
    assert report.skipped == {
        "separate_connections": "buses from separate factory calls share nothing (shared=False)"
    }
    assert set(report.passed) == set(BusConformance.cases()) - {"separate_connections"}


async def test_run_refuses_a_case_the_backend_opted_out_of() -> None:
    suite = BusConformance(_memory, shared=False)
    with pytest.raises(BusConformanceSkipped, match="separate_connections"):
        await suite.run("separate_connections")


async def test_unknown_case_names_the_known_ones() -> None:
    suite = BusConformance(_memory)
    with pytest.raises(ValueError, match=r"unknown conformance case 'nope'.*publish_and_receive"):
        await suite.run("nope")


def test_bad_arguments_fail_at_construction() -> None:
    with pytest.raises(TypeError, match="factory"):
        BusConformance("memory://")  # type: ignore[arg-type]
    for name in ("ack_wait_s", "delivery_timeout_s", "timeout_s"):
        with pytest.raises(ValueError, match=name):
            BusConformance(_memory, **{name: 0})


# -- the suite catches broken buses ------------------------------------------------
class _ForgetfulBus(InMemoryBus):
    """Acks everything on delivery: nothing is ever redelivered."""

    async def subscribe(
        self,
        topic: str,
        *,
        group: str,
        consumer: str,
        ack_wait_s: float = 30.0,
        ephemeral: bool = False,
    ) -> Any:
        subscription = await super().subscribe(
            topic, group=group, consumer=consumer, ack_wait_s=ack_wait_s, ephemeral=ephemeral
        )
        original = subscription.__anext__

        async def auto_acking() -> Any:
            delivery = await original()
            await delivery.ack()
            return delivery

        subscription.__anext__ = auto_acking  # type: ignore[method-assign]
        return _Wrapped(subscription)


class _Wrapped:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __aiter__(self) -> Any:
        return self

    async def __anext__(self) -> Any:
        return await self._inner.__anext__()

    async def close(self) -> None:
        await self._inner.close()


class _BroadcastBus(InMemoryBus):
    """Gives every subscriber its own group: members of one group all see every message."""

    async def subscribe(
        self,
        topic: str,
        *,
        group: str,
        consumer: str,
        ack_wait_s: float = 30.0,
        ephemeral: bool = False,
    ) -> Any:
        return await super().subscribe(
            topic,
            group=f"{group}-{consumer}",
            consumer=consumer,
            ack_wait_s=ack_wait_s,
            ephemeral=ephemeral,
        )


class _DurableEphemeralBus(InMemoryBus):
    """Ignores ``ephemeral``: the group reads the history and outlives its subscription."""

    async def subscribe(
        self,
        topic: str,
        *,
        group: str,
        consumer: str,
        ack_wait_s: float = 30.0,
        ephemeral: bool = False,
    ) -> Any:
        return await super().subscribe(
            topic, group=group, consumer=consumer, ack_wait_s=ack_wait_s, ephemeral=False
        )


class _KeptEphemeralBus(InMemoryBus):
    """Starts ephemeral groups at the end but never deletes them: a hidden member stays."""

    async def subscribe(
        self,
        topic: str,
        *,
        group: str,
        consumer: str,
        ack_wait_s: float = 30.0,
        ephemeral: bool = False,
    ) -> Any:
        subscription = await super().subscribe(
            topic, group=group, consumer=consumer, ack_wait_s=ack_wait_s, ephemeral=ephemeral
        )
        if ephemeral:
            await super().subscribe(topic, group=group, consumer="hidden", ephemeral=True)
        return subscription


class _OneGroupBus(InMemoryBus):
    """Puts every ephemeral subscriber of a topic in one group: no broadcast."""

    async def subscribe(
        self,
        topic: str,
        *,
        group: str,
        consumer: str,
        ack_wait_s: float = 30.0,
        ephemeral: bool = False,
    ) -> Any:
        return await super().subscribe(
            topic,
            group="shared" if ephemeral else group,
            consumer=consumer,
            ack_wait_s=ack_wait_s,
            ephemeral=ephemeral,
        )


class _TruthyBus(InMemoryBus):
    """Takes any truthy value for ``ephemeral``."""

    async def subscribe(
        self,
        topic: str,
        *,
        group: str,
        consumer: str,
        ack_wait_s: float = 30.0,
        ephemeral: Any = False,
    ) -> Any:
        return await super().subscribe(
            topic, group=group, consumer=consumer, ack_wait_s=ack_wait_s, ephemeral=bool(ephemeral)
        )


class _LaxBus(InMemoryBus):
    """Accepts any topic name."""

    async def publish(self, envelope: BusEnvelope) -> None:
        if isinstance(envelope.topic, str) and " " in envelope.topic:
            return
        await super().publish(envelope)


class _ReorderingBus(InMemoryBus):
    """Publishes every pair of messages in swapped order."""

    def __init__(self) -> None:
        super().__init__()
        self._held: BusEnvelope | None = None

    async def publish(self, envelope: BusEnvelope) -> None:
        if self._held is None:
            self._held = envelope
            return
        held, self._held = self._held, None
        await super().publish(envelope)
        await super().publish(held)


@pytest.mark.parametrize(
    ("bus_class", "failing_case"),
    [
        (_ForgetfulBus, "unacked_is_redelivered"),
        (_ForgetfulBus, "close_returns_unacked"),
        (_BroadcastBus, "group_delivers_each_message_once"),
        (_LaxBus, "invalid_names_rejected"),
        (_ReorderingBus, "order_within_topic"),
        (_DurableEphemeralBus, "ephemeral_group_sees_only_new_messages"),
        (_DurableEphemeralBus, "ephemeral_group_is_deleted_on_close"),
        (_KeptEphemeralBus, "ephemeral_group_is_deleted_on_close"),
        (_OneGroupBus, "ephemeral_groups_each_see_every_message"),
        (_ForgetfulBus, "ephemeral_unacked_is_redelivered"),
        (_TruthyBus, "invalid_names_rejected"),
    ],
)
async def test_suite_fails_a_broken_bus(bus_class: type[InMemoryBus], failing_case: str) -> None:
    async def factory() -> MessageBus:
        return bus_class()

    suite = BusConformance(factory, shared=False, ack_wait_s=0.2, delivery_timeout_s=2.0)
    with pytest.raises(AssertionError, match=f"conformance case '{failing_case}' failed"):
        await suite.run(failing_case)


async def test_a_factory_returning_no_bus_fails() -> None:
    async def factory() -> Any:
        return object()

    with pytest.raises(AssertionError, match="no MessageBus"):
        await BusConformance(factory).run("publish_and_receive")


class _HangingBus(InMemoryBus):
    """Never confirms a publish."""

    async def publish(self, envelope: BusEnvelope) -> None:
        await asyncio.Event().wait()


async def test_a_hanging_bus_fails_the_case_instead_of_hanging() -> None:
    async def factory() -> MessageBus:
        return _HangingBus()

    suite = BusConformance(factory, timeout_s=0.05)
    with pytest.raises(TimeoutError, match=r"'publish_and_receive' did not finish within 0\.05 s"):
        await suite.run("publish_and_receive")
