"""Persisting events to the StateStore under the drop and block policies."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import penguiflow._kernel.hub as events_module
import penguiflow.state._persister as persistence_module
from penguiflow import FlowError, FlowEvent, Headers, Message, Node, NodePolicy, create
from penguiflow.state import open_store
from penguiflow.state.base import RemoteBinding, StoredEvent

NONE = NodePolicy(validate="none")


class ControlledStore:
    """A StateStore whose writes the test can hold back or make fail."""

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self.open_gate = asyncio.Event()
        self.open_gate.set()
        self.fail_with: Exception | None = None

    async def save_event(self, event: StoredEvent) -> None:
        await self.open_gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.events.append(event)

    async def load_history(self, trace_id: str, *, tenant: str | None = None) -> list[StoredEvent]:
        return [
            e
            for e in self.events
            if e.trace_id == trace_id and (tenant is None or e.tenant == tenant)
        ]

    async def save_remote_binding(self, binding: RemoteBinding) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        return None


async def passthrough(msg: Any, _ctx: Any) -> Any:
    return msg


def env(payload: Any, tenant: str = "acme") -> Message:
    return Message(payload=payload, headers=Headers(tenant=tenant))


async def test_every_event_of_a_trace_is_persisted_in_order_with_its_tenant(bounded):
    store = ControlledStore()
    a, b = Node(passthrough, name="a", policy=NONE), Node(passthrough, name="b", policy=NONE)
    flow = create(a.to(b), b.to(), state_store=store)
    flow.run()
    message = env("x")
    await flow.emit(message)
    await bounded(flow.fetch())
    history = await bounded(flow.load_history(message.trace_id))
    assert [(e.kind, e.node_name) for e in history] == [
        ("node_start", "a"),
        ("node_success", "a"),
        ("node_start", "b"),
        ("node_success", "b"),
    ]
    assert {e.tenant for e in history} == {"acme"}
    assert await flow.load_history(message.trace_id, tenant="other") == []
    assert flow.state_store is store
    await bounded(flow.stop())


async def test_failing_store_is_counted_and_reported_not_silent(bounded, caplog):
    store = ControlledStore()
    store.fail_with = ConnectionError("store is down")
    seen: list[FlowEvent] = []
    flow = create(Node(passthrough, policy=NONE).to(), state_store=store, middlewares=[seen.append])
    flow.run()
    for i in range(3):
        await flow.emit(env(i))
        assert (await bounded(flow.fetch())).payload == i  # the flow keeps working
    await bounded(flow.drain_events())
    await bounded(flow.drain_events())  # error reports are emitted while draining
    assert flow.state_store_errors == 6
    errors = [e for e in seen if e.event_type == "state_store_error"]
    assert len(errors) == 6 and "store is down" in errors[0].extra["error"]
    assert len([r for r in caplog.records if "failed to save" in r.getMessage()]) == 1
    await bounded(flow.stop())


async def test_drop_policy_never_waits_for_a_stuck_store(bounded, monkeypatch):
    monkeypatch.setattr(events_module, "EVENT_QUEUE_MAXSIZE", 10)
    store = ControlledStore()
    store.open_gate.clear()  # the store accepts nothing until the test says so
    flow = create(Node(passthrough, policy=NONE).to(), state_store=store)
    flow.run()
    for i in range(50):
        await flow.emit(env(i))
        await bounded(flow.fetch())
    assert flow.dropped_events > 0  # bounded memory: the backlog beyond 10 was dropped
    store.open_gate.set()
    await bounded(flow.stop())
    assert 0 < len(store.events) <= 11


async def test_block_policy_holds_deliveries_until_the_store_catches_up(bounded, monkeypatch):
    monkeypatch.setattr(persistence_module, "BLOCK_BACKLOG", 4)
    store = ControlledStore()
    store.open_gate.clear()  # the store accepts nothing until the test says so
    flow = create(
        Node(passthrough, policy=NONE).to(), state_store=store, state_store_policy="block"
    )
    flow.run()
    await bounded(_emit_all(flow, 20))  # they wait in the ingress floe
    results: list[Any] = []
    pending = asyncio.create_task(flow.fetch())
    for _ in range(20):
        # Give the worker every chance to run, then see whether a result came out.
        for _ in range(50):
            await asyncio.sleep(0)
        if not pending.done():
            break
        results.append(pending.result())
        pending = asyncio.create_task(flow.fetch())
    # With the store stuck, deliveries stopped once 4 events were pending for it.
    assert not pending.done() and len(results) <= 3
    store.open_gate.set()
    results.append(await bounded(pending))
    while len(results) < 20:
        results.append(await bounded(flow.fetch()))
    assert [r.payload for r in results] == list(range(20))
    await bounded(flow.stop())
    assert flow.dropped_events == 0
    assert len(store.events) == 40  # every event was saved, none dropped


async def _emit_all(flow: Any, count: int) -> None:
    for i in range(count):
        await flow.emit(env(i))


def test_bad_store_and_policy_fail_at_create():
    node = Node(passthrough, policy=NONE)
    with pytest.raises(TypeError, match=r"lacks \['save_event'"):
        create(node.to(), state_store=object())
    with pytest.raises(ValueError, match="'drop' or 'block'"):
        create(node.to(), state_store=ControlledStore(), state_store_policy="maybe")  # type: ignore[arg-type]


async def test_load_history_without_store_is_a_clear_error():
    flow = create(Node(passthrough, policy=NONE).to())
    with pytest.raises(RuntimeError, match="state_store"):
        await flow.load_history("t")


async def test_load_history_does_not_wait_for_an_unrelated_stuck_middleware(bounded):
    store = ControlledStore()
    stuck = asyncio.Event()  # never set

    async def stuck_middleware(event: FlowEvent) -> None:
        await stuck.wait()

    flow = create(
        Node(passthrough, name="a", policy=NONE).to(),
        state_store=store,
        middlewares=[stuck_middleware],
    )
    flow.run()
    try:
        message = env("x")
        await flow.emit(message)
        await bounded(flow.fetch())
        history = await bounded(flow.load_history(message.trace_id))
        assert [e.kind for e in history][-1] == "node_success"
    finally:
        await flow.stop()


async def test_load_history_bounds_its_wait_for_a_stuck_store(bounded):
    store = ControlledStore()
    flow = create(Node(passthrough, name="a", policy=NONE).to(), state_store=store)
    flow.run()
    try:
        store.open_gate.clear()  # the store stops answering
        message = env("x")
        await flow.emit(message)
        await bounded(flow.fetch())
        with pytest.raises(TimeoutError, match="did not save"):
            await bounded(flow.load_history(message.trace_id, timeout=0.05))
        store.open_gate.set()
        assert await bounded(flow.load_history(message.trace_id))
    finally:
        await flow.stop()


@pytest.mark.parametrize("scheme", ["memory", "sqlite"])
async def test_a_huge_exception_text_is_stored_cut_with_its_original_length(
    scheme: str, bounded: Any, tmp_path: Any
) -> None:
    huge = "x" * 2_000_000

    async def explode(_msg: Any, _ctx: Any) -> Any:
        raise ValueError(huge)

    url = "memory://" if scheme == "memory" else f"sqlite:///{tmp_path / 'history.db'}"
    store = await bounded(open_store(url))
    seen: list[FlowEvent] = []
    node = Node(explode, name="explode", policy=NodePolicy(validate="none", max_retries=1))
    flow = create(
        node.to(), state_store=store, middlewares=[seen.append], emit_errors_to_rookery=True
    )
    flow.run()
    try:
        message = env("go")
        await flow.emit(message)
        assert isinstance(await bounded(flow.fetch()), FlowError)  # node_failed was emitted
        history = {e.kind: e for e in await bounded(flow.load_history(message.trace_id))}
    finally:
        await bounded(flow.stop())
        await bounded(store.close())
    live = {e.event_type: e for e in seen}

    error = history["node_error"].payload
    assert error["truncated"] == {"extra.error": len(f"ValueError: {huge}")}
    assert error["extra"]["error"] == (
        f"ValueError: {huge}"[:16_384] + f"... [cut: {len(huge) + 12} characters in all]"
    )
    assert history["node_retry"].payload["truncated"] == {"extra.error": len(huge) + 12}

    failed = history["node_failed"].payload
    flow_error = live["node_failed"].extra["error"]
    assert failed["truncated"] == {
        "extra.error.message": len(flow_error["message"]),
        "extra.error.original_exc.message": len(huge),
    }
    stored_error = failed["extra"]["error"]
    assert stored_error["original_exc"]["type"] == "ValueError"
    assert stored_error["original_exc"]["message"].startswith("x" * 16_384 + "... [cut: ")
    assert stored_error["message"][:16_384] == flow_error["message"][:16_384]
    assert len(stored_error["message"]) < 16_384 + 100
    assert stored_error["code"] == flow_error["code"]

    assert "truncated" not in history["node_start"].payload
    # What middlewares receive is the event itself, untouched.
    assert live["node_error"].extra["error"] == f"ValueError: {huge}"
    assert flow_error["original_exc"]["message"] == huge
