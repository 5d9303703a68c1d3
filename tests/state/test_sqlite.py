"""SQLiteStateStore specifics: URLs, files, WAL, schema versions, several stores and processes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import textwrap
from pathlib import Path

import pytest

from penguiflow.state import StateStoreError, StoredEvent
from penguiflow.state.sqlite import SCHEMA_VERSION, SQLiteStateStore


def _event(trace: str = "t1", **changes: object) -> StoredEvent:
    fields: dict[str, object] = {"trace_id": trace, "ts": 1.0, "kind": "node_start"}
    fields.update(changes)
    return StoredEvent(**fields)  # type: ignore[arg-type]


def _query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(sql).fetchall()
    connection.close()
    return rows


# -- URLs and paths ---------------------------------------------------------------
async def test_absolute_path_url(tmp_path: Path) -> None:
    path = tmp_path / "abs.db"
    async with await SQLiteStateStore.open(f"sqlite:///{path}") as store:
        assert store.path == str(path)
        await store.save_event(_event())
    assert path.exists()


async def test_relative_path_url_resolves_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with await SQLiteStateStore.open("sqlite:///data/nested/state.db") as store:
        await store.save_event(_event())
    assert (tmp_path / "data" / "nested" / "state.db").exists()


async def test_memory_url_gives_a_private_database() -> None:
    first = await SQLiteStateStore.open("sqlite:///:memory:")
    second = await SQLiteStateStore.open("sqlite:///:memory:")
    try:
        await first.save_event(_event())
        assert len(await first.load_history("t1")) == 1
        assert await second.load_history("t1") == []
    finally:
        await first.destroy()
        await second.destroy()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://host/state.db", "no host part"),
        ("sqlite:///", "names no file"),
        ("sqlite:///state.db?mode=ro", "no query string"),
        ("postgresql://localhost/db", "not an SQLite URL"),
    ],
)
async def test_bad_urls_are_rejected_before_touching_disk(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await SQLiteStateStore.open(url)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="busy_timeout must be a positive"):
        SQLiteStateStore("x.db", busy_timeout=0)
    with pytest.raises(ValueError, match="needs a database path"):
        SQLiteStateStore("")


async def test_create_false_refuses_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(StateStoreError, match="does not exist"):
        await SQLiteStateStore.open(f"sqlite:///{path}", create=False)
    assert not path.exists()


async def test_create_false_leaves_a_foreign_sqlite_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other-app.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")
    connection.close()
    before = path.read_bytes()
    with pytest.raises(
        StateStoreError,
        match=r"no SQLite state store at .*other-app\.db.* \(opened with create=False: the file "
        r"has no penguiflow tables\)",
    ):
        await SQLiteStateStore.open(f"sqlite:///{path}", create=False)
    assert path.read_bytes() == before  # no tables added, still in rollback-journal mode


async def test_create_false_reads_an_existing_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    event = _event()
    async with await SQLiteStateStore.open(url) as writer:
        await writer.save_event(event)
    async with await SQLiteStateStore.open(url, create=False) as reader:
        assert await reader.load_history("t1") == [event]


async def test_create_false_does_not_migrate_an_older_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    await (await SQLiteStateStore.open(f"sqlite:///{path}")).close()
    # Pretend this release expects one more version: the file is now one migration behind.
    current = SCHEMA_VERSION
    monkeypatch.setattr("penguiflow.state.sqlite.SCHEMA_VERSION", current + 1)
    with pytest.raises(
        StateStoreError,
        match=rf"version {current}, older than {current + 1}, .*open it once with create=True",
    ):
        await SQLiteStateStore.open(f"sqlite:///{path}", create=False)
    versions = _query(path, "SELECT version FROM penguiflow_schema_version ORDER BY version")
    assert versions == [(v,) for v in range(1, current + 1)]


async def test_a_file_that_is_not_a_database_gives_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the pages you are looking for" * 100)
    with pytest.raises(StateStoreError, match=r"cannot use .*notes\.db.* as an SQLite state store"):
        await SQLiteStateStore.open(f"sqlite:///{path}")


async def test_an_unwritable_location_gives_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(StateStoreError, match="cannot create the directory"):
        await SQLiteStateStore.open(f"sqlite:///{blocker}/state.db")


# -- schema and journal -----------------------------------------------------------
async def test_schema_is_created_on_first_use_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "lazy.db"
    store = SQLiteStateStore(path)
    assert not path.exists()  # the constructor does no I/O
    await store.save_event(_event())
    await store.close()
    assert _query(path, "PRAGMA journal_mode") == [("wal",)]
    assert _query(path, "SELECT MAX(version) FROM penguiflow_schema_version") == [(SCHEMA_VERSION,)]
    tables = {row[0] for row in _query(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"penguiflow_events", "penguiflow_remote_bindings", "penguiflow_planner_state"} <= tables


async def test_reopening_does_not_migrate_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    for _ in range(3):
        store = await SQLiteStateStore.open(url)
        await store.close()
    count = _query(tmp_path / "twice.db", "SELECT COUNT(*) FROM penguiflow_schema_version")
    assert count == [(SCHEMA_VERSION,)]


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    store = await SQLiteStateStore.open(f"sqlite:///{path}")
    await store.close()
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO penguiflow_schema_version VALUES (?, 0)", (SCHEMA_VERSION + 1,)
        )
    connection.close()
    with pytest.raises(
        StateStoreError, match=rf"newer than {SCHEMA_VERSION} .*upgrade penguiflow-core"
    ):
        await SQLiteStateStore.open(f"sqlite:///{path}")


async def test_first_write_to_a_lazily_opened_store_from_many_tasks(tmp_path: Path) -> None:
    store = SQLiteStateStore(tmp_path / "race.db")
    try:
        events = [_event(ts=float(i)) for i in range(20)]
        await asyncio.gather(*(store.save_event(e) for e in events))
        assert {e.event_id for e in await store.load_history("t1")} == {e.event_id for e in events}
    finally:
        await store.close()


# -- lifecycle --------------------------------------------------------------------
async def test_use_after_close_raises_state_store_error(tmp_path: Path) -> None:
    store = await SQLiteStateStore.open(f"sqlite:///{tmp_path / 'closed.db'}")
    await store.close()
    with pytest.raises(StateStoreError, match="is closed"):
        await store.save_event(_event())
    with pytest.raises(StateStoreError, match="is closed"):
        await store.load_memory_state("k")


async def test_destroy_removes_the_file_and_its_companions(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    store = await SQLiteStateStore.open(f"sqlite:///{path}")
    await store.save_event(_event())
    await store.destroy()
    assert os.listdir(tmp_path) == []
    await store.destroy()  # idempotent


# -- several stores, several processes --------------------------------------------
async def test_stores_opened_at_once_on_a_new_file_all_open(tmp_path: Path) -> None:
    # On a new file, the openers race to switch it to WAL; SQLite answers the
    # loser "database is locked" at once (no busy handler). Many pairs make the
    # race near certain (about 8 in 100 pairs lost it before the retry).
    for attempt in range(60):
        url = f"sqlite:///{tmp_path / f'race{attempt}.db'}"
        stores = await asyncio.gather(*(SQLiteStateStore.open(url) for _ in range(3)))
        for store in stores:
            await store.close()


async def test_two_stores_on_one_file_write_concurrently(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = await asyncio.gather(SQLiteStateStore.open(url), SQLiteStateStore.open(url))
    try:

        async def write(store: SQLiteStateStore, writer: int) -> None:
            for seq in range(100):
                payload = {"writer": writer, "seq": seq}
                await store.save_event(_event(ts=float(seq), payload=payload))

        await asyncio.gather(write(first, 0), write(second, 1), write(first, 2), write(second, 3))
        history = await first.load_history("t1")
        assert len(history) == 400
        for writer in range(4):
            seqs = [e.payload["seq"] for e in history if e.payload["writer"] == writer]
            assert seqs == list(range(100))
        assert await second.load_history("t1") == history
    finally:
        await first.close()
        await second.close()


async def _run_python(script: str) -> None:
    """Run ``script`` in a fresh interpreter; fail with its stderr unless it exits 0 within 60 s."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()


async def test_history_written_by_another_process_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "restart.db"
    script = textwrap.dedent(
        f"""
        import asyncio
        from penguiflow.state import StoredEvent
        from penguiflow.state.sqlite import SQLiteStateStore

        async def main():
            async with await SQLiteStateStore.open({f"sqlite:///{path}"!r}) as store:
                for i in range(5):
                    await store.save_event(StoredEvent(
                        trace_id="t1", ts=float(i), kind="step", payload={{"i": i}},
                        event_id=f"e{{i}}"))
                await store.save_planner_state("tok", {{"paused": True}})

        asyncio.run(main())
        """
    )
    await _run_python(script)
    async with await SQLiteStateStore.open(f"sqlite:///{path}", create=False) as store:
        history = await store.load_history("t1")
        assert [e.event_id for e in history] == [f"e{i}" for i in range(5)]
        assert [e.payload for e in history] == [{"i": i} for i in range(5)]
        assert await store.load_planner_state("tok") == {"paused": True}
        await store.save_event(history[0])  # idempotent across processes too
        assert len(await store.load_history("t1")) == 5


async def test_a_process_that_never_closes_its_store_still_exits_and_keeps_its_writes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "unclosed.db"
    script = textwrap.dedent(
        f"""
        import asyncio
        from penguiflow.state import StoredEvent
        from penguiflow.state.sqlite import SQLiteStateStore

        STORE = None

        async def main():
            global STORE
            STORE = await SQLiteStateStore.open({f"sqlite:///{path}"!r})
            await STORE.save_event(StoredEvent(trace_id="t1", ts=0.0, kind="k", event_id="e0"))

        asyncio.run(main())
        """
    )
    # Before the fix the interpreter waited forever for aiosqlite's thread; 60 s only bounds that.
    await _run_python(script)
    async with await SQLiteStateStore.open(f"sqlite:///{path}", create=False) as store:
        assert [e.event_id for e in await store.load_history("t1")] == ["e0"]


async def test_a_write_lock_held_elsewhere_times_out_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = await SQLiteStateStore.open(f"sqlite:///{path}", busy_timeout=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # holds the write lock until rolled back
        with pytest.raises(StateStoreError, match="save_event failed: database is locked"):
            await store.save_event(_event())
        blocker.execute("ROLLBACK")
        await store.save_event(_event())
        assert len(await store.load_history("t1")) == 1
    finally:
        blocker.close()
        await store.close()


def test_importing_without_the_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiosqlite", None)
    monkeypatch.delitem(sys.modules, "penguiflow.state.sqlite")
    with pytest.raises(ImportError, match=r'pip install "penguiflow-core\[sqlite\]"'):
        import penguiflow.state.sqlite  # noqa: F401
