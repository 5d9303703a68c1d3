"""Patterns: map_concurrent, predicate_router, union_router and join_k."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from penguiflow import (
    FlowError,
    FlowErrorCode,
    FlowEvent,
    Headers,
    Message,
    ModelRegistry,
    Node,
    NodePolicy,
    PenguiFlow,
    create,
)
from penguiflow.patterns import (
    join_k,
    join_pending,
    map_concurrent,
    predicate_router,
    union_router,
)
from penguiflow.policies import RoutingRequest

NONE = NodePolicy(validate="none")
HEADERS = Headers(tenant="acme")

Stop = Callable[[PenguiFlow], PenguiFlow]


def sink(name: str) -> Node:
    """A pass-through node that tags the envelope with its own name."""

    async def fn(msg: Any, _ctx: Any) -> Any:
        if isinstance(msg, Message):
            msg.meta["via"] = name
        return msg

    return Node(fn, name=name, policy=NONE)


def envelope(payload: Any, **headers: Any) -> Message:
    return Message(payload=payload, headers=Headers(tenant="acme", **headers))


# -- map_concurrent ---------------------------------------------------------------


async def test_map_concurrent_returns_results_in_input_order() -> None:
    finished = {i: asyncio.Event() for i in range(6)}
    order: list[int] = []

    async def work(i: int) -> int:
        if i < 5:
            await finished[i + 1].wait()  # complete in reverse order
        order.append(i)
        finished[i].set()
        return i * 10

    out = await asyncio.wait_for(map_concurrent(range(6), work, max_concurrency=6), 5)
    assert order == [5, 4, 3, 2, 1, 0]
    assert out == [0, 10, 20, 30, 40, 50]


async def test_map_concurrent_never_exceeds_the_limit() -> None:
    live = 0
    peak = 0

    async def work(i: int) -> int:
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        for _ in range(i % 3 + 1):
            await asyncio.sleep(0)
        live -= 1
        return i

    out = await asyncio.wait_for(map_concurrent(list(range(50)), work, max_concurrency=4), 5)
    assert out == list(range(50))
    assert peak == 4


async def test_map_concurrent_empty_input() -> None:
    async def work(i: int) -> int:
        raise AssertionError("never called")

    assert await map_concurrent([], work) == []


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
async def test_map_concurrent_rejects_a_bad_limit(bad: Any) -> None:
    async def work(i: int) -> int:
        return i

    with pytest.raises(ValueError, match="max_concurrency must be an int >= 1"):
        await map_concurrent([1], work, max_concurrency=bad)


async def test_map_concurrent_rejects_a_sync_worker() -> None:
    with pytest.raises(TypeError, match="not an awaitable"):
        await map_concurrent([1, 2], lambda i: i)  # type: ignore[arg-type, return-value]


async def test_map_concurrent_first_failure_cancels_the_rest_and_is_raised() -> None:
    baseline = asyncio.all_tasks()
    started: list[int] = []
    cancelled: list[int] = []
    blocked = asyncio.Event()

    async def work(i: int) -> int:
        started.append(i)
        if i == 2:
            raise KeyError("boom")
        try:
            await blocked.wait()  # never set: only cancellation ends it
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return i

    with pytest.raises(KeyError, match="boom"):
        await asyncio.wait_for(map_concurrent(range(10), work, max_concurrency=3), 5)
    assert started == [0, 1, 2]  # items after the failure were never started
    assert sorted(cancelled) == [0, 1]
    assert asyncio.all_tasks() == baseline  # no orphan task


async def test_map_concurrent_cancelling_the_caller_cancels_the_calls() -> None:
    baseline = asyncio.all_tasks() | {asyncio.current_task()}
    running = asyncio.Event()
    cancelled: list[int] = []

    async def work(i: int) -> int:
        running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return i

    task = asyncio.create_task(map_concurrent(range(4), work, max_concurrency=2))
    await asyncio.wait_for(running.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == [0, 1]
    assert asyncio.all_tasks() <= baseline


# -- predicate_router -------------------------------------------------------------


async def test_router_is_a_plain_node_with_validate_none() -> None:
    router = predicate_router("triage", lambda msg: None)
    assert isinstance(router, Node)
    assert router.name == "triage"
    assert router.policy == NodePolicy(validate="none")
    custom = NodePolicy(validate="none", max_retries=2)
    assert predicate_router("t", lambda m: None, node_policy=custom).policy is custom


async def test_predicate_router_routes_by_name_node_and_list(stop_after: Stop, bounded: Any):
    a, b = sink("a"), sink("b")

    def pick(msg: Message) -> Any:
        return {"one": "a", "node": b, "both": ["a", b]}.get(msg.payload)

    router = predicate_router("router", pick)
    flow = stop_after(create(router.to(a, b), a.to(), b.to()))
    flow.run()
    for word in ("one", "node", "both"):
        await flow.emit(envelope(word))
    got = [await bounded(flow.fetch()) for _ in range(4)]
    routes = sorted((out.payload, out.meta["via"]) for out in got)
    assert routes == [("both", "a"), ("both", "b"), ("node", "b"), ("one", "a")]
    both = [out for out in got if out.payload == "both"]
    assert both[0].meta is not both[1].meta  # each branch has its own meta


async def test_predicate_router_drops_on_none_or_empty(stop_after: Stop, bounded: Any):
    a = sink("a")
    router = predicate_router("router", lambda msg: None if msg.payload == 0 else [])
    flow = stop_after(create(router.to(a), a.to()))
    flow.run()
    for payload in (0, 1):
        msg = envelope(payload)
        await flow.emit(msg)
        await bounded(flow.wait_idle(msg.trace_id))
    assert all(floe.qsize() == 0 for floe in flow.floes)  # nothing reached Rookery


async def test_predicate_router_async_predicate_and_payload_only(stop_after: Stop, bounded: Any):
    small, big = sink("small"), sink("big")

    async def by_size(value: int) -> str:
        await asyncio.sleep(0)
        return "big" if value > 10 else "small"

    router = predicate_router("router", by_size)
    flow = stop_after(create(router.to(small, big), small.to(), big.to()))
    flow.run()
    await flow.emit(3)
    await flow.emit(30)
    assert await bounded(flow.fetch("small")) == 3
    assert await bounded(flow.fetch("big")) == 30


async def test_unknown_target_fails_naming_router_and_successors(stop_after: Stop, bounded: Any):
    router = predicate_router("router", lambda msg: "nowhere")
    flow = stop_after(create(router.to(sink("a"), sink("b")), emit_errors_to_rookery=True))
    flow.run()
    await flow.emit(envelope("x"))
    error = await bounded(flow.fetch())
    assert isinstance(error, FlowError)
    assert error.code is FlowErrorCode.NODE_EXCEPTION
    assert error.node_name == "router"
    assert "predicate of router 'router' selected 'nowhere'" in error.message
    assert "successors: ['a', 'b']" in error.message


async def test_predicate_returning_a_bool_is_a_clear_error(stop_after: Stop, bounded: Any):
    router = predicate_router("router", lambda msg: True)
    flow = stop_after(create(router.to(sink("a")), emit_errors_to_rookery=True))
    flow.run()
    await flow.emit(envelope("x"))
    error = await bounded(flow.fetch())
    assert isinstance(error, FlowError)
    assert "predicate of router 'router' returned True" in error.message
    assert "None to drop" in error.message


async def test_router_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="predicate must be callable"):
        predicate_router("r", "a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="policy must be a RoutingPolicy"):
        predicate_router("r", lambda m: None, policy={"a": "b"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="node_policy must be a NodePolicy"):
        predicate_router("r", lambda m: None, node_policy="none")  # type: ignore[arg-type]


async def test_typed_router_still_sends_an_envelope(stop_after: Stop, bounded: Any):
    a = sink("a")
    router = predicate_router("router", lambda value: "a", node_policy=NodePolicy(validate="in"))
    registry = ModelRegistry()
    registry.register("router", int, int)
    flow = stop_after(create(router.to(a), a.to()))
    flow.run(registry=registry)
    msg = envelope("7")  # validated to the int 7 on the way in
    await flow.emit(msg)
    out = await bounded(flow.fetch())
    assert isinstance(out, Message)
    assert out.payload == 7 and out.trace_id == msg.trace_id and out.meta["via"] == "a"


async def test_router_retries_under_its_node_policy(stop_after: Stop, bounded: Any):
    calls = 0

    def flaky(msg: Any) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("first call fails")
        return "a"

    policy = NodePolicy(validate="none", max_retries=1, backoff_base=0)
    router = predicate_router("router", flaky, node_policy=policy)
    flow = stop_after(create(router.to(sink("a"))))
    flow.run()
    await flow.emit(envelope("x"))
    assert (await bounded(flow.fetch())).payload == "x"
    assert calls == 2


# -- routing policies inside routers ------------------------------------------------


class Recorder:
    """A policy that records its requests and answers with a fixed decision."""

    def __init__(self, decision: Callable[[RoutingRequest], Any]) -> None:
        self.decision = decision
        self.requests: list[RoutingRequest] = []

    def select(self, request: RoutingRequest) -> Any:
        self.requests.append(request)
        return self.decision(request)


async def test_policy_can_override_keep_and_drop(stop_after: Stop, bounded: Any):
    a, b = sink("a"), sink("b")
    answers = {"override": "b", "keep": None, "drop": None}

    def decide(request: RoutingRequest) -> Any:
        word = request.message.payload
        return request.proposed if word == "keep" else answers[word]

    policy = Recorder(decide)
    router = predicate_router("router", lambda msg: "a", policy=policy)
    flow = stop_after(create(router.to(a, b), a.to(), b.to()))
    flow.run()
    for word in ("override", "keep", "drop"):
        msg = envelope(word)
        await flow.emit(msg)
        if word == "drop":
            await bounded(flow.wait_idle(msg.trace_id))
    results = [await bounded(flow.fetch()) for _ in range(2)]
    assert sorted((out.payload, out.meta["via"]) for out in results) == [
        ("keep", "a"),
        ("override", "b"),
    ]
    assert all(floe.qsize() == 0 for floe in flow.floes)  # "drop" went nowhere
    first = policy.requests[0]
    assert first.node_name == "router"
    assert first.proposed == (a,) and first.proposed_names == ("a",)
    assert first.trace_id == first.message.trace_id
    assert first.context.owner is router


async def test_async_policy_is_awaited(stop_after: Stop, bounded: Any):
    class AsyncPolicy:
        async def select(self, request: RoutingRequest) -> list[str]:
            await asyncio.sleep(0)
            return ["a", "b"]

    router = predicate_router("router", lambda msg: None, policy=AsyncPolicy())
    flow = stop_after(create(router.to(sink("a"), sink("b"))))
    flow.run()
    await flow.emit(envelope("x"))
    vias = sorted([(await bounded(flow.fetch())).meta["via"] for _ in range(2)])
    assert vias == ["a", "b"]


async def test_policy_naming_a_non_successor_fails_clearly(stop_after: Stop, bounded: Any):
    policy = Recorder(lambda request: "ghost")
    router = predicate_router("router", lambda msg: "a", policy=policy)
    flow = stop_after(create(router.to(sink("a")), emit_errors_to_rookery=True))
    flow.run()
    await flow.emit(envelope("x"))
    error = await bounded(flow.fetch())
    assert isinstance(error, FlowError) and error.node_name == "router"
    assert "routing policy" in error.message
    assert "selected 'ghost', which is not a successor of 'router'" in error.message
    assert "successors: ['a']" in error.message


# -- union_router ------------------------------------------------------------------


class Search(BaseModel):
    kind: Literal["search"] = "search"
    query: str


class Answer(BaseModel):
    kind: Literal["answer"] = "answer"
    text: str


Request = Annotated[Search | Answer, Field(discriminator="kind")]


async def test_union_router_routes_envelopes_by_class_name(stop_after: Stop, bounded: Any):
    search, answer = sink("Search"), sink("Answer")
    router = union_router("by_kind", Request)
    flow = stop_after(create(router.to(search, answer), search.to(), answer.to()))
    flow.run()
    first = envelope({"kind": "search", "query": "penguins"})
    await flow.emit(first)
    await flow.emit(envelope(Answer(text="42")))
    out_search = await bounded(flow.fetch("Search"))
    out_answer = await bounded(flow.fetch("Answer"))
    assert out_search.payload == Search(query="penguins")  # validated, dict -> model
    assert out_search.trace_id == first.trace_id and out_search.headers == first.headers
    assert out_answer.payload == Answer(text="42")


async def test_union_router_matches_a_literal_discriminator(stop_after: Stop, bounded: Any):
    search, answer = sink("search"), sink("answer")
    router = union_router("by_kind", Request)
    flow = stop_after(create(router.to(search, answer), search.to(), answer.to()))
    flow.run()
    await flow.emit({"kind": "answer", "text": "hi"})  # payload-only
    assert await bounded(flow.fetch("answer")) == Answer(text="hi")


async def test_union_router_without_a_matching_successor(stop_after: Stop, bounded: Any):
    router = union_router("by_kind", Request)
    flow = stop_after(create(router.to(sink("Search")), emit_errors_to_rookery=True))
    flow.run()
    await flow.emit(envelope({"kind": "answer", "text": "hi"}))
    error = await bounded(flow.fetch())
    assert isinstance(error, FlowError) and error.node_name == "by_kind"
    assert "no successor for variant 'Answer'" in error.message
    assert "'Answer' or 'answer'" in error.message and "successors: ['Search']" in error.message


async def test_union_router_rejects_an_invalid_payload(stop_after: Stop, bounded: Any):
    router = union_router("by_kind", Request)
    flow = stop_after(create(router.to(sink("Search")), emit_errors_to_rookery=True))
    flow.run()
    await flow.emit(envelope({"kind": "weather"}))
    error = await bounded(flow.fetch())
    assert isinstance(error, FlowError) and error.code is FlowErrorCode.NODE_EXCEPTION
    assert "validation error" in error.message


async def test_union_router_consults_its_policy(stop_after: Stop, bounded: Any):
    policy = Recorder(lambda request: "audit")
    router = union_router("by_kind", Request, policy=policy)
    search, audit = sink("Search"), sink("audit")
    flow = stop_after(create(router.to(search, audit), search.to(), audit.to()))
    flow.run()
    await flow.emit(envelope({"kind": "search", "query": "q"}))
    out = await bounded(flow.fetch())
    assert out.meta["via"] == "audit" and out.payload == Search(query="q")
    assert policy.requests[0].proposed == (search,)


def test_union_router_rejects_a_type_pydantic_cannot_validate() -> None:
    with pytest.raises(TypeError, match=r"union_router\('r'\): pydantic cannot validate"):
        union_router("r", object())


# -- join_k ------------------------------------------------------------------------


class Processed:
    """A middleware whose event is set once ``node`` has finished ``count`` calls."""

    def __init__(self, node: str, count: int = 1) -> None:
        self.node = node
        self.left = count
        self.event = asyncio.Event()

    def __call__(self, event: FlowEvent) -> None:
        if event.event_type == "node_success" and event.node_name == self.node:
            self.left -= 1
            if self.left == 0:
                self.event.set()


def branch(name: str, drop: Callable[[Any], bool] = lambda payload: False) -> Node:
    """A fan-out branch: tags meta and returns (name, payload), or drops."""

    async def fn(msg: Any, _ctx: Any) -> Any:
        if isinstance(msg, Message):
            if drop(msg.payload):
                return None
            msg.meta[name] = True
            msg.meta["last"] = name
            return msg.model_copy(update={"payload": (name, msg.payload)})
        return (name, msg)

    return Node(fn, name=name, policy=NONE)


async def test_join_k_aggregates_envelopes_in_arrival_order(stop_after: Stop, bounded: Any):
    gate = asyncio.Event()

    async def slow(msg: Message, _ctx: Any) -> Message:
        await gate.wait()
        msg.meta["last"] = "slow"
        return msg.model_copy(update={"payload": ("slow", msg.payload)})

    async def src(msg: Message, _ctx: Any) -> Message:
        return msg

    start = Node(src, name="src", policy=NONE)
    fast, late = branch("fast"), Node(slow, name="slow", policy=NONE)
    join = join_k("join", 2)
    seen = Processed("join")
    adjacency = (start.to(fast, late), fast.to(join), late.to(join), join.to())
    flow = stop_after(create(*adjacency, middlewares=[seen]))
    flow.run()
    msg = Message(payload=1, headers=HEADERS, meta={"request": "r1"})
    await flow.emit(msg)
    await bounded(seen.event.wait())  # the join holds the fast branch
    assert join_pending(join) == 1
    gate.set()
    out = await bounded(flow.fetch())
    assert out.payload == [("fast", 1), ("slow", 1)]
    assert out.trace_id == msg.trace_id and out.headers == msg.headers
    assert out.meta == {"request": "r1", "fast": True, "last": "slow"}  # later arrival wins
    assert join_pending(join) == 0


async def test_data_set_in_meta_before_the_fan_out_reaches_the_join(stop_after: Stop, bounded: Any):
    """The recipe of docs/patterns.md: branches that see only payloads still carry ``meta``."""

    async def plan(question: str, ctx: Any) -> str:
        ctx.meta["question"] = question  # each branch gets a (shallow) copy of this meta
        return question.lower()

    async def vector(query: str, ctx: Any) -> str:
        ctx.meta["vector_hits"] = 2  # a key of its own survives the merge too
        return f"vector:{query}"

    async def keyword(query: str, _ctx: Any) -> str:
        return f"keyword:{query}"

    typed = NodePolicy(validate="both")
    start = Node(plan, name="plan", policy=typed)
    left, right = Node(vector, policy=typed), Node(keyword, policy=typed)
    registry = ModelRegistry()
    for name in ("plan", "vector", "keyword"):
        registry.register(name, str, str)
    join = join_k("join", 2)
    flow = stop_after(create(start.to(left, right), left.to(join), right.to(join), join.to()))
    flow.run(registry=registry)
    msg = Message(payload="Why Penguins?", headers=HEADERS, meta={"request": "r1"})
    await flow.emit(msg)
    out = await bounded(flow.fetch(trace_id=msg.trace_id))
    assert sorted(out.payload) == ["keyword:why penguins?", "vector:why penguins?"]
    assert out.meta == {"request": "r1", "question": "Why Penguins?", "vector_hits": 2}
    found = next(node for node in flow.nodes if node.name == "join")
    assert found is join and join_pending(found) == 0


async def test_join_k_with_payloads_shares_one_bucket(stop_after: Stop, bounded: Any):
    join = join_k("join", 3)
    flow = stop_after(create(join.to()))
    flow.run()
    for value in range(7):
        await flow.emit(value)
    assert await bounded(flow.fetch()) == [0, 1, 2]
    assert await bounded(flow.fetch()) == [3, 4, 5]
    await flow.emit(7)
    await flow.emit(8)
    assert await bounded(flow.fetch()) == [6, 7, 8]  # 6 waited in the bucket
    assert join_pending(join) == 0


async def test_join_k_frees_the_bucket_of_a_trace_that_ends_short(stop_after: Stop, bounded: Any):
    async def src(msg: Message, _ctx: Any) -> Message:
        return msg

    start = Node(src, name="src", policy=NONE)
    keep, drop = branch("keep"), branch("drop", drop=lambda payload: True)
    join = join_k("join", 2)
    flow = stop_after(create(start.to(keep, drop), keep.to(join), drop.to(join), join.to()))
    flow.run()
    msg = envelope("x")
    await flow.emit(msg)
    await bounded(flow.wait_idle(msg.trace_id))
    assert join_pending(join) == 0


async def test_join_k_frees_the_bucket_of_a_cancelled_trace(stop_after: Stop, bounded: Any):
    release = asyncio.Event()
    waiting = asyncio.Event()

    async def src(msg: Message, _ctx: Any) -> Message:
        return msg

    async def stuck(msg: Message, _ctx: Any) -> Message:
        waiting.set()
        await release.wait()
        return msg

    start = Node(src, name="src", policy=NONE)
    fast, slow = branch("fast"), Node(stuck, name="slow", policy=NONE)
    join = join_k("join", 2)
    seen = Processed("join")
    adjacency = (start.to(fast, slow), fast.to(join), slow.to(join), join.to())
    flow = stop_after(create(*adjacency, middlewares=[seen]))
    flow.run()
    msg = envelope("x")
    await flow.emit(msg)
    await bounded(waiting.wait())
    await bounded(seen.event.wait())
    assert join_pending(join) == 1
    assert await bounded(flow.cancel(msg.trace_id)) is True
    assert join_pending(join) == 0


async def test_join_k_with_an_unwrapping_registry(stop_after: Stop, bounded: Any):
    join = join_k("join", 2, node_policy=NodePolicy(validate="both"))
    registry = ModelRegistry()
    registry.register("join", int, list[int])
    flow = stop_after(create(join.to()))
    flow.run(registry=registry)
    msg = envelope("5")
    await flow.emit(msg)
    await flow.emit(msg.model_copy(update={"payload": "6"}))
    out = await bounded(flow.fetch())
    assert isinstance(out, Message) and out.payload == [5, 6] and out.trace_id == msg.trace_id


async def test_join_k_of_one_wraps_each_message() -> None:
    join = join_k("join", 1)
    flow = create(join.to())
    flow.run()
    try:
        await flow.emit(envelope("a"))
        out = await asyncio.wait_for(flow.fetch(), 5)
        assert out.payload == ["a"]
    finally:
        await flow.stop()


@pytest.mark.parametrize("bad", [0, -2, 2.0, True, "3", None])
def test_join_k_rejects_a_bad_k(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"join_k\('join'\): k must be an int >= 1"):
        join_k("join", bad)


def test_join_pending_needs_a_join_node() -> None:
    with pytest.raises(TypeError, match="is not a node built by join_k"):
        join_pending(sink("a"))
    assert join_k("j", 2).policy == NodePolicy(validate="none")
