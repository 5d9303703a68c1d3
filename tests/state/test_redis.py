"""RedisStateStore against the real Redis: key layout, prefix isolation, atomic writes, faults.

The generic behaviour (idempotency, order, tenants, payloads, reopen) is in
the shared conformance suite; this file covers what only this backend has.
Every test works under its own key prefix, deleted at teardown.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from penguiflow.state import RemoteBinding, StateStoreError, StoredEvent, open_store
from penguiflow.state.redis import LAYOUT_VERSION as LAYOUT

aioredis = pytest.importorskip("redis.asyncio")
RedisStateStore = pytest.importorskip("penguiflow.state.redis").RedisStateStore


def _event(trace: str | None, n: int, **extra: Any) -> StoredEvent:
    return StoredEvent(trace_id=trace, ts=float(n), kind="node_start", payload={"n": n}, **extra)


def _with_query(url: str, query: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[Any]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(admin: Any) -> AsyncIterator[str]:
    name = f"pf-test-{uuid.uuid4().hex[:12]}"
    yield name
    keys = [key async for key in admin.scan_iter(match=f"{name}:*")]
    if keys:
        await admin.delete(*keys)


@pytest.fixture
async def store(redis_url: str, prefix: str) -> AsyncIterator[Any]:
    store = await RedisStateStore.open(redis_url, prefix=prefix)
    yield store
    await store.destroy()


async def _keys(admin: Any, prefix: str) -> set[str]:
    return {key.decode() async for key in admin.scan_iter(match=f"{prefix}:*")}


# -- key layout and isolation -------------------------------------------------------------------


async def test_every_key_lives_under_the_prefix_in_the_documented_layout(
    store: Any, admin: Any, prefix: str
) -> None:
    await store.save_event(_event("t1", 1))
    await store.save_event(_event(None, 2))
    await store.save_remote_binding(RemoteBinding("t1", "ctx", "task", "http://agent"))
    await store.save_planner_state("tok", {"step": 1})
    await store.save_memory_state("mem", {"turns": []})
    assert await _keys(admin, prefix) == {
        f"{prefix}:layout",
        f"{prefix}:event_ids",
        f"{prefix}:events:t1",
        f"{prefix}:untraced_events",
        f"{prefix}:binding_ids:t1",
        f"{prefix}:bindings:t1",
        f"{prefix}:planner:tok",
        f"{prefix}:memory:mem",
    }
    assert await admin.get(f"{prefix}:layout") == str(LAYOUT).encode()
    assert store.prefix == prefix


async def test_prefixes_isolate_stores_and_destroy_only_touches_its_own(
    redis_url: str, prefix: str, admin: Any
) -> None:
    other_prefix = f"{prefix}-other"
    one = await RedisStateStore.open(redis_url, prefix=prefix)
    two = await RedisStateStore.open(redis_url, prefix=other_prefix)
    try:
        first, second = _event("t", 1), _event("t", 2)
        await one.save_event(first)
        await two.save_event(second)
        await two.save_event(first)  # the same id in another prefix is another store's event
        assert await one.load_history("t") == [first]
        assert await two.load_history("t") == [second, first]
        await one.destroy()
        assert await _keys(admin, prefix) == set()
        assert await two.load_history("t") == [second, first]
    finally:
        await two.destroy()
    assert await _keys(admin, other_prefix) == set()


async def test_reopen_finds_the_data(redis_url: str, prefix: str) -> None:
    event = _event("t", 1, tenant="acme")
    async with await RedisStateStore.open(redis_url, prefix=prefix) as first:
        await first.save_event(event)
    async with await open_store(redis_url, prefix=prefix) as second:
        assert isinstance(second, RedisStateStore)
        assert await second.load_history("t", tenant="acme") == [event]


async def test_a_newer_key_layout_is_refused(redis_url: str, prefix: str, admin: Any) -> None:
    await admin.set(f"{prefix}:layout", "99")
    with pytest.raises(StateStoreError, match=r"use layout b'99'.*upgrade penguiflow-core"):
        await RedisStateStore.open(redis_url, prefix=prefix)


# -- create=False: open an existing store only ----------------------------------------------------


def _display(url: str) -> str:
    """How the store names the server in messages: scheme, host, port and database only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"


async def test_create_false_on_a_missing_prefix_names_it_and_writes_nothing(
    redis_url: str, prefix: str, admin: Any
) -> None:
    with pytest.raises(StateStoreError) as info:
        await RedisStateStore.open(redis_url, prefix=prefix, create=False)
    message = str(info.value)
    assert message.startswith(
        f"prefix {prefix!r} at {_display(redis_url)} holds no penguiflow state store "
        f"(opened with create=False: no '{prefix}:layout' key)"
    )
    assert "\n" not in message
    assert await _keys(admin, prefix) == set()


async def test_create_false_ignores_keys_that_identify_no_store(
    redis_url: str, prefix: str, admin: Any
) -> None:
    await admin.set(f"{prefix}:something-else", "x")
    await admin.set(f"{prefix}:planner:tok", "{}")
    with pytest.raises(StateStoreError, match="holds no penguiflow state store"):
        await RedisStateStore.open(redis_url, prefix=prefix, create=False)
    assert await _keys(admin, prefix) == {f"{prefix}:something-else", f"{prefix}:planner:tok"}


async def test_create_false_reads_an_existing_store_and_writes_nothing(
    redis_url: str, prefix: str, admin: Any
) -> None:
    event = _event("t", 1, tenant="acme")
    async with await RedisStateStore.open(redis_url, prefix=prefix) as writer:
        await writer.save_event(event)
        await writer.save_memory_state("mem", {"turns": [1]})
    before = await _keys(admin, prefix)

    async with await open_store(redis_url, prefix=prefix, create=False) as reader:
        assert isinstance(reader, RedisStateStore)
        assert await reader.load_history("t", tenant="acme") == [event]
        assert await reader.load_memory_state("mem") == {"turns": [1]}
    assert await _keys(admin, prefix) == before
    assert await admin.get(f"{prefix}:layout") == str(LAYOUT).encode()


async def test_a_store_that_lost_its_layout_marker_is_still_found(
    redis_url: str, prefix: str, admin: Any
) -> None:
    # The marker can go missing (deleted by hand, evicted under an allkeys-* policy); the
    # events' id set still identifies the store.
    event = _event("t", 1)
    async with await RedisStateStore.open(redis_url, prefix=prefix) as writer:
        await writer.save_event(event)
    await admin.delete(f"{prefix}:layout")

    async with await RedisStateStore.open(redis_url, prefix=prefix, create=False) as reader:
        assert await reader.load_history("t") == [event]
    assert await admin.exists(f"{prefix}:layout") == 0  # reading wrote nothing

    await (await RedisStateStore.open(redis_url, prefix=prefix)).close()
    # create=True puts the marker back
    assert await admin.get(f"{prefix}:layout") == str(LAYOUT).encode()


async def test_create_false_refuses_a_newer_layout(redis_url: str, prefix: str, admin: Any) -> None:
    await admin.set(f"{prefix}:layout", "99")
    with pytest.raises(StateStoreError, match=r"use layout b'99'.*upgrade penguiflow-core"):
        await RedisStateStore.open(redis_url, prefix=prefix, create=False)


# -- atomic idempotent writes -------------------------------------------------------------------


async def test_duplicate_saves_from_two_clients_store_one_record(
    redis_url: str, prefix: str, admin: Any
) -> None:
    one = await RedisStateStore.open(redis_url, prefix=prefix)
    two = await RedisStateStore.open(redis_url, prefix=prefix)
    try:
        events = [_event("t", n) for n in range(10)]
        await asyncio.gather(*(s.save_event(e) for e in events for s in (one, two, one)))
        assert await admin.llen(f"{prefix}:events:t") == 10
        assert {e.event_id for e in await two.load_history("t")} == {e.event_id for e in events}
        binding = RemoteBinding("t", "ctx", "task", "http://agent")
        await asyncio.gather(*(s.save_remote_binding(binding) for s in (one, two, one, two)))
        assert await one.load_remote_bindings("t") == [binding]
    finally:
        await one.close()
        await two.close()


async def test_documents_with_nul_surrogates_and_a_mebibyte_round_trip(store: Any) -> None:
    odd = {"nul": "a\x00b", "surrogate": "\ud800", "emoji": "🐧", "big": "x" * (1 << 20)}
    event = StoredEvent(trace_id="t", ts=1.0, kind="k", payload=odd)
    await store.save_event(event)
    await store.save_planner_state("p", odd)
    assert await store.load_history("t") == [event]
    assert await store.load_planner_state("p") == odd


async def test_a_corrupt_record_is_reported_with_its_key(
    store: Any, admin: Any, prefix: str
) -> None:
    await store.save_event(_event("t", 1))
    await admin.rpush(f"{prefix}:events:t", b"{not json")
    with pytest.raises(StateStoreError, match=rf"unreadable record at '{prefix}:events:t\[1\]'"):
        await store.load_history("t")
    await admin.set(f"{prefix}:memory:m", b"\xff\xfe")
    with pytest.raises(StateStoreError, match=rf"unreadable record at '{prefix}:memory:m'"):
        await store.load_memory_state("m")


async def test_more_concurrent_writers_than_connections_queue_for_one(
    redis_url: str, prefix: str, admin: Any
) -> None:
    name = f"pf{uuid.uuid4().hex[:10]}"
    url = _with_query(redis_url, f"client_name={name}")
    async with await RedisStateStore.open(url, prefix=prefix, max_connections=2) as store:
        await asyncio.gather(*(store.save_event(_event("t", n)) for n in range(60)))
        assert len([c for c in await admin.client_list() if c.get("name") == name]) <= 2
        assert sorted(e.payload["n"] for e in await store.load_history("t")) == list(range(60))


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "a:b", "a*", "a?b", "a[b]", "with space", "x" * 101])
async def test_bad_prefixes_are_rejected_before_connecting(name: str) -> None:
    with pytest.raises(ValueError, match="invalid Redis key prefix"):
        await RedisStateStore.open("redis://127.0.0.1:1/0", prefix=name)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"command_timeout": -1.0}, "command_timeout"),
        ({"max_connections": 0}, "max_connections"),
    ],
)
async def test_bad_options_are_rejected(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await RedisStateStore.open("redis://127.0.0.1:1/0", **options)


async def test_a_non_redis_url_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a Redis URL"):
        await RedisStateStore.open("postgresql://127.0.0.1/test")


async def test_unreachable_server_fails_fast_with_one_clear_line() -> None:
    with pytest.raises(StateStoreError) as info:
        await RedisStateStore.open("redis://:secret@127.0.0.1:5999/0")
    message = str(info.value)
    assert message.startswith("cannot reach Redis at 127.0.0.1:5999 ")
    assert "check that the server is running" in message
    assert "secret" not in message
    assert "\n" not in message


async def test_a_server_that_accepts_but_never_answers_fails_the_open_within_connect_timeout(
    silent_server: Any,
) -> None:
    url = f"redis://127.0.0.1:{silent_server.port}/0"
    # command_timeout is far above the bound: only connect_timeout may end the open.
    opening = RedisStateStore.open(url, connect_timeout=0.2, command_timeout=60.0)
    with pytest.raises(StateStoreError) as info:
        await asyncio.wait_for(opening, 10.0)
    assert str(info.value) == (
        f"Redis at 127.0.0.1:{silent_server.port} accepted the connection but did not answer "
        "within 0.2s (connect_timeout) while opening the store; check that the URL's host and "
        "port are a Redis server's (not another service's) and that it is not stalled, "
        "or raise connect_timeout"
    )
    assert silent_server.connections == 1  # a timeout is reported, not retried


async def test_a_connect_that_gets_no_answer_names_connect_timeout(unaccepting_port: int) -> None:
    opening = RedisStateStore.open(
        f"redis://127.0.0.1:{unaccepting_port}/0", connect_timeout=0.2, command_timeout=60.0
    )
    with pytest.raises(StateStoreError) as info:
        await asyncio.wait_for(opening, 10.0)
    assert str(info.value).startswith(
        f"cannot reach Redis at 127.0.0.1:{unaccepting_port} while opening the store: "
        "no connection within 0.2s (connect_timeout);"
    )


async def test_a_closed_store_raises(store: Any) -> None:
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StateStoreError, match="is closed"):
        await store.load_history("t")


# -- faults -------------------------------------------------------------------------------------


async def test_connections_killed_by_the_server_are_replaced(
    redis_url: str, prefix: str, admin: Any
) -> None:
    name = f"pf{uuid.uuid4().hex[:10]}"
    store = await RedisStateStore.open(_with_query(redis_url, f"client_name={name}"), prefix=prefix)
    try:
        saved = [_event("t", 0)]
        await store.save_event(saved[0])
        for n in range(1, 4):
            ours = [c for c in await admin.client_list() if c.get("name") == name]
            assert ours
            for client in ours:
                assert await admin.client_kill_filter(_id=client["id"]) == 1
            saved.append(_event("t", n))
            await store.save_event(saved[-1])
        assert await store.load_history("t") == saved
    finally:
        await store.close()


async def test_a_server_gone_for_good_gives_a_clear_error_and_recovery_after(
    redis_url: str, prefix: str, tcp_proxy: Callable[[str], Awaitable[Any]]
) -> None:
    proxy = await tcp_proxy(redis_url)
    store = await RedisStateStore.open(proxy.url, prefix=prefix)
    try:
        before = _event("t", 1)
        await store.save_event(before)
        await proxy.cut()
        with pytest.raises(StateStoreError, match=f"cannot reach Redis at 127.0.0.1:{proxy.port}"):
            await store.save_event(_event("t", 2))
        await proxy.restore()  # same port: the server is back
        after = _event("t", 3)
        await store.save_event(after)
        assert await store.load_history("t") == [before, after]
    finally:
        await store.close()


# -- cleanup ------------------------------------------------------------------------------------


async def test_destroy_deletes_every_key_even_when_closed(
    redis_url: str, prefix: str, admin: Any
) -> None:
    store = await RedisStateStore.open(redis_url, prefix=prefix)
    for n in range(1200):  # more than one SCAN/UNLINK batch
        await store.save_memory_state(f"k{n}", {"n": n})
    await store.close()
    await store.destroy()
    assert await _keys(admin, prefix) == set()
    assert "closed" in repr(store)


async def test_a_layout_1_store_is_upgraded_in_place_once(
    redis_url: str, prefix: str, admin: Any
) -> None:
    # Layout 1 (before records): the marker and an event, as that release wrote them.
    await admin.set(f"{prefix}:layout", "1")
    event = StoredEvent(trace_id="t1", ts=1.0, kind="old", event_id="e-old")
    await admin.sadd(f"{prefix}:event_ids", "e-old")
    await admin.rpush(
        f"{prefix}:events:t1",
        '{"event_id":"e-old","trace_id":"t1","ts":1.0,"kind":"old","node_name":null,'
        '"node_id":null,"tenant":null,"payload":{}}',
    )
    await admin.set(f"{prefix}:planner:tok", '{"paused":true}')
    stores = await asyncio.gather(*(open_store(redis_url, prefix=prefix) for _ in range(4)))
    try:
        assert await admin.get(f"{prefix}:layout") == str(LAYOUT).encode()
        store = stores[0]
        assert await store.load_history("t1") == [event]
        assert await store.load_planner_state("tok") == {"paused": True}
        await stores[1].put_record("k", "r", {"n": 1}, tenant="t")
        record = await store.get_record("k", "r", tenant="t")
        assert record is not None and record.value == {"n": 1}
    finally:
        for store in stores:
            await store.close()


async def test_a_resent_take_or_cas_gets_the_first_runs_answer(
    redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # redis-py resends a script whose connection dropped; the resend carries the same request
    # id. Pinning the id makes two calls look like one call and its resend.
    import penguiflow.state._redis_records as records

    class _FixedIds:
        value = 7

        @classmethod
        def uuid4(cls) -> uuid.UUID:
            return uuid.UUID(int=cls.value)

    monkeypatch.setattr(records, "uuid", _FixedIds)
    async with await open_store(redis_url, prefix=prefix) as store:
        await store.put_record("k", "r", {"n": 1}, tenant="t")
        first = await store.take_record("k", "r", tenant="t")
        assert first is not None and first.value == {"n": 1}
        assert await store.take_record("k", "r", tenant="t") == first  # replayed, not re-run
        monkeypatch.setattr(records, "uuid", uuid)  # fresh ids again
        assert await store.take_record("k", "r", tenant="t") is None
        await store.put_record("k", "c", {}, tenant="t")
        _FixedIds.value = 8  # another call: another id
        monkeypatch.setattr(records, "uuid", _FixedIds)
        assert await store.put_record("k", "c", {"v": 2}, tenant="t", expected_version=1) == 2
        # The resend of that compare-and-set is answered 2 again, not refused as stale.
        assert await store.put_record("k", "c", {"v": 2}, tenant="t", expected_version=1) == 2
        record = await store.get_record("k", "c", tenant="t")
        assert record is not None and record.version == 2
