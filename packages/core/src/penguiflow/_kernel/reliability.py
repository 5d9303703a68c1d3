"""Calling a node under its policy: validation, per-attempt timeout, retries with backoff."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError

from penguiflow._kernel.context import Context
from penguiflow._kernel.runtime import FlowRuntime
from penguiflow.errors import FlowError, FlowErrorCode, TraceCancelled
from penguiflow.events import FlowEventType
from penguiflow.node import Node
from penguiflow.types import Message

__all__ = ["FAILED", "PolicyTarget", "call_node", "report_exception"]


class PolicyTarget(Protocol):
    """The worker side of a call under policy: the node, its context and its validators."""

    node: Node
    runtime: FlowRuntime
    ctx: Context
    unwrap: bool
    validate_in: bool
    validate_out: bool
    in_adapter: TypeAdapter[Any] | None
    out_adapter: TypeAdapter[Any] | None


class _Failed:
    __slots__ = ()

    def __repr__(self) -> str:
        return "FAILED"


FAILED: Any = _Failed()
"""Returned by `call_node` when the failure was already reported."""


async def call_node(worker: PolicyTarget, arg: Any, trace_id: str | None) -> Any:
    """Run ``worker``'s node on ``arg`` with validation, timeout and retries.

    Returns the (validated) result, or `FAILED` after the failure has
    been reported (event, Rookery or log). Cancellation always propagates.
    """
    node = worker.node
    runtime = worker.runtime
    if worker.validate_in:
        assert worker.in_adapter is not None  # set whenever validate_in is
        try:
            arg = worker.in_adapter.validate_python(arg)
        except ValidationError as exc:
            await _report_validation(worker, exc, trace_id, "input")
            return FAILED
    policy = node.policy
    attempt = 0
    while True:
        listening = bool(runtime.hub.listeners)
        if listening:
            runtime.emit_event("node_start", node, trace_id, attempt=attempt)
        started = time.perf_counter()
        scope: asyncio.Timeout | None = None
        try:
            if policy.timeout_s is None:
                result = await node.func(arg, worker.ctx)
            else:
                scope = asyncio.timeout(policy.timeout_s)
                async with scope:
                    result = await node.func(arg, worker.ctx)
        except TraceCancelled:
            raise  # cancellation, not a failure: never retried or reported
        except TimeoutError as exc:
            # Only our own deadline is a timeout; a TimeoutError from user code is an exception.
            expired = scope is not None and scope.expired()
            code = FlowErrorCode.NODE_TIMEOUT if expired else FlowErrorCode.NODE_EXCEPTION
            failure: Exception = exc
        except Exception as exc:
            code = FlowErrorCode.NODE_EXCEPTION
            failure = exc
        else:
            if listening:
                latency = (time.perf_counter() - started) * 1000.0
                runtime.emit_event(
                    "node_success", node, trace_id, attempt=attempt, latency_ms=latency
                )
            break
        latency = (time.perf_counter() - started) * 1000.0
        if runtime.hub.listeners:
            event: FlowEventType = (
                "node_timeout" if code is FlowErrorCode.NODE_TIMEOUT else "node_error"
            )
            runtime.emit_event(
                event,
                node,
                trace_id,
                attempt=attempt,
                latency_ms=latency,
                extra={"error": _describe(failure), "exception_type": type(failure).__name__},
            )
        if attempt >= policy.max_retries:
            await runtime.report_failure(_node_error(worker, code, failure, trace_id, attempt + 1))
            return FAILED
        delay = policy.backoff_delay(attempt)
        if runtime.hub.listeners:
            runtime.emit_event(
                "node_retry",
                node,
                trace_id,
                attempt=attempt + 1,
                extra={"delay_s": delay, "error": _describe(failure)},
            )
        if delay > 0:
            await asyncio.sleep(delay)
        attempt += 1
    if worker.validate_out and result is not None:
        out_adapter = worker.out_adapter
        assert out_adapter is not None  # set whenever validate_out is
        try:
            if isinstance(result, Message) and worker.unwrap:
                result = result.model_copy(
                    update={"payload": out_adapter.validate_python(result.payload)}
                )
            else:
                result = out_adapter.validate_python(result)
        except ValidationError as exc:
            await _report_validation(worker, exc, trace_id, "output")
            return FAILED
    return result


async def report_exception(worker: PolicyTarget, exc: Exception, trace_id: str | None) -> None:
    """Report a failure of a node called without policy features (one attempt)."""
    runtime = worker.runtime
    if runtime.hub.listeners:
        runtime.emit_event(
            "node_error",
            worker.node,
            trace_id,
            extra={"error": _describe(exc), "exception_type": type(exc).__name__},
        )
    await runtime.report_failure(
        _node_error(worker, FlowErrorCode.NODE_EXCEPTION, exc, trace_id, 1)
    )


def _node_error(
    worker: PolicyTarget, code: FlowErrorCode, exc: Exception, trace_id: str | None, attempts: int
) -> FlowError:
    node = worker.node
    if code is FlowErrorCode.NODE_TIMEOUT:
        detail = f"timed out after {node.policy.timeout_s}s"
    else:
        detail = f"raised {type(exc).__name__}: {exc}"
    return FlowError(
        trace_id=trace_id,
        node_name=node.name,
        node_id=node.node_id,
        code=code,
        message=(
            f"node {node.name!r} {detail} (attempt {attempts} of {node.policy.max_retries + 1})"
        ),
        original_exc=exc,
        metadata={"attempts": attempts},
    )


async def _report_validation(
    worker: PolicyTarget, exc: ValidationError, trace_id: str | None, side: str
) -> None:
    node = worker.node
    fields = [
        {"field": ".".join(str(part) for part in error["loc"]) or "<root>", "error": error["msg"]}
        for error in exc.errors(include_url=False)
    ]
    summary = "; ".join(f"{item['field']}: {item['error']}" for item in fields)
    error = FlowError(
        trace_id=trace_id,
        node_name=node.name,
        node_id=node.node_id,
        code=FlowErrorCode.VALIDATION_ERROR,
        message=f"node {node.name!r} {side} validation failed: {summary}",
        original_exc=exc,
        metadata={"side": side, "fields": fields, "attempts": 1},
    )
    await worker.runtime.report_failure(error)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
