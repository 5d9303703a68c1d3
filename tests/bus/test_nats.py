"""NatsJetStreamBus against the real NATS server: layout, naming, dedupe, faults, cleanup.

The generic behaviour (groups, ordering, redelivery, close, validation) is in
the shared conformance suite; this file covers what only this backend has.
Every test works under its own stream prefix, whose streams are deleted at
teardown.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from penguiflow.bus import BusEnvelope, BusError, Delivery, Subscription, open_bus

nats = pytest.importorskip("nats")
js_errors = pytest.importorskip("nats.js.errors")
NatsJetStreamBus = pytest.importorskip("penguiflow.bus.nats").NatsJetStreamBus

WAIT_S = 5.0


@pytest.fixture
async def admin_client(nats_url: str) -> AsyncIterator[Any]:
    """A plain nats-py connection to the real server, to look behind the bus."""
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
def admin(admin_client: Any) -> Any:
    """A plain JetStream context on the real server."""
    return admin_client.jetstream()


@pytest.fixture
async def prefix(nats_url: str) -> AsyncIterator[str]:
    name = f"pftest{uuid.uuid4().hex[:12]}"
    yield name
    await (await NatsJetStreamBus.open(nats_url, stream_prefix=name)).destroy()


@pytest.fixture
async def bus(nats_url: str, prefix: str) -> AsyncIterator[Any]:
    bus = await NatsJetStreamBus.open(nats_url, stream_prefix=prefix)
    yield bus
    await bus.close()


async def _next(subscription: Subscription, within: float = WAIT_S) -> Delivery:
    return await asyncio.wait_for(anext(aiter(subscription)), within)


async def _nothing(subscription: Subscription, within: float) -> None:
    with pytest.raises(TimeoutError):
        await _next(subscription, within)


async def _deletions(admin_client: Any, stream: str, group: str) -> Any:
    """A subscription to JetStream's advisories that ``group`` of ``stream`` was deleted."""
    advisories = await admin_client.subscribe(
        f"$JS.EVENT.ADVISORY.CONSUMER.DELETED.{stream}.{group}"
    )
    await admin_client.flush()  # the server knows of the interest before anything happens
    return advisories


async def _stream_names(admin: Any, prefix: str) -> set[str]:
    names: set[str] = set()
    offset = 0
    while page := await admin.streams_info(offset=offset):
        offset += len(page)
        names |= {info.config.name for info in page if info.config.name.startswith(prefix)}
    return names


# -- layout -------------------------------------------------------------------------------------


async def test_a_topic_is_a_bounded_stream_and_a_group_a_durable_pull_consumer(
    nats_url: str, prefix: str, admin: Any
) -> None:
    async with await NatsJetStreamBus.open(
        nats_url, stream_prefix=prefix, max_age_s=600, max_msgs=50
    ) as bus:
        topic = "flow.enrich-v2"
        await bus.publish(BusEnvelope(topic, {"n": 1}))
        stream = bus.stream_name(topic)
        assert stream.startswith(f"{prefix}_flow_enrich-v2_")
        assert bus.subject(topic) == f"{prefix}.flow.enrich-v2"
        info = await admin.stream_info(stream)
        assert info.config.subjects == [f"{prefix}.flow.enrich-v2"]
        assert (info.config.retention, info.config.storage) == ("limits", "file")
        assert (info.config.max_age, info.config.max_msgs) == (600.0, 50)
        assert info.state.messages == 1

        subscription = await bus.subscribe(topic, group="workers", consumer="w1", ack_wait_s=7.5)
        consumer = await admin.consumer_info(stream, "workers")
        assert consumer.config.durable_name == "workers"
        assert (consumer.config.deliver_policy, consumer.config.ack_policy) == ("all", "explicit")
        assert consumer.config.ack_wait == 7.5
        assert consumer.config.filter_subject == f"{prefix}.flow.enrich-v2"
        delivery = await _next(subscription)
        assert delivery.envelope.body == {"n": 1}
        await delivery.ack()
        await subscription.close()
        # Acked messages stay until the limits say otherwise: later groups read them.
        assert (await admin.stream_info(stream)).state.messages == 1
        late = await bus.subscribe(topic, group="auditors", consumer="a1")
        assert (await _next(late)).envelope == delivery.envelope


async def test_topics_that_sanitise_alike_get_their_own_streams(bus: Any, admin: Any) -> None:
    assert bus.stream_name("a.b") != bus.stream_name("a_b")
    long_topic = "x" * 60 + ".tail"
    assert len(bus.stream_name(long_topic)) < 100
    for topic in ("a.b", "a_b", long_topic):
        await bus.publish(BusEnvelope(topic, {"topic": topic}))
    for topic in ("a.b", "a_b", long_topic):
        subscription = await bus.subscribe(topic, group="g", consumer="c")
        assert (await _next(subscription)).envelope.body == {"topic": topic}
        await _nothing(subscription, 0.5)
        await subscription.close()
    assert await _stream_names(admin, bus.stream_prefix) == {
        bus.stream_name(t) for t in ("a.b", "a_b", long_topic)
    }


async def test_the_latest_subscriber_sets_the_groups_ack_wait(bus: Any, admin: Any) -> None:
    first = await bus.subscribe("jobs", group="workers", consumer="w1", ack_wait_s=30)
    second = await bus.subscribe("jobs", group="workers", consumer="w2", ack_wait_s=0.5)
    info = await admin.consumer_info(bus.stream_name("jobs"), "workers")
    assert info.config.ack_wait == 0.5
    await bus.publish(BusEnvelope("jobs", {"n": 1}))
    held = await _next(first)
    again = await _next(second, 0.5 + WAIT_S)  # redelivered after 0.5 s, not 30 s
    assert (again.envelope.message_id, again.redelivered) == (held.envelope.message_id, True)
    await again.ack()


async def test_an_existing_stream_with_other_limits_is_used_as_it_is(
    nats_url: str, prefix: str, admin: Any
) -> None:
    async with await NatsJetStreamBus.open(nats_url, stream_prefix=prefix, max_msgs=10) as one:
        await one.publish(BusEnvelope("jobs", {"n": 1}))
    async with await NatsJetStreamBus.open(nats_url, stream_prefix=prefix, max_msgs=99) as two:
        await two.publish(BusEnvelope("jobs", {"n": 2}))
        info = await admin.stream_info(two.stream_name("jobs"))
        assert (info.config.max_msgs, info.state.messages) == (10, 2)


async def test_a_foreign_stream_with_our_name_is_refused(bus: Any, admin: Any) -> None:
    await admin.add_stream(name=bus.stream_name("jobs"), subjects=[f"{bus.stream_prefix}.other"])
    with pytest.raises(BusError, match=r"has subjects .*other.*use another stream_prefix"):
        await bus.publish(BusEnvelope("jobs", {"n": 1}))


async def test_a_stream_deleted_behind_the_bus_is_created_again(bus: Any, admin: Any) -> None:
    await bus.publish(BusEnvelope("jobs", {"n": 1}))
    await admin.delete_stream(bus.stream_name("jobs"))
    await bus.publish(BusEnvelope("jobs", {"n": 2}))
    assert (await admin.stream_info(bus.stream_name("jobs"))).state.messages == 1


# -- ephemeral groups ---------------------------------------------------------------------------


async def test_an_ephemeral_group_is_an_expiring_consumer_deleted_on_close(
    nats_url: str, prefix: str, admin: Any
) -> None:
    async with await NatsJetStreamBus.open(
        nats_url, stream_prefix=prefix, ephemeral_ttl_s=120
    ) as bus:
        stream = bus.stream_name("replies")
        durable = await bus.subscribe("replies", group="audit", consumer="a1")
        subscription = await bus.subscribe(
            "replies", group="owner-1", consumer="o1", ack_wait_s=7.5, ephemeral=True
        )
        assert "ephemeral" in repr(subscription)
        info = await admin.consumer_info(stream, "owner-1")
        assert (info.config.deliver_policy, info.config.ack_policy) == ("new", "explicit")
        assert (info.config.inactive_threshold, info.config.ack_wait) == (120.0, 7.5)
        assert not (await admin.consumer_info(stream, "audit")).config.inactive_threshold
        await bus.publish(BusEnvelope("replies", {"n": 1}))
        await _next(subscription)  # left unacknowledged: it goes with the group
        await subscription.close()
        with pytest.raises(js_errors.NotFoundError):
            await admin.consumer_info(stream, "owner-1")
        await subscription.close()  # idempotent
        await durable.close()
        assert (await admin.consumer_info(stream, "audit")).config.durable_name == "audit"


async def test_the_ephemeral_ttl_defaults_to_five_minutes_and_open_bus_passes_it(
    nats_url: str, prefix: str, admin: Any
) -> None:
    async with await NatsJetStreamBus.open(nats_url, stream_prefix=prefix) as bus:
        assert bus.ephemeral_ttl_s == 300.0
        await bus.subscribe("control", group="w1", consumer="w1", ephemeral=True)
        info = await admin.consumer_info(bus.stream_name("control"), "w1")
        assert info.config.inactive_threshold == 300.0
    async with await open_bus(nats_url, stream_prefix=prefix, ephemeral_ttl_s=42.5) as bus:
        assert bus.ephemeral_ttl_s == 42.5


async def test_closing_the_bus_deletes_its_ephemeral_groups(
    nats_url: str, prefix: str, admin: Any
) -> None:
    bus = await NatsJetStreamBus.open(nats_url, stream_prefix=prefix)
    for name in ("control-w1", "control-w2"):
        await bus.subscribe("control", group=name, consumer="w", ephemeral=True)
    stream = bus.stream_name("control")
    await bus.close()
    for name in ("control-w1", "control-w2"):
        with pytest.raises(js_errors.NotFoundError):
            await admin.consumer_info(stream, name)


async def test_an_existing_group_is_joined_as_it_is(bus: Any, admin: Any) -> None:
    stream = bus.stream_name("jobs")
    await bus.publish(BusEnvelope("jobs", {"n": 1}))
    # A durable group joined ephemerally keeps its start (JetStream cannot change it) ...
    await bus.subscribe("jobs", group="workers", consumer="w1")
    joining = await bus.subscribe("jobs", group="workers", consumer="w2", ephemeral=True)
    assert (await admin.consumer_info(stream, "workers")).config.deliver_policy == "all"
    assert (await _next(joining)).envelope.body == {"n": 1}
    # ... and an ephemeral group joined by a durable subscriber keeps its inactivity limit.
    await bus.subscribe("jobs", group="replies", consumer="r1", ephemeral=True)
    await bus.subscribe("jobs", group="replies", consumer="r2", ack_wait_s=3.0)
    info = await admin.consumer_info(stream, "replies")
    assert (info.config.deliver_policy, info.config.inactive_threshold) == ("new", 300.0)
    assert info.config.ack_wait == 3.0  # the latest subscriber's ack_wait, as always


async def test_an_ephemeral_group_the_server_expired_is_recreated_losing_nothing(
    nats_url: str, prefix: str, admin: Any, admin_client: Any
) -> None:
    async with await NatsJetStreamBus.open(
        nats_url, stream_prefix=prefix, ephemeral_ttl_s=1.0
    ) as bus:
        stream = bus.stream_name("replies")
        deletions = await _deletions(admin_client, stream, "owner")
        subscription = await bus.subscribe("replies", group="owner", consumer="o1", ephemeral=True)
        await bus.publish(BusEnvelope("replies", {"n": 1}))
        await (await _next(subscription)).ack()
        await bus.publish(BusEnvelope("replies", {"n": 2}))
        unacked = await _next(subscription)
        before = BusEnvelope("replies", {"n": 3})
        await bus.publish(before)
        # Nobody pulls now (the owner is busy): the server deletes the consumer.
        await deletions.next_msg(timeout=WAIT_S + 1.0)
        with pytest.raises(js_errors.NotFoundError):
            await admin.consumer_info(stream, "owner")
        after = BusEnvelope("replies", {"n": 4})
        await bus.publish(after)
        got = [await _next(subscription) for _ in range(3)]
        # From the unacknowledged n=2 on: nothing published meanwhile is lost.
        assert [d.envelope.body["n"] for d in got] == [2, 3, 4]
        assert got[0].envelope.message_id == unacked.envelope.message_id
        info = await admin.consumer_info(stream, "owner")
        assert (info.config.deliver_policy, info.config.inactive_threshold) == (
            "by_start_sequence",
            1.0,
        )


async def test_a_crashed_owners_ephemeral_group_is_removed_by_the_server(
    nats_url: str,
    prefix: str,
    admin_client: Any,
    tcp_proxy: Callable[[str], Awaitable[Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy = await tcp_proxy(nats_url)
    bus = await NatsJetStreamBus.open(
        proxy.url, stream_prefix=prefix, ephemeral_ttl_s=1.0, request_timeout=1.0
    )
    try:
        subscription = await bus.subscribe("replies", group="owner", consumer="o1", ephemeral=True)
        deletions = await _deletions(admin_client, bus.stream_name("replies"), "owner")
        await proxy.cut()  # the owner is gone without closing anything
        await deletions.next_msg(timeout=WAIT_S + 1.0)  # the server cleaned up after ttl
        with caplog.at_level(logging.WARNING, logger="penguiflow.bus.nats"):
            await asyncio.wait_for(subscription.close(), WAIT_S)  # logs, does not raise
        assert "the ephemeral group 'owner'" in caplog.text
        assert "the server deletes it after 1s without readers" in caplog.text
    finally:
        await bus.close()


# -- publishing ---------------------------------------------------------------------------------


async def test_publishing_the_same_envelope_twice_stores_it_once(bus: Any, admin: Any) -> None:
    envelope = BusEnvelope("jobs", {"n": 1})
    await bus.publish(envelope)
    await bus.publish(envelope)  # e.g. a retry after a publish timed out
    await bus.publish(BusEnvelope("jobs", {"n": 1}))  # another message_id: another message
    assert (await admin.stream_info(bus.stream_name("jobs"))).state.messages == 2


async def test_an_envelope_larger_than_the_server_accepts_fails_before_sending(
    bus: Any, admin: Any
) -> None:
    with pytest.raises(BusError, match=r"is \d+ bytes, more than the \d+ NATS at .* accepts"):
        await bus.publish(BusEnvelope("jobs", {"blob": "x" * (2 << 20)}))
    with pytest.raises(js_errors.NotFoundError):
        await admin.stream_info(bus.stream_name("jobs"))


async def test_an_unreadable_message_is_reported_terminated_and_skipped(
    bus: Any, admin: Any
) -> None:
    good = BusEnvelope("jobs", {"n": 1})
    await bus.publish(good)  # creates the stream
    await admin.publish(bus.subject("jobs"), b"{not json")
    after = BusEnvelope("jobs", {"n": 2})
    await bus.publish(after)
    subscription = await bus.subscribe("jobs", group="g", consumer="c", ack_wait_s=0.5)
    await (await _next(subscription)).ack()
    with pytest.raises(BusError, match=r"unreadable message \(stream .*, sequence 2\).*terminated"):
        await _next(subscription)
    delivery = await _next(subscription)
    assert delivery.envelope == after
    await delivery.ack()
    await _nothing(subscription, 1.5)  # terminated: not redelivered after ack_wait


# -- faults -------------------------------------------------------------------------------------


async def test_a_dropped_connection_is_recovered_and_nothing_is_lost(
    nats_url: str, prefix: str, admin: Any, tcp_proxy: Callable[[str], Awaitable[Any]]
) -> None:
    proxy = await tcp_proxy(nats_url)
    bus = await NatsJetStreamBus.open(proxy.url, stream_prefix=prefix)
    try:
        subscription = await bus.subscribe("jobs", group="workers", consumer="w1", ack_wait_s=1.0)
        sent = [BusEnvelope("jobs", {"n": n}) for n in range(40)]
        seen: set[str] = set()

        async def consume(until: int) -> None:
            while len(seen) < until:
                delivery = await _next(subscription, 30.0)
                seen.add(delivery.envelope.message_id)
                await delivery.ack()

        for envelope in sent[:20]:
            await bus.publish(envelope)
        await consume(10)
        await proxy.cut()  # every socket aborted mid-run
        await proxy.restore()  # the server is back on the same port
        for envelope in sent[20:]:
            await bus.publish(envelope)
        await consume(40)
        assert seen == {e.message_id for e in sent}
        assert proxy.connections >= 2  # the client did reconnect
        assert (await admin.stream_info(bus.stream_name("jobs"))).state.messages == 40
        await _nothing(subscription, 2.0)  # everything acked: nothing comes back
    finally:
        await bus.close()


async def test_a_server_gone_for_good_ends_the_subscription_with_a_clear_error(
    nats_url: str, prefix: str, tcp_proxy: Callable[[str], Awaitable[Any]]
) -> None:
    proxy = await tcp_proxy(nats_url)
    bus = await NatsJetStreamBus.open(proxy.url, stream_prefix=prefix, max_reconnect_attempts=1)
    try:
        subscription = await bus.subscribe("jobs", group="workers", consumer="w1")
        waiting = asyncio.ensure_future(_next(subscription, 30.0))
        await proxy.cut()
        lost = "the connection was lost and 1 reconnect attempts failed"
        where = f"NATS at 127.0.0.1:{proxy.port}"
        with pytest.raises(BusError, match=rf"^{where}, receiving 'jobs' for group .*{lost}"):
            await waiting
        with pytest.raises(BusError, match=rf"^{where}, publishing message .*{lost}"):
            await bus.publish(BusEnvelope("jobs", {"n": 1}))
    finally:
        await bus.close()


async def test_an_unreachable_server_fails_fast_with_one_clear_line() -> None:
    started = time.monotonic()
    with pytest.raises(BusError) as info:
        await NatsJetStreamBus.open("nats://user:secret@127.0.0.1:1", connect_timeout=5.0)
    assert time.monotonic() - started < 2.0  # a refused connection is not retried
    message = str(info.value)
    assert message.startswith("cannot reach NATS at 127.0.0.1:1: ")
    assert "secret" not in message
    assert "\n" not in message


async def test_a_server_that_never_answers_fails_within_connect_timeout() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    silent = await asyncio.start_server(say_nothing, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        with pytest.raises(BusError, match=r"cannot reach NATS at .*no answer within 0.5s"):
            await asyncio.wait_for(
                NatsJetStreamBus.open(f"nats://127.0.0.1:{port}", connect_timeout=0.5), 3.0
            )
    finally:
        for writer in accepted:
            writer.transport.abort()
        silent.close()
        await silent.wait_closed()


@pytest.fixture
async def server_without_jetstream() -> AsyncIterator[str]:
    """A throw-away nats-server of our own, started without JetStream."""
    binary = shutil.which("nats-server")
    if binary is None:
        pytest.skip("nats-server is not installed")
    process = await asyncio.create_subprocess_exec(
        binary, "-a", "127.0.0.1", "-p", "-1", stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    try:
        port = None
        async with asyncio.timeout(WAIT_S):
            while b"Server is ready" not in (line := await process.stderr.readline()):
                assert line, "nats-server exited before it was ready"
                if found := re.search(rb"client connections on [\d.]+:(\d+)", line):
                    port = int(found.group(1))
        assert port is not None
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        await process.wait()


async def test_a_server_without_jetstream_is_refused_with_a_hint(
    server_without_jetstream: str,
) -> None:
    with pytest.raises(
        BusError, match=r"JetStream did not answer; is it enabled .*nats-server -js"
    ):
        await NatsJetStreamBus.open(server_without_jetstream, request_timeout=1.0)


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "a.b", "a b", "a*", "a>", "x" * 33])
async def test_bad_stream_prefixes_are_rejected_before_connecting(name: str) -> None:
    with pytest.raises(ValueError, match="invalid NATS stream prefix"):
        await NatsJetStreamBus.open("nats://127.0.0.1:1", stream_prefix=name)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_age_s": 0}, "max_age_s"),
        ({"max_msgs": 0}, "max_msgs"),
        ({"connect_timeout": float("inf")}, "connect_timeout"),
        ({"request_timeout": -1}, "request_timeout"),
        ({"max_reconnect_attempts": True}, "max_reconnect_attempts"),
        ({"fetch_batch": 1.5}, "fetch_batch"),
        ({"ephemeral_ttl_s": 0}, "ephemeral_ttl_s"),
        ({"ephemeral_ttl_s": float("nan")}, "ephemeral_ttl_s"),
        ({"ephemeral_ttl_s": "300"}, "ephemeral_ttl_s"),
    ],
)
async def test_bad_options_are_rejected_before_connecting(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await NatsJetStreamBus.open("nats://127.0.0.1:1", **options)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379", "nats://127.0.0.1:99999"])
async def test_a_non_nats_url_is_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="NATS URL"):
        await NatsJetStreamBus.open(url)


@pytest.mark.parametrize("topic", ["a..b", ".a", "a.", "a b", "a.*", "a.>", "x" * 201])
async def test_topics_that_are_no_nats_subject_are_rejected_early(bus: Any, topic: str) -> None:
    with pytest.raises(ValueError, match="invalid bus topic"):
        await bus.publish(BusEnvelope(topic, {}))
    with pytest.raises(ValueError, match="invalid bus topic"):
        await bus.subscribe(topic, group="g", consumer="c")


@pytest.mark.parametrize("flag", ["yes", 1, None])
async def test_ephemeral_must_be_a_bool(bus: Any, flag: Any) -> None:
    with pytest.raises(TypeError, match="ephemeral must be True or False"):
        await bus.subscribe("jobs", group="g", consumer="c", ephemeral=flag)


@pytest.mark.parametrize("group", ["a.b", "a b", "g*", "g>", ""])
async def test_groups_that_are_no_nats_consumer_name_are_rejected_early(
    bus: Any, group: str
) -> None:
    with pytest.raises(ValueError, match="invalid consumer group"):
        await bus.subscribe("jobs", group=group, consumer="c")


# -- lifecycle and cleanup ----------------------------------------------------------------------


async def test_open_bus_builds_this_backend(nats_url: str, prefix: str) -> None:
    async with await open_bus(nats_url, stream_prefix=prefix) as bus:
        assert isinstance(bus, NatsJetStreamBus)
        assert repr(bus) == f"<NatsJetStreamBus {nats_url.split('//')[1]} prefix={prefix!r} open>"
    assert "closed" in repr(bus)


async def test_closing_the_bus_gives_unacked_deliveries_back_and_ends_subscriptions(
    nats_url: str, prefix: str
) -> None:
    async with await NatsJetStreamBus.open(nats_url, stream_prefix=prefix) as other:
        staying = await other.subscribe("jobs", group="workers", consumer="w2")
        leaving_bus = await NatsJetStreamBus.open(nats_url, stream_prefix=prefix)
        leaving = await leaving_bus.subscribe("jobs", group="workers", consumer="w1")
        await other.publish(BusEnvelope("jobs", {"n": 1}))
        held = await _next(leaving)
        iterating = asyncio.ensure_future(_next(leaving))
        await leaving_bus.close()
        with pytest.raises(StopAsyncIteration):
            await iterating
        await held.ack()  # given back already: a no-op
        back = await _next(staying)  # well before the 30 s ack_wait
        assert (back.envelope, back.redelivered) == (held.envelope, True)
        await back.ack()
        with pytest.raises(BusError, match="is closed"):
            await leaving_bus.publish(BusEnvelope("jobs", {"n": 2}))


async def test_destroy_deletes_only_its_own_prefix_even_when_closed(
    nats_url: str, prefix: str, admin: Any
) -> None:
    neighbour = f"{prefix}_x"  # its streams start with ours, its subjects do not
    mine = await NatsJetStreamBus.open(nats_url, stream_prefix=prefix)
    theirs = await NatsJetStreamBus.open(nats_url, stream_prefix=neighbour)
    try:
        for topic in ("a", "b.c"):
            await mine.publish(BusEnvelope(topic, {}))
            await theirs.publish(BusEnvelope(topic, {}))
        await (await mine.subscribe("a", group="g", consumer="c")).close()
        await mine.close()
        await mine.destroy()
        assert await _stream_names(admin, f"{prefix}_") == {
            theirs.stream_name("a"),
            theirs.stream_name("b.c"),
        }
    finally:
        await theirs.destroy()
    assert await _stream_names(admin, prefix) == set()
