"""Errors raised or delivered by the runtime.

Hierarchy::

    Exception
    ├── FlowError            a node failed for good; carries trace, node and a stable code
    ├── TraceCancelled       raised inside work that belongs to a cancelled trace
    └── ValueError
        └── CycleError       the graph has a cycle no node allowed

User mistakes at construction time raise the built-in ``TypeError`` /
``ValueError`` / ``RuntimeError`` with a message naming the node and what to do.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = ["CycleError", "FlowError", "FlowErrorCode", "TraceCancelled"]


class FlowErrorCode(StrEnum):
    """Stable machine-readable reasons for a `FlowError`."""

    NODE_TIMEOUT = "NODE_TIMEOUT"
    """An attempt exceeded `NodePolicy.timeout_s` and no retry was left."""
    NODE_EXCEPTION = "NODE_EXCEPTION"
    """The node raised and no retry was left."""
    VALIDATION_ERROR = "VALIDATION_ERROR"
    """The node's input or output did not match its registered model (never retried)."""
    TRACE_CANCELLED = "TRACE_CANCELLED"
    """Reserved: work was abandoned because its trace was cancelled."""
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    """The message's `deadline_s` passed before a node could process it."""
    HOP_BUDGET_EXHAUSTED = "HOP_BUDGET_EXHAUSTED"
    """A controller loop used up `WM.budget_hops` (reported on `budget_exhausted` events)."""
    TOKEN_BUDGET_EXHAUSTED = "TOKEN_BUDGET_EXHAUSTED"
    """A controller loop used up `WM.budget_tokens` (reported on `budget_exhausted` events)."""
    REMOTE_ERROR = "REMOTE_ERROR"
    """Reserved: a remote agent or worker reported a failure."""


class FlowError(Exception):
    """A node failed for good (retries exhausted, timeout, invalid data, ...).

    With ``emit_errors_to_rookery=True`` the flow delivers it through
    ``flow.fetch()``; otherwise it is logged and reported as a ``node_failed``
    event. It is also raised by ``call_playbook`` when a playbook fails.

    Attributes:
        trace_id: The trace the failing message belonged to (``None`` for payload-only messages).
        node_name: Name of the failing node.
        node_id: Unique id of the failing node.
        code: Stable reason code.
        message: Human-readable explanation.
        original_exc: The exception that caused it, if any.
        metadata: Extra JSON-safe details (attempts, field errors, ...).
    """

    def __init__(
        self,
        *,
        trace_id: str | None,
        node_name: str | None,
        node_id: str | None,
        code: FlowErrorCode,
        message: str,
        original_exc: BaseException | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.trace_id = trace_id
        self.node_name = node_name
        self.node_id = node_id
        self.code = code
        self.message = message
        self.original_exc = original_exc
        self.metadata: dict[str, Any] = dict(metadata or {})

    def __repr__(self) -> str:
        return (
            f"FlowError(code={self.code.value}, node={self.node_name!r}, "
            f"trace_id={self.trace_id!r}, message={self.message!r})"
        )

    def to_payload(self) -> dict[str, Any]:
        """Return a JSON-safe dict describing the error."""
        payload: dict[str, Any] = {
            "code": self.code.value,
            "message": self.message,
            "trace_id": self.trace_id,
            "node_name": self.node_name,
            "node_id": self.node_id,
            "metadata": _json_safe(self.metadata),
        }
        if self.original_exc is not None:
            payload["original_exc"] = {
                "type": type(self.original_exc).__name__,
                "message": str(self.original_exc),
            }
        return payload


class TraceCancelled(Exception):
    """Work belonging to a cancelled trace was stopped.

    Attributes:
        trace_id: The cancelled trace.
    """

    def __init__(self, trace_id: str | None) -> None:
        super().__init__(f"trace {trace_id!r} was cancelled")
        self.trace_id = trace_id


class CycleError(ValueError):
    """The flow's graph contains a cycle that no node allows.

    Set ``allow_cycle=True`` on the controller node that bounds the loop, or
    ``allow_cycles=True`` on the flow.
    """


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    return repr(value)
