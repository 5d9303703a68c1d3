"""The seed README's "Patterns Toolkit" and "Routing & dynamic policies" sections, as written.

Those sections show call shapes rather than programs:
``map_concurrent(items, worker, max_concurrency=8)``,
``predicate_router(name, predicate, policy=None)``,
``union_router(name, discriminated_model)``, ``join_k(name, k)`` and
``DictRoutingPolicy(mapping, key_getter=None)``. Each test defines the names
a call assumes, makes the call exactly as written, and checks the behaviour
the README promises next to it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from penguiflow import FlowError, FlowErrorCode, Headers, Message, Node, NodePolicy, create
from penguiflow.patterns import join_k, map_concurrent, predicate_router, union_router
from penguiflow.policies import DictRoutingPolicy, RoutingPolicy

__all__: list[str] = []

NONE = NodePolicy(validate="none")


def echo(name: str) -> Node:
    async def fn(msg: Any, _ctx: Any) -> Any:
        return msg

    return Node(fn, name=name, policy=NONE)


async def bounded(awaitable: Any) -> Any:
    return await asyncio.wait_for(awaitable, 10)


async def test_map_concurrent_fans_one_message_into_bounded_tasks() -> None:
    # "fan a single message out into many in-memory tasks (e.g., batch document
    # enrichment) while respecting a semaphore"
    items = [f"doc-{i}" for i in range(20)]
    live = peak = 0

    async def worker(doc: str) -> str:
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0)
        live -= 1
        return doc.upper()

    # fmt: off
    results = await map_concurrent(items, worker, max_concurrency=8)
    # fmt: on
    assert results == [doc.upper() for doc in items]
    assert peak == 8


async def test_predicate_router_with_a_policy_that_overrides_or_drops() -> None:
    # "route messages to successor nodes based on simple boolean functions over payload
    # or headers, optionally consulting a runtime policy to override or filter"
    name = "guardrail"
    tool, human = echo("tool"), echo("human")

    def predicate(msg: Message) -> str:
        return "tool" if msg.headers.topic == "lookup" else "human"

    policy = DictRoutingPolicy({"blocked": None, "escalate": "human"})

    # fmt: off
    router = predicate_router(name, predicate, policy=policy)
    # fmt: on
    flow = create(router.to(tool, human), tool.to(), human.to())
    flow.run()
    try:
        sent = {
            topic: Message(payload=topic, headers=Headers(tenant="t", topic=topic))
            for topic in ("lookup", "chat", "escalate", "blocked")
        }
        for msg in sent.values():
            await flow.emit(msg)
        await bounded(flow.wait_idle(sent["blocked"].trace_id))
        assert (await bounded(flow.fetch(trace_id=sent["lookup"].trace_id))).payload == "lookup"
        routed = {
            topic: await bounded(flow.fetch(trace_id=sent[topic].trace_id))
            for topic in ("chat", "escalate")
        }
        assert {t: m.payload for t, m in routed.items()} == {"chat": "chat", "escalate": "escalate"}
        assert all(floe.qsize() == 0 for floe in flow.floes)  # "blocked" was dropped
    finally:
        await flow.stop()


async def test_union_router_forwards_each_variant_to_its_typed_successor() -> None:
    # "accept a Pydantic discriminated union and forward each variant to the
    # matching typed successor node"
    class Search(BaseModel):
        kind: Literal["search"] = "search"
        query: str

    class Summarize(BaseModel):
        kind: Literal["summarize"] = "summarize"
        text: str

    discriminated_model = Annotated[Search | Summarize, Field(discriminator="kind")]
    name = "dispatch"

    # fmt: off
    router = union_router(name, discriminated_model)
    # fmt: on
    search, summarize = echo("Search"), echo("Summarize")
    flow = create(router.to(search, summarize), search.to(), summarize.to())
    flow.run()
    try:
        await flow.emit(
            Message(payload={"kind": "summarize", "text": "t"}, headers=Headers(tenant="t"))
        )
        out = await bounded(flow.fetch("Summarize"))
        assert out.payload == Summarize(text="t")
    finally:
        await flow.stop()


async def test_join_k_aggregates_k_messages_per_trace() -> None:
    # "aggregate k messages per trace_id before resuming downstream work"
    name, k = "consensus", 3

    async def fan(msg: Message, _ctx: Any) -> Message:
        return msg

    start = Node(fan, name="fan", policy=NONE)
    voters = [echo(f"voter{i}") for i in range(k)]
    # fmt: off
    join = join_k(name, k)
    # fmt: on
    flow = create(start.to(*voters), *(v.to(join) for v in voters), join.to())
    flow.run()
    try:
        msgs = [Message(payload=f"q{i}", headers=Headers(tenant="t")) for i in range(4)]
        for msg in msgs:
            await flow.emit(msg)
        for msg in msgs:
            out = await bounded(flow.fetch(trace_id=msg.trace_id))
            assert out.payload == [msg.payload] * k
    finally:
        await flow.stop()


def test_dict_routing_policy_from_config_json_yaml_or_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # "a config-driven implementation ready for JSON/YAML/env inputs"
    mapping = {"billing": "ledger", "refund": ["ledger", "audit"]}
    # fmt: off
    policy = DictRoutingPolicy(mapping, key_getter=None)
    # fmt: on
    assert isinstance(policy, RoutingPolicy)
    assert policy.mapping == {"billing": ("ledger",), "refund": ("ledger", "audit")}
    assert DictRoutingPolicy.from_json(json.dumps(mapping)).mapping == policy.mapping
    monkeypatch.setenv("PENGUIFLOW_ROUTES", json.dumps(mapping))
    assert DictRoutingPolicy.from_env("PENGUIFLOW_ROUTES").mapping == policy.mapping
    # YAML: parse it with the YAML library of your choice and pass the dict.


async def test_helpers_are_nodes_and_inherit_retries_timeouts_and_validation() -> None:
    # "All helpers are regular Node instances under the hood, so they inherit retries,
    # timeouts, and validation just like hand-written nodes."
    attempts = 0

    async def slow_then_fast(msg: Message) -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await asyncio.Event().wait()  # the first attempt hangs until the timeout
        return "out"

    policy = NodePolicy(validate="none", timeout_s=0.05, max_retries=1, backoff_base=0)
    router = predicate_router("router", slow_then_fast, node_policy=policy)
    for helper in (router, join_k("j", 2), union_router("u", int | str)):
        assert isinstance(helper, Node)
    flow = create(router.to(echo("out")), emit_errors_to_rookery=True)
    flow.run()
    try:
        await flow.emit(Message(payload="x", headers=Headers(tenant="t")))
        assert (await bounded(flow.fetch())).payload == "x"
        assert attempts == 2
        # Validation: the union router rejects a payload that is no variant.
        bad = create(union_router("u", int | bool).to(echo("int")), emit_errors_to_rookery=True)
        bad.run()
        try:
            await bad.emit(Message(payload=[1], headers=Headers(tenant="t")))
            error = await bounded(bad.fetch())
            assert isinstance(error, FlowError) and error.code is FlowErrorCode.NODE_EXCEPTION
        finally:
            await bad.stop()
    finally:
        await flow.stop()
