"""Retries, backoff, timeouts, validation and error delivery (penguiflow._reliability)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import (
    FlowError,
    FlowErrorCode,
    Headers,
    Message,
    ModelRegistry,
    Node,
    NodePolicy,
    create,
)


class Query(BaseModel):
    text: str
    limit: int


class Answer(BaseModel):
    text: str


def env(payload: Any) -> Message:
    return Message(payload=payload, headers=Headers(tenant="t"))


async def test_retries_with_exponential_backoff_observed_through_events(
    stop_after, bounded, event_log
):
    calls = 0

    async def flaky(msg: Any, _ctx: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise ConnectionError(f"boom {calls}")
        return msg

    policy = NodePolicy(
        validate="none", max_retries=3, backoff_base=0.001, backoff_mult=3.0, max_backoff=0.005
    )
    flow = stop_after(create(Node(flaky, policy=policy).to(), middlewares=[event_log]))
    flow.run()
    message = env("payload")
    await flow.emit(message)
    out = await bounded(flow.fetch())
    assert out.payload == "payload" and calls == 4
    await flow.drain_events()
    retries = event_log.of("node_retry")
    assert [e.attempt for e in retries] == [1, 2, 3]
    # base * mult**n, capped by max_backoff: 0.001, 0.003, min(0.009, 0.005)
    assert [e.extra["delay_s"] for e in retries] == pytest.approx([0.001, 0.003, 0.005])
    assert event_log.types("flaky") == [
        "node_start",
        "node_error",
        "node_retry",
        "node_start",
        "node_error",
        "node_retry",
        "node_start",
        "node_error",
        "node_retry",
        "node_start",
        "node_success",
    ]
    assert all(e.trace_id == message.trace_id for e in event_log.events)
    assert event_log.of("node_success")[0].latency_ms is not None


async def test_exhausted_retries_become_flow_error_in_rookery(stop_after, bounded, event_log):
    async def broken(msg: Any, _ctx: Any) -> Any:
        raise ValueError("bad things")

    policy = NodePolicy(validate="none", max_retries=1, backoff_base=0)
    flow = stop_after(
        create(
            Node(broken, policy=policy).to(), emit_errors_to_rookery=True, middlewares=[event_log]
        )
    )
    flow.run()
    message = env("x")
    await flow.emit(message)
    err = await bounded(flow.fetch(trace_id=message.trace_id))
    assert isinstance(err, FlowError)
    assert err.code is FlowErrorCode.NODE_EXCEPTION
    assert (err.node_name, err.trace_id) == ("broken", message.trace_id)
    assert isinstance(err.original_exc, ValueError)
    assert "attempt 2 of 2" in err.message
    payload = err.to_payload()
    assert payload["code"] == "NODE_EXCEPTION"
    assert payload["original_exc"] == {"type": "ValueError", "message": "bad things"}
    await flow.drain_events()
    assert event_log.types("broken")[-1] == "node_failed"


async def test_timeout_gives_node_timeout(stop_after, bounded, event_log):
    never = asyncio.Event()

    async def hangs(msg: Any, _ctx: Any) -> Any:
        await never.wait()

    flow = stop_after(
        create(
            Node(hangs, policy=NodePolicy(validate="none", timeout_s=0.01)).to(),
            emit_errors_to_rookery=True,
            middlewares=[event_log],
        )
    )
    flow.run()
    await flow.emit(env("x"))
    err = await bounded(flow.fetch())
    assert isinstance(err, FlowError) and err.code is FlowErrorCode.NODE_TIMEOUT
    assert "timed out after 0.01s" in err.message
    await flow.drain_events()
    assert "node_timeout" in event_log.types("hangs")


async def test_timeout_error_raised_by_user_code_is_an_exception(stop_after, bounded):
    async def raises_timeout(msg: Any, _ctx: Any) -> Any:
        raise TimeoutError("upstream said so")

    policy = NodePolicy(validate="none", timeout_s=5)
    flow = stop_after(create(Node(raises_timeout, policy=policy).to(), emit_errors_to_rookery=True))
    flow.run()
    await flow.emit("x")
    err = await bounded(flow.fetch())
    assert err.code is FlowErrorCode.NODE_EXCEPTION


async def test_validation_error_names_node_and_field(stop_after, bounded):
    async def answer(q: Query, _ctx: Any) -> Answer:
        return Answer(text=q.text)

    registry = ModelRegistry()
    registry.register("answer", Query, Answer)
    flow = stop_after(create(Node(answer).to(), emit_errors_to_rookery=True))
    flow.run(registry=registry)
    await flow.emit(env({"text": "hi", "limit": "many"}))
    err = await bounded(flow.fetch())
    assert isinstance(err, FlowError) and err.code is FlowErrorCode.VALIDATION_ERROR
    assert "node 'answer' input validation failed" in err.message
    assert "limit" in err.message
    assert err.metadata["fields"][0]["field"] == "limit"


async def test_output_validation_and_coercion(stop_after, bounded):
    async def returns_dict(q: Query, _ctx: Any) -> Any:
        return {"text": q.text.upper()}

    async def returns_garbage(q: Query, _ctx: Any) -> Any:
        return {"nope": 1}

    registry = ModelRegistry()
    registry.register("returns_dict", Query, Answer)
    registry.register("returns_garbage", Query, Answer)
    good, bad = Node(returns_dict), Node(returns_garbage)
    flow = stop_after(create(good.to(), bad.to(), emit_errors_to_rookery=True))
    flow.run(registry=registry)
    await flow.emit(env({"text": "hi", "limit": "3"}), to="returns_dict")
    out = await bounded(flow.fetch())
    assert isinstance(out, Message) and out.payload == Answer(text="HI")
    await flow.emit(env({"text": "hi", "limit": 3}), to="returns_garbage")
    err = await bounded(flow.fetch())
    assert err.code is FlowErrorCode.VALIDATION_ERROR
    assert "output validation failed" in err.message and "text" in err.message


async def test_failing_node_keeps_processing_later_messages(stop_after, bounded, caplog):
    async def picky(msg: Any, _ctx: Any) -> Any:
        if msg == "bad":
            raise RuntimeError("cannot handle bad")
        return msg

    flow = stop_after(create(Node(picky, policy=NodePolicy(validate="none")).to()))
    flow.run()
    with caplog.at_level(logging.ERROR, logger="penguiflow.core"):
        await flow.emit("bad")
        await flow.emit("good")
        assert await bounded(flow.fetch()) == "good"
    assert any("cannot handle bad" in r.getMessage() for r in caplog.records)


async def test_failing_middleware_does_not_break_the_flow(stop_after, bounded, caplog):
    calls = 0

    def broken_middleware(event: Any) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("middleware bug")

    async def ok(msg: Any, _ctx: Any) -> Any:
        return msg

    flow = stop_after(create(Node(ok, policy=NodePolicy(validate="none")).to()))
    flow.add_middleware(broken_middleware)
    flow.run()
    with caplog.at_level(logging.ERROR, logger="penguiflow.events"):
        for i in range(3):
            await flow.emit(i)
            assert await bounded(flow.fetch()) == i
    await flow.drain_events()
    assert calls == 6  # node_start + node_success per message
    assert len([r for r in caplog.records if "middleware" in r.getMessage()]) == 1
