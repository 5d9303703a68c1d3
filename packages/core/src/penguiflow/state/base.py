"""The StateStore protocol and the records it stores: trace events, remote bindings, opaque state.

Design notes. A store is a small async key/value-and-log service:

* an append-only, per-trace event log (`save_event` / `load_history`), written
  idempotently (the same `StoredEvent.event_id` is stored once) and read back in
  write order, optionally filtered by tenant;
* trace <-> remote task bindings (A2A);
* opaque JSON documents for the planner's pause state and for short-term
  memory, keyed by a string;
* records: tenant-scoped JSON documents by ``(kind, tenant, key)`` with a
  version (compare-and-set), a few indexed scalar fields (equality filters),
  listing with stable keyset page tokens, atomic take and optional expiry.

Every backend implements exactly this protocol and passes the shared
conformance suite (`penguiflow.testkit.StateStoreConformance`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from penguiflow.errors import PenguiFlowError
from penguiflow.events import FlowEvent

__all__ = [
    "IndexedValue",
    "Record",
    "RecordConflict",
    "RecordOrder",
    "RecordPage",
    "RecordStore",
    "RemoteBinding",
    "StateStore",
    "StateStoreError",
    "StoredEvent",
]


_MAX_TEXT = 16_384
"""Longest text of a runtime event's ``extra`` that `StoredEvent.from_flow_event` keeps whole."""


class StateStoreError(PenguiFlowError, RuntimeError):
    """A store could not be opened, reached or read (the message says which and why)."""


class RecordConflict(StateStoreError):
    """A compare-and-set write or delete of a record found another version than expected.

    Attributes:
        kind: The record's kind.
        key: The record's key.
        expected: The version the caller expected (``0``: the record must not exist).
        current: The version found (``None``: no live record).
    """

    def __init__(self, kind: str, key: str, *, expected: int, current: int | None) -> None:
        found = "no record" if current is None else f"version {current}"
        wanted = "no record (create only)" if expected == 0 else f"version {expected}"
        super().__init__(
            f"record {kind!r}/{key!r}: expected {wanted}, found {found}; "
            "read it again and retry the write on the current version"
        )
        self.kind = kind
        self.key = key
        self.expected = expected
        self.current = current


IndexedValue = str | int | float | bool | None
"""What an indexed field of a record may hold: one JSON scalar."""

RecordOrder = Literal["updated_at", "-updated_at", "created_at", "-created_at", "key", "-key"]
"""How `RecordStore.list_records` orders records (``-``: descending); ties go by key."""


@dataclass(frozen=True, slots=True)
class Record:
    """One stored record: a JSON document under ``(kind, tenant, key)``.

    Attributes:
        kind: What sort of record (``"a2a_task"``, ``"oauth_token"``, ...).
        tenant: The tenant owning it; records never cross tenants.
        key: Its key, unique within ``(kind, tenant)``.
        value: The JSON document.
        indexed: Scalar fields ``list_records`` can filter on by equality.
        version: 1 on creation, +1 on every write.
        created_at: When the record was created, epoch seconds.
        updated_at: When it was last written, epoch seconds.
        expires_at: When it stops being visible (epoch seconds), or ``None``.
    """

    kind: str
    tenant: str
    key: str
    value: dict[str, Any]
    indexed: dict[str, IndexedValue]
    version: int
    created_at: float
    updated_at: float
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class RecordPage:
    """One page of `RecordStore.list_records`.

    Attributes:
        records: The records of this page, in the requested order.
        next_page_token: Pass it back as ``page_token`` for the next page;
            ``None`` when this was the last page.
    """

    records: list[Record]
    next_page_token: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One persisted runtime event.

    Attributes:
        trace_id: Trace the event belongs to (``None`` for payload-only traffic).
        ts: Event time, epoch seconds.
        kind: The event type (``node_start``, ``node_failed``, ...).
        node_name: Node involved, if any.
        node_id: Unique id of that node, if any.
        payload: JSON-safe details (``FlowEvent.to_payload()`` for runtime events).
        tenant: Tenant of the trace, when known; history queries can filter on it.
        event_id: Idempotency key: saving the same id twice stores it once.
    """

    trace_id: str | None
    ts: float
    kind: str
    node_name: str | None = None
    node_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    tenant: str | None = None
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def from_flow_event(cls, event: FlowEvent, *, tenant: str | None = None) -> StoredEvent:
        """Build the stored form of a runtime `FlowEvent`.

        Every text in the event's ``extra`` (error messages, the `FlowError`
        payload of ``node_failed``, ...) longer than 16,384 characters is cut
        to its first 16,384, followed by a note saying so: an exception whose
        text is megabytes long must not be written into the history in full
        on every attempt. The payload then has a ``"truncated"`` entry
        mapping the path of each cut text (for example
        ``"extra.error.message"``) to its original length in characters. The
        `FlowEvent` itself is left untouched.
        """
        payload = event.to_payload()
        cut: dict[str, int] = {}
        payload["extra"] = _cap_texts(payload["extra"], "extra", cut)
        if cut:
            payload["truncated"] = cut
        return cls(
            trace_id=event.trace_id,
            ts=event.ts,
            kind=event.event_type,
            node_name=event.node_name,
            node_id=event.node_id,
            payload=payload,
            tenant=tenant,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (what backends serialise)."""
        return {
            "event_id": self.event_id,
            "trace_id": self.trace_id,
            "ts": self.ts,
            "kind": self.kind,
            "node_name": self.node_name,
            "node_id": self.node_id,
            "payload": self.payload,
            "tenant": self.tenant,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredEvent:
        """Inverse of `to_dict`."""
        return cls(
            trace_id=data["trace_id"],
            ts=float(data["ts"]),
            kind=data["kind"],
            node_name=data.get("node_name"),
            node_id=data.get("node_id"),
            payload=dict(data.get("payload") or {}),
            tenant=data.get("tenant"),
            event_id=data["event_id"],
        )


def _cap_texts(value: Any, path: str, cut: dict[str, int]) -> Any:
    """``value`` with every string longer than `_MAX_TEXT` cut, recording ``path -> length``.

    A container holding a cut text is copied, never changed in place (it is
    shared with the `FlowEvent` that middlewares also receive); anything else
    is returned as it is.
    """
    if isinstance(value, str):
        if len(value) <= _MAX_TEXT:
            return value
        cut[path] = len(value)
        return f"{value[:_MAX_TEXT]}... [cut: {len(value)} characters in all]"
    if isinstance(value, dict):
        capped = {key: _cap_texts(item, f"{path}.{key}", cut) for key, item in value.items()}
        changed = any(capped[key] is not item for key, item in value.items())
        return capped if changed else value
    if isinstance(value, list | tuple):
        items = [_cap_texts(item, f"{path}[{index}]", cut) for index, item in enumerate(value)]
        changed = any(new is not old for new, old in zip(items, value, strict=True))
        return items if changed else value
    return value


@dataclass(frozen=True, slots=True)
class RemoteBinding:
    """Links a local trace to a task on a remote agent (A2A).

    Attributes:
        trace_id: The local trace.
        context_id: The remote conversation/context id.
        task_id: The remote task id.
        agent_url: Where the remote agent lives.
        tenant: Tenant of the trace, when known.
    """

    trace_id: str
    context_id: str | None
    task_id: str
    agent_url: str
    tenant: str | None = None


@runtime_checkable
class RecordStore(Protocol):
    """Tenant-scoped records: versioned JSON documents with filters, paging and expiry.

    A record lives under ``(kind, tenant, key)``; ``tenant`` is mandatory and
    non-empty on every call, and nothing ever crosses tenants. Expired records
    (``ttl_s`` elapsed) are invisible to every method.
    """

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
        """Write a record and return its new version (1 for a new record).

        ``expected_version`` makes the write a compare-and-set: ``0`` creates
        only, ``n`` replaces version ``n`` only; otherwise `RecordConflict`.
        ``ttl_s`` sets the expiry (``None``: never expires).
        """
        ...

    async def get_record(self, kind: str, key: str, *, tenant: str) -> Record | None:
        """Return the live record, or ``None``."""
        ...

    async def delete_record(
        self, kind: str, key: str, *, tenant: str, expected_version: int | None = None
    ) -> bool:
        """Delete the record; ``False`` if there was none (`RecordConflict` on a stale version)."""
        ...

    async def take_record(self, kind: str, key: str, *, tenant: str) -> Record | None:
        """Atomically read and delete the record: of concurrent takers exactly one gets it."""
        ...

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
        """Return one page of ``tenant``'s live records of ``kind``.

        ``where`` filters by equality (same type and value) on indexed fields;
        ``order_by`` is ``updated_at``, ``created_at`` or ``key``, ``-``-prefixed
        for descending; ``page_token`` continues a previous page of the same query.
        """
        ...


@runtime_checkable
class StateStore(RecordStore, Protocol):
    """Durable storage for trace history, remote bindings, planner and memory state, and records.

    All methods are coroutines. Writes are idempotent; `load_history` returns a
    trace's events in the order they were saved. Stores are async context
    managers; `close` releases connections and is idempotent.
    """

    async def save_event(self, event: StoredEvent) -> None:
        """Append ``event`` to its trace's history (once per ``event_id``)."""
        ...

    async def load_history(self, trace_id: str, *, tenant: str | None = None) -> list[StoredEvent]:
        """Return the events of ``trace_id`` in save order (only ``tenant``'s when given)."""
        ...

    async def save_remote_binding(self, binding: RemoteBinding) -> None:
        """Store ``binding`` (idempotent on ``(trace_id, task_id)``)."""
        ...

    async def load_remote_bindings(self, trace_id: str) -> list[RemoteBinding]:
        """Return the bindings of ``trace_id`` in save order."""
        ...

    async def save_planner_state(self, token: str, state: dict[str, Any]) -> None:
        """Store a paused planner's state under its resume ``token`` (replaces)."""
        ...

    async def load_planner_state(self, token: str) -> dict[str, Any] | None:
        """Return the state saved under ``token``, or ``None``."""
        ...

    async def delete_planner_state(self, token: str) -> None:
        """Forget the state under ``token`` (no error if absent)."""
        ...

    async def save_memory_state(self, key: str, state: dict[str, Any]) -> None:
        """Store short-term memory state under ``key`` (replaces)."""
        ...

    async def load_memory_state(self, key: str) -> dict[str, Any] | None:
        """Return the memory state under ``key``, or ``None``."""
        ...

    async def close(self) -> None:
        """Release connections; idempotent."""
        ...
