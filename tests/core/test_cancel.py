"""Per-trace cancellation: drops queued work, stops in-flight nodes and playbooks, spares others."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from typing import Any

from penguiflow import WM, Headers, Message, Node, NodePolicy, TraceCancelled, create

NONE = NodePolicy(validate="none")


def env(payload: Any) -> Message:
    return Message(payload=payload, headers=Headers(tenant="t"))


def penguiflow_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t.get_name().startswith("penguiflow")}


async def test_cancel_one_trace_spares_the_others(bounded, event_log):
    started: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
    release = asyncio.Event()
    observed: list[str] = []

    async def work(msg: Message, _ctx: Any) -> Message:
        started[msg.payload].set()
        try:
            if msg.payload == "victim":
                await asyncio.Event().wait()  # only cancellation ends this
            await release.wait()
        except asyncio.CancelledError:
            observed.append(msg.payload)
            raise
        return msg

    async def after(msg: Message, _ctx: Any) -> Message:
        return msg

    first, second = Node(work, policy=NONE), Node(after, policy=NONE)
    flow = create(first.to(second), second.to(), queue_maxsize=8, middlewares=[event_log])
    flow.run()
    victim, survivor = env("victim"), env("survivor")
    await flow.emit(victim)
    await bounded(started["victim"].wait())
    # Queue more of the victim's messages behind it, then a survivor.
    extra = [
        Message(payload="victim", headers=victim.headers, trace_id=victim.trace_id)
        for _ in range(3)
    ]
    for message in extra:
        await flow.emit(message)
    await flow.emit(survivor)
    assert sum(f.qsize() for f in flow.floes) == 4

    assert await bounded(flow.cancel(victim.trace_id)) is True
    assert observed == ["victim"]
    # The worker moved on to the survivor; nothing of the victim is left anywhere.
    await bounded(started["survivor"].wait())
    assert all(
        getattr(item, "trace_id", None) != victim.trace_id for f in flow.floes for item in f.items()
    )
    release.set()
    out = await bounded(flow.fetch())
    assert out.trace_id == survivor.trace_id
    # Idempotent: the trace is gone now, and events were emitted once.
    assert await flow.cancel(victim.trace_id) is False
    await flow.drain_events()
    assert len(event_log.of("trace_cancel_start")) == 1
    assert len(event_log.of("trace_cancel_finish")) == 1
    assert event_log.of("trace_cancel_finish")[0].extra["dropped"] == 3
    assert "node_cancelled" in event_log.types("work")
    await bounded(flow.stop())
    assert penguiflow_tasks() == set()


async def test_concurrent_cancels_emit_events_once(bounded, event_log):
    entered = asyncio.Event()

    async def stuck(msg: Message, _ctx: Any) -> Message:
        entered.set()
        await asyncio.Event().wait()
        return msg

    flow = create(Node(stuck, policy=NONE).to(), middlewares=[event_log])
    flow.run()
    message = env("x")
    await flow.emit(message)
    await bounded(entered.wait())
    results = await bounded(asyncio.gather(*(flow.cancel(message.trace_id) for _ in range(3))))
    assert results == [True, True, True]
    await flow.drain_events()
    assert len(event_log.of("trace_cancel_start")) == 1
    assert len(event_log.of("trace_cancel_finish")) == 1
    await bounded(flow.stop())


async def test_unknown_trace_returns_false(stop_after):
    async def ok(msg: Any, _ctx: Any) -> Any:
        return msg

    flow = stop_after(create(Node(ok, policy=NONE).to()))
    flow.run()
    assert await flow.cancel("no-such-trace") is False


async def test_cancel_stops_playbook_and_its_tasks(bounded):
    playbook_started = asyncio.Event()
    playbook_cancelled = asyncio.Event()

    async def blocking_step(msg: Message, _ctx: Any) -> Message:
        playbook_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            playbook_cancelled.set()
            raise
        return msg

    def build_playbook() -> Any:
        return create(Node(blocking_step, policy=NONE).to())

    async def controller(msg: Message, ctx: Any) -> Message:
        result = await ctx.call_playbook(build_playbook, msg)
        return msg.model_copy(update={"payload": result})

    flow = create(Node(controller, policy=NONE).to())
    flow.run()
    before = len(asyncio.all_tasks())
    message = env("go")
    await flow.emit(message)
    await bounded(playbook_started.wait())
    assert len(penguiflow_tasks()) == 2  # the parent's worker and the playbook's worker
    assert await bounded(flow.cancel(message.trace_id)) is True
    assert playbook_cancelled.is_set()
    assert len(penguiflow_tasks()) == 1  # the playbook's worker is gone
    assert len(asyncio.all_tasks()) == before
    # The flow still works for other traces... the controller's next playbook blocks too,
    # so check with a plain cancel-free path: the worker is alive and takes messages.
    other = env("other")
    await flow.emit(other)
    playbook_started.clear()
    await bounded(playbook_started.wait())
    assert await bounded(flow.cancel(other.trace_id)) is True
    await bounded(flow.stop())
    assert penguiflow_tasks() == set()


async def test_ctx_emit_of_cancelled_trace_raises_trace_cancelled(bounded):
    inside = asyncio.Event()
    seen: list[type[BaseException]] = []

    async def emitter(msg: Message, ctx: Any) -> None:
        inside.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            # A node that ignores cancellation and keeps emitting is refused.
            try:
                await ctx.emit(msg)
            except TraceCancelled as exc:
                seen.append(type(exc))
            return None

    async def sink(msg: Any, _ctx: Any) -> Any:
        return msg

    sink_node = Node(sink, policy=NONE)
    flow = create(Node(emitter, policy=NONE).to(sink_node), sink_node.to())
    flow.run()
    message = env("x")
    await flow.emit(message)
    await bounded(inside.wait())
    assert await bounded(flow.cancel(message.trace_id)) is True
    assert seen == [TraceCancelled]
    # The worker recovered: it still serves other traces.
    inside.clear()
    await flow.emit(env("y"))
    await bounded(inside.wait())
    await bounded(flow.stop())
    assert penguiflow_tasks() == set()


async def test_cancel_releases_producer_blocked_on_full_floe(bounded):
    hold = asyncio.Event()
    entered = asyncio.Event()

    async def slow(msg: Message, _ctx: Any) -> Message:
        entered.set()
        await hold.wait()
        return msg

    flow = create(Node(slow, policy=NONE).to(), queue_maxsize=1)
    flow.run()
    victim = env("v")
    await flow.emit(victim)
    await bounded(entered.wait())
    await flow.emit(Message(payload="v2", headers=victim.headers, trace_id=victim.trace_id))
    blocked = asyncio.create_task(
        flow.emit(Message(payload="v3", headers=victim.headers, trace_id=victim.trace_id))
    )
    await asyncio.sleep(0)
    assert not blocked.done()
    assert await bounded(flow.cancel(victim.trace_id)) is True
    # The blocked emit of the cancelled trace fails instead of sneaking in later.
    with contextlib.suppress(TraceCancelled):
        await bounded(blocked)
    assert sum(f.qsize() for f in flow.floes) == 0
    await bounded(flow.stop())


async def test_cancel_and_stop_reach_a_controller_that_never_suspends(bounded):
    async def spin(msg: Message, _ctx: Any) -> Message:
        return msg  # never awaits anything: only the runtime can give the loop a turn

    node = Node(spin, allow_cycle=True, policy=NONE)
    flow = create(node.to(node))
    flow.run()
    looping = Message(payload=WM(query="q", budget_hops=None), headers=Headers(tenant="a"))
    await flow.emit(looping)
    await asyncio.sleep(0)
    assert await bounded(flow.cancel(looping.trace_id)) is True
    await flow.emit(
        Message(payload=WM(query="again", budget_hops=None), headers=Headers(tenant="a"))
    )
    await asyncio.sleep(0)
    await bounded(flow.stop())
    assert penguiflow_tasks() == set()


async def test_emitting_into_a_cancelled_trace_is_not_a_node_failure(bounded, event_log):
    """A node forwarding an envelope of a trace being cancelled is neither retried nor failed."""
    entered = asyncio.Event()
    forwarded = asyncio.Event()

    async def hold(msg: Message, _ctx: Any) -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await forwarded.wait()  # keep the cancel in progress until `forward` has tried
        return None

    async def forward(item: Any, ctx: Any) -> None:
        try:
            await ctx.emit(item["envelope"])  # payload-only message carrying an envelope
        finally:
            forwarded.set()

    async def sink(msg: Any, _ctx: Any) -> Any:
        return msg

    retrying = NodePolicy(validate="none", max_retries=3, backoff_base=0)
    hold_node, fwd, sink_node = (
        Node(hold, policy=NONE),
        Node(forward, policy=retrying),
        Node(sink, policy=NONE),
    )
    flow = create(hold_node.to(), fwd.to(sink_node), sink_node.to(), middlewares=[event_log])
    flow.run()
    victim = env("v")
    await flow.emit(victim, to=hold_node)
    await bounded(entered.wait())
    cancelling = asyncio.create_task(flow.cancel(victim.trace_id))
    await asyncio.sleep(0)
    await flow.emit({"envelope": victim}, to=fwd)
    assert await bounded(cancelling) is True
    assert forwarded.is_set()
    await bounded(flow.stop())
    assert event_log.types("forward") == ["node_start", "node_cancelled"]
    assert event_log.types("sink") == []
