"""RedisStreamsBus against the real Redis server: layout, trimming, bad records, faults."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from penguiflow.bus import BusEnvelope, BusError
from penguiflow.bus.redis_streams import RedisStreamsBus

WAIT_S = 10.0


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    """A fresh key prefix, whose keys are deleted after the test."""
    name = f"pf-test-{uuid.uuid4().hex[:12]}"
    yield name
    bus = await RedisStreamsBus.open(redis_url, prefix=name)
    await bus.destroy()


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A plain redis-py client for looking at (and damaging) what the bus stored."""
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def _next(subscription: Any, within: float = WAIT_S) -> Any:
    async with asyncio.timeout(within):
        return await anext(aiter(subscription))


async def test_topic_is_a_stream_with_one_json_field(
    redis_url: str, prefix: str, admin: aioredis.Redis
) -> None:
    async with await RedisStreamsBus.open(redis_url, prefix=prefix) as bus:
        subscription = await bus.subscribe("jobs.new", group="workers", consumer="w1")
        envelope = BusEnvelope(topic="jobs.new", body={"n": 1}, headers={"trace": "t1"})
        await bus.publish(envelope)
        key = f"{prefix}:bus:jobs.new"
        assert bus.stream_key("jobs.new") == key
        [(entry_id, fields)] = await admin.xrange(key)
        assert list(fields) == [b"envelope"]
        assert json.loads(fields[b"envelope"]) == {
            "topic": "jobs.new",
            "body": {"n": 1},
            "headers": {"trace": "t1"},
            "message_id": envelope.message_id,
            "ts": envelope.ts,
        }
        [group] = await admin.xinfo_groups(key)
        assert group["name"] == b"workers"
        delivery = await _next(subscription)
        assert delivery.entry_id == entry_id.decode()
        assert (await admin.xpending(key, "workers"))["pending"] == 1
        await delivery.ack()
        assert (await admin.xpending(key, "workers"))["pending"] == 0


async def test_subscribing_twice_reuses_the_group(redis_url: str, prefix: str) -> None:
    async with await RedisStreamsBus.open(redis_url, prefix=prefix) as bus:
        await bus.publish(BusEnvelope(topic="t", body={"n": 1}))
        first = await bus.subscribe("t", group="g", consumer="c1")
        held = await _next(first)  # taken, not acked
        assert held.envelope.body == {"n": 1}
        second = await bus.subscribe("t", group="g", consumer="c2")
        # The group was not recreated from the start: nothing new for the second member.
        await bus.publish(BusEnvelope(topic="t", body={"n": 2}))
        assert (await _next(second)).envelope.body == {"n": 2}


async def _group_names(admin: aioredis.Redis, key: str) -> set[bytes]:
    return {group["name"] for group in await admin.xinfo_groups(key)}


async def test_an_ephemeral_group_starts_at_the_end_and_is_destroyed_on_close(
    redis_url: str, prefix: str, admin: aioredis.Redis
) -> None:
    async with await RedisStreamsBus.open(redis_url, prefix=prefix) as bus:
        key = bus.stream_key("replies")
        durable = await bus.subscribe("replies", group="audit", consumer="a1")
        await bus.publish(BusEnvelope(topic="replies", body={"n": 1}))
        [(last_id, _)] = await admin.xrange(key)
        subscription = await bus.subscribe(
            "replies", group="owner-1", consumer="o1", ephemeral=True
        )
        assert "ephemeral" in repr(subscription)
        [group] = [g for g in await admin.xinfo_groups(key) if g["name"] == b"owner-1"]
        assert group["last-delivered-id"] == last_id  # at the end: the history is skipped
        await bus.publish(BusEnvelope(topic="replies", body={"n": 2}))
        held = await _next(subscription)  # left unacknowledged: it goes with the group
        assert held.envelope.body == {"n": 2}
        await subscription.close()
        assert await _group_names(admin, key) == {b"audit"}
        await subscription.close()  # idempotent
        await durable.close()
        assert await _group_names(admin, key) == {b"audit"}  # durable groups stay


async def test_closing_the_bus_destroys_its_ephemeral_groups(
    redis_url: str, prefix: str, admin: aioredis.Redis
) -> None:
    bus = await RedisStreamsBus.open(redis_url, prefix=prefix)
    for name in ("control-w1", "control-w2"):
        await bus.subscribe("control", group=name, consumer="w", ephemeral=True)
    key = bus.stream_key("control")
    assert await _group_names(admin, key) == {b"control-w1", b"control-w2"}
    await bus.close()
    assert await _group_names(admin, key) == set()


async def test_an_ephemeral_group_stays_while_another_subscription_of_the_bus_is_on_it(
    redis_url: str, prefix: str, admin: aioredis.Redis
) -> None:
    async with await RedisStreamsBus.open(redis_url, prefix=prefix) as bus:
        key = bus.stream_key("replies")
        first = await bus.subscribe("replies", group="owner", consumer="o1", ephemeral=True)
        second = await bus.subscribe("replies", group="owner", consumer="o2", ephemeral=True)
        await first.close()
        assert await _group_names(admin, key) == {b"owner"}
        await bus.publish(BusEnvelope(topic="replies", body={"n": 1}))
        await (await _next(second)).ack()
        await second.close()
        assert await _group_names(admin, key) == set()


async def test_a_vanished_ephemeral_group_is_recreated_after_the_last_entry_read(
    redis_url: str, prefix: str, admin: aioredis.Redis
) -> None:
    async with await RedisStreamsBus.open(redis_url, prefix=prefix, block_ms=100) as bus:
        key = bus.stream_key("replies")
        subscription = await bus.subscribe("replies", group="owner", consumer="o1", ephemeral=True)
        await bus.publish(BusEnvelope(topic="replies", body={"n": 1}))
        await (await _next(subscription)).ack()
        # E.g. a member of the group on another connection closed it.
        assert await admin.xgroup_destroy(key, "owner") == 1
        await bus.publish(BusEnvelope(topic="replies", body={"n": 2}))
        # Not from the start (n=1 again), not from the end (n=2 lost): after n=1.
        assert (await _next(subscription)).envelope.body == {"n": 2}
        assert await _group_names(admin, key) == {b"owner"}


async def test_an_ephemeral_group_left_by_an_unreachable_server_is_only_logged(
    redis_url: str,
    prefix: str,
    admin: aioredis.Redis,
    tcp_proxy: Callable[[str], Awaitable[Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy = await tcp_proxy(redis_url)
    bus = await RedisStreamsBus.open(proxy.url, prefix=prefix, connect_timeout=1.0)
    subscription = await bus.subscribe("replies", group="owner", consumer="o1", ephemeral=True)
    await proxy.cut()
    with caplog.at_level(logging.WARNING, logger="penguiflow.bus"):
        await asyncio.wait_for(subscription.close(), WAIT_S)  # does not raise
    assert "deleting the ephemeral group 'owner'" in caplog.text
    assert "the idle group stays until destroy()" in caplog.text
    await bus.close()
    # Like after a crash: the idle group is left behind, for destroy() to remove.
    assert await _group_names(admin, bus.stream_key("replies")) == {b"owner"}


@pytest.mark.parametrize("flag", ["yes", 1, None])
async def test_ephemeral_must_be_a_bool(redis_url: str, prefix: str, flag: Any) -> None:
    async with await RedisStreamsBus.open(redis_url, prefix=prefix) as bus:
        with pytest.raises(TypeError, match="ephemeral must be True or False"):
            await bus.subscribe("t", group="g", consumer="c", ephemeral=flag)


async def test_streams_are_trimmed_to_about_maxlen(
    redis_url: str, prefix: str, admin: aioredis.Redis
) -> None:
    async with await RedisStreamsBus.open(redis_url, prefix=prefix, maxlen=10) as bus:
        for n in range(1000):
            await bus.publish(BusEnvelope(topic="busy", body={"n": n}))
        length = await admin.xlen(f"{prefix}:bus:busy")
        assert 10 <= length < 1000
        late = await bus.subscribe("busy", group="late", consumer="l1")
        first = await _next(late)
        assert first.envelope.body["n"] == 1000 - length  # the oldest retained one


async def test_an_unreadable_entry_is_logged_acked_and_skipped(
    redis_url: str, prefix: str, admin: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    async with await RedisStreamsBus.open(redis_url, prefix=prefix) as bus:
        subscription = await bus.subscribe("mixed", group="g", consumer="c1")
        key = bus.stream_key("mixed")
        bad_json = (await admin.xadd(key, {"envelope": "{not json"})).decode()
        foreign = (await admin.xadd(key, {"something": "else"})).decode()
        good = BusEnvelope(topic="mixed", body={"ok": True})
        await bus.publish(good)
        with caplog.at_level(logging.ERROR, logger="penguiflow.bus"):
            delivery = await _next(subscription)
        assert delivery.envelope == good
        text = caplog.text
        assert f"skipping unreadable entry {bad_json} of Redis stream {key!r}" in text
        assert f"entry {foreign}" in text
        await delivery.ack()
        assert (await admin.xpending(key, "g"))["pending"] == 0
        assert await admin.xlen(key) == 3  # left in the stream for inspection


async def test_closing_hands_entries_back_as_long_idle(
    redis_url: str, prefix: str, admin: aioredis.Redis
) -> None:
    async with await RedisStreamsBus.open(redis_url, prefix=prefix) as bus:
        leaving = await bus.subscribe("t", group="g", consumer="leaving", ack_wait_s=3600)
        await bus.publish(BusEnvelope(topic="t", body={}))
        await _next(leaving)
        await leaving.close()
        [entry] = await admin.xpending_range(bus.stream_key("t"), "g", "-", "+", 10)
        assert entry["time_since_delivered"] > 300 * 24 * 3600 * 1000
        assert entry["times_delivered"] == 1
        # Even a member with a long ack_wait takes it over at once.
        staying = await bus.subscribe("t", group="g", consumer="staying", ack_wait_s=3600)
        back = await _next(staying)
        assert back.redelivered


async def test_a_killed_connection_does_not_stop_the_iterator(
    redis_url: str, prefix: str, admin: aioredis.Redis
) -> None:
    name = f"pf-test-{uuid.uuid4().hex[:8]}"
    url = f"{redis_url}?client_name={name}"
    async with await RedisStreamsBus.open(url, prefix=prefix, block_ms=200) as bus:
        subscription = await bus.subscribe("t", group="g", consumer="c1")
        waiting = asyncio.create_task(_next(subscription))
        killed = 0
        async with asyncio.timeout(WAIT_S):
            while killed == 0:  # wait until the subscription's blocking read is on the wire
                for client in await admin.client_list():
                    if client["name"] == name and client["cmd"] == "xreadgroup":
                        killed += await admin.client_kill_filter(_id=client["id"])
        await bus.publish(BusEnvelope(topic="t", body={"after": "kill"}))
        delivery = await waiting
        assert delivery.envelope.body == {"after": "kill"}
        await delivery.ack()


async def test_the_iterator_goes_on_when_the_server_comes_back(
    redis_url: str, prefix: str, tcp_proxy: Callable[[str], Awaitable[Any]]
) -> None:
    proxy = await tcp_proxy(redis_url)
    async with (
        await RedisStreamsBus.open(proxy.url, prefix=prefix, block_ms=200) as bus,
        await RedisStreamsBus.open(redis_url, prefix=prefix) as direct,
    ):
        subscription = await bus.subscribe("t", group="g", consumer="c1")
        await direct.publish(BusEnvelope(topic="t", body={"n": 1}))
        await (await _next(subscription)).ack()
        await proxy.cut()  # the server is gone for the bus
        waiting = asyncio.create_task(_next(subscription, within=30))
        await direct.publish(BusEnvelope(topic="t", body={"n": 2}))
        with pytest.raises(BusError, match="cannot reach Redis"):
            await bus.publish(BusEnvelope(topic="t", body={"n": 0}))
        assert not waiting.done()
        await proxy.restore()  # ... and back, on the same port
        delivery = await waiting
        assert delivery.envelope.body == {"n": 2}
        await delivery.ack()


async def test_the_iterator_gives_up_after_reconnect_timeout(
    redis_url: str, prefix: str, tcp_proxy: Callable[[str], Awaitable[Any]]
) -> None:
    proxy = await tcp_proxy(redis_url)
    bus = await RedisStreamsBus.open(
        proxy.url, prefix=prefix, block_ms=200, connect_timeout=1.0, reconnect_timeout_s=0.5
    )
    try:
        subscription = await bus.subscribe("t", group="g", consumer="c1")
        await proxy.cut()
        with pytest.raises(BusError, match=r"lost Redis at 127\.0\.0\.1:\d+ while reading"):
            await _next(subscription)
    finally:
        await bus.close()


async def test_a_deleted_stream_is_recreated_by_the_reader(
    redis_url: str, prefix: str, admin: aioredis.Redis
) -> None:
    async with await RedisStreamsBus.open(redis_url, prefix=prefix, block_ms=100) as bus:
        subscription = await bus.subscribe("t", group="g", consumer="c1")
        await admin.delete(bus.stream_key("t"))  # e.g. a server that restarted empty
        # Publishing recreates the stream without the group; the reader recreates the group.
        await bus.publish(BusEnvelope(topic="t", body={"n": 1}))
        assert (await _next(subscription)).envelope.body == {"n": 1}


async def test_a_cancelled_read_loses_nothing(redis_url: str, prefix: str) -> None:
    async with await RedisStreamsBus.open(redis_url, prefix=prefix, block_ms=500) as bus:
        subscription = await bus.subscribe("t", group="g", consumer="c1", ack_wait_s=3600)
        for _ in range(3):
            with pytest.raises(TimeoutError):
                await _next(subscription, within=0.05)
        await bus.publish(BusEnvelope(topic="t", body={"n": 1}))
        delivery = await _next(subscription)
        assert delivery.envelope.body == {"n": 1}
        assert not delivery.redelivered


async def test_cancelling_a_command_always_cancels_the_caller(redis_url: str, prefix: str) -> None:
    # redis-py can swallow a cancellation that lands mid-command; the bus must not.
    async with await RedisStreamsBus.open(redis_url, prefix=prefix) as bus:
        subscription = await bus.subscribe("t", group="g", consumer="c1")

        async def busy() -> None:
            while True:
                await bus.publish(BusEnvelope(topic="t", body={}))
                await (await _next(subscription)).ack()

        for yields in range(150):
            task = asyncio.create_task(busy())
            for _ in range(yields):
                await asyncio.sleep(0)  # cancel at a different point each round
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=WAIT_S)
            assert done, f"the cancellation after {yields} yields was lost"
            assert task.cancelled()


async def test_destroy_deletes_only_this_prefix(
    redis_url: str, prefix: str, admin: aioredis.Redis
) -> None:
    other = f"{prefix}x"
    mine = await RedisStreamsBus.open(redis_url, prefix=prefix)
    theirs = await RedisStreamsBus.open(redis_url, prefix=other)
    try:
        await mine.publish(BusEnvelope(topic="t", body={}))
        await theirs.publish(BusEnvelope(topic="t", body={}))
        await mine.destroy()
        assert await admin.exists(f"{prefix}:bus:t") == 0
        assert await admin.exists(f"{other}:bus:t") == 1
        with pytest.raises(BusError, match="is closed"):
            await mine.publish(BusEnvelope(topic="t", body={}))
    finally:
        await theirs.destroy()


async def test_unreachable_server_fails_fast_with_one_line() -> None:
    async with asyncio.timeout(10):
        with pytest.raises(BusError, match=r"cannot reach Redis at 127\.0\.0\.1:1 while opening"):
            await RedisStreamsBus.open("redis://127.0.0.1:1/0", connect_timeout=1.0)


async def test_a_server_that_accepts_but_never_answers_fails_the_open_within_connect_timeout(
    silent_server: Any,
) -> None:
    url = f"redis://127.0.0.1:{silent_server.port}/0"
    # command_timeout is far above the bound: only connect_timeout may end the open.
    opening = RedisStreamsBus.open(url, connect_timeout=0.2, command_timeout=60.0)
    with pytest.raises(BusError) as info:
        await asyncio.wait_for(opening, 10.0)
    assert str(info.value).startswith(
        f"Redis at 127.0.0.1:{silent_server.port} accepted the connection but did not answer "
        "within 0.2s (connect_timeout) while opening the bus;"
    )
    assert silent_server.connections == 1  # a timeout is reported, not retried


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("http://localhost", {}, "not a Redis URL"),
        ("redis://localhost:99999/0", {}, "invalid port"),
        ("redis://localhost/0", {"prefix": "a:b"}, "invalid Redis key prefix"),
        ("redis://localhost/0", {"maxlen": 0}, "maxlen must be a positive int"),
        ("redis://localhost/0", {"read_count": 1.5}, "read_count must be a positive int"),
        ("redis://localhost/0", {"connect_timeout": 0}, "connect_timeout must be a positive"),
        (
            "redis://localhost/0",
            {"block_ms": 5000, "command_timeout": 5},
            "command_timeout .* must exceed block_ms",
        ),
    ],
)
async def test_bad_options_fail_before_connecting(
    url: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await RedisStreamsBus.open(url, **options)


async def test_closed_bus_refuses_work(redis_url: str, prefix: str) -> None:
    bus = await RedisStreamsBus.open(redis_url, prefix=prefix)
    subscription = await bus.subscribe("t", group="g", consumer="c1")
    await bus.publish(BusEnvelope(topic="t", body={}))
    delivery = await _next(subscription)
    await bus.close()
    assert "closed" in repr(bus)
    with pytest.raises(StopAsyncIteration):
        await _next(subscription)
    with pytest.raises(BusError, match="is closed"):
        await delivery.ack()
    with pytest.raises(BusError, match="is closed"):
        await bus.subscribe("t", group="g", consumer="c2")
