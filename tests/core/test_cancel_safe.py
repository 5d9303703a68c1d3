"""Driver calls awaited through await_cancel_safe never swallow the caller's cancellation;
cancel_and_wait stops a driver task and waits for it, leaving its outcome to the caller."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from penguiflow._drivers.cancel_safe import await_cancel_safe, cancel_and_wait


async def test_cancellation_reaches_the_caller_even_if_the_call_swallows_it(bounded):
    started = asyncio.Event()
    swallowed = asyncio.Event()

    async def rude_driver_call() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.set()  # like a driver that eats the cancellation and carries on
        return "carried on"

    caller = asyncio.create_task(await_cancel_safe(rude_driver_call()))
    await bounded(started.wait())
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await bounded(caller)
    await bounded(swallowed.wait())  # the abandoned call was still cancelled


async def test_result_and_errors_pass_through(bounded):
    async def ok() -> int:
        return 7

    async def fails() -> int:
        raise KeyError("boom")

    assert await bounded(await_cancel_safe(ok())) == 7
    with pytest.raises(KeyError, match="boom"):
        await bounded(await_cancel_safe(fails()))


async def test_cancel_and_wait_returns_only_once_the_task_has_finished(bounded):
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    cleaned_up = False

    async def driver_call() -> None:
        nonlocal cleaned_up
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            released = loop.create_future()  # the clean-up itself takes a turn of the loop
            loop.call_soon(released.set_result, None)
            await released
            cleaned_up = True

    task = asyncio.ensure_future(driver_call())
    await bounded(started.wait())
    await bounded(cancel_and_wait(task))  # the task's CancelledError is not raised here
    assert task.cancelled()
    assert cleaned_up


async def test_cancel_and_wait_keeps_what_the_task_delivered(bounded):
    started = asyncio.Event()

    async def fetch_that_ignores_cancellation() -> list[str]:
        started.set()
        # Like a fetch whose batch arrived just as it was cancelled.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        return ["batch"]

    async def fails() -> None:
        raise KeyError("boom")

    fetch = asyncio.ensure_future(fetch_that_ignores_cancellation())
    failed = asyncio.ensure_future(fails())
    await bounded(started.wait())
    await bounded(asyncio.wait({failed}))
    await bounded(cancel_and_wait(fetch))
    await bounded(cancel_and_wait(failed))  # a finished task is left as it is, error unraised
    assert fetch.result() == ["batch"]
    with pytest.raises(KeyError, match="boom"):
        failed.result()
