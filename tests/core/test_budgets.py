"""Deadlines, controller loops and hop/token budgets (penguiflow._budgets)."""

from __future__ import annotations

import time
from typing import Any

from penguiflow import (
    WM,
    FinalAnswer,
    FlowError,
    FlowErrorCode,
    Headers,
    Message,
    Node,
    NodePolicy,
    create,
)

NONE = NodePolicy(validate="none")


async def test_expired_deadline_skips_node_and_finalises_trace(stop_after, bounded, event_log):
    ran: list[Any] = []

    async def work(msg: Any, _ctx: Any) -> Any:
        ran.append(msg)
        return msg

    flow = stop_after(create(Node(work, policy=NONE).to(), middlewares=[event_log]))
    flow.run()
    late = Message(payload="late", headers=Headers(tenant="t"), deadline_s=time.time() - 1)
    await flow.emit(late)
    out = await bounded(flow.fetch(trace_id=late.trace_id))
    assert ran == []
    assert isinstance(out.payload, FinalAnswer)
    assert "Deadline exceeded" in out.payload.text and "'work'" in out.payload.text
    await flow.drain_events()
    assert event_log.types() == ["deadline_skip"]
    # A message with a future deadline runs normally.
    ok = Message(payload="ok", headers=Headers(tenant="t"), deadline_s=time.time() + 60)
    await flow.emit(ok)
    assert (await bounded(flow.fetch())).payload == "ok"


async def test_deadline_in_error_mode_gives_flow_error_once(stop_after, bounded):
    async def work(msg: Any, _ctx: Any) -> Any:
        return msg

    a, b = Node(work, name="a", policy=NONE), Node(work, name="b", policy=NONE)
    flow = stop_after(create(a.to(), b.to(), emit_errors_to_rookery=True))
    flow.run()
    late = Message(payload="late", headers=Headers(tenant="t"), deadline_s=time.time() - 1)
    await flow.emit(late)  # fans out to both ingress nodes
    err = await bounded(flow.fetch(trace_id=late.trace_id))
    assert isinstance(err, FlowError) and err.code is FlowErrorCode.DEADLINE_EXCEEDED
    assert all(f.qsize() == 0 for f in flow.floes)  # one final result per trace


async def controller_flow(event_log: Any = None) -> Any:
    async def controller(msg: Message, _ctx: Any) -> Message:
        wm = msg.payload
        assert isinstance(wm, WM)
        if len(wm.facts) >= 3:
            return msg.model_copy(update={"payload": FinalAnswer(text=", ".join(wm.facts))})
        fact = f"fact-{wm.hops}"
        new_wm = wm.model_copy(
            update={"facts": [*wm.facts, fact], "tokens_used": wm.tokens_used + 10}
        )
        return msg.model_copy(update={"payload": new_wm})

    node = Node(controller, policy=NONE, allow_cycle=True)
    middlewares = [event_log] if event_log is not None else []
    flow = create(node.to(node), middlewares=middlewares)
    flow.run()
    return flow


async def test_controller_loops_until_final_answer(stop_after, bounded):
    flow = stop_after(await controller_flow())
    await flow.emit(Message(payload=WM(query="q"), headers=Headers(tenant="t")))
    out = await bounded(flow.fetch())
    assert out.payload == FinalAnswer(text="fact-0, fact-1, fact-2")


async def test_hop_budget_ends_loop_with_final_answer(stop_after, bounded, event_log):
    flow = stop_after(await controller_flow(event_log))
    await flow.emit(Message(payload=WM(query="q", budget_hops=2), headers=Headers(tenant="t")))
    out = await bounded(flow.fetch())
    assert isinstance(out.payload, FinalAnswer)
    assert out.payload.text.startswith("Hop budget exhausted: 2 hops of 2 allowed")
    await flow.drain_events()
    assert [e.extra["code"] for e in event_log.of("budget_exhausted")] == ["HOP_BUDGET_EXHAUSTED"]


async def test_token_budget_ends_loop_with_final_answer(stop_after, bounded):
    flow = stop_after(await controller_flow())
    wm = WM(query="q", budget_hops=None, budget_tokens=15)
    await flow.emit(Message(payload=wm, headers=Headers(tenant="t")))
    out = await bounded(flow.fetch())
    assert out.payload.text.startswith("Token budget exhausted: 20 tokens used of 15 allowed")


async def test_hops_are_counted_by_the_runtime(stop_after, bounded):
    seen_hops: list[int] = []

    async def controller(wm: WM, _ctx: Any) -> Any:
        seen_hops.append(wm.hops)
        if wm.hops == 4:
            return FinalAnswer(text="done")
        return wm

    node = Node(controller, policy=NONE, allow_cycle=True)
    flow = stop_after(create(node.to(node)))
    flow.run()
    await flow.emit(WM(query="payload-only", budget_hops=None))
    assert await bounded(flow.fetch()) == FinalAnswer(text="done")
    assert seen_hops == [0, 1, 2, 3, 4]
