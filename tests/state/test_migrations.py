"""Stores written by an older release open with this one: upgraded in place, once, nothing lost.

The old schemas are kept as test data: ``data/*_6cd8997.sql`` hold the DDL
exactly as commit 6cd8997 (schema version 1, before records) wrote it. Each
test builds that schema, fills it the way that release did, opens it with
several stores at once (and, for SQLite, with two processes at once), and
checks every event, binding and state, and that records work afterwards.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from penguiflow.state import RemoteBinding, StateStore, StateStoreError, StoredEvent
from penguiflow.state.sqlite import SCHEMA_VERSION as SQLITE_VERSION
from penguiflow.state.sqlite import SQLiteStateStore

_DATA = Path(__file__).parent / "data"

EVENTS = [
    StoredEvent(
        trace_id=f"trace-{i % 3}",
        ts=1763718000.0 + i,
        kind="node_success" if i % 2 else "node_start",
        node_name=f"node-{i}",
        node_id=f"node-{i}-id" if i % 4 else None,
        payload={"i": i, "text": f"héllo {i} 🐧", "nested": {"list": [i, None, 1.5]}},
        tenant="acme" if i % 2 else None,
        event_id=f"event-{i:03d}",
    )
    for i in range(30)
]
BINDINGS = [
    RemoteBinding(
        f"trace-{i % 3}", f"ctx-{i}" if i % 2 else None, f"task-{i}", "https://a.example", "acme"
    )
    for i in range(6)
]
PLANNER = {"token-1": {"paused": True, "steps": [1, 2]}, "token-2": {"trajectory": []}}
MEMORY = {"acme:u1:s1": {"turns": [{"user": "hi"}], "summary": ""}}


async def _check_intact(store: StateStore) -> None:
    for trace in ("trace-0", "trace-1", "trace-2"):
        expected = [e for e in EVENTS if e.trace_id == trace]
        assert await store.load_history(trace) == expected
        assert await store.load_history(trace, tenant="acme") == [
            e for e in expected if e.tenant == "acme"
        ]
        assert await store.load_remote_bindings(trace) == [
            b for b in BINDINGS if b.trace_id == trace
        ]
    for token, state in PLANNER.items():
        assert await store.load_planner_state(token) == state
    for key, state in MEMORY.items():
        assert await store.load_memory_state(key) == state
    # The new part of the schema works on the upgraded store.
    assert await store.put_record("task", "t1", {"n": 1}, tenant="acme", expected_version=0) == 1
    page = await store.list_records("task", tenant="acme")
    assert [r.key for r in page.records] == ["t1"]


# -- SQLite ---------------------------------------------------------------------------------------
def _old_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.executescript((_DATA / "sqlite_6cd8997.sql").read_text())
        for seq, event in enumerate(EVENTS, start=1):
            db.execute(
                "INSERT INTO penguiflow_events (seq, event_id, trace_id, tenant, ts, kind,"
                " node_name, node_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    event.event_id,
                    event.trace_id,
                    event.tenant,
                    event.ts,
                    event.kind,
                    event.node_name,
                    event.node_id,
                    json.dumps(event.payload, separators=(",", ":")),
                ),
            )
        for b in BINDINGS:
            db.execute(
                "INSERT INTO penguiflow_remote_bindings (trace_id, task_id, context_id, agent_url,"
                " tenant) VALUES (?, ?, ?, ?, ?)",
                (b.trace_id, b.task_id, b.context_id, b.agent_url, b.tenant),
            )
        for table, column, documents in (
            ("penguiflow_planner_state", "token", PLANNER),
            ("penguiflow_memory_state", "key", MEMORY),
        ):
            for name, state in documents.items():
                db.execute(
                    f"INSERT INTO {table} ({column}, state, updated_at) VALUES (?, ?, 1.0)",
                    (name, json.dumps(state)),
                )
    db.close()


_OPENER = textwrap.dedent(
    """
    import asyncio, sys
    from penguiflow.state.sqlite import SQLiteStateStore

    async def main(url):
        print("ready", flush=True)
        sys.stdin.readline()  # the parent starts every opener at once
        async with await SQLiteStateStore.open(url, busy_timeout=30.0) as store:
            await store.load_planner_state("token-1")

    asyncio.run(main(sys.argv[1]))
    """
)


async def _start_opener(url: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _OPENER,
        url,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), timeout=60) == b"ready\n"
    return process


async def test_sqlite_store_from_6cd8997_is_upgraded_in_place_by_two_processes_at_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    _old_sqlite(path)
    url = f"sqlite:///{path}"
    openers = [await _start_opener(url), await _start_opener(url)]
    for process in openers:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        await process.stdin.drain()
    for process in openers:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, stderr.decode()
    stores = await asyncio.gather(*(SQLiteStateStore.open(url) for _ in range(3)))
    try:
        await _check_intact(stores[0])
    finally:
        for store in stores:
            await store.close()
    with sqlite3.connect(path) as db:
        versions = db.execute("SELECT version FROM penguiflow_schema_version ORDER BY version")
        assert [row[0] for row in versions] == list(range(1, SQLITE_VERSION + 1))
    db.close()


async def test_sqlite_store_from_6cd8997_is_refused_by_create_false_until_migrated(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    _old_sqlite(path)
    with pytest.raises(StateStoreError, match=r"older than .*open it once with create=True"):
        await SQLiteStateStore.open(f"sqlite:///{path}", create=False)
    async with await SQLiteStateStore.open(f"sqlite:///{path}") as store:
        await _check_intact(store)


# -- PostgreSQL -----------------------------------------------------------------------------------
@pytest.fixture
async def old_schema(postgres_url: str) -> AsyncIterator[tuple[str, Any]]:
    asyncpg = pytest.importorskip("asyncpg")
    admin = await asyncpg.connect(postgres_url)
    name = f"pf_test_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute((_DATA / "postgres_6cd8997.sql").read_text().format(s=f'"{name}"'))
        yield name, admin
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await admin.close()


async def test_postgres_schema_from_6cd8997_is_upgraded_in_place_once(
    postgres_url: str, old_schema: tuple[str, Any]
) -> None:
    from penguiflow.state._postgres_schema import SCHEMA_VERSION
    from penguiflow.state.postgres import PostgresStateStore

    name, admin = old_schema
    s = f'"{name}"'
    for event in EVENTS:
        await admin.execute(
            f"INSERT INTO {s}.events (event_id, trace_id, tenant, ts, kind, node_name, node_id,"
            " payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json)",
            event.event_id,
            event.trace_id,
            event.tenant,
            event.ts,
            event.kind,
            event.node_name,
            event.node_id,
            json.dumps(event.payload),
        )
    for b in BINDINGS:
        await admin.execute(
            f"INSERT INTO {s}.remote_bindings (trace_id, task_id, context_id, agent_url, tenant)"
            " VALUES ($1, $2, $3, $4, $5)",
            b.trace_id,
            b.task_id,
            b.context_id,
            b.agent_url,
            b.tenant,
        )
    for table, column, documents in (
        ("planner_state", "token", PLANNER),
        ("memory_state", "key", MEMORY),
    ):
        for key, state in documents.items():
            await admin.execute(
                f"INSERT INTO {s}.{table} ({column}, state) VALUES ($1, $2::json)",
                key,
                json.dumps(state),
            )
    stores = await asyncio.gather(
        *(PostgresStateStore.open(postgres_url, schema=name, min_size=1) for _ in range(4))
    )
    try:
        await _check_intact(stores[1])
        assert await stores[0].schema_version() == SCHEMA_VERSION
    finally:
        for store in stores:
            await store.close()
    rows = await admin.fetch(f"SELECT version FROM {s}.schema_version ORDER BY version")
    assert [row["version"] for row in rows] == list(range(1, SCHEMA_VERSION + 1))
