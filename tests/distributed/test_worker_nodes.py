"""Worker nodes over the in-memory bus: owner and workers in one process, same semantics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import (
    FinalAnswer,
    FlowError,
    FlowErrorCode,
    FlowEvent,
    Headers,
    Message,
    ModelRegistry,
    Node,
    NodePolicy,
    create,
)
from penguiflow.bus import InMemoryBus
from penguiflow.distributed import RemoteWorker
from penguiflow.state import InMemoryStateStore

Start = Callable[..., Awaitable[Any]]


class Doc(BaseModel):
    text: str


class Scored(BaseModel):
    text: str
    score: int


async def prep(doc: Doc, ctx: Any) -> Doc:
    return Doc(text=doc.text.strip())


async def score(doc: Doc, ctx: Any) -> Scored:
    if doc.text == "boom":
        raise RuntimeError("cannot score boom")
    return Scored(text=doc.text, score=len(doc.text))


async def pack(item: Scored, ctx: Any) -> str:
    return f"{item.text}={item.score}"


def build_flow(**options: Any) -> tuple[Any, ModelRegistry]:
    """The same code builds the owner's flow and the workers' (options differ)."""
    p = Node(prep, name="prep", policy=NodePolicy(validate="both"))
    s = Node(score, name="score", policy=NodePolicy(validate="both", max_retries=1))
    k = Node(pack, name="pack", policy=NodePolicy(validate="in"))
    registry = ModelRegistry()
    registry.register("prep", Doc, Doc)
    registry.register("score", Doc, Scored)
    registry.register("pack", Scored, str)
    return create(p.to(s), s.to(k), **options), registry


def msg(text: str, tenant: str = "acme") -> Message:
    return Message(payload=Doc(text=text), headers=Headers(tenant=tenant))


async def results(flow: Any, messages: list[Message]) -> dict[str, Any]:
    for message in messages:
        await flow.emit(message)
    out: dict[str, Any] = {}
    for _ in messages:
        item = await asyncio.wait_for(flow.fetch(), 10)
        trace = item.trace_id
        out[trace] = item.payload if isinstance(item, Message) else item
    return out


async def test_a_worker_node_gives_the_same_results_as_in_process(
    memory_bus: InMemoryBus, running: Start
) -> None:
    texts = [f" doc {i} " for i in range(40)]
    local, registry = build_flow()
    await running(local, registry)
    batch = [msg(t) for t in texts]
    expected = await results(local, batch)

    owner, registry = build_flow(message_bus=memory_bus, worker_nodes=["score"])
    await running(owner, registry)
    worker_flow, worker_registry = build_flow()
    worker = await running(RemoteWorker(worker_flow, "score", memory_bus, registry=worker_registry))
    got = await results(owner, batch)
    assert got == expected
    assert worker.processed == len(texts)
    assert owner.worker_nodes == {owner.graph.node_named("score")}
    assert owner.bus_namespace == worker.namespace


async def test_work_is_shared_by_the_workers_of_a_node(
    memory_bus: InMemoryBus, running: Start
) -> None:
    owner, registry = build_flow(message_bus=memory_bus, worker_nodes=["score"])
    await running(owner, registry)
    workers = [
        await running(RemoteWorker(build_flow()[0], "score", memory_bus, registry=registry))
        for _ in range(2)
    ]
    got = await results(owner, [msg(f"d{i}") for i in range(60)])
    assert sorted(got.values()) == sorted(f"d{i}={len(f'd{i}')}" for i in range(60))
    assert sum(w.processed for w in workers) == 60
    assert all(w.processed > 0 for w in workers)


async def test_remote_failures_come_back_as_flow_errors_after_the_nodes_retries(
    memory_bus: InMemoryBus, running: Start
) -> None:
    seen: list[FlowEvent] = []
    owner, registry = build_flow(
        message_bus=memory_bus,
        worker_nodes=["score"],
        emit_errors_to_rookery=True,
        middlewares=[seen.append],
    )
    await running(owner, registry)
    await running(RemoteWorker(build_flow()[0], "score", memory_bus, registry=registry))
    message = msg("boom")
    await owner.emit(message)
    error = await asyncio.wait_for(owner.fetch(), 10)
    assert isinstance(error, FlowError)
    assert (error.code, error.node_name, error.trace_id) == (
        FlowErrorCode.NODE_EXCEPTION,
        "score",
        message.trace_id,
    )
    assert "cannot score boom" in error.message
    await owner.drain_events()
    remote = [e for e in seen if e.node_name == "score"]
    kinds = [e.event_type for e in remote]
    # The worker's events are replayed to the owner's middlewares; the owner adds node_failed.
    assert kinds.count("node_start") == 2 and "node_retry" in kinds
    assert kinds.count("node_failed") == 1
    assert all(e.extra.get("worker") for e in remote if e.event_type == "node_start")


async def test_validation_runs_on_the_worker_with_the_registry(
    memory_bus: InMemoryBus, running: Start
) -> None:
    async def wrong(doc: Doc, ctx: Any) -> Any:
        return {"not": "scored"}

    def flow_with(func: Any, **options: Any) -> Any:
        s = Node(func, name="score", policy=NodePolicy(validate="both"))
        k = Node(pack, name="pack", policy=NodePolicy(validate="none"))
        return create(s.to(k), **options)

    registry = ModelRegistry()
    registry.register("score", Doc, Scored)
    owner = flow_with(
        score, message_bus=memory_bus, worker_nodes=["score"], emit_errors_to_rookery=True
    )
    await running(owner, registry)
    await running(RemoteWorker(flow_with(wrong), "score", memory_bus, registry=registry))
    await owner.emit(msg("x"))
    error = await asyncio.wait_for(owner.fetch(), 10)
    assert isinstance(error, FlowError) and error.code is FlowErrorCode.VALIDATION_ERROR


async def test_emits_to_named_successors_and_rookery_are_routed_like_in_process(
    memory_bus: InMemoryBus, running: Start
) -> None:
    async def split(message: Message, ctx: Any) -> None:
        await ctx.emit(message.model_copy(update={"payload": "left"}), to="left")
        await ctx.emit(message.model_copy(update={"payload": "right"}), to="right")

    async def tag(message: Message, ctx: Any) -> Message:
        return message.model_copy(update={"payload": f"{ctx.owner.name}:{message.payload}"})

    def flow(**options: Any) -> Any:
        s = Node(split, name="split", policy=NodePolicy(validate="none"))
        left = Node(tag, name="left", policy=NodePolicy(validate="none"))
        right = Node(tag, name="right", policy=NodePolicy(validate="none"))
        return create(s.to(left, right), **options)

    owner = flow(message_bus=memory_bus, worker_nodes=["split", "right"])
    await running(owner)
    await running(RemoteWorker(flow(), "split", memory_bus))
    await running(RemoteWorker(flow(), "right", memory_bus))
    message = Message(payload="x", headers=Headers(tenant="acme"))
    await owner.emit(message)
    got = {(await asyncio.wait_for(owner.fetch(), 10)).payload for _ in range(2)}
    assert got == {"left:left", "right:right"}


async def test_a_remote_controller_loops_back_through_the_bus(
    memory_bus: InMemoryBus, running: Start
) -> None:
    from penguiflow import WM

    async def think(message: Message, ctx: Any) -> Message:
        wm = message.payload
        if len(wm.facts) == 3:
            return message.model_copy(update={"payload": FinalAnswer(text=",".join(wm.facts))})
        facts = [*wm.facts, f"f{len(wm.facts)}"]
        return message.model_copy(update={"payload": wm.model_copy(update={"facts": facts})})

    def flow(**options: Any) -> Any:
        node = Node(think, name="think", allow_cycle=True, policy=NodePolicy(validate="none"))
        return create(node.to(node), **options)

    owner = flow(message_bus=memory_bus, worker_nodes=["think"])
    await running(owner)
    worker = await running(RemoteWorker(flow(), "think", memory_bus))
    await owner.emit(Message(payload=WM(query="q"), headers=Headers(tenant="acme")))
    out = await asyncio.wait_for(owner.fetch(), 10)
    assert out.payload == FinalAnswer(text="f0,f1,f2")
    assert worker.processed == 4


async def test_cancel_interrupts_the_node_on_the_worker(
    memory_bus: InMemoryBus, running: Start
) -> None:
    started = asyncio.Event()
    interrupted = asyncio.Event()

    async def hang(message: Message, ctx: Any) -> Message:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            interrupted.set()
            raise
        return message

    def flow(**options: Any) -> Any:
        return create(Node(hang, name="hang", policy=NodePolicy(validate="none")), **options)

    owner = flow(message_bus=memory_bus, worker_nodes=["hang"])
    await running(owner)
    worker = await running(RemoteWorker(flow(), "hang", memory_bus))
    message = Message(payload="x", headers=Headers(tenant="acme"))
    await owner.emit(message)
    await asyncio.wait_for(started.wait(), 10)
    assert await asyncio.wait_for(owner.cancel(message.trace_id), 10) is True
    await asyncio.wait_for(interrupted.wait(), 10)
    # The worker acknowledges the cancelled request without replying; the owner is idle.
    await asyncio.wait_for(owner.wait_idle(message.trace_id), 10)
    assert worker.processed == 0
    # The trace's later deliveries are skipped, other traces still run.
    other = Message(payload="y", headers=Headers(tenant="acme"))
    started.clear()
    await owner.emit(other)
    await asyncio.wait_for(started.wait(), 10)


async def test_a_redelivered_request_is_answered_once(
    memory_bus: InMemoryBus, running: Start
) -> None:
    calls = 0
    second_started = asyncio.Event()
    discarded = asyncio.Event()

    async def slow_once(message: Message, ctx: Any) -> Message:
        nonlocal calls
        calls += 1
        if calls == 1:
            # Outlive ack_wait_s so the bus hands the request to the other worker too.
            await asyncio.wait_for(second_started.wait(), 10)
        else:
            second_started.set()
        return message.model_copy(update={"payload": f"done by call {calls}"})

    def watch(event: FlowEvent) -> None:
        if event.event_type == "remote_discarded":
            discarded.set()

    def flow(**options: Any) -> Any:
        return create(Node(slow_once, name="slow", policy=NodePolicy(validate="none")), **options)

    owner = flow(message_bus=memory_bus, worker_nodes=["slow"], middlewares=[watch])
    await running(owner)
    for _ in range(2):
        await running(RemoteWorker(flow(), "slow", memory_bus, ack_wait_s=0.2))
    message = Message(payload="x", headers=Headers(tenant="acme"))
    await owner.emit(message)
    first = await asyncio.wait_for(owner.fetch(), 10)
    await asyncio.wait_for(discarded.wait(), 10)
    await asyncio.wait_for(owner.wait_idle(message.trace_id), 10)
    assert first.trace_id == message.trace_id
    assert owner._runtime.rookery.qsize() == 0  # the second answer never reached Rookery
    assert calls >= 2  # at-least-once: maybe more redeliveries, one answer


async def test_a_payload_that_cannot_cross_fails_its_trace_not_the_flow(
    memory_bus: InMemoryBus, running: Start
) -> None:
    async def echo(message: Message, ctx: Any) -> Message:
        return message

    def flow(**options: Any) -> Any:
        return create(Node(echo, name="echo", policy=NodePolicy(validate="none")), **options)

    owner = flow(message_bus=memory_bus, worker_nodes=["echo"], emit_errors_to_rookery=True)
    await running(owner)
    await running(RemoteWorker(flow(), "echo", memory_bus))
    await owner.emit(Message(payload={1, 2}, headers=Headers(tenant="acme")))
    error = await asyncio.wait_for(owner.fetch(), 10)
    assert isinstance(error, FlowError) and error.code is FlowErrorCode.REMOTE_ERROR
    assert "worker node 'echo'" in error.message and "set" in error.message
    await owner.emit(Message(payload=[1, 2], headers=Headers(tenant="acme")))
    assert (await asyncio.wait_for(owner.fetch(), 10)).payload == [1, 2]


async def test_an_expired_deadline_gives_the_owners_final_answer(
    memory_bus: InMemoryBus, running: Start
) -> None:
    async def echo(message: Message, ctx: Any) -> Message:
        raise AssertionError("a late message must not run")

    def flow(**options: Any) -> Any:
        return create(Node(echo, name="echo", policy=NodePolicy(validate="none")), **options)

    owner = flow(message_bus=memory_bus, worker_nodes=["echo"])
    await running(owner)
    await running(RemoteWorker(flow(), "echo", memory_bus))
    await owner.emit(Message(payload="x", headers=Headers(tenant="acme"), deadline_s=1.0))
    out = await asyncio.wait_for(owner.fetch(), 10)
    assert isinstance(out.payload, FinalAnswer) and "deadline" in out.payload.text


async def test_the_owners_state_store_records_the_worker_nodes_events(
    memory_bus: InMemoryBus, running: Start
) -> None:
    store = InMemoryStateStore()
    owner, registry = build_flow(message_bus=memory_bus, worker_nodes=["score"], state_store=store)
    await running(owner, registry)
    await running(RemoteWorker(build_flow()[0], "score", memory_bus, registry=registry))
    message = msg("hello")
    await owner.emit(message)
    await asyncio.wait_for(owner.fetch(), 10)
    history = await owner.load_history(message.trace_id)
    by_node = [(e.node_name, e.kind) for e in history]
    assert ("score", "node_start") in by_node and ("score", "node_success") in by_node
    assert ("score", "remote_dispatch") in by_node
    assert all(e.tenant == "acme" for e in history)


def test_remote_nodes_is_a_deprecated_alias_of_worker_nodes() -> None:
    bus = InMemoryBus()
    with pytest.warns(DeprecationWarning, match=r"remote_nodes=\.\.\.\) is deprecated") as caught:
        owner, _ = build_flow(message_bus=bus, remote_nodes=["score"])
    # The warning points at the caller's line, not at penguiflow's own code.
    assert caught[0].filename == __file__
    assert owner.worker_nodes == {owner.graph.node_named("score")}
    with pytest.warns(DeprecationWarning, match="flow.remote_nodes is deprecated"):
        assert owner.remote_nodes == owner.worker_nodes
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(ValueError, match="not both"),
    ):
        build_flow(message_bus=bus, remote_nodes=["score"], worker_nodes=["score"])


def test_configuration_mistakes_fail_when_the_flow_is_built() -> None:
    bus = InMemoryBus()
    with pytest.raises(ValueError, match="need a message_bus"):
        build_flow(worker_nodes=["score"])
    with pytest.raises(ValueError, match="'nope', not a node of this flow"):
        build_flow(message_bus=bus, worker_nodes=["nope"])
    with pytest.raises(TypeError, match=r"message_bus must be a penguiflow\.bus\.MessageBus"):
        build_flow(message_bus=object(), worker_nodes=["score"])
    with pytest.raises(ValueError, match="bus namespace"):
        build_flow(message_bus=bus, bus_namespace="has.dots")
    flow = build_flow()[0]
    with pytest.raises(ValueError, match="no node 'nope'"):
        RemoteWorker(flow, "nope", bus)
    with pytest.raises(TypeError, match="bus must be"):
        RemoteWorker(flow, "score", "redis://x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="concurrency"):
        RemoteWorker(flow, "score", bus, concurrency=0)


def test_the_namespace_follows_the_graph_not_the_instance() -> None:
    a, b = build_flow()[0], build_flow()[0]
    assert a.bus_namespace == b.bus_namespace
    other = create(Node(prep, name="prep"))
    assert other.bus_namespace != a.bus_namespace
    assert build_flow(bus_namespace="orders")[0].bus_namespace == "orders"


async def test_two_owning_flows_share_the_workers_and_get_only_their_results(
    memory_bus: InMemoryBus, running: Start
) -> None:
    owners = []
    for _ in range(2):
        owner, registry = build_flow(message_bus=memory_bus, worker_nodes=["score"])
        owners.append(await running(owner, registry))
    worker = await running(RemoteWorker(build_flow()[0], "score", memory_bus, registry=registry))
    first = await results(owners[0], [msg(f"a{i}") for i in range(10)])
    second = await results(owners[1], [msg(f"bb{i}") for i in range(10)])
    assert sorted(first.values()) == sorted(f"a{i}={len(f'a{i}')}" for i in range(10))
    assert sorted(second.values()) == sorted(f"bb{i}={len(f'bb{i}')}" for i in range(10))
    assert worker.processed == 20
    for owner in owners:
        assert owner._runtime.rookery.qsize() == 0
