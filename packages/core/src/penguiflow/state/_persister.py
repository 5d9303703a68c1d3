"""Persisting a flow's events to its StateStore, with a configurable policy when the store lags.

Design notes. The persister is an ordinary middleware of the flow's event hub,
so it runs in its own task and a slow store never sits inside a node call.
What happens when the store cannot keep up is the policy:

* ``"drop"`` (default): the flow never waits; events beyond the hub's buffer
  are dropped and counted (`PenguiFlow.dropped_events`), with a warning.
* ``"block"``: once `BLOCK_BACKLOG` events are waiting for the store, every
  delivery of a message waits until the backlog is below it again — the flow
  runs at the store's pace and no event is dropped.

A write that fails (store down, timeout) is never silent either way: it is
counted (`PenguiFlow.state_store_errors`), logged once per exception type and
reported as a ``state_store_error`` event to the other middlewares. Each write
is bounded by `WRITE_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from penguiflow._kernel.runtime import FlowRuntime
from penguiflow.events import FlowEvent
from penguiflow.state.base import StateStore, StoredEvent

__all__ = [
    "BLOCK_BACKLOG",
    "WRITE_TIMEOUT_S",
    "EventPersister",
    "StatePolicy",
    "attach_persister",
    "block_gate",
    "check_store",
    "load_flushed",
]

logger: logging.Logger = logging.getLogger("penguiflow.state")

StatePolicy = Literal["drop", "block"]

BLOCK_BACKLOG = 1_000
"""Events waiting for the store before deliveries wait (policy ``"block"``)."""

WRITE_TIMEOUT_S = 5.0
"""Upper bound of one ``save_event`` call."""

_OWN_EVENT = "state_store_error"


class EventPersister:
    """Middleware that writes every `FlowEvent` to a `StateStore` as a `StoredEvent`."""

    __slots__ = ("_report", "errors", "policy", "reported", "store")

    def __init__(
        self,
        store: StateStore,
        policy: StatePolicy,
        report: Callable[[str, dict[str, Any]], None],
    ) -> None:
        self.store = store
        self.policy = policy
        self.errors = 0
        self.reported: set[type[BaseException]] = set()
        self._report = report

    async def __call__(self, event: FlowEvent) -> None:
        if event.event_type == _OWN_EVENT:
            return  # a failing store must not feed on its own failure reports
        stored = StoredEvent.from_flow_event(event, tenant=event.tenant)
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await self.store.save_event(stored)
        except Exception as exc:
            self.errors += 1
            if type(exc) not in self.reported:
                self.reported.add(type(exc))
                logger.error(
                    "state store %r failed to save a %s event of trace %r (%s); events keep "
                    "flowing, failures are counted in flow.state_store_errors",
                    self.store,
                    event.event_type,
                    event.trace_id,
                    type(exc).__name__,
                    exc_info=exc,
                )
            self._report(
                event.trace_id or "",
                {
                    "error": f"{type(exc).__name__}: {exc}",
                    "lost_event": event.event_type,
                    "errors": self.errors,
                },
            )


def check_store(store: Any) -> StateStore:
    """Return ``store`` if it implements the `StateStore` protocol, else raise ``TypeError``."""
    missing = [
        name
        for name in ("save_event", "load_history", "save_remote_binding", "close")
        if not callable(getattr(store, name, None))
    ]
    if missing:
        raise TypeError(
            f"state_store must implement penguiflow.state.StateStore; {type(store).__name__} lacks "
            f"{missing}. Open one with `await penguiflow.state.open_store(url)`."
        )
    return store  # type: ignore[no-any-return]


def block_gate(hub: Any, persister: EventPersister) -> Callable[[], Awaitable[None]]:
    """Return the wait that deliveries perform under the ``"block"`` policy."""

    async def gate() -> None:
        if hub.backlog(persister) >= BLOCK_BACKLOG:
            await hub.wait_backlog_below(persister, BLOCK_BACKLOG)

    return gate


async def load_flushed(
    hub: Any,
    persister: EventPersister,
    trace_id: str,
    tenant: str | None,
    timeout: float | None,  # noqa: ASYNC109 - the public load_history's bound, passed on
) -> list[StoredEvent]:
    """Wait (at most ``timeout`` s) until the persister saved what it was given, then load.

    Only the persister is waited for, never the flow's other middlewares.

    Raises:
        TimeoutError: The store did not save the pending events in time.
    """
    try:
        async with asyncio.timeout(timeout):
            await hub.drain(persister)
    except TimeoutError:
        raise TimeoutError(
            f"load_history: the state store did not save the pending events of the flow "
            f"within {timeout}s (is it reachable?)"
        ) from None
    return await persister.store.load_history(trace_id, tenant=tenant)


def attach_persister(runtime: FlowRuntime, store: object, policy: StatePolicy) -> EventPersister:
    """Subscribe a persister of ``store`` to ``runtime``'s events, under ``policy``.

    Raises:
        TypeError: ``store`` is not a StateStore.
    """

    def report(trace_id: str, extra: dict[str, Any]) -> None:
        runtime.emit_event("state_store_error", None, trace_id or None, extra=extra)

    persister = EventPersister(check_store(store), policy, report)
    runtime.hub.add(persister)
    if policy == "block":
        runtime.gate = block_gate(runtime.hub, persister)
    return persister
