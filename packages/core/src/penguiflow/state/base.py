"""The StateStore protocol and the records it stores: trace events, remote bindings, opaque state.

Design notes. A store is a small async key/value-and-log service:

* an append-only, per-trace event log (`save_event` / `load_history`), written
  idempotently (the same `StoredEvent.event_id` is stored once) and read back in
  write order, optionally filtered by tenant;
* trace <-> remote task bindings (A2A);
* opaque JSON documents for the planner's pause state and for short-term
  memory, keyed by a string.

Every backend implements exactly this protocol and passes the shared
conformance suite (`penguiflow.testkit.StateStoreConformance`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from penguiflow.errors import PenguiFlowError
from penguiflow.events import FlowEvent

__all__ = ["RemoteBinding", "StateStore", "StateStoreError", "StoredEvent"]


_MAX_TEXT = 16_384
"""Longest text of a runtime event's ``extra`` that `StoredEvent.from_flow_event` keeps whole."""


class StateStoreError(PenguiFlowError, RuntimeError):
    """A store could not be opened, reached or read (the message says which and why)."""


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
class StateStore(Protocol):
    """Durable storage for trace history, remote bindings, planner and memory state.

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
