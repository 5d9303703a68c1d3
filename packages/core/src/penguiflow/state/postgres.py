"""PostgreSQL StateStore backend (asyncpg): a connection pool over a schema migrated on first use.

Design notes.

* Layout: everything lives in one schema (``penguiflow`` by default), so
  several deployments or tests can share a database and `destroy` is a single
  ``DROP SCHEMA``. A ``schema_version`` table records applied migrations; the
  first opener creates the schema inside a transaction holding an advisory
  lock derived from the schema name, so concurrent first-openers queue up
  instead of racing on ``CREATE TABLE``. A database migrated by a newer
  PenguiFlow is refused with a clear error rather than misread. Opening with
  ``create=False`` only checks the schema and never creates or migrates it
  (see `penguiflow.state._postgres_schema`).
* Events get a ``BIGSERIAL`` sequence (save order) and a ``UNIQUE`` event id
  (``INSERT ... ON CONFLICT DO NOTHING`` makes writes idempotent). Payloads
  and state documents are ``json`` columns, not ``jsonb``: ``jsonb`` rejects
  ``\\u0000`` and lone surrogates that every other built-in store accepts (see
  `penguiflow.state._codec`), and ``json`` keeps the document text as written
  while still supporting the JSON operators in ad-hoc queries. Bindings are
  unique on ``(trace_id, task_id)``; the first write wins. Planner and memory
  state are upserted documents keyed by text.
* Dropped connections: every operation is idempotent, so an operation that
  fails because its connection died (server restart, ``pg_terminate_backend``,
  network blip) expires the pool's connections and is retried once on a fresh
  connection. If that fails too, the caller gets a `StateStoreError` naming
  the server. Connecting is bounded by ``connect_timeout`` and every query by
  ``command_timeout``, so no call hangs.
* asyncpg ships no type information; it is imported dynamically and used
  through the small typed protocols below.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable
from types import ModuleType, TracebackType
from typing import Any, Protocol, Self, TypeVar, cast
from urllib.parse import unquote, urlsplit

from penguiflow._drivers.urls import printable_where
from penguiflow.state._codec import (
    check_binding,
    check_event,
    check_key,
    decode_document,
    encode_document,
)
from penguiflow.state._postgres_records import PostgresRecords
from penguiflow.state._postgres_schema import check_existing, migrate
from penguiflow.state.base import RemoteBinding, StateStoreError, StoredEvent

__all__ = ["PostgresStateStore"]

_T = TypeVar("_T")
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class _Record(Protocol):
    def __getitem__(self, key: str) -> Any: ...


class _Transaction(Protocol):
    async def __aenter__(self) -> object: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class _Connection(Protocol):
    async def execute(self, query: str, *args: object) -> str: ...

    async def fetch(self, query: str, *args: object) -> list[_Record]: ...

    async def fetchval(self, query: str, *args: object) -> Any: ...

    def transaction(self) -> _Transaction: ...

    async def close(self) -> None: ...

    def terminate(self) -> None: ...


class _Acquire(Protocol):
    async def __aenter__(self) -> _Connection: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class _Pool(Protocol):
    def acquire(self, *, timeout: float | None = None) -> _Acquire: ...

    async def expire_connections(self) -> None: ...

    async def close(self) -> None: ...

    def get_size(self) -> int: ...

    def get_max_size(self) -> int: ...


def _load_asyncpg() -> ModuleType:
    try:
        return importlib.import_module("asyncpg")
    except ImportError as exc:
        raise ImportError(
            'PostgresStateStore needs the asyncpg driver: pip install "penguiflow-core[postgres]"'
        ) from exc


def _display(url: str, where: str) -> str:
    """``postgresql://host:port/database`` of ``url``, for messages (no user, no password)."""
    database = unquote(urlsplit(url).path.lstrip("/"))
    return f"postgresql://{where}/{database}" if database else f"postgresql://{where}"


def _validate_schema(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(
            f"invalid PostgreSQL schema name {schema!r}: use 1-63 letters, digits or "
            "underscores, not starting with a digit"
        )
    if schema.lower().startswith("pg_"):
        raise ValueError(f"invalid PostgreSQL schema name {schema!r}: the pg_ prefix is reserved")
    return schema


class PostgresStateStore(PostgresRecords):
    """A `StateStore` on PostgreSQL through an asyncpg connection pool.

    Open it with `PostgresStateStore.open` (or `penguiflow.state.open_store`
    with a ``postgresql://`` URL); the schema is created or migrated on first
    use, unless it is opened with ``create=False`` to read an existing store
    only.

    Example:
        >>> store = await PostgresStateStore.open("postgresql://app@db/app")  # doctest: +SKIP
        >>> await store.save_event(event)  # doctest: +SKIP
    """

    def __init__(
        self,
        pool: _Pool,
        *,
        url: str,
        schema: str,
        where: str,
        connect_timeout: float,
        command_timeout: float | None,
        driver: ModuleType,
    ) -> None:
        self._pool: _Pool | None = pool
        self._url = url
        self._schema = schema
        self._where = where
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._driver = driver
        self._closed = False
        s = f'"{schema}"'
        self._sql_insert_event = (
            f"INSERT INTO {s}.events (event_id, trace_id, tenant, ts, kind, node_name, "
            "node_id, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json) "
            "ON CONFLICT (event_id) DO NOTHING"
        )
        columns = (
            "event_id, trace_id, tenant, ts, kind, node_name, node_id, payload::text AS payload"
        )
        self._sql_history = f"SELECT {columns} FROM {s}.events WHERE trace_id = $1 ORDER BY seq"
        self._sql_history_tenant = (
            f"SELECT {columns} FROM {s}.events WHERE trace_id = $1 AND tenant = $2 ORDER BY seq"
        )
        self._sql_insert_binding = (
            f"INSERT INTO {s}.remote_bindings (trace_id, task_id, context_id, agent_url, tenant) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (trace_id, task_id) DO NOTHING"
        )
        self._sql_bindings = (
            f"SELECT trace_id, task_id, context_id, agent_url, tenant FROM {s}.remote_bindings "
            "WHERE trace_id = $1 ORDER BY seq"
        )
        self._sql_upsert = {
            table: (
                f"INSERT INTO {s}.{table} ({key}, state, updated_at) VALUES ($1, $2::json, now()) "
                f"ON CONFLICT ({key}) DO UPDATE SET state = EXCLUDED.state, updated_at = now()"
            )
            for table, key in (("planner_state", "token"), ("memory_state", "key"))
        }
        self._sql_get = {
            table: f"SELECT state::text FROM {s}.{table} WHERE {key} = $1"
            for table, key in (("planner_state", "token"), ("memory_state", "key"))
        }
        self._sql_delete_planner = f"DELETE FROM {s}.planner_state WHERE token = $1"

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        schema: str = "penguiflow",
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 5.0,
        command_timeout: float | None = 30.0,
        create: bool = True,
    ) -> Self:
        """Connect to PostgreSQL at ``url`` and create or migrate ``schema``.

        Args:
            url: ``postgresql://user[:password]@host[:port]/database`` (``postgres://`` too).
            schema: Schema holding the store's tables; letters, digits, underscores.
            min_size: Connections the pool keeps open.
            max_size: Most connections the pool opens.
            connect_timeout: Seconds allowed for each connection attempt.
            command_timeout: Seconds allowed for each query (``None``: unbounded).
            create: When false, open an existing store only: nothing is
                created or migrated, and a schema that does not exist or
                holds no store at this release's version is an error instead
                of a new empty store (for read-only tools). The store is not
                read-only afterwards.

        Raises:
            ValueError: Bad URL, schema name or pool sizes.
            ImportError: asyncpg is not installed (the message gives the pip command).
            StateStoreError: The server cannot be reached or refuses the connection,
                the schema was migrated by a newer PenguiFlow, or (``create=False``)
                the schema holds no store this release reads without migrating.

        Example:
            >>> reader = await PostgresStateStore.open(  # doctest: +SKIP
            ...     "postgresql://app@db/app", schema="prod", create=False
            ... )
        """
        where = printable_where(
            url,
            schemes=("postgresql", "postgres"),
            default_port=5432,
            name="PostgreSQL",
            expected="postgresql://user@host:port/database",
        )
        _validate_schema(schema)
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ValueError(
                f"invalid pool sizes min_size={min_size}, max_size={max_size}: "
                "need 0 <= min_size <= max_size and max_size >= 1"
            )
        if connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be > 0 seconds, got {connect_timeout}")
        if command_timeout is not None and command_timeout <= 0:
            raise ValueError(f"command_timeout must be > 0 seconds or None, got {command_timeout}")
        driver = _load_asyncpg()
        try:
            pool = cast(
                _Pool,
                await driver.create_pool(
                    url,
                    min_size=min_size,
                    max_size=max_size,
                    timeout=connect_timeout,
                    command_timeout=command_timeout,
                ),
            )
        except Exception as exc:
            raise _connect_error(driver, where, exc) from exc
        store = cls(
            pool,
            url=url,
            schema=schema,
            where=where,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
            driver=driver,
        )
        display = _display(url, where)
        try:
            if create:
                await store._run("schema migration", lambda conn: migrate(conn, schema, display))
            else:
                await store._run(
                    "checking the schema", lambda conn: check_existing(conn, schema, display)
                )
        except BaseException:
            await store.close()
            raise
        return store

    @property
    def schema(self) -> str:
        """The schema this store's tables live in."""
        return self._schema

    async def schema_version(self) -> int:
        """Return the migration version recorded in the schema."""
        return int(
            await self._run(
                "reading the schema version",
                lambda conn: conn.fetchval(
                    f'SELECT max(version) FROM "{self._schema}".schema_version'
                ),
            )
        )

    async def save_event(self, event: StoredEvent) -> None:
        """Append ``event`` to its trace's history (once per ``event_id``)."""
        event = check_event(event)
        payload = encode_document(
            event.payload, what=f"payload of event {event.event_id!r} (trace {event.trace_id!r})"
        )
        await self._run(
            f"saving event {event.event_id}",
            lambda conn: conn.execute(
                self._sql_insert_event,
                event.event_id,
                event.trace_id,
                event.tenant,
                event.ts,
                event.kind,
                event.node_name,
                event.node_id,
                payload,
            ),
        )

    async def load_history(self, trace_id: str, *, tenant: str | None = None) -> list[StoredEvent]:
        """Return the events of ``trace_id`` in save order (only ``tenant``'s when given)."""
        check_key("trace_id", trace_id)
        if tenant is None:
            rows = await self._run(
                f"loading the history of trace {trace_id!r}",
                lambda conn: conn.fetch(self._sql_history, trace_id),
            )
        else:
            check_key("tenant", tenant)
            rows = await self._run(
                f"loading the history of trace {trace_id!r}",
                lambda conn: conn.fetch(self._sql_history_tenant, trace_id, tenant),
            )
        return [
            StoredEvent(
                trace_id=row["trace_id"],
                ts=row["ts"],
                kind=row["kind"],
                node_name=row["node_name"],
                node_id=row["node_id"],
                payload=decode_document(row["payload"]),
                tenant=row["tenant"],
                event_id=row["event_id"],
            )
            for row in rows
        ]

    async def save_remote_binding(self, binding: RemoteBinding) -> None:
        """Store ``binding`` (idempotent on ``(trace_id, task_id)``; the first write wins)."""
        binding = check_binding(binding)
        await self._run(
            f"saving the binding of trace {binding.trace_id!r} to task {binding.task_id!r}",
            lambda conn: conn.execute(
                self._sql_insert_binding,
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
            f"loading the bindings of trace {trace_id!r}",
            lambda conn: conn.fetch(self._sql_bindings, trace_id),
        )
        return [
            RemoteBinding(
                trace_id=row["trace_id"],
                context_id=row["context_id"],
                task_id=row["task_id"],
                agent_url=row["agent_url"],
                tenant=row["tenant"],
            )
            for row in rows
        ]

    async def save_planner_state(self, token: str, state: dict[str, Any]) -> None:
        """Store a paused planner's state under its resume ``token`` (replaces)."""
        await self._put("planner_state", token, state)

    async def load_planner_state(self, token: str) -> dict[str, Any] | None:
        """Return the planner state saved under ``token``, or ``None``."""
        return await self._get("planner_state", token)

    async def delete_planner_state(self, token: str) -> None:
        """Forget the planner state under ``token`` (no error if absent)."""
        check_key("token", token)
        await self._run(
            "deleting planner state",
            lambda conn: conn.execute(self._sql_delete_planner, token),
        )

    async def save_memory_state(self, key: str, state: dict[str, Any]) -> None:
        """Store short-term memory state under ``key`` (replaces)."""
        await self._put("memory_state", key, state)

    async def load_memory_state(self, key: str) -> dict[str, Any] | None:
        """Return the memory state under ``key``, or ``None``."""
        return await self._get("memory_state", key)

    async def close(self) -> None:
        """Close the pool; idempotent."""
        pool, self._pool = self._pool, None
        self._closed = True
        if pool is not None:
            await pool.close()

    async def destroy(self) -> None:
        """Drop the schema with everything in it, then close the store.

        Works on a closed store too (it reconnects once for the ``DROP``).
        """
        drop = f'DROP SCHEMA IF EXISTS "{self._schema}" CASCADE'
        if self._pool is not None:
            await self._run("dropping the schema", lambda conn: conn.execute(drop))
            await self.close()
            return
        try:
            conn = cast(
                _Connection,
                await self._driver.connect(self._url, timeout=self._connect_timeout),
            )
        except Exception as exc:
            raise _connect_error(self._driver, self._where, exc) from exc
        try:
            await conn.execute(drop)
        finally:
            await conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<PostgresStateStore {self._where} schema={self._schema!r} {state}>"

    async def _put(self, table: str, key: str, state: dict[str, Any]) -> None:
        check_key("token" if table == "planner_state" else "key", key)
        document = encode_document(state, what=f"{table.replace('_', ' ')} {key!r}")
        await self._run(
            f"saving {table.replace('_', ' ')}",
            lambda conn: conn.execute(self._sql_upsert[table], key, document),
        )

    async def _get(self, table: str, key: str) -> dict[str, Any] | None:
        check_key("token" if table == "planner_state" else "key", key)
        text = await self._run(
            f"loading {table.replace('_', ' ')}",
            lambda conn: conn.fetchval(self._sql_get[table], key),
        )
        return None if text is None else decode_document(text)

    async def _run(
        self,
        action: str,
        operation: Callable[[_Connection], Awaitable[_T]],
        *,
        retry: bool = True,
    ) -> _T:
        """Run ``operation`` on a pooled connection, retrying once if the connection dropped.

        ``retry=False`` for an operation that is not idempotent (a record's
        compare-and-set or take): its connection may have died after the
        server applied it, so it is not run again.
        """
        if self._pool is None:
            raise StateStoreError(f"{action}: the PostgreSQL store at {self._where} is closed")
        pool = self._pool
        for attempt in (1, 2):
            try:
                async with pool.acquire(timeout=self._command_timeout) as conn:
                    try:
                        return await operation(conn)
                    except Exception as exc:
                        if self._is_lost(exc):
                            # Never hand a half-dead connection back to the pool.
                            conn.terminate()
                        raise
            except StateStoreError:
                raise
            except Exception as exc:
                if retry and attempt == 1 and self._is_lost(exc):
                    # The other pooled connections probably died with this one: replace them all.
                    await pool.expire_connections()
                    continue
                raise self._error(action, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _is_lost(self, exc: Exception) -> bool:
        """Whether ``exc`` means the connection died (so a retry on a new one may succeed)."""
        errors = self._driver.exceptions
        if isinstance(exc, errors.InterfaceError):
            # asyncpg's client-side DataError (bad argument) is an InterfaceError too.
            return not isinstance(exc, ValueError)
        return isinstance(
            exc,
            errors.PostgresConnectionError
            | errors.OperatorInterventionError
            | errors.InternalClientError  # protocol state broken by a server-side disconnect
            | ConnectionError,
        )

    def _error(self, action: str, exc: Exception) -> StateStoreError:
        errors = self._driver.exceptions
        if isinstance(exc, TimeoutError):
            return StateStoreError(
                f"PostgreSQL at {self._where} did not answer within {self._command_timeout}s "
                f"while {action}; check the server's load and locks, or raise command_timeout"
            )
        if isinstance(exc, OSError) or self._is_lost(exc):
            return StateStoreError(
                f"cannot reach PostgreSQL at {self._where} while {action}: "
                f"{_reason(exc)}; check that the server is up and reachable"
            )
        if isinstance(exc, errors.PostgresError):
            return StateStoreError(
                f"PostgreSQL at {self._where} rejected {action} "
                f"(schema {self._schema!r}): {type(exc).__name__}: {exc}"
            )
        return StateStoreError(
            f"PostgreSQL store at {self._where} failed while {action}: {type(exc).__name__}: {exc}"
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _connect_error(driver: ModuleType, where: str, exc: Exception) -> StateStoreError:
    exceptions = driver.exceptions
    if isinstance(exc, exceptions.InvalidAuthorizationSpecificationError):
        hint = "check the user and password in the URL and pg_hba.conf"
    elif isinstance(exc, exceptions.InvalidCatalogNameError):
        hint = "check the database name in the URL"
    elif isinstance(exc, exceptions.PostgresError):
        hint = "check the URL and the server's log"
    else:
        hint = "check that the server is running and the URL's host and port"
    if isinstance(exc, exceptions.PostgresError):
        return StateStoreError(f"PostgreSQL at {where} refused the connection: {exc}; {hint}")
    return StateStoreError(f"cannot reach PostgreSQL at {where}: {_reason(exc)}; {hint}")
