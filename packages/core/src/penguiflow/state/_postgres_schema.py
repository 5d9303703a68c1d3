"""The PostgreSQL store's schema: numbered migrations applied on open, and the read-only check.

`migrate` creates or upgrades the store's schema (``create=True``);
`check_existing` only reads it and refuses a schema that holds no store, or
one at another version (``create=False``, used by read-only tools such as
``penguiflow-admin``, which must never leave an empty schema behind).

Both take one connection and the schema name, already validated and safe to
quote, plus ``display``, how the server and database are named in messages
(never with the password).
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from penguiflow.state._postgres_records import RECORDS_MIGRATION
from penguiflow.state.base import StateStoreError

__all__ = ["SCHEMA_VERSION", "TABLES", "SchemaConnection", "check_existing", "migrate"]


class SchemaConnection(Protocol):
    """The part of an asyncpg connection the schema code uses."""

    async def execute(self, query: str, *args: object) -> str: ...

    async def fetchval(self, query: str, *args: object) -> Any: ...

    def transaction(self) -> AbstractAsyncContextManager[object]: ...


# version -> statements; `{s}` is the quoted schema name. Append, never edit.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE {s}.events (
            seq BIGSERIAL PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            trace_id TEXT,
            tenant TEXT,
            ts DOUBLE PRECISION NOT NULL,
            kind TEXT NOT NULL,
            node_name TEXT,
            node_id TEXT,
            payload JSON NOT NULL,
            stored_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )""",
        "CREATE INDEX events_trace_seq ON {s}.events (trace_id, seq)",
        "CREATE INDEX events_tenant ON {s}.events (tenant)",
        """CREATE TABLE {s}.remote_bindings (
            seq BIGSERIAL PRIMARY KEY,
            trace_id TEXT NOT NULL,
            task_id TEXT NOT NULL,
            context_id TEXT,
            agent_url TEXT NOT NULL,
            tenant TEXT,
            UNIQUE (trace_id, task_id)
        )""",
        """CREATE TABLE {s}.planner_state (
            token TEXT PRIMARY KEY,
            state JSON NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )""",
        """CREATE TABLE {s}.memory_state (
            key TEXT PRIMARY KEY,
            state JSON NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )""",
    ),
    2: RECORDS_MIGRATION,
}

SCHEMA_VERSION = max(_MIGRATIONS)
"""Schema version this release creates and reads."""

TABLES: tuple[str, ...] = (
    "schema_version",
    "events",
    "remote_bindings",
    "planner_state",
    "memory_state",
    "records",
)
"""The tables of a store at `SCHEMA_VERSION` (keep in step with the migrations)."""

# NULL when schema $1 does not exist, else the tables of $2 it lacks. One statement, so one
# snapshot: a concurrent first opener's commit cannot fall between the two answers.
_MISSING_TABLES = (
    "SELECT CASE WHEN EXISTS (SELECT FROM pg_namespace WHERE nspname = $1::text)"
    " THEN array(SELECT name FROM unnest($2::text[]) AS name"
    " WHERE to_regclass(format('%I.%I', $1::text, name)) IS NULL) END"
)


def _lock_key(schema: str) -> int:
    digest = hashlib.blake2b(f"penguiflow.state:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _newer(schema: str, display: str, version: int) -> StateStoreError:
    return StateStoreError(
        f"PostgreSQL schema {schema!r} at {display} is at version {version}, "
        f"newer than this penguiflow supports ({SCHEMA_VERSION}); upgrade penguiflow-core"
    )


async def migrate(conn: SchemaConnection, schema: str, display: str) -> None:
    """Create ``schema`` and its tables if missing, and apply the migrations it lacks.

    Runs in one transaction under an advisory lock derived from the schema
    name, so concurrent first openers queue up instead of racing on
    ``CREATE TABLE``, and a failed migration leaves nothing half-done.

    Raises:
        StateStoreError: The schema was migrated by a newer PenguiFlow.
    """
    s = f'"{schema}"'
    async with conn.transaction():
        # Held until commit: concurrent first-openers wait here, then see the tables.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(schema))
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {s}.schema_version ("
            "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        current = await conn.fetchval(f"SELECT coalesce(max(version), 0) FROM {s}.schema_version")
        if current > SCHEMA_VERSION:
            raise _newer(schema, display, current)
        for version in sorted(v for v in _MIGRATIONS if v > current):
            for statement in _MIGRATIONS[version]:
                await conn.execute(statement.format(s=s))
            await conn.execute(f"INSERT INTO {s}.schema_version (version) VALUES ($1)", version)


async def check_existing(conn: SchemaConnection, schema: str, display: str) -> None:
    """Check, without changing anything, that ``schema`` holds a store this release reads.

    No lock is needed: `migrate` creates a schema in one transaction, so a
    concurrent first opener's schema is seen either whole or not at all.

    Raises:
        StateStoreError: The schema does not exist, holds no store (no
            ``schema_version`` table, or an empty one), lacks some of the
            store's tables, or is at another version than `SCHEMA_VERSION`
            (an older one would need a migration, which reading must not do).
    """
    found = await conn.fetchval(_MISSING_TABLES, schema, list(TABLES))
    missing: list[str] = list(TABLES) if found is None else list(found)
    version = 0
    if "schema_version" not in missing:
        version = await conn.fetchval(
            f'SELECT coalesce(max(version), 0) FROM "{schema}".schema_version'
        )
    if version == 0:
        if found is None:
            reason = "no such schema"
        elif "schema_version" in missing:
            reason = "the schema has no penguiflow tables"
        else:
            reason = "its schema_version table records no migration"
        raise StateStoreError(
            f"schema {schema!r} at {display} holds no penguiflow state store "
            f"(opened with create=False: {reason}); check the schema name, "
            "or open it with create=True to create the store"
        )
    if version > SCHEMA_VERSION:
        raise _newer(schema, display, version)
    if version < SCHEMA_VERSION:
        raise StateStoreError(
            f"PostgreSQL schema {schema!r} at {display} is at version {version}, older than "
            f"this penguiflow's {SCHEMA_VERSION}, and opening with create=False does not "
            "migrate; open it once with create=True to migrate it"
        )
    if missing:
        raise StateStoreError(
            f"PostgreSQL schema {schema!r} at {display} lacks the store's tables "
            f"{', '.join(missing)} although it records version {version}; "
            "it was damaged or not written by penguiflow"
        )
