"""Driver calls awaited through await_cancel_safe never swallow the caller's cancellation."""

from __future__ import annotations

import asyncio

import pytest

from penguiflow._drivers.cancel_safe import await_cancel_safe


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
