"""Flow lifecycle, routing, OpenSea/Rookery and bad-input behaviour of penguiflow.core."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import (
    DEFAULT_QUEUE_MAXSIZE,
    CycleError,
    FetchTimeout,
    Flow,
    FlowState,
    Headers,
    Message,
    ModelRegistry,
    Node,
    NodePolicy,
    TraceEnded,
    create,
)

NONE = NodePolicy(validate="none")


def passthrough(name: str, **kwargs: Any) -> Node:
    async def fn(msg: Any, _ctx: Any) -> Any:
        return msg

    return Node(fn, name=name, policy=NONE, **kwargs)


def env(payload: Any, **kwargs: Any) -> Message:
    return Message(payload=payload, headers=Headers(tenant="t"), **kwargs)


async def test_chain_delivers_in_order(stop_after, bounded):
    a, b, c = passthrough("a"), passthrough("b"), passthrough("c")
    flow = stop_after(create(a.to(b), b.to(c)))
    flow.run()
    for i in range(50):
        await flow.emit(i)
    got = [await bounded(flow.fetch()) for _ in range(50)]
    assert got == list(range(50))
    assert DEFAULT_QUEUE_MAXSIZE == 64


async def test_fan_out_sends_to_every_successor_and_none_forwards_nothing(stop_after, bounded):
    right_ran = asyncio.Event()

    async def left(msg: Any, _ctx: Any) -> Any:
        return f"left:{msg}"

    async def right(msg: Any, _ctx: Any) -> None:
        right_ran.set()
        return None

    src = passthrough("src")
    left_n, right_n = Node(left, policy=NONE), Node(right, policy=NONE)
    flow = stop_after(create(src.to(left_n, right_n), left_n.to(), right_n.to()))
    flow.run()
    await flow.emit("x")
    assert await bounded(flow.fetch()) == "left:x"
    # "right" returned None: it ran, but nothing of it reached Rookery.
    await bounded(right_ran.wait())
    assert flow.floes[-1].qsize() == 0 and all(f.qsize() == 0 for f in flow.floes)


async def test_fetch_scoped_to_trace_leaves_other_results(stop_after, bounded):
    flow = stop_after(create(passthrough("only").to()))
    flow.run()
    first, second = env("one"), env("two")
    await flow.emit(first)
    await flow.emit(second)
    out = await bounded(flow.fetch(trace_id=second.trace_id))
    assert out.payload == "two"
    out = await bounded(flow.fetch())
    assert out.payload == "one"


async def test_concurrent_trace_scoped_fetchers_get_their_own_results(stop_after, bounded):
    flow = stop_after(create(passthrough("only").to()))
    flow.run()
    messages = [env(i) for i in range(20)]
    fetchers = [asyncio.create_task(flow.fetch(trace_id=m.trace_id)) for m in reversed(messages)]
    for message in messages:
        await flow.emit(message)
    results = await bounded(asyncio.gather(*fetchers))
    assert [r.payload for r in results] == list(reversed(range(20)))


async def test_fetch_from_specific_egress_node(stop_after, bounded):
    src = passthrough("src")
    left, right = passthrough("left"), passthrough("right")
    flow = stop_after(create(src.to(left, right), left.to(), right.to()))
    flow.run()
    await flow.emit(1)
    assert await bounded(flow.fetch(from_="right")) == 1
    assert await bounded(flow.fetch_any([left])) == 1
    with pytest.raises(ValueError, match="'src' does not feed Rookery"):
        await flow.fetch(from_="src")


async def test_emit_to_named_ingress_and_unknown_target(stop_after, bounded):
    a, b = passthrough("a"), passthrough("b")
    flow = stop_after(create(a.to(), b.to()))
    flow.run()
    await flow.emit("only-b", to="b")
    assert await bounded(flow.fetch(from_="b")) == "only-b"
    with pytest.raises(ValueError, match="unknown target 'nope'"):
        await flow.emit("x", to="nope")


async def test_ctx_emit_to_non_successor_is_rejected(stop_after, bounded):
    errors: list[BaseException] = []

    async def router(msg: Any, ctx: Any) -> None:
        try:
            await ctx.emit(msg, to="ghost")
        except ValueError as exc:
            errors.append(exc)
        await ctx.emit(msg, to="sink")

    sink = passthrough("sink")
    flow = stop_after(create(Node(router, policy=NONE).to(sink), sink.to()))
    flow.run()
    await flow.emit("m")
    assert await bounded(flow.fetch()) == "m"
    assert "cannot emit to 'ghost'" in str(errors[0]) and "'sink'" in str(errors[0])


async def test_emit_blocks_when_floe_full_and_resumes(stop_after, bounded):
    gate = asyncio.Event()
    started = asyncio.Event()

    async def slow(msg: Any, _ctx: Any) -> Any:
        started.set()
        await gate.wait()
        return msg

    flow = stop_after(create(Node(slow, policy=NONE).to(), queue_maxsize=2))
    flow.run()
    await flow.emit(0)
    await bounded(started.wait())  # 0 is in the node; the floe is empty again
    await flow.emit(1)
    await flow.emit(2)  # floe now full (2/2)
    with pytest.raises(asyncio.QueueFull):
        flow.emit_nowait(3)
    blocked = asyncio.create_task(flow.emit(3))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not blocked.done()  # backpressure: the producer waits
    gate.set()
    await bounded(blocked)
    assert [await bounded(flow.fetch()) for _ in range(4)] == [0, 1, 2, 3]


async def test_lifecycle_errors_are_clear(stop_after):
    flow = stop_after(create(passthrough("a").to()))
    with pytest.raises(RuntimeError, match="not running yet"):
        await flow.emit(1)
    flow.run()
    with pytest.raises(RuntimeError, match="only be called once"):
        flow.run()
    await flow.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        await flow.emit(1)
    with pytest.raises(RuntimeError, match="stopped"):
        await flow.fetch()
    with pytest.raises(RuntimeError, match="stopped"):
        flow.emit_nowait(1)
    assert await flow.cancel("whatever") is False


async def test_the_lifecycle_is_an_enum_and_the_flow_is_a_flow(stop_after):
    flow = stop_after(create(passthrough("a").to()))
    assert isinstance(flow, Flow)
    assert flow.state is FlowState.CREATED and not flow.running
    flow.run()
    assert flow.state is FlowState.RUNNING and flow.running
    assert "state='running'" in repr(flow)
    await flow.stop()
    assert flow.state is FlowState.STOPPED and not flow.running
    assert flow.statistics().state is FlowState.STOPPED


async def test_statistics_snapshot_queues_traces_and_losses(stop_after, bounded):
    gate = asyncio.Event()
    started = asyncio.Event()

    async def slow(msg: Any, _ctx: Any) -> Any:
        started.set()
        await gate.wait()
        return msg

    head = Node(slow, name="head", policy=NONE)
    tail = passthrough("tail")
    flow = stop_after(create(head.to(tail), queue_maxsize=8))
    before = flow.statistics()
    assert before.state is FlowState.CREATED and before.total_queued == 0
    flow.run()
    messages = [env(i) for i in range(4)]
    for message in messages:
        await flow.emit(message)
    await bounded(started.wait())
    stats = flow.statistics()
    # One message is inside "head" (out of its floe), three wait for it.
    assert stats.queued == {"head": 3, "tail": 0}
    assert stats.queued_in_rookery == 0 and stats.total_queued == 3
    assert stats.traces_in_flight == 4
    assert stats.dropped_events == 0 and stats.state_store_errors == 0
    gate.set()
    # Floes are FIFO: once the last result is out, the three before it wait in Rookery.
    await bounded(flow.fetch(trace_id=messages[-1].trace_id))
    stats = flow.statistics()
    assert stats.queued == {"head": 0, "tail": 0} and stats.queued_in_rookery == 3
    assert stats.traces_in_flight == 3  # a result waiting in Rookery keeps its trace in flight
    for message in messages[:-1]:
        await bounded(flow.fetch(trace_id=message.trace_id))
    assert flow.statistics().traces_in_flight == 0


async def test_first_result_returns_the_traces_result_or_says_it_ended(stop_after, bounded):
    async def maybe(msg: Any, _ctx: Any) -> Any:
        return None if msg.payload == "drop" else msg

    flow = stop_after(create(Node(maybe, name="maybe", policy=NONE).to()))
    flow.run()
    kept, dropped = env("keep"), env("drop")
    await flow.emit(kept)
    await flow.emit(dropped)
    result = await bounded(flow.first_result(kept.trace_id))
    assert result.payload == "keep" and result.trace_id == kept.trace_id
    with pytest.raises(TraceEnded, match=dropped.trace_id) as ended:
        await bounded(flow.first_result(dropped.trace_id))
    assert isinstance(ended.value, LookupError) and ended.value.trace_id == dropped.trace_id
    with pytest.raises(TraceEnded):
        await bounded(flow.first_result("never-emitted"))


async def test_first_result_is_bounded_by_its_timeout(stop_after):
    gate = asyncio.Event()

    async def hold(msg: Any, _ctx: Any) -> Any:
        await gate.wait()
        return msg

    flow = stop_after(create(Node(hold, name="hold", policy=NONE).to()))
    flow.run()
    message = env("x")
    await flow.emit(message)
    with pytest.raises(FetchTimeout, match=r"within 0\.05s") as timed_out:
        await flow.first_result(message.trace_id, timeout=0.05)
    assert isinstance(timed_out.value, TimeoutError)
    gate.set()
    assert (await asyncio.wait_for(flow.first_result(message.trace_id), 5)).payload == "x"
    await flow.emit(7)  # payload-only: no trace, the first result of any kind
    assert await asyncio.wait_for(flow.first_result(None), 5) == 7


def test_run_outside_event_loop_is_a_clear_error():
    flow = create(passthrough("a").to())
    with pytest.raises(RuntimeError, match="running event loop"):
        flow.run()


async def test_stop_is_prompt_with_blocked_nodes_and_idempotent(bounded):
    forever = asyncio.Event()
    started = asyncio.Event()

    async def stuck(msg: Any, _ctx: Any) -> Any:
        started.set()
        await forever.wait()
        return msg

    flow = create(Node(stuck, policy=NONE).to(), queue_maxsize=1)
    flow.run()
    await flow.emit(1)
    await bounded(started.wait())
    await flow.emit(2)
    producer = asyncio.create_task(flow.emit(3))  # blocked on a full floe
    fetcher = asyncio.create_task(flow.fetch())  # blocked on an empty Rookery
    await asyncio.sleep(0)
    await bounded(asyncio.gather(flow.stop(), flow.stop()))
    await bounded(flow.stop())
    with pytest.raises(RuntimeError, match="stopped"):
        await bounded(producer)
    with pytest.raises(RuntimeError, match="stopped"):
        await bounded(fetcher)
    assert {t for t in asyncio.all_tasks() if t.get_name().startswith("penguiflow")} == set()


async def test_registry_must_cover_validating_nodes():
    class In(BaseModel):
        x: int

    a = Node(_identity, name="a")
    b = Node(_identity, name="b")
    c = Node(_identity, name="c", policy=NONE)
    registry = ModelRegistry()
    registry.register("a", In, In)
    flow = create(a.to(b), b.to(c))
    with pytest.raises(ValueError, match=r"\['b'\]"):
        flow.run(registry=registry)


async def _identity(msg: Any, _ctx: Any) -> Any:
    return msg


class Ask(BaseModel):
    x: int


class Told(BaseModel):
    y: int


async def double(msg: Ask, _ctx: Any) -> Told:
    # Returns a dict on purpose: only output validation turns it into a Told.
    return {"y": msg.x * 2}  # type: ignore[return-value]


async def which(msg: Ask, _ctx: Any) -> Told:
    return {"got": type(msg).__name__}  # type: ignore[return-value]


async def stamp(msg: Message, _ctx: Any) -> Message:
    msg.meta["stamped"] = type(msg.payload).__name__
    return msg


async def half_typed(msg: Ask, _ctx: Any) -> Any:
    return msg


async def unresolvable(msg: Nowhere, _ctx: Any) -> Told:  # noqa: F821
    return Told(y=0)


async def test_annotated_nodes_validate_without_a_registry_entry(stop_after, bounded):
    # Before: flow.run() refused them ("not registered") although the types were declared.
    registry = ModelRegistry()
    flow = stop_after(create(Node(double).to()))
    flow.run(registry=registry)
    await flow.emit({"x": "3"})
    assert await bounded(flow.fetch()) == Told(y=6)  # input coerced, output validated
    assert registry.names() == []  # registered for that flow only

    unvalidated = stop_after(create(Node(which).to()))
    unvalidated.run()  # no registry: nothing validated, as before
    await unvalidated.emit({"x": 3})
    assert await bounded(unvalidated.fetch()) == {"got": "dict"}


async def test_message_annotation_means_the_node_takes_the_envelope(stop_after, bounded):
    typed, envelope = Node(double), Node(stamp)
    flow = stop_after(create(typed.to(envelope), envelope.to()))
    flow.run(registry=ModelRegistry())
    sent = env({"x": 2})
    await flow.emit(sent)
    out = await bounded(flow.fetch())
    assert isinstance(out, Message) and out.trace_id == sent.trace_id
    assert out.payload == Told(y=4) and out.meta["stamped"] == "Told"


async def test_an_explicit_entry_wins_over_annotations(stop_after, bounded):
    registry = ModelRegistry()
    registry.register("which", dict, dict)
    flow = stop_after(create(Node(which).to()))
    flow.run(registry=registry)
    await flow.emit({"x": 3})
    assert await bounded(flow.fetch()) == {"got": "dict"}


async def test_nodes_not_fully_annotated_are_still_named():
    half = Node(half_typed)
    flow = create(Node(double).to(half), half.to())
    with pytest.raises(ValueError, match=r"\['half_typed'\] validate .* annotate them as"):
        flow.run(registry=ModelRegistry())
    broken = create(Node(unresolvable).to())
    with pytest.raises(TypeError, match=r"node 'unresolvable': cannot resolve .* 'Nowhere'"):
        broken.run(registry=ModelRegistry())


def test_cycle_without_allow_cycle_fails_at_create():
    a, b = passthrough("a"), passthrough("b")
    src = passthrough("src")
    with pytest.raises(CycleError, match="a -> b -> a"):
        create(src.to(a), a.to(b), b.to(a))
    loop = passthrough("loop")
    with pytest.raises(CycleError, match="allow_cycle=True"):
        create(loop.to(loop))


def test_cycles_allowed_by_controller_or_flow_flag():
    ctl = passthrough("ctl", allow_cycle=True)
    flow = create(ctl.to(ctl))
    assert flow.graph.ingress == (ctl,) and ctl in flow.graph.egress
    a, b, src = passthrough("a"), passthrough("b"), passthrough("src")
    assert create(src.to(a), a.to(b), b.to(a), allow_cycles=True).graph.cycles


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"queue_maxsize": -1}, "queue_maxsize"),
        ({"queue_maxsize": 1.5}, "queue_maxsize"),
        ({"middlewares": [42]}, "middlewares must be callables"),
    ],
)
def test_bad_flow_options(kwargs: dict[str, Any], match: str):
    with pytest.raises((ValueError, TypeError), match=match):
        create(passthrough("a").to(), **kwargs)


def test_bad_adjacencies():
    with pytest.raises(TypeError, match=r"node\.to"):
        create("not a node")
    with pytest.raises(ValueError, match="at least one node"):
        create()
    with pytest.raises(ValueError, match="named 'dup'"):
        create(passthrough("dup").to(passthrough("dup")))


async def test_wait_idle_returns_when_the_trace_has_left_the_flow(stop_after, bounded):
    gate = asyncio.Event()

    async def held(msg: Any, _ctx: Any) -> Any:
        await gate.wait()
        return msg

    flow = stop_after(create(Node(held, policy=NONE).to()))
    flow.run()
    message = env("x")
    await flow.emit(message)
    idle = asyncio.create_task(flow.wait_idle(message.trace_id))
    await asyncio.sleep(0)
    assert not idle.done()
    gate.set()
    assert (await bounded(flow.fetch())).payload == "x"
    await bounded(idle)
    await bounded(flow.wait_idle("unknown-trace"))


async def test_on_trace_idle_runs_when_the_trace_leaves_the_flow(stop_after, bounded):
    idle: list[str] = []
    errors: list[BaseException] = []

    async def remember(msg: Any, ctx: Any) -> Any:
        try:
            ctx.on_trace_idle(idle.append)
        except RuntimeError as exc:
            errors.append(exc)
        return msg

    flow = stop_after(create(Node(remember, policy=NONE).to()))
    flow.run()
    message = env("x")
    await flow.emit(message)
    await bounded(flow.fetch())  # the result left Rookery: nothing of the trace remains
    assert idle == [message.trace_id]
    await flow.emit("payload-only")
    await bounded(flow.fetch())
    assert "needs an envelope" in str(errors[0])
