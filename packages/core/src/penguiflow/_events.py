"""Dispatching FlowEvents to middlewares without letting a middleware break the flow."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from penguiflow.metrics import FlowEvent

__all__ = ["EventHub", "MiddlewareFunc"]

logger = logging.getLogger("penguiflow.events")

MiddlewareFunc = Callable[[FlowEvent], Awaitable[None] | None]


class EventHub:
    """Holds a flow's middlewares and delivers events to each in turn.

    The runtime checks `listeners` before building an event, so a flow
    without middlewares never constructs `FlowEvent` objects. A
    middleware that raises is logged (once per middleware and exception type)
    and skipped; the flow carries on.
    """

    __slots__ = ("_reported", "listeners")

    def __init__(self, middlewares: tuple[Any, ...] | list[Any] = ()) -> None:
        self.listeners: list[MiddlewareFunc] = []
        self._reported: set[tuple[int, type[BaseException]]] = set()
        for middleware in middlewares:
            self.add(middleware)

    def add(self, middleware: Any) -> None:
        """Register ``middleware`` (a callable taking a `FlowEvent`).

        Raises:
            TypeError: If ``middleware`` is not callable.
        """
        if not callable(middleware):
            raise TypeError(
                f"middlewares must be callables taking a FlowEvent; got {type(middleware).__name__}"
            )
        self.listeners.append(middleware)

    async def dispatch(self, event: FlowEvent) -> None:
        """Deliver ``event`` to every middleware, isolating their failures."""
        for middleware in self.listeners:
            try:
                outcome = middleware(event)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:
                key = (id(middleware), type(exc))
                if key not in self._reported:
                    self._reported.add(key)
                    logger.exception(
                        "middleware %r failed on %s event; it keeps receiving events, "
                        "further %s errors from it are not logged",
                        middleware,
                        event.event_type,
                        type(exc).__name__,
                    )
