"""The code snippets of the original README run as written and do what the README says.

Each snippet is kept verbatim between ``# fmt: off`` / ``# fmt: on`` (the
formatter would otherwise rewrite it); tests only add the definitions a
snippet assumes, such as ``PackOut`` and ``packer_node``, and the asserts.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from penguiflow import (
    WM,
    Context,
    FinalAnswer,
    FlowEvent,
    ModelRegistry,
    Node,
    NodePolicy,
    PenguiFlow,
    PlanStep,
    Thought,
    create,
)
from penguiflow.types import Headers, Message

__all__: list[str] = []


async def bounded(awaitable: Any) -> Any:
    return await asyncio.wait_for(awaitable, 10)


async def test_message_snippet() -> None:
    # fmt: off
    # isort: off
    from pydantic import BaseModel
    from penguiflow.types import Message, Headers
    # isort: on

    class QueryIn(BaseModel):
        text: str

    msg = Message(
        payload=QueryIn(text="unique reach last 30 days"),
        headers=Headers(tenant="acme")
    )
    msg.meta["request_id"] = "abc123"
    # fmt: on

    assert msg.payload == QueryIn(text="unique reach last 30 days")
    assert msg.headers.tenant == "acme"
    assert msg.meta == {"request_id": "abc123"}
    assert len(msg.trace_id) == 32 and int(msg.trace_id, 16) >= 0  # uuid4 hex by default
    assert msg.deadline_s is None
    assert msg.text == "unique reach last 30 days"  # reads fall through to the payload


async def test_node_snippet() -> None:
    from pydantic import BaseModel

    class QueryIn(BaseModel):
        text: str

    # fmt: off
    from penguiflow.node import Node

    class QueryOut(BaseModel):
        topic: str

    async def triage(msg: QueryIn, ctx) -> QueryOut:
        return QueryOut(topic="metrics")

    triage_node = Node(triage, name="triage")
    # fmt: on

    assert triage_node.name == "triage"
    assert triage_node.policy == NodePolicy()  # validate="both", no timeout, no retries
    assert triage_node.allow_cycle is False
    assert await triage_node.func(QueryIn(text="x"), None) == QueryOut(topic="metrics")


async def test_node_snippet_signature_rule() -> None:
    # "Node functions must always accept two positional parameters": checked at Node(...).
    async def no_ctx(msg: Any) -> Any:
        return msg

    async def unused_ctx(msg: Any, _ctx: Any) -> Any:
        return msg

    with pytest.raises(ValueError, match="two positional parameters"):
        Node(no_ctx)
    assert Node(unused_ctx).name == "unused_ctx"


def _packer_node() -> Node:
    async def packer(msg: Any, ctx: Context) -> Any:
        return msg

    return Node(packer, name="packer")


async def test_flow_snippet() -> None:
    async def triage(msg: Any, ctx: Context) -> Any:
        return msg

    triage_node = Node(triage, name="triage")
    packer_node = _packer_node()

    # fmt: off
    from penguiflow.core import create

    flow = create(
        triage_node.to(packer_node)
    )
    # fmt: on

    assert isinstance(flow, PenguiFlow)
    assert flow.graph.ingress == (triage_node,)  # fed by OpenSea
    assert flow.graph.egress == (packer_node,)  # feeds Rookery
    assert flow.graph.successors[triage_node] == (packer_node,)
    assert not flow.running


async def test_running_a_flow_snippet(capsys: pytest.CaptureFixture[str]) -> None:
    # The Message, Node and Flow snippets, which "Running a Flow" continues.
    # fmt: off
    # isort: off
    from pydantic import BaseModel
    from penguiflow.types import Message, Headers
    # isort: on

    class QueryIn(BaseModel):
        text: str

    msg = Message(
        payload=QueryIn(text="unique reach last 30 days"),
        headers=Headers(tenant="acme")
    )
    msg.meta["request_id"] = "abc123"

    from penguiflow.node import Node

    class QueryOut(BaseModel):
        topic: str

    async def triage(msg: QueryIn, ctx) -> QueryOut:
        return QueryOut(topic="metrics")

    triage_node = Node(triage, name="triage")
    # fmt: on

    # What the snippets assume but the README never shows.
    class PackOut(BaseModel):
        prompt: str

    async def packer(msg: QueryOut, ctx: Context) -> PackOut:
        return PackOut(prompt=f"[{msg.topic}] summarize")

    packer_node = Node(packer, name="packer")

    # fmt: off
    from penguiflow.core import create

    flow = create(
        triage_node.to(packer_node)
    )
    # fmt: on

    async def running_a_flow() -> Message:
        # fmt: off
        from penguiflow.registry import ModelRegistry

        registry = ModelRegistry()
        registry.register("triage", QueryIn, QueryOut)
        registry.register("packer", QueryOut, PackOut)

        flow.run(registry=registry)

        await flow.emit(msg)          # emit into OpenSea
        out = await flow.fetch()      # fetch from Rookery
        print(out.payload)            # PackOut(...)
        await flow.stop()
        # fmt: on
        return out

    try:
        out = await bounded(running_a_flow())
    finally:
        await bounded(flow.stop())

    assert isinstance(out, Message)
    assert isinstance(out.payload, PackOut)
    assert out.payload == PackOut(prompt="[metrics] summarize")
    # The typed nodes got payloads; the envelope around them was kept.
    assert out.trace_id == msg.trace_id
    assert out.meta == {"request_id": "abc123"}
    assert capsys.readouterr().out == "prompt='[metrics] summarize'\n"


async def test_running_a_flow_registry_must_cover_validating_nodes() -> None:
    # "flow.run(registry=...) verifies every validating node is registered".
    async def packer(msg: Any, ctx: Context) -> Any:
        return msg

    flow = create(Node(packer, name="packer").to())
    with pytest.raises(ValueError, match="packer"):
        flow.run(registry=ModelRegistry())


# -- Quickstart: examples/quickstart/main.py is the seed's Quickstart verbatim (inside an
# async main); tests/examples/test_examples.py runs it and checks its output.


# -- Dynamic Controller Loops ---------------------------------------------------------------
# The README describes the controller in prose:
# 1. a Node with allow_cycle=True wired controller.to(controller);
# 2. a Message whose payload is a WM; the runtime increments hops and enforces
#    budget_hops and deadline_s;
# 3. the controller attaches Thought/PlanStep artifacts and returns a FinalAnswer,
#    which goes to Rookery immediately.


def _build_controller(facts_needed: int, seen: list[int]) -> Node:
    async def controller(msg: Message, ctx: Context) -> Message:
        wm: WM = msg.payload
        seen.append(wm.hops)
        if len(wm.facts) >= facts_needed:
            return msg.model_copy(update={"payload": FinalAnswer(text=", ".join(wm.facts))})
        thought = Thought(steps=[PlanStep(kind="search", args={"hop": wm.hops})], rationale="more")
        new_wm = wm.model_copy(
            update={"facts": [*wm.facts, f"fact{wm.hops}"], "thoughts": [*wm.thoughts, thought]}
        )
        return msg.model_copy(update={"payload": new_wm})

    return Node(controller, name="controller", allow_cycle=True, policy=NodePolicy(validate="none"))


async def _run_controller(wm: WM, facts_needed: int, **message: Any) -> tuple[Message, list[int]]:
    seen: list[int] = []
    controller = _build_controller(facts_needed, seen)
    flow = create(controller.to(controller))
    flow.run()
    try:
        sent = Message(payload=wm, headers=Headers(tenant="acme"), **message)
        await bounded(flow.emit(sent))
        out = await bounded(flow.fetch())
    finally:
        await bounded(flow.stop())
    assert out.trace_id == sent.trace_id
    return out, seen


async def test_controller_loop_finishes_with_final_answer() -> None:
    out, seen = await _run_controller(WM(query="q", budget_hops=8), facts_needed=3)

    assert isinstance(out.payload, FinalAnswer)
    assert out.payload.text == "fact0, fact1, fact2"
    assert seen == [0, 1, 2, 3]  # hops incremented by the runtime on each pass


async def test_controller_loop_hop_budget_becomes_final_answer() -> None:
    out, seen = await _run_controller(WM(query="q", budget_hops=2), facts_needed=10)

    assert isinstance(out.payload, FinalAnswer)
    assert out.payload.text.startswith("Hop budget exhausted: 2 hops of 2 allowed")
    assert seen == [0, 1]


async def test_controller_loop_deadline_becomes_final_answer() -> None:
    out, seen = await _run_controller(
        WM(query="q", budget_hops=None), facts_needed=10, deadline_s=time.time() - 1
    )

    assert isinstance(out.payload, FinalAnswer)
    assert out.payload.text.startswith("Deadline exceeded")
    assert seen == []  # the expired message never reached the controller


async def test_controller_without_allow_cycle_is_rejected() -> None:
    from penguiflow import CycleError

    async def loop(msg: Any, ctx: Context) -> Any:
        return msg

    node = Node(loop, name="loop")
    with pytest.raises(CycleError):
        create(node.to(node))


# -- Playbooks & Subflows -------------------------------------------------------------------


async def test_playbook_snippet() -> None:
    from pydantic import BaseModel

    class Docs(BaseModel):
        query: str
        docs: list[str]

    class Compressed(BaseModel):
        text: str

    playbook_traces: list[str | None] = []
    playbook_tenants: list[str] = []

    async def retrieve(msg: Message, ctx: Context) -> Message:
        playbook_traces.append(ctx.trace_id)
        playbook_tenants.append(msg.headers.tenant)
        msg.meta["retrieved"] = 3
        docs = Docs(query=msg.payload, docs=["c", "a", "b"])
        return msg.model_copy(update={"payload": docs})

    async def rerank(docs: Docs, ctx: Context) -> Docs:
        return docs.model_copy(update={"docs": sorted(docs.docs)})

    async def compress(docs: Docs, ctx: Context) -> Compressed:
        return Compressed(text=f"{docs.query}: {'+'.join(docs.docs[:2])}")

    def build_retrieval_playbook() -> tuple[PenguiFlow, ModelRegistry]:
        retrieve_node = Node(retrieve, name="retrieve", policy=NodePolicy(validate="none"))
        rerank_node = Node(rerank, name="rerank")
        compress_node = Node(compress, name="compress")
        registry = ModelRegistry()
        registry.register("rerank", Docs, Docs)
        registry.register("compress", Docs, Compressed)
        flow = create(retrieve_node.to(rerank_node), rerank_node.to(compress_node))
        return flow, registry

    # fmt: off
    from penguiflow.types import Message

    async def controller(msg: Message, ctx) -> Message:
        playbook_result = await ctx.call_playbook(build_retrieval_playbook, msg)
        return msg.model_copy(update={"payload": playbook_result})
    # fmt: on

    events: list[FlowEvent] = []
    flow = create(
        Node(controller, name="controller", policy=NodePolicy(validate="none")).to(),
        middlewares=[events.append],
    )
    flow.run()
    try:
        sent = Message(payload="penguins", headers=Headers(tenant="acme"), meta={"req": "r1"})
        await bounded(flow.emit(sent))
        out = await bounded(flow.fetch())
    finally:
        await bounded(flow.stop())

    # The first Rookery payload of the playbook comes back like a function's return value.
    assert out.payload == Compressed(text="penguins: a+b")
    # Trace id and headers are reused inside the playbook; its meta is merged back.
    assert out.trace_id == sent.trace_id
    assert playbook_traces == [sent.trace_id]
    assert playbook_tenants == ["acme"]
    assert out.meta == {"req": "r1", "retrieved": 3}
    assert [e.event_type for e in events] == ["node_start", "node_success"]
