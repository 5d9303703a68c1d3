"""Middlewares: observers of the FlowEvent stream, and a structured-logging one."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, runtime_checkable

from penguiflow.events import FlowEvent
from penguiflow.logging import DEFAULT_REDACT_KEYS, redact, resolve_level

__all__ = ["FAILURE_EVENTS", "Middleware", "log_flow_events"]

FAILURE_EVENTS: frozenset[str] = frozenset({"node_error", "node_timeout", "node_failed"})
"""Event types `log_flow_events` logs at ``error_level``."""


@runtime_checkable
class Middleware(Protocol):
    """Anything callable with a `FlowEvent`; may be sync or async.

    A middleware that raises is logged and skipped; it never stops the flow.
    """

    def __call__(self, event: FlowEvent) -> Awaitable[None] | None: ...


def log_flow_events(
    logger: logging.Logger | None = None,
    *,
    level: int | str = logging.INFO,
    error_level: int | str = logging.ERROR,
    latency_callback: Callable[[str, float, FlowEvent], None] | None = None,
    redact_keys: Iterable[str] = DEFAULT_REDACT_KEYS,
) -> Middleware:
    """Return a middleware that logs every event as structured ``extra`` fields.

    The log message is the event type; the fields of ``event.to_payload()``
    are attached as ``extra`` (pair it with `penguiflow.logging.JsonFormatter`
    or ``configure_logging`` to get one JSON object per event).

    Args:
        logger: Where to log; defaults to the ``penguiflow.flow`` logger.
        level: Level (number or name) for ordinary events.
        error_level: Level for ``node_error``, ``node_timeout`` and ``node_failed``.
        latency_callback: Called with ``(node_name, latency_ms, event)`` for every
            event that carries a latency; its failures are logged, not raised.
        redact_keys: Values under these keys (at any depth of the payload,
            including ``extra``) are replaced by ``"[REDACTED]"``; see
            `penguiflow.logging.redact`. ``()`` disables redaction.

    Raises:
        ValueError: Unknown level name.
        TypeError: ``latency_callback`` is not callable.

    Example:
        >>> flow = create(a.to(b), middlewares=[log_flow_events()])  # doctest: +SKIP
    """
    target = logger or logging.getLogger("penguiflow.flow")
    ok_level = resolve_level(level)
    fail_level = resolve_level(error_level)
    if latency_callback is not None and not callable(latency_callback):
        raise TypeError(
            f"latency_callback must be callable(node_name, latency_ms, event); "
            f"got {type(latency_callback).__name__}"
        )
    secrets = tuple(redact_keys)

    async def _log(event: FlowEvent) -> None:
        lvl = fail_level if event.event_type in FAILURE_EVENTS else ok_level
        if target.isEnabledFor(lvl):
            payload = event.to_payload()
            target.log(
                lvl, event.event_type, extra=redact(payload, secrets) if secrets else payload
            )
        if latency_callback is not None and event.latency_ms is not None:
            try:
                latency_callback(event.node_name or "", event.latency_ms, event)
            except Exception:
                target.exception("latency_callback failed for %s", event.event_type)

    return _log
