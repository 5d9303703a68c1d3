"""Awaiting third-party driver calls so that a cancellation of the caller is never lost."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

__all__ = ["await_cancel_safe", "cancel_and_wait", "forget_outcome"]

_T = TypeVar("_T")


def forget_outcome(task: asyncio.Task[Any]) -> None:
    """Mark ``task``'s result or exception as retrieved (it was abandoned on purpose)."""
    if not task.cancelled():
        task.exception()


async def await_cancel_safe(call: Awaitable[_T]) -> _T:
    """Await ``call`` in a task of its own and return its result.

    Some drivers (redis-py 8.1 on Python 3.11, seen here) occasionally swallow a
    ``CancelledError`` that arrives in the middle of a command, so a cancelled
    caller would carry on as if nothing happened and ``asyncio.timeout`` around
    it could not fire. Waiting on a separate task with `asyncio.wait` never
    loses the caller's cancellation: the task is cancelled and abandoned, and
    the cancellation propagates.
    """
    task = asyncio.ensure_future(call)
    try:
        await asyncio.wait((task,))
    except asyncio.CancelledError:
        task.cancel()
        task.add_done_callback(forget_outcome)
        raise
    return task.result()


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it is done, without raising its outcome.

    Unlike `await_cancel_safe`, the caller keeps ``task`` and may still read
    what it delivered before the cancellation took effect.
    """
    if not task.done():
        task.cancel()
        await asyncio.wait({task})
