"""Per-trace bookkeeping: how many messages of each trace are queued or in process."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

__all__ = ["RECENTLY_ENDED", "TraceState", "TraceTable"]

logger: logging.Logger = logging.getLogger("penguiflow.core")

RECENTLY_ENDED = 4096
"""Ended trace ids remembered, so a fetch can tell "over" from "not started yet"."""


class TraceState:
    """Live state of one trace.

    Attributes:
        count: Messages of the trace queued in any floe or being processed.
        cancelled: ``cancel`` was called and has not finished draining.
        finalized: A runtime-generated final result (deadline) was already sent.
        drained: Set when ``count`` reaches zero, if someone is waiting for that.
        on_idle: Callbacks run with the trace id when ``count`` reaches zero.
        tenant: Tenant from the envelope that started the trace, if known.
        watchers: Futures resolved when ``count`` reaches zero (fetches waiting on the trace).
    """

    __slots__ = ("cancelled", "count", "drained", "finalized", "on_idle", "tenant", "watchers")

    def __init__(self) -> None:
        self.count: int = 0
        self.cancelled: bool = False
        self.finalized: bool = False
        self.drained: asyncio.Event | None = None
        self.on_idle: list[Callable[[str], None]] | None = None
        self.tenant: str | None = None
        self.watchers: list[asyncio.Future[None]] | None = None


class TraceTable:
    """Counts outstanding envelopes per trace id.

    A trace is *known* while it has outstanding messages; its entry is freed
    as soon as the count drops to zero, so memory follows the number of
    traces in flight, not the number ever seen. The ids of the last
    `RECENTLY_ENDED` traces that ended are kept (a fixed cost) so that a fetch
    can tell a trace that is over from one that has not started yet.
    """

    __slots__ = ("_ended", "_ended_order", "_starting", "on_end", "states")

    def __init__(self, on_end: Callable[[str], None] | None = None) -> None:
        """``on_end(trace_id)`` runs whenever a trace leaves the table (before idle callbacks)."""
        self.on_end = on_end
        # Read directly by the per-hop paths (`FlowRuntime.deliver`, the worker).
        self.states: dict[str, TraceState] = {}
        self._ended: set[str] = set()
        self._ended_order: deque[str] = deque()
        # Futures of fetches waiting for a trace id that is not in flight yet.
        self._starting: dict[str, list[asyncio.Future[None]]] = {}

    def get(self, trace_id: str) -> TraceState | None:
        """Return the state of ``trace_id`` if it is in flight."""
        return self.states.get(trace_id)

    def add(self, trace_id: str, count: int = 1) -> TraceState:
        """Record ``count`` more outstanding messages for ``trace_id``."""
        state = self.states.get(trace_id)
        if state is None:
            state = self.states[trace_id] = TraceState()
            if self._ended:
                self._ended.discard(trace_id)  # an id used again starts a new trace
            if self._starting:
                _resolve(self._starting.pop(trace_id, None))
        state.count += count
        return state

    def done(self, trace_id: str, count: int = 1) -> None:
        """Record that ``count`` messages of ``trace_id`` left the flow."""
        state = self.states.get(trace_id)
        if state is None:
            return
        state.count -= count
        if state.count <= 0:
            self.end(trace_id, state)

    def end(self, trace_id: str, state: TraceState) -> None:
        """Forget ``trace_id`` whose count reached zero (`done`, or a caller that inlined it)."""
        if self.states.get(trace_id) is not state:
            return  # already forgotten (release_all)
        del self.states[trace_id]
        self._remember_ended(trace_id)
        if self.on_end is not None:
            self.on_end(trace_id)
        _finish(trace_id, state)

    def _remember_ended(self, trace_id: str) -> None:
        order = self._ended_order
        if len(order) >= RECENTLY_ENDED:
            self._ended.discard(order.popleft())
        order.append(trace_id)
        self._ended.add(trace_id)

    def ended(self, trace_id: str) -> bool:
        """Whether ``trace_id`` is not in flight but was recently (it is over)."""
        return trace_id in self._ended and trace_id not in self.states

    def watch(self, trace_id: str, future: asyncio.Future[None]) -> None:
        """Resolve ``future`` when the trace goes idle, or when it starts if not in flight."""
        state = self.states.get(trace_id)
        if state is None:
            self._starting.setdefault(trace_id, []).append(future)
            return
        if state.watchers is None:
            state.watchers = []
        state.watchers.append(future)

    def unwatch(self, trace_id: str, future: asyncio.Future[None]) -> None:
        """Forget a future given to `watch` (its waiter left)."""
        state = self.states.get(trace_id)
        if state is not None and state.watchers is not None and future in state.watchers:
            state.watchers.remove(future)
        starting = self._starting.get(trace_id)
        if starting is not None and future in starting:
            starting.remove(future)
            if not starting:
                del self._starting[trace_id]

    def idle_event(self, trace_id: str) -> asyncio.Event:
        """Return an event set once nothing of ``trace_id`` is left in the flow."""
        state = self.states.get(trace_id)
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
        state = self.states.get(trace_id)
        if state is None:
            callback(trace_id)
            return
        if state.on_idle is None:
            state.on_idle = []
        state.on_idle.append(callback)

    def release_all(self) -> None:
        """Forget every trace, waking anyone waiting for a cancel to drain."""
        states = dict(self.states)
        self.states.clear()  # the same dict: the runtime's hot paths hold it
        for trace_id, state in states.items():
            _finish(trace_id, state)
        starting, self._starting = self._starting, {}
        for futures in starting.values():
            _resolve(futures)

    def __len__(self) -> int:
        return len(self.states)

    def __contains__(self, trace_id: object) -> bool:
        return trace_id in self.states


def _resolve(futures: list[asyncio.Future[None]] | None) -> None:
    for future in futures or ():
        if not future.done():
            future.set_result(None)


def _finish(trace_id: str, state: TraceState) -> None:
    if state.drained is not None:
        state.drained.set()
    if state.watchers is not None:
        _resolve(state.watchers)
    for callback in state.on_idle or ():
        try:
            callback(trace_id)
        except Exception:
            logger.exception("idle callback %r for trace %r failed", callback, trace_id)
