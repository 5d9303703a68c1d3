"""Per-trace bookkeeping: how many messages of each trace are queued or in process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

__all__ = ["TraceState", "TraceTable"]

logger: logging.Logger = logging.getLogger("penguiflow.core")


class TraceState:
    """Live state of one trace.

    Attributes:
        count: Messages of the trace queued in any floe or being processed.
        cancelled: ``cancel`` was called and has not finished draining.
        finalized: A runtime-generated final result (deadline) was already sent.
        drained: Set when ``count`` reaches zero, if someone is waiting for that.
        on_idle: Callbacks run with the trace id when ``count`` reaches zero.
        tenant: Tenant from the envelope that started the trace, if known.
    """

    __slots__ = ("cancelled", "count", "drained", "finalized", "on_idle", "tenant")

    def __init__(self) -> None:
        self.count: int = 0
        self.cancelled: bool = False
        self.finalized: bool = False
        self.drained: asyncio.Event | None = None
        self.on_idle: list[Callable[[str], None]] | None = None
        self.tenant: str | None = None


class TraceTable:
    """Counts outstanding envelopes per trace id.

    A trace is *known* while it has outstanding messages; its entry is freed
    as soon as the count drops to zero, so memory follows the number of
    traces in flight, not the number ever seen.
    """

    __slots__ = ("_states",)

    def __init__(self) -> None:
        self._states: dict[str, TraceState] = {}

    def get(self, trace_id: str) -> TraceState | None:
        """Return the state of ``trace_id`` if it is in flight."""
        return self._states.get(trace_id)

    def add(self, trace_id: str, count: int = 1) -> TraceState:
        """Record ``count`` more outstanding messages for ``trace_id``."""
        state = self._states.get(trace_id)
        if state is None:
            state = self._states[trace_id] = TraceState()
        state.count += count
        return state

    def done(self, trace_id: str, count: int = 1) -> None:
        """Record that ``count`` messages of ``trace_id`` left the flow."""
        state = self._states.get(trace_id)
        if state is None:
            return
        state.count -= count
        if state.count <= 0:
            del self._states[trace_id]
            _finish(trace_id, state)

    def idle_event(self, trace_id: str) -> asyncio.Event:
        """Return an event set once nothing of ``trace_id`` is left in the flow."""
        state = self._states.get(trace_id)
        if state is None:
            idle = asyncio.Event()
            idle.set()
            return idle
        if state.drained is None:
            state.drained = asyncio.Event()
        return state.drained

    def add_idle_callback(self, trace_id: str, callback: Callable[[str], None]) -> None:
        """Run ``callback(trace_id)`` once nothing of the trace is left in the flow.

        Runs at once if the trace is not in flight.
        """
        state = self._states.get(trace_id)
        if state is None:
            callback(trace_id)
            return
        if state.on_idle is None:
            state.on_idle = []
        state.on_idle.append(callback)

    def release_all(self) -> None:
        """Forget every trace, waking anyone waiting for a cancel to drain."""
        states, self._states = self._states, {}
        for trace_id, state in states.items():
            _finish(trace_id, state)

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, trace_id: object) -> bool:
        return trace_id in self._states


def _finish(trace_id: str, state: TraceState) -> None:
    if state.drained is not None:
        state.drained.set()
    for callback in state.on_idle or ():
        try:
            callback(trace_id)
        except Exception:
            logger.exception("idle callback %r for trace %r failed", callback, trace_id)
