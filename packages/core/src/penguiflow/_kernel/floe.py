"""Floes: the bounded FIFO edges of a flow, and the inbox a consumer reads them through.

Design notes. A node may have many incoming floes, but its worker must wait on
one thing only, or every hop would pay for ``asyncio.wait`` over several
queues. So each consumer (a node, or Rookery) owns an `Inbox` that
knows its floes; a put appends to the floe's deque and wakes one matching
waiter of the inbox. Waiters may filter by source floes and by trace id
(Rookery's trace-scoped fetch); a woken waiter rescans, so a wake-up that
loses a race costs a rescan, never an item. Scans are bounded by the floes'
``maxsize``. Producers that find a floe full wait on a future that is
resolved when an item leaves that floe.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from penguiflow.errors import PenguiFlowError
from penguiflow.graph import Endpoint
from penguiflow.node import Node

__all__ = ["EMPTY", "Floe", "FloeClosed", "Inbox"]


class FloeClosed(PenguiFlowError, RuntimeError):
    """The flow owning the floe was stopped; nothing more can be put or taken."""


class Floe:
    """A bounded FIFO queue carrying messages from one source to one target.

    ``maxsize <= 0`` means unbounded. Items are delivered in the order they
    were put. A producer that finds the floe full waits (backpressure) until
    a consumer takes an item.

    Attributes:
        source: The producing node, or the OpenSea endpoint.
        target: The consuming node, or the Rookery endpoint.
        maxsize: Capacity of the floe.
    """

    __slots__ = ("_inbox", "_items", "_putters", "maxsize", "source", "target")

    def __init__(
        self, source: Node | Endpoint, target: Node | Endpoint, maxsize: int, inbox: Inbox
    ) -> None:
        self.source: Node | Endpoint = source
        self.target: Node | Endpoint = target
        self.maxsize: int = maxsize
        self._items: deque[Any] = deque()
        self._putters: deque[asyncio.Future[None]] = deque()
        self._inbox = inbox
        inbox.floes.append(self)

    def __repr__(self) -> str:
        src = getattr(self.source, "name", self.source)
        dst = getattr(self.target, "name", self.target)
        return f"Floe({src} -> {dst}, {len(self._items)}/{self.maxsize})"

    def qsize(self) -> int:
        """Return the number of queued items."""
        return len(self._items)

    def empty(self) -> bool:
        """Return ``True`` if nothing is queued."""
        return not self._items

    def full(self) -> bool:
        """Return ``True`` if a put would have to wait."""
        return 0 < self.maxsize <= len(self._items)

    def put_nowait(self, item: Any) -> None:
        """Append ``item`` or raise ``asyncio.QueueFull`` if the floe is full.

        Raises:
            asyncio.QueueFull: The floe is at capacity.
            FloeClosed: The flow was stopped.
        """
        inbox = self._inbox
        if inbox.closed is not None:
            raise FloeClosed(inbox.closed)
        if 0 < self.maxsize <= len(self._items):
            raise asyncio.QueueFull(f"{self!r} is full")
        self._items.append(item)
        if inbox.waiters:
            inbox.notify(self, item)

    async def put(self, item: Any) -> None:
        """Append ``item``, waiting while the floe is full.

        Raises:
            FloeClosed: The flow was stopped (also while waiting).
        """
        while 0 < self.maxsize <= len(self._items):
            await self.wait_for_space()
        self.put_nowait(item)

    async def wait_for_space(self) -> None:
        """Wait until the floe may have room (callers re-check `full`).

        Raises:
            FloeClosed: The flow was stopped (also while waiting).
        """
        if self._inbox.closed is not None:
            raise FloeClosed(self._inbox.closed)
        putter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._putters.append(putter)
        try:
            await putter
        except BaseException:
            if putter in self._putters:
                self._putters.remove(putter)
            elif putter.done() and not putter.cancelled() and putter.exception() is None:
                # Woken for a free slot but leaving: pass the slot on.
                self.wake_putter()
            raise

    def wake_putter(self) -> None:
        """Let one waiting producer retry (called when an item left the floe)."""
        putters = self._putters
        while putters:
            putter = putters.popleft()
            if not putter.done():
                putter.set_result(None)
                return

    def wake_all_putters(self) -> None:
        """Let every waiting producer re-check (used when a trace is cancelled)."""
        putters, self._putters = self._putters, deque()
        for putter in putters:
            if not putter.done():
                putter.set_result(None)

    def remove_if(self, predicate: Callable[[Any], bool]) -> list[Any]:
        """Remove and return every queued item for which ``predicate`` is true.

        Order of the remaining items is kept; one producer is woken per freed slot.
        """
        kept: deque[Any] = deque()
        removed: list[Any] = []
        for item in self._items:
            (removed if predicate(item) else kept).append(item)
        if removed:
            self._items = kept
            for _ in removed:
                self.wake_putter()
        return removed

    def items(self) -> list[Any]:
        """Return a snapshot of the queued items, oldest first."""
        return list(self._items)

    def close(self, reason: str) -> None:
        """Fail every waiting producer with `FloeClosed`."""
        putters, self._putters = self._putters, deque()
        for putter in putters:
            if not putter.done():
                putter.set_exception(FloeClosed(reason))


class _Empty:
    __slots__ = ()

    def __repr__(self) -> str:
        return "EMPTY"


EMPTY: Any = _Empty()
"""Returned by `Inbox.try_take` when nothing matches."""

_Waiter = tuple["asyncio.Future[None]", "str | None", "Sequence[Floe] | None"]


def _trace_of(item: Any) -> str | None:
    return getattr(item, "trace_id", None)


class Inbox:
    """The consumer side of a set of floes: one wait covers all of them.

    Attributes:
        floes: The incoming floes, in the order they were created.
        closed: ``None`` while open, else the reason it was closed.
        waiters: Pending consumers as ``(future, trace_id, floes)`` filters.
    """

    __slots__ = ("_next", "closed", "floes", "waiters")

    def __init__(self) -> None:
        self.floes: list[Floe] = []
        self.waiters: list[_Waiter] = []
        self.closed: str | None = None
        self._next = 0

    def qsize(self) -> int:
        """Return the number of items queued across all incoming floes."""
        total = 0
        for floe in self.floes:
            total += len(floe._items)
        return total

    def notify(self, floe: Floe, item: Any) -> None:
        """Wake the first waiter whose filters accept ``item`` from ``floe``."""
        waiters = self.waiters
        for index, (future, trace_id, only) in enumerate(waiters):
            if future.done():
                continue
            if only is not None and floe not in only:
                continue
            if trace_id is not None and _trace_of(item) != trace_id:
                continue
            del waiters[index]
            future.set_result(None)
            return

    def _wake_all(self) -> None:
        waiters, self.waiters = self.waiters, []
        for future, _, _ in waiters:
            if not future.done():
                future.set_result(None)

    def take_nowait(self, only: Sequence[Floe] | None = None, trace_id: str | None = None) -> Any:
        """Remove and return the next matching item, or raise ``asyncio.QueueEmpty``.

        Floes are visited round-robin so one busy predecessor cannot starve
        the others; within a floe the oldest matching item wins.
        """
        item = self.try_take(only, trace_id)
        if item is EMPTY:
            raise asyncio.QueueEmpty
        return item

    def try_take(self, only: Sequence[Floe] | None = None, trace_id: str | None = None) -> Any:
        """Like `take_nowait` but return `EMPTY` instead of raising (hot path)."""
        floes = self.floes if only is None else only
        count = len(floes)
        if count == 1 and trace_id is None:  # one incoming floe: nothing to choose
            floe = floes[0]
            if not floe._items:
                return EMPTY
            item = floe._items.popleft()
            if floe._putters:
                floe.wake_putter()
            return item
        start = self._next if count > 1 else 0
        for step in range(count):
            floe = floes[(start + step) % count]
            items = floe._items
            if not items:
                continue
            if trace_id is None:
                item = items.popleft()
            else:
                for index, candidate in enumerate(items):
                    if _trace_of(candidate) == trace_id:
                        item = candidate
                        del items[index]
                        break
                else:
                    continue
            if floe._putters:
                floe.wake_putter()
            if count > 1:
                self._next = (start + step + 1) % count
            return item
        return EMPTY

    def try_take_if(self, accept: Callable[[Any], bool]) -> Any:
        """Remove and return the oldest item ``accept`` takes, or `EMPTY`.

        Floes are visited round-robin as in `try_take`; items ``accept``
        refuses keep their place.
        """
        floes = self.floes
        count = len(floes)
        start = self._next if count > 1 else 0
        for step in range(count):
            floe = floes[(start + step) % count]
            items = floe._items
            for index, candidate in enumerate(items):
                if accept(candidate):
                    del items[index]
                    if floe._putters:
                        floe.wake_putter()
                    if count > 1:
                        self._next = (start + step + 1) % count
                    return candidate
        return EMPTY

    async def take(self, only: Sequence[Floe] | None = None, trace_id: str | None = None) -> Any:
        """Remove and return the next matching item, waiting for one if needed.

        Raises:
            FloeClosed: The flow was stopped (also while waiting).
        """
        while True:
            if self.closed is not None:
                raise FloeClosed(self.closed)
            item = self.try_take(only, trace_id)
            if item is not EMPTY:
                return item
            await self.wait(only, trace_id)

    async def take_if(self, accept: Callable[[Any], bool]) -> Any:
        """Like `take`, but only an item ``accept`` takes (see `try_take_if`).

        Raises:
            FloeClosed: The flow was stopped (also while waiting).
        """
        while True:
            if self.closed is not None:
                raise FloeClosed(self.closed)
            item = self.try_take_if(accept)
            if item is not EMPTY:
                return item
            await self.wait()

    async def wait(
        self,
        only: Sequence[Floe] | None = None,
        trace_id: str | None = None,
        future: asyncio.Future[None] | None = None,
    ) -> None:
        """Wait until an item matching the filters may have arrived; callers rescan.

        Args:
            only: Only items put on these floes wake the waiter.
            trace_id: Only items of this trace wake the waiter.
            future: Wait on this future, which others may resolve too (a
                trace that went idle); a new one by default.

        Raises:
            FloeClosed: The flow was stopped (also while waiting).
        """
        if self.closed is not None:
            raise FloeClosed(self.closed)
        shared = future is not None
        if future is None:
            future = asyncio.get_running_loop().create_future()
        waiter: _Waiter = (future, trace_id, only)
        self.waiters.append(waiter)
        try:
            await future
        except BaseException:
            if waiter in self.waiters:
                self.waiters.remove(waiter)
            elif future.done() and not future.cancelled() and future.exception() is None:
                # Woken for an item but leaving: let the others rescan.
                self._wake_all()
            raise
        if shared and waiter in self.waiters:
            self.waiters.remove(waiter)  # resolved by someone else, not by an item

    def wake_one(self) -> None:
        """Let the oldest waiter rescan (an item it skipped may be takeable now)."""
        waiters = self.waiters
        while waiters:
            future = waiters.pop(0)[0]
            if not future.done():
                future.set_result(None)
                return

    def close(self, reason: str) -> None:
        """Close the inbox and its floes; every waiter fails with `FloeClosed`."""
        if self.closed is not None:
            return
        self.closed = reason
        waiters, self.waiters = self.waiters, []
        for future, _, _ in waiters:
            if not future.done():
                future.set_exception(FloeClosed(reason))
        for floe in self.floes:
            floe.close(reason)
