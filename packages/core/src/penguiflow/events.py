"""FlowEvent: the structured record the runtime hands to middlewares, and its event types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, get_args

__all__ = ["FLOW_EVENT_TYPES", "FlowEvent", "FlowEventType"]

FlowEventType: TypeAlias = Literal[
    "node_start",
    "node_success",
    "node_error",
    "node_retry",
    "node_timeout",
    "node_failed",
    "node_cancelled",
    "deadline_skip",
    "trace_cancel_start",
    "trace_cancel_finish",
    "budget_exhausted",
    "state_store_error",
    "remote_dispatch",
    "remote_discarded",
]
"""Every event type the runtime emits (see `FlowEvent`)."""

FLOW_EVENT_TYPES: frozenset[str] = frozenset(get_args(FlowEventType))
"""`FlowEventType`'s values, for checks at run time."""


@dataclass(frozen=True, slots=True)
class FlowEvent:
    """One runtime event (node lifecycle, retries, cancellation, deadlines).

    Event types emitted by the core runtime (`FlowEventType`): ``node_start``,
    ``node_success``, ``node_error``, ``node_retry``, ``node_timeout``,
    ``node_failed``, ``node_cancelled``, ``deadline_skip``,
    ``trace_cancel_start``, ``trace_cancel_finish``, ``budget_exhausted``,
    ``state_store_error``; for worker nodes also ``remote_dispatch`` and
    ``remote_discarded`` (see `penguiflow.distributed`).
    Events are only built when at least one middleware listens.

    Attributes:
        event_type: What happened.
        ts: Wall-clock time of the event, epoch seconds.
        node_name: Node involved (``None`` for flow-level events).
        node_id: Unique id of that node.
        trace_id: Trace involved (``None`` for payload-only messages).
        attempt: 0-based attempt number for node events.
        latency_ms: Duration of the attempt, for events that end one.
        q_depth_in: Messages queued in the node's incoming floes.
        q_depth_out: Messages queued in the node's outgoing floes.
        outgoing: Number of outgoing floes of the node.
        trace_pending: Messages of the trace queued or in process.
        trace_inflight: Messages of the trace being processed by a node right now.
        trace_cancelled: Whether the trace has been cancelled.
        extra: Event-specific details (error text, retry delay, ...).
        tenant: Tenant of the trace (from its envelope's headers), when known.
    """

    event_type: FlowEventType
    ts: float
    node_name: str | None
    node_id: str | None
    trace_id: str | None
    attempt: int = 0
    latency_ms: float | None = None
    q_depth_in: int = 0
    q_depth_out: int = 0
    outgoing: int = 0
    trace_pending: int | None = None
    trace_inflight: int = 0
    trace_cancelled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    tenant: str | None = None

    def to_payload(self) -> dict[str, Any]:
        """Return a flat, JSON-safe dict of the event (``extra`` merged under its own key)."""
        return {
            "event": self.event_type,
            "ts": self.ts,
            "node_name": self.node_name,
            "node_id": self.node_id,
            "trace_id": self.trace_id,
            "attempt": self.attempt,
            "latency_ms": self.latency_ms,
            "q_depth_in": self.q_depth_in,
            "q_depth_out": self.q_depth_out,
            "outgoing": self.outgoing,
            "trace_pending": self.trace_pending,
            "trace_inflight": self.trace_inflight,
            "trace_cancelled": self.trace_cancelled,
            "tenant": self.tenant,
            "extra": dict(self.extra),
        }

    def metric_samples(self) -> dict[str, float]:
        """Return the numeric measurements of the event, keyed by metric name."""
        samples: dict[str, float] = {
            "attempt": float(self.attempt),
            "q_depth_in": float(self.q_depth_in),
            "q_depth_out": float(self.q_depth_out),
            "q_depth_total": float(self.q_depth_in + self.q_depth_out),
            "outgoing": float(self.outgoing),
            "trace_inflight": float(self.trace_inflight),
            "trace_cancelled": 1.0 if self.trace_cancelled else 0.0,
        }
        if self.latency_ms is not None:
            samples["latency_ms"] = float(self.latency_ms)
        if self.trace_pending is not None:
            samples["trace_pending"] = float(self.trace_pending)
        return samples

    def tag_values(self) -> dict[str, str]:
        """Return the identifying labels of the event, as strings."""
        tags: dict[str, str] = {"event_type": self.event_type}
        if self.node_name is not None:
            tags["node_name"] = self.node_name
        if self.node_id is not None:
            tags["node_id"] = self.node_id
        if self.trace_id is not None:
            tags["trace_id"] = self.trace_id
        if self.tenant is not None:
            tags["tenant"] = self.tenant
        return tags
