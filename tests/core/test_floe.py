"""Floe and Inbox primitives (penguiflow.floe)."""

from __future__ import annotations

import asyncio

import pytest

from penguiflow._kernel.floe import Floe, FloeClosed, Inbox


async def test_fifo_and_capacity():
    inbox = Inbox()
    floe = Floe("src", "dst", 2, inbox)
    floe.put_nowait(1)
    floe.put_nowait(2)
    assert floe.full() and floe.qsize() == 2
    with pytest.raises(asyncio.QueueFull):
        floe.put_nowait(3)
    assert [inbox.take_nowait(), inbox.take_nowait()] == [1, 2]
    with pytest.raises(asyncio.QueueEmpty):
        inbox.take_nowait()


async def test_put_waits_until_space_frees():
    inbox = Inbox()
    floe = Floe("src", "dst", 1, inbox)
    await floe.put("a")
    waiting = asyncio.create_task(floe.put("b"))
    await asyncio.sleep(0)
    assert not waiting.done()
    assert await inbox.take() == "a"
    await asyncio.wait_for(waiting, 5)
    assert floe.items() == ["b"]


async def test_round_robin_across_floes_and_source_filter():
    inbox = Inbox()
    first, second = Floe("a", "x", 0, inbox), Floe("b", "x", 0, inbox)
    for i in range(3):
        first.put_nowait(f"a{i}")
        second.put_nowait(f"b{i}")
    assert [inbox.take_nowait() for _ in range(4)] == ["a0", "b0", "a1", "b1"]
    assert inbox.take_nowait([second]) == "b2"


async def test_waiters_filter_by_trace():
    class Item:
        def __init__(self, trace_id: str) -> None:
            self.trace_id = trace_id

    inbox = Inbox()
    floe = Floe("a", "x", 0, inbox)
    wants_b = asyncio.create_task(inbox.take(trace_id="b"))
    wants_any = asyncio.create_task(inbox.take())
    await asyncio.sleep(0)
    a_item, b_item = Item("a"), Item("b")
    floe.put_nowait(a_item)
    floe.put_nowait(b_item)
    assert await asyncio.wait_for(wants_b, 5) is b_item
    assert await asyncio.wait_for(wants_any, 5) is a_item


async def test_cancelled_taker_passes_wakeup_on():
    inbox = Inbox()
    floe = Floe("a", "x", 0, inbox)
    first = asyncio.create_task(inbox.take())
    second = asyncio.create_task(inbox.take())
    await asyncio.sleep(0)
    floe.put_nowait("only")  # wakes `first`...
    first.cancel()  # ...which leaves before taking it
    assert await asyncio.wait_for(second, 5) == "only"


async def test_close_fails_waiters_and_puts():
    inbox = Inbox()
    floe = Floe("a", "x", 1, inbox)
    floe.put_nowait(1)
    blocked_put = asyncio.create_task(floe.put(2))
    other_inbox = Inbox()
    blocked_take = asyncio.create_task(other_inbox.take())
    await asyncio.sleep(0)
    inbox.close("flow stopped")
    other_inbox.close("flow stopped")
    with pytest.raises(FloeClosed, match="flow stopped"):
        await blocked_put
    with pytest.raises(FloeClosed):
        await blocked_take
    with pytest.raises(FloeClosed):
        floe.put_nowait(3)
