"""InMemoryBus specifics: opening, retention, copies, the loop clock, closing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from penguiflow.bus import BusEnvelope, BusError, Delivery, InMemoryBus, MessageBus, Subscription

WAIT_S = 5.0


async def _next(subscription: Any, within: float = WAIT_S) -> Any:
    async with asyncio.timeout(within):
        return await anext(aiter(subscription))


async def test_open_takes_memory_url_and_maxlen_only() -> None:
    bus = await InMemoryBus.open("memory://", maxlen=5)
    assert bus.maxlen == 5
    assert isinstance(bus, MessageBus)
    with pytest.raises(ValueError, match="'memory://' only"):
        await InMemoryBus.open("memory://elsewhere")
    with pytest.raises(TypeError, match="unexpected keyword argument 'prefix'"):
        await InMemoryBus.open("memory://", prefix="x")  # type: ignore[call-arg]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="maxlen must be a positive int"):
            InMemoryBus(maxlen=bad)  # type: ignore[arg-type]


async def test_the_protocols_are_implemented() -> None:
    async with InMemoryBus() as bus:
        subscription = await bus.subscribe("t", group="g", consumer="c")
        assert isinstance(subscription, Subscription)
        await bus.publish(BusEnvelope(topic="t", body={}))
        delivery = await _next(subscription)
        assert isinstance(delivery, Delivery)
        assert "Delivery" in repr(delivery)
        assert "group='g'" in repr(subscription)


async def test_retention_keeps_the_last_maxlen_messages() -> None:
    async with InMemoryBus(maxlen=3) as bus:
        for n in range(5):
            await bus.publish(BusEnvelope(topic="t", body={"n": n}))
        late = await bus.subscribe("t", group="late", consumer="c")
        got = [(await _next(late)).envelope.body["n"] for _ in range(3)]
        assert got == [2, 3, 4]


async def test_a_pending_message_survives_trimming() -> None:
    async with InMemoryBus(maxlen=2) as bus:
        member = await bus.subscribe("t", group="g", consumer="c", ack_wait_s=0.2)
        await bus.publish(BusEnvelope(topic="t", body={"n": 0}))
        first = await _next(member)
        for n in range(1, 6):  # push message 0 out of the log
            await bus.publish(BusEnvelope(topic="t", body={"n": n}))
        got = {}
        for _ in range(3):
            delivery = await _next(member)
            await delivery.ack()
            got[delivery.envelope.body["n"]] = delivery
        # The group skipped what retention dropped (1..3); message 0 came back all the same.
        assert sorted(got) == [0, 4, 5]
        assert got[0].envelope == first.envelope
        assert got[0].redelivered
        assert not got[4].redelivered


async def test_deliveries_are_copies() -> None:
    async with InMemoryBus() as bus:
        body: dict[str, Any] = {"items": [1, 2]}
        first = await bus.subscribe("t", group="a", consumer="c")
        second = await bus.subscribe("t", group="b", consumer="c")
        await bus.publish(BusEnvelope(topic="t", body=body))
        body["items"].append(3)
        one = await _next(first)
        one.envelope.body["items"].append(4)
        assert (await _next(second)).envelope.body == {"items": [1, 2]}


@pytest.mark.parametrize(
    ("envelope", "error", "message"),
    [
        (BusEnvelope(topic="t", body={"x": object()}), ValueError, "not JSON-safe"),
        (BusEnvelope(topic="t", body={"x": float("nan")}), ValueError, "not JSON-safe"),
        (BusEnvelope(topic="t", body=[1]), TypeError, "body must be a dict"),  # type: ignore[arg-type]
        (BusEnvelope(topic="t", body={}, headers={"a": 1}), TypeError, "headers"),  # type: ignore[dict-item]
        (BusEnvelope(topic="t", body={}, message_id=""), ValueError, "message_id"),
        (BusEnvelope(topic="t", body={}, ts="now"), TypeError, "ts must be"),  # type: ignore[arg-type]
        ("not an envelope", TypeError, "takes a BusEnvelope"),
    ],
)
async def test_bad_envelopes_are_rejected_on_publish(
    envelope: Any, error: type[Exception], message: str
) -> None:
    async with InMemoryBus() as bus:
        with pytest.raises(error, match=message):
            await bus.publish(envelope)


async def test_redelivery_waits_for_ack_wait_on_the_loop_clock() -> None:
    loop = asyncio.get_running_loop()
    async with InMemoryBus() as bus:
        stalled = await bus.subscribe("t", group="g", consumer="stalled", ack_wait_s=0.2)
        waiting = await bus.subscribe("t", group="g", consumer="waiting", ack_wait_s=30)
        await bus.publish(BusEnvelope(topic="t", body={"n": 1}))
        held = await _next(stalled)
        taken_at = loop.time()
        again = await _next(waiting)
        assert loop.time() - taken_at >= 0.2 - 1e-3  # not before the deadline
        assert again.envelope == held.envelope
        assert again.redelivered
        await again.ack()
        await held.ack()  # late: harmless


async def test_cancelling_a_wait_keeps_the_subscription_usable() -> None:
    async with InMemoryBus() as bus:
        subscription = await bus.subscribe("t", group="g", consumer="c")
        with pytest.raises(TimeoutError):
            await _next(subscription, within=0.01)
        await bus.publish(BusEnvelope(topic="t", body={"n": 1}))
        assert (await _next(subscription)).envelope.body == {"n": 1}


async def test_an_ephemeral_group_lives_until_its_last_subscription_closes() -> None:
    async with InMemoryBus() as bus:
        await bus.publish(BusEnvelope(topic="t", body={"n": 0}))
        first = await bus.subscribe("t", group="owner", consumer="o1", ephemeral=True)
        second = await bus.subscribe("t", group="owner", consumer="o2", ephemeral=True)
        assert "ephemeral" in repr(first)
        await first.close()
        await bus.publish(BusEnvelope(topic="t", body={"n": 1}))
        await (await _next(second)).ack()  # the group is still there, still at its place
        await second.close()
        await bus.publish(BusEnvelope(topic="t", body={"n": 2}))
        rejoined = await bus.subscribe("t", group="owner", consumer="o1", ephemeral=True)
        await bus.publish(BusEnvelope(topic="t", body={"n": 3}))
        assert (await _next(rejoined)).envelope.body == {"n": 3}  # a new group, at the end


async def test_ephemeral_is_checked_before_anything_changes() -> None:
    async with InMemoryBus() as bus:
        flags: tuple[Any, ...] = ("yes", 1, None)
        for flag in flags:
            with pytest.raises(TypeError, match="ephemeral must be True or False"):
                await bus.subscribe("t", group="g", consumer="c", ephemeral=flag)
        assert "topics=0" in repr(bus)


async def test_closing_the_bus_ends_iteration_and_refuses_work() -> None:
    bus = InMemoryBus()
    subscription = await bus.subscribe("t", group="g", consumer="c")
    await bus.publish(BusEnvelope(topic="t", body={}))
    delivery = await _next(subscription)
    waiting = asyncio.create_task(_next(subscription))
    await asyncio.sleep(0)  # let it start waiting (a yield, not a timed wait)
    await bus.close()
    with pytest.raises(StopAsyncIteration):
        await waiting
    assert bus.closed
    assert "closed" in repr(bus)
    with pytest.raises(BusError, match="closed"):
        await delivery.ack()
    with pytest.raises(BusError, match="closed"):
        await bus.subscribe("t", group="g", consumer="c")
    with pytest.raises(BusError, match="closed"):
        await bus.publish(BusEnvelope(topic="t", body={}))


async def test_destroy_forgets_everything() -> None:
    bus = InMemoryBus()
    await bus.publish(BusEnvelope(topic="t", body={}))
    await bus.destroy()
    assert "topics=0" in repr(bus)
