"""fetch per SPEC 2.4: trace-scoped, bounded, never waiting for a trace that is over."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest

from penguiflow import (
    FetchTimeout,
    Headers,
    Message,
    ModelRegistry,
    Node,
    NodePolicy,
    PenguiFlowError,
    TraceEnded,
    create,
)

NONE = NodePolicy(validate="none")
HEADERS = Headers(tenant="acme")


async def echo(msg: Any, ctx: Any) -> Any:
    return msg


async def swallow(msg: Any, ctx: Any) -> None:
    return None


async def test_fetch_may_be_awaited_before_emit(stop_after: Any) -> None:
    flow = stop_after(create(Node(echo, policy=NONE).to()))
    flow.run()
    message = Message(payload="hi", headers=HEADERS)
    waiting = asyncio.ensure_future(flow.fetch(trace_id=message.trace_id, timeout=5))
    await asyncio.sleep(0)
    assert not waiting.done()  # an id not seen yet waits
    await flow.emit(message)
    assert (await waiting) is message


async def test_a_trace_that_ended_without_a_result_raises_trace_ended(stop_after: Any) -> None:
    flow = stop_after(create(Node(swallow, policy=NONE).to()))
    flow.run()
    message = Message(payload="lost", headers=HEADERS)
    waiting = asyncio.ensure_future(flow.fetch(trace_id=message.trace_id))
    await flow.emit(message)
    with pytest.raises(TraceEnded, match=message.trace_id) as info:
        await asyncio.wait_for(waiting, 5)
    assert isinstance(info.value, LookupError) and isinstance(info.value, PenguiFlowError)
    # Asking again after the fact does not wait either.
    with pytest.raises(TraceEnded):
        await asyncio.wait_for(flow.fetch(trace_id=message.trace_id), 5)


async def test_results_are_returned_one_by_one_then_trace_ended(stop_after: Any) -> None:
    async def twice(msg: Message, ctx: Any) -> None:
        await ctx.emit(msg)
        await ctx.emit(msg.model_copy(update={"payload": "second"}))

    flow = stop_after(create(Node(twice, policy=NONE).to()))
    flow.run()
    message = Message(payload="first", headers=HEADERS)
    await flow.emit(message)
    assert (await flow.fetch(trace_id=message.trace_id, timeout=5)).payload == "first"
    assert (await flow.fetch(trace_id=message.trace_id, timeout=5)).payload == "second"
    with pytest.raises(TraceEnded):
        await flow.fetch(trace_id=message.trace_id, timeout=5)


async def test_timeout_raises_fetch_timeout(stop_after: Any) -> None:
    release = asyncio.Event()

    async def slow(msg: Message, ctx: Any) -> Message:
        await release.wait()
        return msg

    flow = stop_after(create(Node(slow, policy=NONE).to()))
    flow.run()
    message = Message(payload="x", headers=HEADERS)
    await flow.emit(message)
    with pytest.raises(FetchTimeout) as info:
        await flow.fetch(trace_id=message.trace_id, timeout=0.05)
    assert isinstance(info.value, TimeoutError) and info.value.trace_id == message.trace_id
    with pytest.raises(FetchTimeout):
        await flow.fetch(timeout=0.05)
    with pytest.raises(FetchTimeout):
        await flow.fetch_any(timeout=0.05)
    release.set()  # the timed-out fetches took nothing: the result is still there
    assert (await flow.fetch(trace_id=message.trace_id, timeout=5)) is message


async def test_bad_arguments_fail_at_the_call(stop_after: Any) -> None:
    flow = stop_after(create(Node(echo, policy=NONE).to()))
    flow.run()
    with pytest.raises(TypeError, match="trace_id must be a str"):
        await flow.fetch(trace_id=42)  # type: ignore[arg-type]
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="timeout"):
            await flow.fetch(trace_id="t", timeout=bad)
    with pytest.raises(TypeError, match="timeout"):
        await flow.fetch(timeout="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs trace_id"):
        await flow.fetch(tenant="acme")


async def test_tenant_refuses_a_trace_another_tenant_started(stop_after: Any) -> None:
    release = asyncio.Event()

    async def slow(msg: Message, ctx: Any) -> Message:
        await release.wait()
        return msg

    flow = stop_after(create(Node(slow, policy=NONE).to()))
    flow.run()
    message = Message(payload="secret", headers=HEADERS)
    await flow.emit(message)
    with pytest.raises(PermissionError, match=r"than 'intruder'"):
        await flow.fetch(trace_id=message.trace_id, tenant="intruder", timeout=5)
    release.set()
    assert (await flow.fetch(trace_id=message.trace_id, tenant="acme", timeout=5)) is message


async def test_a_bare_value_returned_for_a_trace_still_belongs_to_it(stop_after: Any) -> None:
    async def to_text(msg: Message, ctx: Any) -> str:
        return f"text of {msg.payload}"

    node = Node(to_text, policy=NodePolicy(validate="in"))
    registry = ModelRegistry()
    registry.register("to_text", Message, str)
    flow = stop_after(create(node.to()))
    flow.run(registry)
    other = Message(payload="other", headers=HEADERS)
    message = Message(payload="mine", headers=HEADERS)
    with pytest.warns(RuntimeWarning, match="to_text.*bare str"):
        await flow.emit(other)
        await flow.emit(message)
        assert await flow.fetch(trace_id=message.trace_id, timeout=5) == "text of mine"
    assert await flow.fetch(timeout=5) == "text of other"  # delivered as is
    with pytest.raises(TraceEnded):
        await flow.fetch(trace_id=message.trace_id, timeout=5)


async def test_an_unregistered_node_returning_a_bare_value_does_not_warn(stop_after: Any) -> None:
    async def to_text(msg: Message, ctx: Any) -> str:
        return str(msg.payload)

    flow = stop_after(create(Node(to_text, policy=NONE).to()))
    flow.run()
    message = Message(payload=7, headers=HEADERS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await flow.emit(message)
        assert await flow.fetch(trace_id=message.trace_id, timeout=5) == "7"


async def test_cancelling_a_trace_drops_its_bare_results(stop_after: Any) -> None:
    emitted = asyncio.Event()

    async def to_text(msg: Message, ctx: Any) -> None:
        await ctx.emit(str(msg.payload))  # a bare value from the trace's processing
        emitted.set()

    flow = stop_after(create(Node(to_text, policy=NONE).to()))
    flow.run()
    message = Message(payload=1, headers=HEADERS)
    await flow.emit(message)
    await asyncio.wait_for(emitted.wait(), 5)
    assert flow.statistics().queued_in_rookery == 1
    assert await flow.cancel(message.trace_id) is True
    assert flow.statistics().queued_in_rookery == 0
    with pytest.raises(TraceEnded):
        await flow.fetch(trace_id=message.trace_id, timeout=5)


async def test_ctx_fetch_has_a_timeout(stop_after: Any) -> None:
    outcome: list[Any] = []

    async def puller(msg: Any, ctx: Any) -> None:
        try:
            await ctx.fetch(timeout=0.05)
        except FetchTimeout as exc:
            outcome.append(exc)
        try:
            await ctx.fetch_any(timeout=0.05)
        except FetchTimeout as exc:
            outcome.append(exc)
        return msg

    flow = stop_after(create(Node(puller, policy=NONE).to()))
    flow.run()
    await flow.emit("go")
    assert await flow.fetch(timeout=5) == "go"
    assert len(outcome) == 2 and all(isinstance(e, TimeoutError) for e in outcome)


async def test_drain_events_has_a_timeout(stop_after: Any) -> None:
    stuck = asyncio.Event()

    async def slow_middleware(event: Any) -> None:
        await stuck.wait()

    flow = stop_after(create(Node(echo, policy=NONE).to(), middlewares=[slow_middleware]))
    flow.run()
    await flow.emit("x")
    assert await flow.fetch(timeout=5) == "x"
    with pytest.raises(TimeoutError, match=r"within 0\.05s"):
        await flow.drain_events(timeout=0.05)
    stuck.set()
    await flow.drain_events(timeout=5)


async def test_a_stopped_flow_wakes_a_fetch_waiting_for_a_trace_not_started(
    stop_after: Any,
) -> None:
    flow = create(Node(echo, policy=NONE).to())
    flow.run()
    waiting = asyncio.ensure_future(flow.fetch(trace_id="never-emitted"))
    await asyncio.sleep(0)
    await flow.stop()
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(waiting, 5)
