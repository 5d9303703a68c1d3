"""Event delivery to middlewares: ordered, never stalling the flow, bounded (penguiflow._events)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import penguiflow._kernel.hub as events_module
from penguiflow import FlowEvent, Node, NodePolicy, create

NONE = NodePolicy(validate="none")


async def passthrough(msg: Any, _ctx: Any) -> Any:
    return msg


async def test_slow_middleware_does_not_stall_the_flow(bounded):
    release = asyncio.Event()
    seen: list[str] = []

    async def slow(event: FlowEvent) -> None:
        await release.wait()  # blocks until the test lets it go
        seen.append(event.event_type)

    flow = create(Node(passthrough, policy=NONE).to(), middlewares=[slow])
    flow.run()
    for i in range(100):
        await flow.emit(i)
        assert await bounded(flow.fetch()) == i  # the flow runs at full speed meanwhile
    assert seen == []
    release.set()
    await bounded(flow.drain_events())
    assert seen == ["node_start", "node_success"] * 100  # in emission order, none lost
    await bounded(flow.stop())


async def test_middleware_that_falls_behind_loses_events_boundedly(bounded, monkeypatch, caplog):
    monkeypatch.setattr(events_module, "EVENT_QUEUE_MAXSIZE", 4)
    release = asyncio.Event()
    seen: list[FlowEvent] = []

    async def stuck(event: FlowEvent) -> None:
        await release.wait()
        seen.append(event)

    flow = create(Node(passthrough, policy=NONE).to(), middlewares=[stuck])
    flow.run()
    with caplog.at_level(logging.WARNING, logger="penguiflow.events"):
        for i in range(10):
            await flow.emit(i)
            await bounded(flow.fetch())
    # 20 events: one is being handled, 4 wait in the queue, the rest are dropped.
    assert flow.dropped_events == 15
    assert len([r for r in caplog.records if "dropping events" in r.getMessage()]) == 1
    release.set()
    await bounded(flow.stop())
    assert len(seen) == 5


async def test_sync_middlewares_and_late_additions_receive_events(bounded):
    early: list[str] = []
    late: list[str] = []
    flow = create(
        Node(passthrough, policy=NONE).to(), middlewares=[lambda e: early.append(e.event_type)]
    )
    flow.run()
    await flow.emit(1)
    await bounded(flow.fetch())
    flow.add_middleware(lambda e: late.append(e.event_type))
    await flow.emit(2)
    await bounded(flow.fetch())
    await bounded(flow.stop())
    assert early == ["node_start", "node_success"] * 2
    assert late == ["node_start", "node_success"]


async def test_stop_leaves_no_event_tasks(bounded):
    flow = create(Node(passthrough, policy=NONE).to(), middlewares=[lambda e: None])
    flow.run()
    assert any(t.get_name().startswith("penguiflow-events") for t in asyncio.all_tasks())
    await bounded(flow.stop())
    assert not any(t.get_name().startswith("penguiflow") for t in asyncio.all_tasks())


def test_event_payload_and_samples():
    event = FlowEvent(
        event_type="node_success",
        ts=1.0,
        node_name="a",
        node_id="a#1",
        trace_id="t",
        attempt=1,
        latency_ms=2.5,
        q_depth_in=3,
        q_depth_out=4,
        trace_pending=2,
        extra={"k": "v"},
    )
    payload = event.to_payload()
    assert payload["event"] == "node_success" and payload["extra"] == {"k": "v"}
    samples = event.metric_samples()
    assert samples["latency_ms"] == 2.5 and samples["q_depth_total"] == 7.0
    assert event.tag_values() == {
        "event_type": "node_success",
        "node_name": "a",
        "node_id": "a#1",
        "trace_id": "t",
    }
    with pytest.raises(AttributeError):
        event.attempt = 2  # type: ignore[misc]
