"""PostgresStateStore against the real PostgreSQL: migrations, pool, faults, cleanup.

The generic behaviour (idempotency, order, tenants, payloads, reopen) is in
the shared conformance suite; this file covers what only this backend has.
Every test works in its own schema, dropped at teardown.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from penguiflow.state import StateStoreError, StoredEvent, open_store
from penguiflow.state._postgres_schema import SCHEMA_VERSION
from penguiflow.state.postgres import PostgresStateStore

asyncpg = pytest.importorskip("asyncpg")

TABLES = {
    "events",
    "remote_bindings",
    "planner_state",
    "memory_state",
    "records",
    "schema_version",
}
ALL_VERSIONS = list(range(1, SCHEMA_VERSION + 1))
_LAST_APPLIED = 'SELECT max(applied_at) FROM "{schema}".schema_version'


def _event(trace: str, n: int, **extra: Any) -> StoredEvent:
    return StoredEvent(trace_id=trace, ts=float(n), kind="node_start", payload={"n": n}, **extra)


def _with_app_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&application_name={name}" if parts.query else f"application_name={name}"
    return urlunsplit(parts._replace(query=query))


@pytest.fixture
async def admin(postgres_url: str) -> AsyncIterator[Any]:
    conn = await asyncpg.connect(postgres_url)
    yield conn
    await conn.close()


@pytest.fixture
async def schema(admin: Any) -> AsyncIterator[str]:
    name = f"pf_test_{uuid.uuid4().hex[:12]}"
    yield name
    await admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
async def store(postgres_url: str, schema: str) -> AsyncIterator[PostgresStateStore]:
    store = await PostgresStateStore.open(postgres_url, schema=schema)
    yield store
    await store.destroy()


async def _versions(admin: Any, schema: str) -> list[int]:
    rows = await admin.fetch(f'SELECT version FROM "{schema}".schema_version ORDER BY version')
    return [row["version"] for row in rows]


# -- schema creation and migration ------------------------------------------------------------


async def test_first_open_creates_the_schema_tables_and_version(
    store: PostgresStateStore, admin: Any, schema: str
) -> None:
    rows = await admin.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
    )
    assert {row["table_name"] for row in rows} == TABLES
    assert await _versions(admin, schema) == ALL_VERSIONS
    assert await store.schema_version() == SCHEMA_VERSION
    assert store.schema == schema


async def test_reopen_finds_the_data_and_does_not_migrate_again(
    postgres_url: str, schema: str, admin: Any
) -> None:
    first = await PostgresStateStore.open(postgres_url, schema=schema)
    event = _event("t", 1, tenant="acme")
    await first.save_event(event)
    await first.close()
    applied = await admin.fetchval(_LAST_APPLIED.format(schema=schema))

    second = await PostgresStateStore.open(postgres_url, schema=schema)
    try:
        assert await second.load_history("t") == [event]
        assert await _versions(admin, schema) == ALL_VERSIONS
        assert await admin.fetchval(_LAST_APPLIED.format(schema=schema)) == applied
    finally:
        await second.close()


async def test_concurrent_first_openers_do_not_race(
    postgres_url: str, schema: str, admin: Any
) -> None:
    stores = await asyncio.gather(
        *(PostgresStateStore.open(postgres_url, schema=schema, min_size=1) for _ in range(4))
    )
    try:
        assert await _versions(admin, schema) == ALL_VERSIONS
        await asyncio.gather(*(s.save_event(_event("t", i)) for i, s in enumerate(stores)))
        assert len(await stores[0].load_history("t")) == 4
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_a_schema_migrated_by_a_newer_penguiflow_is_refused(
    postgres_url: str, schema: str, admin: Any
) -> None:
    await (await PostgresStateStore.open(postgres_url, schema=schema)).close()
    await admin.execute(f'INSERT INTO "{schema}".schema_version (version) VALUES (999)')
    with pytest.raises(StateStoreError, match=r"version 999, newer than .*upgrade penguiflow-core"):
        await PostgresStateStore.open(postgres_url, schema=schema)


async def test_schema_created_through_open_store(postgres_url: str, schema: str) -> None:
    store = await open_store(postgres_url, schema=schema)
    try:
        assert isinstance(store, PostgresStateStore)
        assert store.schema == schema
    finally:
        await store.close()


# -- create=False: open an existing store only ----------------------------------------------------


def _display(url: str) -> str:
    """How the store names the server in messages: no user, no password."""
    parts = urlsplit(url)
    return f"postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}"


async def _schema_exists(admin: Any, schema: str) -> bool:
    return bool(
        await admin.fetchval("SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", schema)
    )


async def _tables(admin: Any, schema: str) -> set[str]:
    rows = await admin.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
    )
    return {row["table_name"] for row in rows}


async def test_create_false_on_a_missing_schema_names_it_and_creates_nothing(
    postgres_url: str, schema: str, admin: Any
) -> None:
    parts = urlsplit(postgres_url)
    # Trust authentication ignores the password: it is only there to be kept out of the message.
    with_password = urlunsplit(
        parts._replace(netloc=f"{parts.username}:s3cret@{parts.hostname}:{parts.port or 5432}")
    )
    with pytest.raises(StateStoreError) as info:
        await PostgresStateStore.open(with_password, schema=schema, create=False)
    message = str(info.value)
    assert message.startswith(
        f"schema {schema!r} at {_display(postgres_url)} holds no penguiflow state store "
        "(opened with create=False: no such schema)"
    )
    assert "s3cret" not in message
    assert "\n" not in message
    assert not await _schema_exists(admin, schema)


async def test_create_false_on_a_schema_without_a_store_leaves_it_alone(
    postgres_url: str, schema: str, admin: Any
) -> None:
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    await admin.execute(f'CREATE TABLE "{schema}".unrelated (id INT)')
    with pytest.raises(
        StateStoreError, match=r"holds no penguiflow state store .*schema has no penguiflow tables"
    ):
        await PostgresStateStore.open(postgres_url, schema=schema, create=False)
    assert await _tables(admin, schema) == {"unrelated"}


async def test_create_false_reads_an_existing_store_without_touching_its_schema(
    postgres_url: str, schema: str, admin: Any
) -> None:
    event = _event("t", 1, tenant="acme")
    async with await PostgresStateStore.open(postgres_url, schema=schema) as writer:
        await writer.save_event(event)
        await writer.save_planner_state("tok", {"step": 2})
    applied = await admin.fetchval(_LAST_APPLIED.format(schema=schema))

    async with await open_store(postgres_url, schema=schema, create=False) as reader:
        assert isinstance(reader, PostgresStateStore)
        assert await reader.load_history("t", tenant="acme") == [event]
        assert await reader.load_planner_state("tok") == {"step": 2}
        assert await reader.schema_version() == SCHEMA_VERSION
    assert await _versions(admin, schema) == ALL_VERSIONS
    assert await admin.fetchval(_LAST_APPLIED.format(schema=schema)) == applied


async def test_create_false_does_not_migrate_an_older_schema(
    postgres_url: str, schema: str, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await (await PostgresStateStore.open(postgres_url, schema=schema)).close()
    # Pretend this release expects one more version: the stored schema is one migration behind.
    current = SCHEMA_VERSION
    monkeypatch.setattr("penguiflow.state._postgres_schema.SCHEMA_VERSION", current + 1)
    with pytest.raises(
        StateStoreError,
        match=rf"at version {current}, older than this penguiflow's {current + 1}, .*create=True",
    ):
        await PostgresStateStore.open(postgres_url, schema=schema, create=False)
    assert await _versions(admin, schema) == ALL_VERSIONS


async def test_create_false_refuses_a_newer_schema(
    postgres_url: str, schema: str, admin: Any
) -> None:
    await (await PostgresStateStore.open(postgres_url, schema=schema)).close()
    await admin.execute(f'INSERT INTO "{schema}".schema_version (version) VALUES (999)')
    with pytest.raises(StateStoreError, match=r"version 999, newer than .*upgrade penguiflow-core"):
        await PostgresStateStore.open(postgres_url, schema=schema, create=False)


async def test_create_false_names_the_tables_a_damaged_store_lacks(
    postgres_url: str, schema: str, admin: Any
) -> None:
    await (await PostgresStateStore.open(postgres_url, schema=schema)).close()
    await admin.execute(f'DROP TABLE "{schema}".memory_state, "{schema}".remote_bindings')
    with pytest.raises(
        StateStoreError, match=r"lacks the store's tables remote_bindings, memory_state"
    ):
        await PostgresStateStore.open(postgres_url, schema=schema, create=False)
    assert await _tables(admin, schema) == TABLES - {"memory_state", "remote_bindings"}


async def test_create_false_never_sees_a_half_created_schema(
    postgres_url: str, schema: str
) -> None:
    # The first opener creates the schema in one transaction: a concurrent reader finds the
    # whole store or none of it, never a schema without its tables.
    async def read() -> str:
        try:
            await (await PostgresStateStore.open(postgres_url, schema=schema, create=False)).close()
        except StateStoreError as exc:
            return str(exc)
        return "opened"

    creating = asyncio.ensure_future(PostgresStateStore.open(postgres_url, schema=schema))
    try:
        outcomes = await asyncio.gather(*(read() for _ in range(6)))
    finally:
        await (await creating).close()
    for outcome in outcomes:
        assert outcome == "opened" or "(opened with create=False: no such schema)" in outcome
    assert await read() == "opened"


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "1abc", 'a"b', "a-b", "a;drop", "pg_catalog", "x" * 64])
async def test_bad_schema_names_are_rejected_before_connecting(name: str) -> None:
    # Port 1 is closed: a ValueError proves the name was checked before any connection attempt.
    with pytest.raises(ValueError, match="invalid PostgreSQL schema name"):
        await PostgresStateStore.open("postgresql://postgres@127.0.0.1:1/test", schema=name)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_size": 3, "max_size": 2}, "invalid pool sizes"),
        ({"max_size": 0, "min_size": 0}, "invalid pool sizes"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"command_timeout": -1.0}, "command_timeout"),
    ],
)
async def test_bad_options_are_rejected(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await PostgresStateStore.open("postgresql://postgres@127.0.0.1:1/test", **options)


async def test_a_non_postgres_url_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        await PostgresStateStore.open("redis://127.0.0.1:6379/0")


async def test_unreachable_server_fails_fast_with_one_clear_line() -> None:
    with pytest.raises(StateStoreError) as info:
        await PostgresStateStore.open("postgresql://postgres:secret@127.0.0.1:5999/test")
    message = str(info.value)
    assert message.startswith("cannot reach PostgreSQL at 127.0.0.1:5999: ")
    assert "check that the server is running" in message
    assert "secret" not in message
    assert "\n" not in message


async def test_unknown_database_names_the_problem(postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    url = urlunsplit(parts._replace(path=f"/no_such_db_{uuid.uuid4().hex[:8]}"))
    with pytest.raises(StateStoreError, match=r"refused the connection: .*check the database name"):
        await PostgresStateStore.open(url)


async def test_a_closed_store_raises(store: PostgresStateStore) -> None:
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StateStoreError, match="is closed"):
        await store.load_history("t")


# -- storage layout -----------------------------------------------------------------------------


async def test_duplicate_saves_from_two_pools_store_one_row(
    postgres_url: str, schema: str, admin: Any
) -> None:
    one = await PostgresStateStore.open(postgres_url, schema=schema)
    two = await PostgresStateStore.open(postgres_url, schema=schema)
    try:
        events = [_event("t", n) for n in range(10)]
        await asyncio.gather(*(s.save_event(e) for e in events for s in (one, two, one)))
        assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".events') == 10
        assert {e.event_id for e in await two.load_history("t")} == {e.event_id for e in events}
    finally:
        await one.close()
        await two.close()


async def test_documents_json_cannot_hold_in_jsonb_round_trip(store: PostgresStateStore) -> None:
    # NUL and lone surrogates are why payloads are `json`, not `jsonb`, columns.
    odd = {"nul": "a\x00b", "surrogate": "\ud800", "emoji": "🐧", "big": "x" * (1 << 20)}
    event = StoredEvent(trace_id="t", ts=1.0, kind="k", payload=odd)
    await store.save_event(event)
    await store.save_memory_state("m", odd)
    assert await store.load_history("t") == [event]
    assert await store.load_memory_state("m") == odd


async def test_untraced_events_are_stored_but_belong_to_no_trace(
    store: PostgresStateStore, admin: Any, schema: str
) -> None:
    await store.save_event(StoredEvent(trace_id=None, ts=1.0, kind="k"))
    untraced = f'SELECT count(*) FROM "{schema}".events WHERE trace_id IS NULL'
    assert await admin.fetchval(untraced) == 1
    assert await store.load_history("None") == []


async def test_the_pool_never_opens_more_than_max_size_connections(
    postgres_url: str, schema: str, admin: Any
) -> None:
    app = f"pf_{uuid.uuid4().hex[:10]}"
    store = await PostgresStateStore.open(
        _with_app_name(postgres_url, app), schema=schema, min_size=1, max_size=2
    )
    try:
        await asyncio.gather(*(store.save_event(_event("t", n)) for n in range(40)))
        count = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app
        )
        assert 1 <= count <= 2
        assert sorted(e.payload["n"] for e in await store.load_history("t")) == list(range(40))
    finally:
        await store.close()


# -- faults -------------------------------------------------------------------------------------


async def test_connections_terminated_by_the_server_are_replaced(
    postgres_url: str, schema: str, admin: Any
) -> None:
    app = f"pf_{uuid.uuid4().hex[:10]}"
    store = await PostgresStateStore.open(
        _with_app_name(postgres_url, app), schema=schema, min_size=2, max_size=4
    )
    try:
        saved = [_event("t", 0)]
        await store.save_event(saved[0])
        for n in range(1, 4):
            killed = await admin.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = $1",
                app,
            )
            assert killed and all(row[0] for row in killed)
            saved.append(_event("t", n))
            await store.save_event(saved[-1])
        assert await store.load_history("t") == saved
    finally:
        await store.close()


async def test_a_server_gone_for_good_gives_a_clear_error_and_recovery_after(
    postgres_url: str, schema: str, tcp_proxy: Callable[[str], Awaitable[Any]]
) -> None:
    proxy = await tcp_proxy(postgres_url)
    store = await PostgresStateStore.open(proxy.url, schema=schema)
    try:
        before = _event("t", 1)
        await store.save_event(before)
        await proxy.cut()
        gone = f"cannot reach PostgreSQL at 127.0.0.1:{proxy.port}"
        with pytest.raises(StateStoreError, match=gone):
            await store.save_event(_event("t", 2))
        await proxy.restore()  # same port: the server is back
        after = _event("t", 3)
        await store.save_event(after)
        assert await store.load_history("t") == [before, after]
    finally:
        await store.close()


# -- cleanup ------------------------------------------------------------------------------------


async def test_destroy_drops_the_schema_even_when_closed(
    postgres_url: str, schema: str, admin: Any
) -> None:
    exists = "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1"
    store = await PostgresStateStore.open(postgres_url, schema=schema)
    await store.destroy()
    assert await admin.fetchval(exists, schema) == 0
    assert "closed" in repr(store)

    store = await PostgresStateStore.open(postgres_url, schema=schema)
    await store.close()
    await store.destroy()
    assert await admin.fetchval(exists, schema) == 0
