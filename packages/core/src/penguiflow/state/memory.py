"""`InMemoryStateStore`: the StateStore kept in plain dicts, for tests and single-process use.

Nothing survives the process, and nothing is evicted: every event of every
trace stays in memory until the store is dropped or `destroy` is called. Use
`SQLiteStateStore` (``sqlite:///path.db``) for anything that must outlive the
process or run for long.

Documents are kept as JSON text (see `penguiflow.state._codec`), so this store
accepts exactly what the database-backed ones accept and hands out copies.
No method awaits anything while it touches the dicts, so concurrent tasks
never observe a half-done write.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from penguiflow.state._codec import (
    check_binding,
    check_event,
    check_key,
    decode_document,
    encode_document,
)
from penguiflow.state._records import (
    PutRequest,
    check_expected_version,
    check_record_id,
    expires_at,
    is_expired,
    list_query,
    sort_value,
)
from penguiflow.state._records import page_token as _next_token
from penguiflow.state.base import (
    IndexedValue,
    Record,
    RecordConflict,
    RecordOrder,
    RecordPage,
    RemoteBinding,
    StateStoreError,
    StoredEvent,
)

__all__ = ["InMemoryStateStore"]


class InMemoryStateStore:
    """A `StateStore` held in process memory (``memory://``).

    Writes are idempotent (an ``event_id`` is stored once; a binding once per
    ``(trace_id, task_id)``), history comes back in save order, and a tenant
    filter only ever returns that tenant's events. Memory is unbounded: the
    store is meant for tests, examples and short-lived single processes.

    Example:
        >>> store = InMemoryStateStore()
        >>> # await store.save_event(StoredEvent(trace_id="t1", ts=0.0, kind="node_start"))
    """

    def __init__(self) -> None:
        # trace_id -> [(tenant, encoded event)], in save order
        self._events: dict[str | None, list[tuple[str | None, str]]] = {}
        self._event_ids: set[str] = set()
        # trace_id -> task_id -> binding; dicts keep insertion (= save) order
        self._bindings: dict[str, dict[str, RemoteBinding]] = {}
        self._planner: dict[str, str] = {}
        self._memory: dict[str, str] = {}
        # (kind, tenant) -> key -> (record with an empty value, its JSON text)
        self._records: dict[tuple[str, str], dict[str, tuple[Record, str]]] = {}
        self._closed = False

    @classmethod
    async def open(cls, url: str = "memory://", *, create: bool = True) -> Self:
        """Return a new, empty store for ``memory://``.

        Args:
            url: ``memory://``.
            create: Accepted for symmetry with the other backends' ``open``.
                Every in-memory store is new, so there is never an existing
                one to open: ``create=False`` is refused rather than handing
                out an empty store as if it were one.

        Raises:
            ValueError: ``url`` is not exactly ``memory://``.
            StateStoreError: ``create=False``.
        """
        if url != "memory://":
            raise ValueError(f"InMemoryStateStore takes the URL 'memory://' only, got {url!r}")
        if not create:
            raise StateStoreError(
                "memory:// never holds an existing state store (opened with create=False): "
                "every in-memory store starts empty; open a persistent store to read history"
            )
        return cls()

    # -- lifecycle ------------------------------------------------------------
    async def close(self) -> None:
        """Mark the store closed (idempotent); the data stays until `destroy`."""
        self._closed = True

    async def destroy(self) -> None:
        """Close the store and forget everything it holds."""
        self._closed = True
        self._events.clear()
        self._event_ids.clear()
        self._bindings.clear()
        self._planner.clear()
        self._memory.clear()
        self._records.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StateStoreError("the in-memory state store is closed")

    # -- events ---------------------------------------------------------------
    async def save_event(self, event: StoredEvent) -> None:
        """Append ``event`` to its trace's history, once per ``event_id``."""
        import json  # on use: json is ~1.3 ms of `import penguiflow`

        event = check_event(event)
        self._check_open()
        if event.event_id in self._event_ids:
            return
        what = f"payload of event {event.event_id!r} (trace {event.trace_id!r})"
        encode_document(event.payload, what=what)  # validate before anything is stored
        record = json.dumps(event.to_dict(), separators=(",", ":"))
        self._event_ids.add(event.event_id)
        self._events.setdefault(event.trace_id, []).append((event.tenant, record))

    async def load_history(self, trace_id: str, *, tenant: str | None = None) -> list[StoredEvent]:
        """Return the events of ``trace_id`` in save order (only ``tenant``'s when given)."""
        import json  # on use: json is ~1.3 ms of `import penguiflow`

        check_key("trace_id", trace_id)
        if tenant is not None:
            check_key("tenant", tenant)
        self._check_open()
        rows = self._events.get(trace_id, ())
        return [
            StoredEvent.from_dict(json.loads(record))
            for row_tenant, record in rows
            if tenant is None or row_tenant == tenant
        ]

    # -- remote bindings ------------------------------------------------------
    async def save_remote_binding(self, binding: RemoteBinding) -> None:
        """Store ``binding``; a second save for the same ``(trace_id, task_id)`` is ignored."""
        binding = check_binding(binding)
        self._check_open()
        self._bindings.setdefault(binding.trace_id, {}).setdefault(binding.task_id, binding)

    async def load_remote_bindings(self, trace_id: str) -> list[RemoteBinding]:
        """Return the bindings of ``trace_id`` in save order."""
        check_key("trace_id", trace_id)
        self._check_open()
        return list(self._bindings.get(trace_id, {}).values())

    # -- planner state --------------------------------------------------------
    async def save_planner_state(self, token: str, state: dict[str, Any]) -> None:
        """Store ``state`` under ``token``, replacing what was there."""
        check_key("token", token)
        text = encode_document(state, what=f"planner state {token!r}")
        self._check_open()
        self._planner[token] = text

    async def load_planner_state(self, token: str) -> dict[str, Any] | None:
        """Return a copy of the state under ``token``, or ``None``."""
        check_key("token", token)
        self._check_open()
        text = self._planner.get(token)
        return None if text is None else decode_document(text)

    async def delete_planner_state(self, token: str) -> None:
        """Forget the state under ``token`` (no error if absent)."""
        check_key("token", token)
        self._check_open()
        self._planner.pop(token, None)

    # -- memory state ---------------------------------------------------------
    async def save_memory_state(self, key: str, state: dict[str, Any]) -> None:
        """Store short-term memory ``state`` under ``key``, replacing what was there."""
        check_key("key", key)
        text = encode_document(state, what=f"memory state {key!r}")
        self._check_open()
        self._memory[key] = text

    async def load_memory_state(self, key: str) -> dict[str, Any] | None:
        """Return a copy of the memory state under ``key``, or ``None``."""
        check_key("key", key)
        self._check_open()
        text = self._memory.get(key)
        return None if text is None else decode_document(text)

    # -- records --------------------------------------------------------------
    def _live(self, kind: str, tenant: str, key: str, now: float) -> tuple[Record, str] | None:
        bucket = self._records.get((kind, tenant))
        entry = None if bucket is None else bucket.get(key)
        if entry is None:
            return None
        if is_expired(entry[0].expires_at, now):
            del self._records[(kind, tenant)][key]
            return None
        return entry

    async def put_record(
        self,
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
        fields, expected, ttl, text = put.fields, put.expected, put.ttl, put.text
        self._check_open()
        now = time.time()
        current = self._live(kind, tenant, key, now)
        version = 0 if current is None else current[0].version
        if expected is not None and expected != version:
            raise RecordConflict(
                kind, key, expected=expected, current=None if current is None else version
            )
        record = Record(
            kind=kind,
            tenant=tenant,
            key=key,
            value={},
            indexed=fields,
            version=version + 1,
            created_at=now if current is None else current[0].created_at,
            updated_at=now,
            expires_at=expires_at(now, ttl),
        )
        self._records.setdefault((kind, tenant), {})[key] = (record, text)
        return record.version

    async def get_record(self, kind: str, key: str, *, tenant: str) -> Record | None:
        """Return the live record, or ``None``."""
        check_record_id(kind, key, tenant)
        self._check_open()
        entry = self._live(kind, tenant, key, time.time())
        return None if entry is None else _with_value(entry)

    async def delete_record(
        self, kind: str, key: str, *, tenant: str, expected_version: int | None = None
    ) -> bool:
        """Delete the record; ``False`` if there was none (see `RecordStore.delete_record`)."""
        check_record_id(kind, key, tenant)
        expected = check_expected_version(expected_version)
        self._check_open()
        entry = self._live(kind, tenant, key, time.time())
        if entry is None:
            return False
        if expected is not None and expected != entry[0].version:
            raise RecordConflict(kind, key, expected=expected, current=entry[0].version)
        del self._records[(kind, tenant)][key]
        return True

    async def take_record(self, kind: str, key: str, *, tenant: str) -> Record | None:
        """Read and delete the record in one step (no await in between)."""
        check_record_id(kind, key, tenant)
        self._check_open()
        entry = self._live(kind, tenant, key, time.time())
        if entry is None:
            return None
        del self._records[(kind, tenant)][key]
        return _with_value(entry)

    async def list_records(
        self,
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
        self._check_open()
        now = time.time()
        bucket = self._records.get((kind, tenant), {})
        for key in [k for k, entry in bucket.items() if is_expired(entry[0].expires_at, now)]:
            del bucket[key]  # a listing frees what expired, so memory does not grow with it
        found = [
            entry
            for entry in bucket.values()
            if query.matches(entry[0].indexed)
            and query.is_after(sort_value(entry[0], query.field), entry[0].key)
        ]
        found.sort(
            key=lambda entry: (sort_value(entry[0], query.field), entry[0].key),
            reverse=query.descending,
        )
        page = [_with_value(entry) for entry in found[: query.limit]]
        more = len(found) > query.limit
        return RecordPage(page, _next_token(query, page[-1]) if more else None)


def _with_value(entry: tuple[Record, str]) -> Record:
    record, text = entry
    return dataclasses.replace(record, value=decode_document(text), indexed=dict(record.indexed))
