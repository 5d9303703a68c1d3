"""Playbooks: subflows called like functions (penguiflow.playbook)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from penguiflow import (
    FlowError,
    FlowErrorCode,
    Headers,
    Message,
    Node,
    NodePolicy,
    call_playbook,
    create,
)

NONE = NodePolicy(validate="none")


def penguiflow_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t.get_name().startswith("penguiflow")}


def build_enricher() -> Any:
    async def enrich(msg: Message, ctx: Any) -> Message:
        msg.meta["enriched_by"] = ctx.owner.name
        msg.meta["seen_trace"] = ctx.trace_id
        return msg.model_copy(update={"payload": f"{msg.payload}+enriched"})

    return create(Node(enrich, policy=NONE).to())


async def test_playbook_returns_payload_shares_trace_and_merges_meta(bounded):
    parent = Message(payload="doc", headers=Headers(tenant="acme"), meta={"request_id": "r1"})
    result = await bounded(call_playbook(build_enricher, parent))
    assert result == "doc+enriched"
    expected = {"request_id": "r1", "enriched_by": "enrich", "seen_trace": parent.trace_id}
    assert parent.meta == expected
    assert penguiflow_tasks() == set()


async def test_playbook_error_is_raised_and_subflow_stopped(bounded):
    def build() -> Any:
        async def fails(msg: Any, _ctx: Any) -> Any:
            raise KeyError("missing")

        return create(Node(fails, policy=NONE).to(), emit_errors_to_rookery=True), None

    parent = Message(payload="x", headers=Headers(tenant="t"))
    with pytest.raises(FlowError) as info:
        await bounded(call_playbook(build, parent))
    assert info.value.code is FlowErrorCode.NODE_EXCEPTION
    assert info.value.trace_id == parent.trace_id
    assert penguiflow_tasks() == set()


async def test_playbook_timeout_stops_subflow(bounded):
    def build() -> Any:
        async def hangs(msg: Any, _ctx: Any) -> Any:
            await asyncio.Event().wait()

        return create(Node(hangs, policy=NONE).to())

    with pytest.raises(TimeoutError, match=r"gave no result within 0\.01s"):
        await bounded(call_playbook(build, "payload", timeout=0.01))
    assert penguiflow_tasks() == set()


async def test_bad_builder_is_a_type_error():
    with pytest.raises(TypeError, match="must return a PenguiFlow"):
        await call_playbook(lambda: "nope", "x")
    with pytest.raises(TypeError, match="tuple of 3"):
        await call_playbook(lambda: (1, 2, 3), "x")


async def test_ctx_call_playbook_from_a_node(stop_after, bounded):
    async def controller(msg: Message, ctx: Any) -> Message:
        result = await ctx.call_playbook(build_enricher, msg)
        return msg.model_copy(update={"payload": result})

    flow = stop_after(create(Node(controller, policy=NONE).to()))
    flow.run()
    await flow.emit(Message(payload="q", headers=Headers(tenant="t")))
    out = await bounded(flow.fetch())
    assert out.payload == "q+enriched" and out.meta["enriched_by"] == "enrich"


async def test_playbook_failure_is_raised_without_error_mode(bounded):
    def build() -> Any:
        async def fails(msg: Any, _ctx: Any) -> Any:
            raise ValueError("nope")

        return create(Node(fails, policy=NONE).to())  # errors would only be logged

    with pytest.raises(FlowError, match="raised ValueError: nope"):
        await bounded(call_playbook(build, Message(payload=1, headers=Headers(tenant="t"))))
    assert penguiflow_tasks() == set()


async def test_playbook_without_result_fails_instead_of_hanging(bounded):
    def build() -> Any:
        async def swallow(msg: Any, _ctx: Any) -> None:
            return None

        return create(Node(swallow, policy=NONE).to())

    with pytest.raises(RuntimeError, match="without a result"):
        await bounded(call_playbook(build, Message(payload=1, headers=Headers(tenant="t"))))
    assert penguiflow_tasks() == set()
