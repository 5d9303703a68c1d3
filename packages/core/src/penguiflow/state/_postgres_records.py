"""Records on PostgreSQL: the ``records`` table and the `PostgresRecords` mixin.

Design notes. Each operation is one statement in autocommit, so PostgreSQL's
row locks decide every race: two ``UPDATE ... WHERE version = $n`` on one
row queue on its lock and the second re-checks its ``WHERE`` against the
first one's result (so it matches nothing); two ``DELETE ... RETURNING`` of
one row return it once; ``INSERT ... ON CONFLICT`` never fails on a
concurrent insert. Times come from the server (``statement_timestamp()``),
one clock for every client. The store's retry-once on a dropped connection
is switched off for the writes that are not idempotent (a compare-and-set,
a take), so a reply lost with its connection is never applied twice (the
caller gets a `StateStoreError` instead). A plain put or delete is retried:
run twice, a put writes the same value twice (one version more).
Filters are ``tags @> $n::jsonb`` on a GIN-indexed column; keys use the
``"C"`` collation, so they order by code point like every other backend.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

from penguiflow.state._codec import decode_document, encode_document
from penguiflow.state._records import (
    PutRequest,
    check_expected_version,
    check_record_id,
    list_query,
)
from penguiflow.state._records import page_token as next_page_token
from penguiflow.state.base import IndexedValue, Record, RecordConflict, RecordOrder, RecordPage

__all__ = ["RECORDS_MIGRATION", "PostgresRecords"]

RECORDS_MIGRATION: tuple[str, ...] = (
    """CREATE TABLE {s}.records (
        kind TEXT NOT NULL,
        tenant TEXT NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        value JSON NOT NULL,
        indexed JSON NOT NULL,
        tags JSONB NOT NULL,
        version BIGINT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION,
        PRIMARY KEY (kind, tenant, key)
    )""",
    "CREATE INDEX records_updated ON {s}.records (kind, tenant, updated_at, key)",
    "CREATE INDEX records_created ON {s}.records (kind, tenant, created_at, key)",
    "CREATE INDEX records_tags ON {s}.records USING GIN (tags jsonb_path_ops)",
)
"""Migration 2 of the PostgreSQL schema: the records table (``{s}``: the quoted schema)."""

_T = TypeVar("_T")
_NOW = "extract(epoch FROM statement_timestamp())::float8"
_LIVE = f"(expires_at IS NULL OR expires_at > {_NOW})"
_COLUMNS = (
    "kind, tenant, key, value::text AS value, indexed::text AS indexed, version,"
    " created_at, updated_at, expires_at"
)
_ID = "kind = $1 AND tenant = $2 AND key = $3"
_EXPIRED = "r.expires_at <= EXCLUDED.updated_at"


class _Row(Protocol):
    def __getitem__(self, key: str) -> Any: ...


class _Host(Protocol):
    @property
    def schema(self) -> str: ...

    async def _run(
        self, action: str, operation: Callable[[Any], Awaitable[_T]], *, retry: bool = True
    ) -> _T: ...


class PostgresRecords:
    """The `RecordStore` methods of `PostgresStateStore` (which supplies ``_run``)."""

    async def put_record(
        self: _Host,
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
        s = f'"{self.schema}"'
        args: tuple[object, ...] = (kind, tenant, key, text, fields_text, tags, ttl)
        if expected is None or expected == 0:
            sql = (
                f"INSERT INTO {s}.records AS r (kind, tenant, key, value, indexed, tags, version,"
                " created_at, updated_at, expires_at)"
                f" SELECT $1, $2, $3, $4::json, $5::json, $6::jsonb, 1, t, t, t + $7::float8"
                f" FROM (SELECT {_NOW} AS t) AS clock"
                " ON CONFLICT (kind, tenant, key) DO UPDATE SET"
                " value = EXCLUDED.value, indexed = EXCLUDED.indexed, tags = EXCLUDED.tags,"
                f" version = CASE WHEN {_EXPIRED} THEN 1 ELSE r.version + 1 END,"
                f" created_at = CASE WHEN {_EXPIRED} THEN EXCLUDED.created_at"
                " ELSE r.created_at END,"
                " updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at"
                + (f" WHERE {_EXPIRED}" if expected == 0 else "")
                + " RETURNING r.version"
            )
        else:
            sql = (
                f"UPDATE {s}.records SET value = $4::json, indexed = $5::json, tags = $6::jsonb,"
                f" version = version + 1, updated_at = {_NOW}, expires_at = {_NOW} + $7::float8"
                f" WHERE {_ID} AND version = $8 AND {_LIVE} RETURNING version"
            )
            args += (expected,)
        version = await self._run(
            f"writing record {kind!r}/{key!r}",
            lambda conn: conn.fetchval(sql, *args),
            retry=expected is None,
        )
        if version is not None:
            return int(version)
        assert expected is not None  # a plain upsert always returns its row
        current = await self._run(
            f"reading record {kind!r}/{key!r}",
            lambda conn: conn.fetchval(
                f"SELECT version FROM {s}.records WHERE {_ID} AND {_LIVE}", kind, tenant, key
            ),
        )
        raise RecordConflict(
            kind, key, expected=expected, current=None if current is None else int(current)
        )

    async def get_record(self: _Host, kind: str, key: str, *, tenant: str) -> Record | None:
        """Return the live record, or ``None``."""
        check_record_id(kind, key, tenant)
        sql = f'SELECT {_COLUMNS} FROM "{self.schema}".records WHERE {_ID} AND {_LIVE}'
        rows = await self._run(
            f"reading record {kind!r}/{key!r}", lambda conn: conn.fetch(sql, kind, tenant, key)
        )
        return _record(rows[0]) if rows else None

    async def delete_record(
        self: _Host, kind: str, key: str, *, tenant: str, expected_version: int | None = None
    ) -> bool:
        """Delete the record; ``False`` if there was none (see `RecordStore.delete_record`)."""
        check_record_id(kind, key, tenant)
        expected = check_expected_version(expected_version)
        s = f'"{self.schema}"'
        sql = f"DELETE FROM {s}.records WHERE {_ID} AND {_LIVE}"
        args: tuple[object, ...] = (kind, tenant, key)
        if expected is not None:
            sql += " AND version = $4"
            args += (expected,)
        deleted = await self._run(
            f"deleting record {kind!r}/{key!r}",
            lambda conn: conn.fetchval(sql + " RETURNING version", *args),
            retry=expected is None,
        )
        if deleted is not None:
            return True
        if expected is None:
            return False
        current = await self._run(
            f"reading record {kind!r}/{key!r}",
            lambda conn: conn.fetchval(
                f"SELECT version FROM {s}.records WHERE {_ID} AND {_LIVE}", kind, tenant, key
            ),
        )
        if current is None:
            return False
        raise RecordConflict(kind, key, expected=expected, current=int(current))

    async def take_record(self: _Host, kind: str, key: str, *, tenant: str) -> Record | None:
        """Read and delete the record in one statement (exactly one taker gets it)."""
        check_record_id(kind, key, tenant)
        sql = (
            f'DELETE FROM "{self.schema}".records WHERE {_ID} RETURNING {_COLUMNS}, {_LIVE} AS live'
        )
        rows = await self._run(
            f"taking record {kind!r}/{key!r}",
            lambda conn: conn.fetch(sql, kind, tenant, key),
            retry=False,
        )
        return _record(rows[0]) if rows and rows[0]["live"] else None

    async def list_records(
        self: _Host,
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
        sql = f'SELECT {_COLUMNS} FROM "{self.schema}".records WHERE kind = $1 AND tenant = $2'
        sql += f" AND {_LIVE}"
        args: list[object] = [kind, tenant]
        if query.where:
            args.append(encode_document(query.where, what="where"))
            sql += f" AND tags @> ${len(args)}::jsonb"
        column = query.field  # one of three fixed names, never caller text
        beyond = "<" if query.descending else ">"
        if query.after is not None:
            last_value, last_key = query.after
            args.append(last_key)
            at_key = f"key {beyond} ${len(args)}"
            if column == "key":
                sql += f" AND {at_key}"
            else:
                args.append(last_value)
                at = f"${len(args)}::float8"
                sql += f" AND ({column} {beyond} {at} OR ({column} = {at} AND {at_key}))"
        direction = "DESC" if query.descending else "ASC"
        order = f"key {direction}" if column == "key" else f"{column} {direction}, key {direction}"
        args.append(query.limit + 1)
        sql += f" ORDER BY {order} LIMIT ${len(args)}"
        rows = await self._run(
            f"listing records of kind {kind!r}", lambda conn: conn.fetch(sql, *args)
        )
        records = [_record(row) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        return RecordPage(records, next_page_token(query, records[-1]) if more else None)


def _record(row: _Row) -> Record:
    expiry = row["expires_at"]
    return Record(
        kind=row["kind"],
        tenant=row["tenant"],
        key=row["key"],
        value=decode_document(row["value"]),
        indexed=decode_document(row["indexed"]),
        version=int(row["version"]),
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        expires_at=None if expiry is None else float(expiry),
    )
