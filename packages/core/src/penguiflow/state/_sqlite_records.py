"""Records on SQLite: the ``penguiflow_records`` table and the `SQLiteRecords` mixin.

Design notes. Every operation is one SQL statement, so it is atomic on its
own, across tasks of one store and across processes sharing the file (SQLite
runs one writer at a time): compare-and-set is an ``UPDATE ... WHERE version
= ?`` or an upsert whose ``WHERE`` only lets an expired row be replaced, and
take is ``DELETE ... RETURNING``. No multi-statement transaction is needed,
which matters because a store's single connection is shared by all its tasks.
Expired rows stay until something overwrites or takes them; every read
filters them out.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from typing import Any, Protocol

from penguiflow.state._codec import decode_document
from penguiflow.state._records import (
    PutRequest,
    check_expected_version,
    check_record_id,
    expires_at,
    is_expired,
    list_query,
)
from penguiflow.state._records import page_token as next_page_token
from penguiflow.state.base import IndexedValue, Record, RecordConflict, RecordOrder, RecordPage

__all__ = ["RECORDS_MIGRATION", "SQLiteRecords"]

RECORDS_MIGRATION: tuple[str, ...] = (
    """
    CREATE TABLE penguiflow_records (
        kind TEXT NOT NULL,
        tenant TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        indexed TEXT NOT NULL,
        tags TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        expires_at REAL,
        PRIMARY KEY (kind, tenant, key)
    )
    """,
    "CREATE INDEX penguiflow_records_by_updated"
    " ON penguiflow_records (kind, tenant, updated_at, key)",
    "CREATE INDEX penguiflow_records_by_created"
    " ON penguiflow_records (kind, tenant, created_at, key)",
)
"""Migration 2 of the SQLite schema: the records table."""

_COLUMNS = "kind, tenant, key, value, indexed, version, created_at, updated_at, expires_at"
_ID = "kind = ? AND tenant = ? AND key = ?"
_LIVE = "(expires_at IS NULL OR expires_at > ?)"
_EXPIRED = "penguiflow_records.expires_at <= excluded.updated_at"
_UPSERT = (
    "INSERT INTO penguiflow_records (kind, tenant, key, value, indexed, tags, version,"
    " created_at, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)"
    " ON CONFLICT (kind, tenant, key) DO UPDATE SET"
    " value = excluded.value, indexed = excluded.indexed, tags = excluded.tags,"
    f" version = CASE WHEN {_EXPIRED} THEN 1 ELSE penguiflow_records.version + 1 END,"
    f" created_at = CASE WHEN {_EXPIRED} THEN excluded.created_at"
    " ELSE penguiflow_records.created_at END,"
    " updated_at = excluded.updated_at, expires_at = excluded.expires_at"
)
_UPDATE = (
    "UPDATE penguiflow_records SET value = ?, indexed = ?, tags = ?, version = version + 1,"
    f" updated_at = ?, expires_at = ? WHERE {_ID} AND version = ? AND {_LIVE} RETURNING version"
)


class _Runner(Protocol):
    async def _run(
        self, operation: str, sql: str, parameters: tuple[Any, ...]
    ) -> list[sqlite3.Row]: ...


class SQLiteRecords:
    """The `RecordStore` methods of `SQLiteStateStore` (which supplies ``_run``)."""

    async def put_record(
        self: _Runner,
        kind: str,
        key: str,
        value: dict[str, Any],
        *,
        tenant: str,
        indexed: Mapping[str, IndexedValue] | None = None,
        expected_version: int | None = None,
        ttl_s: float | None = None,
    ) -> int:
        """Write a record and return its new version (see `RecordStore.put_record`)."""
        put = PutRequest.check(
            kind,
            key,
            value,
            tenant=tenant,
            indexed=indexed,
            expected_version=expected_version,
            ttl_s=ttl_s,
        )
        expected, ttl = put.expected, put.ttl
        text, fields_text, tags = put.text, put.fields_text, put.tags
        now = time.time()
        expiry = expires_at(now, ttl)
        if expected is None or expected == 0:
            sql = _UPSERT + (f" WHERE {_EXPIRED}" if expected == 0 else "") + " RETURNING version"
            parameters: tuple[Any, ...] = (
                *(kind, tenant, key, text, fields_text, tags),
                *(now, now, expiry),
            )
        else:
            sql = _UPDATE
            parameters = (text, fields_text, tags, now, expiry, kind, tenant, key, expected, now)
        rows = await self._run("put_record", sql, parameters)
        if rows:
            return int(rows[0][0])
        assert expected is not None  # a plain upsert always returns its row
        found = await self._run(
            "put_record",
            f"SELECT version FROM penguiflow_records WHERE {_ID} AND {_LIVE}",
            (kind, tenant, key, time.time()),
        )
        raise RecordConflict(
            kind, key, expected=expected, current=int(found[0][0]) if found else None
        )

    async def get_record(self: _Runner, kind: str, key: str, *, tenant: str) -> Record | None:
        """Return the live record, or ``None``."""
        check_record_id(kind, key, tenant)
        rows = await self._run(
            "get_record",
            f"SELECT {_COLUMNS} FROM penguiflow_records WHERE {_ID} AND {_LIVE}",
            (kind, tenant, key, time.time()),
        )
        return _record(rows[0]) if rows else None

    async def delete_record(
        self: _Runner, kind: str, key: str, *, tenant: str, expected_version: int | None = None
    ) -> bool:
        """Delete the record; ``False`` if there was none (see `RecordStore.delete_record`)."""
        check_record_id(kind, key, tenant)
        expected = check_expected_version(expected_version)
        sql = f"DELETE FROM penguiflow_records WHERE {_ID} AND {_LIVE}"
        parameters: tuple[Any, ...] = (kind, tenant, key, time.time())
        if expected is not None:
            sql += " AND version = ?"
            parameters += (expected,)
        if await self._run("delete_record", sql + " RETURNING version", parameters):
            return True
        if expected is None:
            return False
        found = await self._run(
            "delete_record",
            f"SELECT version FROM penguiflow_records WHERE {_ID} AND {_LIVE}",
            (kind, tenant, key, time.time()),
        )
        if not found:
            return False
        raise RecordConflict(kind, key, expected=expected, current=int(found[0][0]))

    async def take_record(self: _Runner, kind: str, key: str, *, tenant: str) -> Record | None:
        """Read and delete the record in one statement (exactly one taker gets it)."""
        check_record_id(kind, key, tenant)
        rows = await self._run(
            "take_record",
            f"DELETE FROM penguiflow_records WHERE {_ID} RETURNING {_COLUMNS}",
            (kind, tenant, key),
        )
        if not rows:
            return None
        record = _record(rows[0])
        return None if is_expired(record.expires_at, time.time()) else record

    async def list_records(
        self: _Runner,
        kind: str,
        *,
        tenant: str,
        where: Mapping[str, IndexedValue] | None = None,
        order_by: RecordOrder = "updated_at",
        limit: int = 100,
        page_token: str | None = None,
    ) -> RecordPage:
        """Return one page of live records (see `RecordStore.list_records`)."""
        query = list_query(kind, tenant, where, order_by, limit, page_token)
        sql = f"SELECT {_COLUMNS} FROM penguiflow_records WHERE kind = ? AND tenant = ? AND {_LIVE}"
        parameters: tuple[Any, ...] = (kind, tenant, time.time())
        for name, wanted in query.where.items():
            sql += " AND json_extract(tags, ?) = ?"
            parameters += (f"$.{name}", wanted)
        column = query.field  # one of three fixed names, never caller text
        beyond = "<" if query.descending else ">"
        if query.after is not None:
            last_value, last_key = query.after
            if column == "key":
                sql += f" AND key {beyond} ?"
                parameters += (last_key,)
            else:
                sql += f" AND ({column} {beyond} ? OR ({column} = ? AND key {beyond} ?))"
                parameters += (last_value, last_value, last_key)
        direction = "DESC" if query.descending else "ASC"
        order = f"key {direction}" if column == "key" else f"{column} {direction}, key {direction}"
        sql += f" ORDER BY {order} LIMIT ?"
        parameters += (query.limit + 1,)
        rows = await self._run("list_records", sql, parameters)
        records = [_record(row) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        return RecordPage(records, next_page_token(query, records[-1]) if more else None)


def _record(row: sqlite3.Row) -> Record:
    kind, tenant, key, value, indexed, version, created_at, updated_at, expiry = row
    return Record(
        kind=kind,
        tenant=tenant,
        key=key,
        value=decode_document(value),
        indexed=decode_document(indexed),
        version=int(version),
        created_at=float(created_at),
        updated_at=float(updated_at),
        expires_at=None if expiry is None else float(expiry),
    )
