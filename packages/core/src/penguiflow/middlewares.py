"""Middlewares: observers of the FlowEvent stream, and a structured-logging one."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from penguiflow.metrics import FlowEvent

__all__ = ["Middleware", "log_flow_events"]


@runtime_checkable
class Middleware(Protocol):
    """Anything callable with a `FlowEvent`; may be sync or async.

    A middleware that raises is logged and skipped; it never stops the flow.
    """

    def __call__(self, event: FlowEvent) -> Awaitable[None] | None: ...


def log_flow_events(
    logger: logging.Logger | None = None,
    *,
    level: int = logging.INFO,
    error_level: int = logging.ERROR,
    latency_callback: Callable[[str, float, FlowEvent], None] | None = None,
) -> Middleware:
    """Return a middleware that logs every event as structured ``extra`` fields.

    Args:
        logger: Where to log; defaults to the ``penguiflow.flow`` logger.
        level: Level for ordinary events.
        error_level: Level for ``node_error``, ``node_timeout`` and ``node_failed``.
        latency_callback: Called with ``(node_name, latency_ms, event)`` for every
            event that carries a latency; its failures are logged, not raised.
    """
    target = logger or logging.getLogger("penguiflow.flow")
    failing = {"node_error", "node_timeout", "node_failed"}

    async def _log(event: FlowEvent) -> None:
        lvl = error_level if event.event_type in failing else level
        if target.isEnabledFor(lvl):
            target.log(lvl, event.event_type, extra=event.to_payload())
        if latency_callback is not None and event.latency_ms is not None:
            try:
                latency_callback(event.node_name or "", event.latency_ms, event)
            except Exception:
                target.exception("latency_callback failed for %s", event.event_type)

    return _log
