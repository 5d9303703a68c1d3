"""Errors raised or delivered by penguiflow-core, all under one root: `PenguiFlowError`.

Hierarchy (a built-in base in parentheses is kept too, so ``except ValueError``
still catches a `CycleError`)::

    Exception
    ├── PenguiFlowError                     root of every error penguiflow defines
    │   ├── FlowError                       a node failed for good; trace, node, stable code
    │   ├── CycleError (ValueError)         the graph has a cycle no node allowed
    │   ├── TraceEnded (LookupError)        a trace ended without the result waited for
    │   ├── FetchTimeout (TimeoutError)     no result within the timeout
    │   ├── TenantMismatch (PermissionError) a trace used by another tenant than its own
    │   ├── FloeClosed (RuntimeError)       the flow stopped under a put/take (penguiflow.floe)
    │   ├── StateStoreError (RuntimeError)  a state store failed (penguiflow.state)
    │   │   └── RecordConflict              a record's compare-and-set found another version
    │   ├── BusError (RuntimeError)         a message bus failed (penguiflow.bus)
    │   ├── WireError (ValueError)          an item cannot cross processes (penguiflow.distributed)
    │   ├── FactoryError                    module:attr did not load a target (penguiflow.cli)
    │   ├── CliError                        a command failed: one line, an exit code
    │   │   └── AdminError                  penguiflow-admin's failures
    │   ├── SimulatedError                  a testkit node failing on purpose (penguiflow.testkit)
    │   ├── ConformanceSkipped              a state-store conformance case not applicable
    │   └── BusConformanceSkipped           a bus conformance case not applicable
    └── TraceCancelled                      signal: work of a cancelled trace was stopped

Sibling packages hang their roots under `PenguiFlowError`:
``penguiflow.planner.errors.PlannerError``, ``penguiflow.tools.ToolNodeError``
and ``penguiflow_a2a.A2AError``.

`TraceCancelled` is a control-flow signal, not an error, and stays outside the
root on purpose (as does the planner's pause signal): ``except PenguiFlowError``
around a node's work must never swallow a cancellation. Plain argument checks
raise the built-in ``TypeError`` / ``ValueError`` / ``RuntimeError`` with a
message naming the node and what to do.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "CycleError",
    "FetchTimeout",
    "FlowError",
    "FlowErrorCode",
    "PenguiFlowError",
    "TenantMismatch",
    "TraceCancelled",
    "TraceEnded",
]


class PenguiFlowError(Exception):
    """Root of every exception PenguiFlow defines (control-flow signals excepted).

    Catch it to handle any PenguiFlow failure without catching a cancellation.
    """


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


class FlowError(PenguiFlowError):
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

    A control-flow signal, deliberately not a `PenguiFlowError`: handlers of
    PenguiFlow errors must let a cancellation through.

    Attributes:
        trace_id: The cancelled trace.
    """

    def __init__(self, trace_id: str | None) -> None:
        super().__init__(f"trace {trace_id!r} was cancelled")
        self.trace_id = trace_id


class CycleError(PenguiFlowError, ValueError):
    """The flow's graph contains a cycle that no node allows.

    Set ``allow_cycle=True`` on the controller node that bounds the loop, or
    ``allow_cycles=True`` on the flow.
    """


class TraceEnded(PenguiFlowError, LookupError):
    """Nothing of a trace is left in the flow, and the result waited for never came.

    Attributes:
        trace_id: The trace that ended.
    """

    def __init__(self, trace_id: str) -> None:
        super().__init__(
            f"trace {trace_id!r} ended without a result: nothing of it reached Rookery "
            "(every branch returned None, or it was cancelled)"
        )
        self.trace_id = trace_id


class FetchTimeout(PenguiFlowError, TimeoutError):
    """No result arrived within the timeout.

    Attributes:
        trace_id: The trace waited for (``None`` for payload-only flows).
        timeout: The timeout, in seconds.
    """

    def __init__(self, trace_id: str | None, timeout: float | None) -> None:
        what = "a result" if trace_id is None else f"a result of trace {trace_id!r}"
        super().__init__(f"no {what} within {timeout}s")
        self.trace_id = trace_id
        self.timeout = timeout


class TenantMismatch(PenguiFlowError, PermissionError):
    """A tenant used a trace id that another tenant's trace holds.

    A trace is bound to the tenant of the envelope that started it while the
    trace is in flight: another tenant's ``emit`` with that id, and ``fetch``,
    ``cancel`` or ``load_history`` with ``tenant=`` naming another tenant,
    are refused.

    Attributes:
        trace_id: The trace.
        tenant: The tenant that was refused.
    """

    def __init__(self, trace_id: str, tenant: str) -> None:
        super().__init__(
            f"trace {trace_id!r} belongs to another tenant than {tenant!r}; a tenant can only "
            "use its own traces (pick a new trace id)"
        )
        self.trace_id = trace_id
        self.tenant = tenant


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    return repr(value)
