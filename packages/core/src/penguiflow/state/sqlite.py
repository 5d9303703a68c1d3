"""`SQLiteStateStore`: the embedded default StateStore, one SQLite file in WAL mode (aiosqlite).

Design notes.

* One store holds one aiosqlite connection, and aiosqlite runs every
  statement of a connection on its own worker thread, one at a time, in the
  order they were issued. That queue is what serialises concurrent writers of
  one process: no two statements of this store ever run at once, so no write
  can fail with "database is locked" against itself. Other processes (or
  other stores on the same file) are waited for up to ``busy_timeout`` seconds.
* The connection is in autocommit mode: each write is a single statement and
  therefore its own transaction. Only the schema migration, which runs before
  the store is handed out, uses an explicit ``BEGIN IMMEDIATE`` transaction.
* Journal mode WAL with ``synchronous=NORMAL``: readers never block the
  writer, and a committed write survives a crash of the process (a power loss
  may lose the last transactions, never corrupt the file).
* Idempotency comes from UNIQUE constraints (``ON CONFLICT DO NOTHING``, which
  unlike ``INSERT OR IGNORE`` still rejects NULLs in NOT NULL columns); save
  order from an AUTOINCREMENT sequence; the tenant filter is part of the SQL.
* aiosqlite's worker thread is made a daemon: a program that forgets to
  close its store still exits, and loses nothing (writes are committed).
* Schema changes are numbered migrations recorded in
  ``penguiflow_schema_version``; opening a file written by a newer release
  fails instead of guessing. With ``create=False`` nothing is created or
  migrated: the file must already hold a store at this release's version, so
  a read-only tool pointed at some other SQLite file does not write tables
  into it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

from penguiflow.state._codec import (
    check_binding,
    check_event,
    check_key,
    decode_document,
    encode_document,
)
from penguiflow.state._sqlite_records import RECORDS_MIGRATION, SQLiteRecords
from penguiflow.state.base import RemoteBinding, StateStoreError, StoredEvent

try:
    import aiosqlite
except ImportError as _exc:  # pragma: no cover - exercised by simulating the missing driver
    raise ImportError(
        'the SQLite state store needs the aiosqlite driver: pip install "penguiflow-core[sqlite]"'
    ) from _exc

__all__ = ["SCHEMA_VERSION", "SQLiteStateStore"]

_MEMORY_PATH = ":memory:"

# Migration N (1-based) brings the schema from version N-1 to N; append, never edit.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE penguiflow_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            trace_id TEXT,
            tenant TEXT,
            ts REAL NOT NULL,
            kind TEXT NOT NULL,
            node_name TEXT,
            node_id TEXT,
            payload TEXT NOT NULL
        )
        """,
        "CREATE INDEX penguiflow_events_by_trace ON penguiflow_events (trace_id, seq)",
        """
        CREATE TABLE penguiflow_remote_bindings (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            trace_id TEXT NOT NULL,
            task_id TEXT NOT NULL,
            context_id TEXT,
            agent_url TEXT NOT NULL,
            tenant TEXT,
            UNIQUE (trace_id, task_id)
        )
        """,
        """
        CREATE TABLE penguiflow_planner_state (
            token TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            updated_at REAL NOT NULL
        )
        """,
        """
        CREATE TABLE penguiflow_memory_state (
            key TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            updated_at REAL NOT NULL
        )
        """,
    ),
    RECORDS_MIGRATION,
)

SCHEMA_VERSION = len(_MIGRATIONS)
"""Schema version this release creates and reads."""

_TABLES = (
    "penguiflow_schema_version",
    "penguiflow_events",
    "penguiflow_remote_bindings",
    "penguiflow_planner_state",
    "penguiflow_memory_state",
    "penguiflow_records",
)
"""The tables of a store at `SCHEMA_VERSION` (keep in step with the migrations)."""

_EVENT_COLUMNS = "event_id, trace_id, tenant, ts, kind, node_name, node_id, payload"


def _path_from_url(url: str) -> str:
    """Return the file path of a ``sqlite:///...`` URL (or ``:memory:``)."""
    if not isinstance(url, str):
        raise TypeError(f"the store URL must be a string, got {type(url).__name__}")
    if not url.startswith("sqlite://"):
        raise ValueError(f"not an SQLite URL: {url!r} (expected sqlite:///path/to/file.db)")
    rest = url[len("sqlite://") :]
    if not rest.startswith("/"):
        raise ValueError(
            f"SQLite URLs have no host part: {url!r}; use sqlite:///relative/file.db "
            "or sqlite:////absolute/file.db"
        )
    path = rest[1:]
    if "?" in path or "#" in path:
        raise ValueError(
            f"SQLite URLs take no query string: {url!r}; pass options as keyword arguments"
        )
    if not path:
        raise ValueError(
            f"SQLite URL {url!r} names no file; e.g. sqlite:///state.db or sqlite:///:memory:"
        )
    return path


def _prepare_file(path: str, *, create: bool) -> None:
    """Check the file exists (``create=False``) or make its directory (``create=True``)."""
    if not create:
        if not os.path.exists(path):
            raise StateStoreError(
                f"no SQLite state store at {path!r} (opened with create=False: "
                "the file does not exist); check the path"
            )
        return
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError as exc:
        raise StateStoreError(
            f"cannot create the directory for SQLite store {path!r}: {exc}"
        ) from None


class SQLiteStateStore(SQLiteRecords):
    """A `StateStore` in one SQLite file (``sqlite:///path.db``); the embedded default.

    Also a `RecordStore` (records live in ``penguiflow_records``).

    Survives restarts of the process, is safe for any number of concurrent
    tasks of one process, and tolerates other processes on the same file
    (WAL mode; lock waits bounded by ``busy_timeout``). ``:memory:`` gives a
    private database that lives as long as the store.

    Build it with `open` (connects and creates the schema at once) or with the
    constructor (connects on first use).

    Args:
        path: Database file; missing parent directories are created.
            ``":memory:"`` for a throw-away database.
        busy_timeout: Seconds to wait for another connection's write lock
            before an operation fails with `StateStoreError`.
        create: When false, open an existing store only: a missing file,
            or one that holds no store at this release's schema version, is
            an error instead of being created or migrated (for read-only
            tools). Ignored for ``":memory:"``.

    Raises:
        ValueError: ``busy_timeout`` is not positive or ``path`` is empty.

    Example:
        >>> async def main() -> None:
        ...     async with await SQLiteStateStore.open("sqlite:///state.db") as store:
        ...         await store.save_event(StoredEvent(trace_id="t1", ts=0.0, kind="node_start"))
    """

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0, create: bool = True
    ) -> None:
        self._path = os.fspath(path)
        if not self._path:
            raise ValueError("SQLiteStateStore needs a database path (or ':memory:')")
        wait: object = busy_timeout
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not wait > 0:
            raise ValueError(f"busy_timeout must be a positive number of seconds, got {wait!r}")
        self._busy_timeout = float(wait)
        self._create = create
        self._db: aiosqlite.Connection | None = None
        self._connect_lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, url: str, *, busy_timeout: float = 5.0, create: bool = True) -> Self:
        """Open (creating if needed) the database named by ``url`` and return the store.

        Args:
            url: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``
                or ``sqlite:///:memory:``.
            busy_timeout: See the class.
            create: See the class.

        Raises:
            ValueError: ``url`` is not an SQLite URL.
            StateStoreError: The file cannot be opened or is not a PenguiFlow
                store this release can read.
        """
        store = cls(_path_from_url(url), busy_timeout=busy_timeout, create=create)
        await store._connection()
        return store

    @property
    def path(self) -> str:
        """The database file (or ``":memory:"``)."""
        return self._path

    def __repr__(self) -> str:
        return f"SQLiteStateStore({self._path!r})"

    # -- lifecycle ------------------------------------------------------------
    async def _connection(self) -> aiosqlite.Connection:
        db = self._db
        if db is not None:
            return db
        async with self._connect_lock:
            if self._closed:
                raise StateStoreError(f"the SQLite state store {self._path!r} is closed")
            if self._db is None:
                self._db = await self._connect()
            return self._db

    async def _connect(self) -> aiosqlite.Connection:
        path = self._path
        if path != _MEMORY_PATH:
            _prepare_file(path, create=self._create)
        pending = aiosqlite.connect(path, timeout=self._busy_timeout, isolation_level=None)
        # aiosqlite runs each connection on a non-daemon thread, so a store the
        # program forgot to close would keep the interpreter from ever exiting.
        # Every write is committed before it returns, so a daemon thread dying
        # with the process loses nothing (WAL recovery runs on the next open).
        worker = getattr(pending, "_thread", None)
        if isinstance(worker, threading.Thread):
            worker.daemon = True
        try:
            db = await pending
        except sqlite3.Error as exc:
            raise StateStoreError(
                f"cannot open SQLite state store {path!r}: {exc} (check that the path is writable)"
            ) from None
        try:
            existing_only = not self._create and path != _MEMORY_PATH
            if existing_only:
                # Before the WAL pragma, which would rewrite a foreign file's header.
                await self._check_existing(db)
            await self._enter_wal(db)
            await db.execute_fetchall("PRAGMA synchronous=NORMAL")
            if not existing_only:
                await self._migrate(db)
        except BaseException as exc:
            await db.close()
            if isinstance(exc, sqlite3.Error):
                raise StateStoreError(
                    f"cannot use {path!r} as an SQLite state store: {exc} "
                    "(is it an SQLite database written by PenguiFlow?)"
                ) from None
            raise
        return db

    async def _enter_wal(self, db: aiosqlite.Connection) -> None:
        """``PRAGMA journal_mode=WAL``, retried while another opener holds the file.

        On a file still in rollback mode, two connections switching it at once
        race for an exclusive lock, and SQLite answers the loser "database is
        locked" at once instead of calling its busy handler; so the wait that
        ``busy_timeout`` promises is made here.
        """
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._busy_timeout
        delay = 0.005
        while True:
            try:
                await db.execute_fetchall("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or loop.time() + delay > give_up:
                    raise
            await asyncio.sleep(delay)  # backoff while the other opener switches the file
            delay = min(delay * 2, 0.1)

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        # IMMEDIATE takes the write lock first, so two processes opening a new
        # file at once cannot both apply the same migration.
        await db.execute_fetchall("BEGIN IMMEDIATE")
        try:  # from here on, a failure must roll back
            await db.execute_fetchall(
                "CREATE TABLE IF NOT EXISTS penguiflow_schema_version ("
                "version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            rows = list(
                await db.execute_fetchall("SELECT MAX(version) FROM penguiflow_schema_version")
            )
            current = int(rows[0][0] or 0)
            if current > SCHEMA_VERSION:
                raise StateStoreError(
                    f"SQLite state store {self._path!r} has schema version {current}, newer "
                    f"than {SCHEMA_VERSION} (what this penguiflow reads); upgrade penguiflow-core"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version - 1]:
                    await db.execute_fetchall(statement)
                await db.execute_fetchall(
                    "INSERT INTO penguiflow_schema_version (version, applied_at) VALUES (?, ?)",
                    (version, time.time()),
                )
            await db.execute_fetchall("COMMIT")
        except BaseException:
            await db.execute_fetchall("ROLLBACK")
            raise

    async def _check_existing(self, db: aiosqlite.Connection) -> None:
        """Check, changing nothing, that the file holds a store this release reads."""
        rows = await db.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'penguiflow%'"
        )
        missing = set(_TABLES) - {row[0] for row in rows}
        version = 0
        if "penguiflow_schema_version" not in missing:
            found = list(
                await db.execute_fetchall("SELECT MAX(version) FROM penguiflow_schema_version")
            )
            version = int(found[0][0] or 0)
        if version == 0:
            raise StateStoreError(
                f"no SQLite state store at {self._path!r} (opened with create=False: the file "
                "has no penguiflow tables); check the path"
            )
        if version > SCHEMA_VERSION:
            raise StateStoreError(
                f"SQLite state store {self._path!r} has schema version {version}, newer "
                f"than {SCHEMA_VERSION} (what this penguiflow reads); upgrade penguiflow-core"
            )
        if version < SCHEMA_VERSION:
            raise StateStoreError(
                f"SQLite state store {self._path!r} has schema version {version}, older than "
                f"{SCHEMA_VERSION}, and opening with create=False does not migrate; "
                "open it once with create=True to migrate it"
            )
        if missing:
            raise StateStoreError(
                f"SQLite state store {self._path!r} lacks the tables "
                f"{', '.join(sorted(missing))} although it records version {version}; "
                "it was damaged or not written by penguiflow"
            )

    async def close(self) -> None:
        """Close the connection (idempotent); later calls raise `StateStoreError`."""
        async with self._connect_lock:
            self._closed = True
            db, self._db = self._db, None
        if db is not None:
            await db.close()

    async def destroy(self) -> None:
        """Close the store and delete its database file (with its WAL and shared-memory files)."""
        await self.close()
        if self._path == _MEMORY_PATH:
            return
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._path + suffix)

    async def __aenter__(self) -> Self:
        await self._connection()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _run(
        self, operation: str, sql: str, parameters: tuple[Any, ...]
    ) -> list[sqlite3.Row]:
        db = await self._connection()
        try:
            return list(await db.execute_fetchall(sql, parameters))
        except sqlite3.Error as exc:
            raise StateStoreError(
                f"SQLite state store {self._path!r}: {operation} failed: {exc}"
            ) from exc
        except ValueError as exc:  # aiosqlite: the connection was closed while we waited
            raise StateStoreError(f"the SQLite state store {self._path!r} is closed") from exc

    # -- events ---------------------------------------------------------------
    async def save_event(self, event: StoredEvent) -> None:
        """Append ``event`` to its trace's history, once per ``event_id``."""
        event = check_event(event)
        payload = encode_document(
            event.payload, what=f"payload of event {event.event_id!r} (trace {event.trace_id!r})"
        )
        await self._run(
            "save_event",
            f"INSERT INTO penguiflow_events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (event_id) DO NOTHING",
            (
                event.event_id,
                event.trace_id,
                event.tenant,
                float(event.ts),
                event.kind,
                event.node_name,
                event.node_id,
                payload,
            ),
        )

    async def load_history(self, trace_id: str, *, tenant: str | None = None) -> list[StoredEvent]:
        """Return the events of ``trace_id`` in save order (only ``tenant``'s when given)."""
        check_key("trace_id", trace_id)
        sql = f"SELECT {_EVENT_COLUMNS} FROM penguiflow_events WHERE trace_id = ?"
        parameters: tuple[Any, ...] = (trace_id,)
        if tenant is not None:
            check_key("tenant", tenant)
            sql += " AND tenant = ?"
            parameters += (tenant,)
        rows = await self._run("load_history", sql + " ORDER BY seq", parameters)
        return _events_from_rows(rows)

    # -- remote bindings ------------------------------------------------------
    async def save_remote_binding(self, binding: RemoteBinding) -> None:
        """Store ``binding``; a second save for the same ``(trace_id, task_id)`` is ignored."""
        binding = check_binding(binding)
        await self._run(
            "save_remote_binding",
            "INSERT INTO penguiflow_remote_bindings"
            " (trace_id, task_id, context_id, agent_url, tenant) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (trace_id, task_id) DO NOTHING",
            (
                binding.trace_id,
                binding.task_id,
                binding.context_id,
                binding.agent_url,
                binding.tenant,
            ),
        )

    async def load_remote_bindings(self, trace_id: str) -> list[RemoteBinding]:
        """Return the bindings of ``trace_id`` in save order."""
        check_key("trace_id", trace_id)
        rows = await self._run(
            "load_remote_bindings",
            "SELECT trace_id, context_id, task_id, agent_url, tenant"
            " FROM penguiflow_remote_bindings WHERE trace_id = ? ORDER BY seq",
            (trace_id,),
        )
        return [RemoteBinding(*row) for row in rows]

    # -- planner and memory state ---------------------------------------------
    async def save_planner_state(self, token: str, state: dict[str, Any]) -> None:
        """Store ``state`` under ``token``, replacing what was there."""
        check_key("token", token)
        text = encode_document(state, what=f"planner state {token!r}")
        await self._run(
            "save_planner_state",
            "INSERT INTO penguiflow_planner_state (token, state, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (token) DO UPDATE"
            " SET state = excluded.state, updated_at = excluded.updated_at",
            (token, text, time.time()),
        )

    async def load_planner_state(self, token: str) -> dict[str, Any] | None:
        """Return the state under ``token``, or ``None``."""
        check_key("token", token)
        rows = await self._run(
            "load_planner_state",
            "SELECT state FROM penguiflow_planner_state WHERE token = ?",
            (token,),
        )
        return decode_document(rows[0][0]) if rows else None

    async def delete_planner_state(self, token: str) -> None:
        """Forget the state under ``token`` (no error if absent)."""
        check_key("token", token)
        await self._run(
            "delete_planner_state", "DELETE FROM penguiflow_planner_state WHERE token = ?", (token,)
        )

    async def save_memory_state(self, key: str, state: dict[str, Any]) -> None:
        """Store short-term memory ``state`` under ``key``, replacing what was there."""
        check_key("key", key)
        text = encode_document(state, what=f"memory state {key!r}")
        await self._run(
            "save_memory_state",
            "INSERT INTO penguiflow_memory_state (key, state, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE"
            " SET state = excluded.state, updated_at = excluded.updated_at",
            (key, text, time.time()),
        )

    async def load_memory_state(self, key: str) -> dict[str, Any] | None:
        """Return the memory state under ``key``, or ``None``."""
        check_key("key", key)
        rows = await self._run(
            "load_memory_state", "SELECT state FROM penguiflow_memory_state WHERE key = ?", (key,)
        )
        return decode_document(rows[0][0]) if rows else None


def _events_from_rows(rows: Iterable[sqlite3.Row]) -> list[StoredEvent]:
    return [
        StoredEvent(
            event_id=event_id,
            trace_id=trace_id,
            tenant=tenant,
            ts=ts,
            kind=kind,
            node_name=node_name,
            node_id=node_id,
            payload=decode_document(payload),
        )
        for event_id, trace_id, tenant, ts, kind, node_name, node_id, payload in rows
    ]
