"""A trace is bound to the tenant that started it while it is in flight (SPEC 2.4, 9)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from penguiflow import (
    FlowError,
    Headers,
    Message,
    Node,
    NodePolicy,
    PenguiFlowError,
    TenantMismatch,
    create,
)
from penguiflow.state import open_store

NONE = NodePolicy(validate="none")


def envelope(tenant: str, trace_id: str, payload: Any = "x") -> Message:
    return Message(payload=payload, headers=Headers(tenant=tenant), trace_id=trace_id)


async def test_another_tenants_emit_into_a_live_trace_is_refused(stop_after: Any) -> None:
    release = asyncio.Event()

    async def slow(msg: Message, ctx: Any) -> Message:
        await release.wait()
        if msg.payload == "boom":
            raise RuntimeError("B's failure")
        return msg

    flow = stop_after(create(Node(slow, policy=NONE).to(), emit_errors_to_rookery=True))
    flow.run()
    await flow.emit(envelope("a", "shared-id"))
    intruder = envelope("b", "shared-id", "boom")
    with pytest.raises(TenantMismatch) as info:
        await flow.emit(intruder)
    assert isinstance(info.value, PermissionError) and isinstance(info.value, PenguiFlowError)
    assert (info.value.trace_id, info.value.tenant) == ("shared-id", "b")
    with pytest.raises(TenantMismatch):
        flow.emit_nowait(intruder)
    with pytest.raises(TenantMismatch):
        await flow.emit_chunk(intruder, "chunk")
    release.set()
    # A's fetch gets A's result, never B's error.
    result = await asyncio.wait_for(flow.fetch(trace_id="shared-id", tenant="a"), 5)
    assert not isinstance(result, FlowError) and result.headers.tenant == "a"
    await asyncio.wait_for(flow.wait_idle("shared-id"), 5)
    # Once A's trace is over, the id is free again.
    await flow.emit(envelope("b", "shared-id", "later"))
    assert (await asyncio.wait_for(flow.fetch(trace_id="shared-id"), 5)).payload == "later"


async def test_cancel_with_another_tenant_is_refused(stop_after: Any) -> None:
    release = asyncio.Event()

    async def slow(msg: Message, ctx: Any) -> Message:
        await release.wait()
        return msg

    flow = stop_after(create(Node(slow, policy=NONE).to()))
    flow.run()
    await flow.emit(envelope("a", "t1"))
    with pytest.raises(TenantMismatch):
        await flow.cancel("t1", tenant="b")
    assert flow.statistics().traces_in_flight == 1  # untouched
    assert await asyncio.wait_for(flow.cancel("t1", tenant="a"), 5) is True


async def test_load_history_with_another_tenant_is_refused(tmp_path: Any) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'h.db'}")
    release = asyncio.Event()

    async def slow(msg: Message, ctx: Any) -> Message:
        await release.wait()
        return msg

    flow = create(Node(slow, policy=NONE).to(), state_store=store)
    flow.run()
    try:
        await flow.emit(envelope("a", "t1"))
        with pytest.raises(TenantMismatch):
            await asyncio.wait_for(flow.load_history("t1", tenant="b"), 5)
        release.set()
        await asyncio.wait_for(flow.fetch(trace_id="t1"), 5)
        assert await asyncio.wait_for(flow.load_history("t1", tenant="a"), 5)
        # Over: the store's own tenant filter answers (nothing of b's).
        assert await asyncio.wait_for(flow.load_history("t1", tenant="b"), 5) == []
    finally:
        await flow.stop()
        await store.close()
