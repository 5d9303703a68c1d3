"""`PlannerEvent`: what the planner reports while it works, and the callback plumbing."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EventCallback", "PlannerEvent", "PlannerEventType", "chain_callbacks", "emit"]

logger = logging.getLogger("penguiflow.planner")

PlannerEventType = str
"""Event types: ``step_start``, ``llm_call``, ``repair``, ``step_complete``, ``tool_error``,
``parallel_start``, ``parallel_complete``, ``stream_chunk``, ``pause``, ``resume``,
``reflection``, ``summarize``, ``constraint``, ``tools_filtered``, ``finish``."""

EventCallback = Callable[["PlannerEvent"], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class PlannerEvent:
    """One thing that happened during a planner run.

    Attributes:
        event_type: What happened (see `PlannerEventType`).
        ts: Wall-clock time, epoch seconds.
        trajectory_step: Index of the step it belongs to (0-based).
        thought: The LLM's thought for that step, when there is one.
        node_name: The tool involved, if any.
        latency_ms: Duration, for events that end something.
        token_estimate: Estimated prompt tokens, for ``llm_call``.
        error: Error text, for failures.
        extra: Event-specific details (stream text, scores, costs, ...).
    """

    event_type: PlannerEventType
    ts: float = field(default_factory=time.time)
    trajectory_step: int = 0
    thought: str | None = None
    node_name: str | None = None
    latency_ms: float | None = None
    token_estimate: int | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        """A JSON-safe dict of the event."""
        return {
            "event": self.event_type,
            "ts": self.ts,
            "trajectory_step": self.trajectory_step,
            "thought": self.thought,
            "node_name": self.node_name,
            "latency_ms": self.latency_ms,
            "token_estimate": self.token_estimate,
            "error": self.error,
            "extra": dict(self.extra),
        }


async def emit(callback: EventCallback | None, event: PlannerEvent) -> None:
    """Hand ``event`` to ``callback`` (sync or async); a failing callback is logged, not raised."""
    if callback is None:
        return
    try:
        outcome = callback(event)
        if inspect.isawaitable(outcome):
            await outcome
    except Exception:
        logger.exception("planner event callback failed on %s", event.event_type)


def chain_callbacks(*callbacks: EventCallback | None) -> EventCallback | None:
    """One callback handing each event to every given callback, in order.

    ``None`` entries are skipped; with one callback left it is returned as is,
    with none ``None``. Each callback is called as by `emit`, so one that
    fails is logged and the next still gets the event.

    Example:
        >>> both = chain_callbacks(log_event, None, record_event)  # doctest: +SKIP
    """
    present = [callback for callback in callbacks if callback is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]

    async def chained(event: PlannerEvent) -> None:
        for callback in present:
            await emit(callback, event)

    return chained
