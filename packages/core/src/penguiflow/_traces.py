"""Per-trace bookkeeping: how many messages of each trace are queued or in process."""

from __future__ import annotations

import asyncio

__all__ = ["TraceState", "TraceTable"]


class TraceState:
    """Live state of one trace.

    Attributes:
        count: Messages of the trace queued in any floe or being processed.
        cancelled: ``cancel`` was called and has not finished draining.
        finalized: A runtime-generated final result (deadline) was already sent.
        drained: Set when ``count`` reaches zero, if someone is waiting for that.
    """

    __slots__ = ("cancelled", "count", "drained", "finalized")

    def __init__(self) -> None:
        self.count = 0
        self.cancelled = False
        self.finalized = False
        self.drained: asyncio.Event | None = None


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
            if state.drained is not None:
                state.drained.set()

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

    def release_all(self) -> None:
        """Forget every trace, waking anyone waiting for a cancel to drain."""
        states, self._states = self._states, {}
        for state in states.values():
            if state.drained is not None:
                state.drained.set()

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, trace_id: object) -> bool:
        return trace_id in self._states
