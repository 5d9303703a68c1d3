"""Delivering FlowEvents to middlewares without letting a middleware stall or break the flow.

Design notes. Each middleware gets its own bounded buffer and a pump task
(started with the flow). The runtime only does ``put_nowait`` per event, so a
slow middleware delays nobody: its own buffer fills, and once full, further
events for it are dropped, counted and reported once. A middleware that
raises is logged once per exception type and keeps receiving events. Events
reach each middleware in the order they were emitted. ``drain`` waits until
every queued event was handled (``stop()`` drains, bounded); the runtime
checks ``listeners`` before building an event, so a flow without
middlewares never constructs `FlowEvent` objects.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from penguiflow.events import FlowEvent

__all__ = ["EVENT_QUEUE_MAXSIZE", "EventHub", "MiddlewareFunc"]

logger: logging.Logger = logging.getLogger("penguiflow.events")

MiddlewareFunc = Callable[[FlowEvent], Awaitable[None] | None]

EVENT_QUEUE_MAXSIZE = 10_000
"""Events a single middleware may have waiting before new ones are dropped for it."""


class _Subscriber:
    __slots__ = (
        "buffer",
        "busy",
        "dropped",
        "idle_waiters",
        "middleware",
        "reported",
        "room_waiters",
        "task",
        "wakeup",
    )

    def __init__(self, middleware: MiddlewareFunc) -> None:
        self.middleware = middleware
        self.buffer: deque[FlowEvent] | None = None  # None while the flow is not running
        self.task: asyncio.Task[None] | None = None
        self.wakeup: asyncio.Future[None] | None = None
        self.busy = False
        self.idle_waiters: list[asyncio.Future[None]] = []
        self.room_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.dropped = 0
        self.reported: set[type[BaseException]] = set()

    def wake_idle_waiters(self) -> None:
        waiters, self.idle_waiters = self.idle_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def wake_room_waiters(self, force: bool = False) -> None:
        size = len(self.buffer or ())
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for limit, waiter in self.room_waiters:
            if force or size < limit:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                keep.append((limit, waiter))
        self.room_waiters = keep


class EventHub:
    """Holds a flow's middlewares and feeds each one from its own bounded buffer."""

    __slots__ = ("_started", "_subscribers", "listeners")

    def __init__(self, middlewares: tuple[Any, ...] | list[Any] = ()) -> None:
        self.listeners: list[MiddlewareFunc] = []
        self._subscribers: list[_Subscriber] = []
        self._started = False
        for middleware in middlewares:
            self.add(middleware)

    @property
    def dropped(self) -> int:
        """Events dropped because a middleware fell too far behind."""
        return sum(sub.dropped for sub in self._subscribers)

    def add(self, middleware: Any) -> None:
        """Register ``middleware`` (a sync or async callable taking a `FlowEvent`).

        Raises:
            TypeError: If ``middleware`` is not callable.
        """
        if not callable(middleware):
            raise TypeError(
                f"middlewares must be callables taking a FlowEvent; got {type(middleware).__name__}"
            )
        subscriber = _Subscriber(middleware)
        self._subscribers.append(subscriber)
        self.listeners.append(middleware)
        if self._started:
            self._start(subscriber)

    def backlog(self, middleware: Any) -> int:
        """Events queued for ``middleware`` and not handled yet (0 when not running)."""
        for subscriber in self._subscribers:
            if subscriber.middleware is middleware:
                return len(subscriber.buffer or ())
        raise KeyError(f"{middleware!r} is not a registered middleware")

    async def wait_backlog_below(self, middleware: Any, limit: int) -> None:
        """Wait until ``middleware`` has fewer than ``limit`` events queued."""
        for subscriber in self._subscribers:
            if subscriber.middleware is middleware:
                while subscriber.buffer is not None and len(subscriber.buffer) >= limit:
                    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                    subscriber.room_waiters.append((limit, waiter))
                    await waiter
                return
        raise KeyError(f"{middleware!r} is not a registered middleware")

    def start(self) -> None:
        """Start one pump task per middleware (called by ``flow.run()``)."""
        self._started = True
        for subscriber in self._subscribers:
            self._start(subscriber)

    def _start(self, subscriber: _Subscriber) -> None:
        subscriber.buffer = deque()
        subscriber.task = asyncio.get_running_loop().create_task(
            self._pump(subscriber), name=f"penguiflow-events:{subscriber.middleware!r}"
        )

    def dispatch(self, event: FlowEvent) -> None:
        """Queue ``event`` for every middleware; never waits."""
        for subscriber in self._subscribers:
            buffer = subscriber.buffer
            if buffer is None:
                continue  # the flow is not running
            if len(buffer) >= EVENT_QUEUE_MAXSIZE:
                subscriber.dropped += 1
                if subscriber.dropped == 1:
                    logger.warning(
                        "middleware %r is %d events behind; dropping events for it until it "
                        "catches up (see EventHub.dropped)",
                        subscriber.middleware,
                        EVENT_QUEUE_MAXSIZE,
                    )
                continue
            buffer.append(event)
            wakeup = subscriber.wakeup
            if wakeup is not None:
                subscriber.wakeup = None
                if not wakeup.done():
                    wakeup.set_result(None)

    async def _pump(self, subscriber: _Subscriber) -> None:
        buffer = subscriber.buffer
        assert buffer is not None
        middleware = subscriber.middleware
        loop = asyncio.get_running_loop()
        while True:
            if not buffer:
                subscriber.busy = False
                subscriber.wake_idle_waiters()
                wakeup = subscriber.wakeup = loop.create_future()
                await wakeup
                continue
            subscriber.busy = True
            event = buffer.popleft()
            if subscriber.room_waiters:
                subscriber.wake_room_waiters()
            try:
                outcome = middleware(event)
                if outcome is not None and inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:
                _report(subscriber, event, exc)

    async def drain(self, only: Any = None) -> None:
        """Wait until every event queued so far was handled by its middleware.

        Args:
            only: Wait for this middleware alone (others may be stuck).
        """
        loop = asyncio.get_running_loop()
        for subscriber in self._subscribers:
            if only is not None and subscriber.middleware is not only:
                continue
            if subscriber.task is None or subscriber.task.done():
                continue
            if subscriber.buffer or subscriber.busy:
                waiter: asyncio.Future[None] = loop.create_future()
                subscriber.idle_waiters.append(waiter)
                await waiter

    async def close(self, grace_s: float) -> None:
        """Drain for at most ``grace_s`` seconds, then stop the pumps."""
        try:
            async with asyncio.timeout(grace_s):
                await self.drain()
        except TimeoutError:
            logger.warning(
                "middlewares did not finish their queued events within %.1fs; the rest "
                "is discarded",
                grace_s,
            )
        finally:
            tasks = [sub.task for sub in self._subscribers if sub.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for subscriber in self._subscribers:
                subscriber.task = None
                subscriber.buffer = None
                subscriber.wakeup = None
                subscriber.busy = False
                subscriber.wake_idle_waiters()
                subscriber.wake_room_waiters(force=True)
            self._started = False


def _report(subscriber: _Subscriber, event: FlowEvent, exc: Exception) -> None:
    if type(exc) in subscriber.reported:
        return
    subscriber.reported.add(type(exc))
    logger.error(
        "middleware %r failed on %s event; it keeps receiving events, "
        "further %s errors from it are not logged",
        subscriber.middleware,
        event.event_type,
        type(exc).__name__,
        exc_info=exc,
    )
