"""Planners inside flows (`planner_node`) and flows as planner tools (`flow_tool`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import (
    FlowError,
    FlowErrorCode,
    Headers,
    Message,
    ModelRegistry,
    Node,
    NodePolicy,
    NodeSpec,
    PenguiFlow,
    StreamChunk,
    build_catalog,
    create,
    tool,
)
from penguiflow.planner import PlannerFinish, ReactPlanner
from penguiflow.planner.flows import (
    FlowOrigin,
    FlowToolError,
    PlannerOutcome,
    PlannerResume,
    flow_origin,
    flow_tool,
    planner_node,
)
from penguiflow.planner.testing import ScriptedLLM

Script = list[Any]


# -- models and tools ---------------------------------------------------------------
class Ask(BaseModel):
    query: str


class Note(BaseModel):
    text: str = ""


class Seen(BaseModel):
    tenant: str | None
    flow_trace: str | None
    run_trace: str
    has_db: bool = False


class Lookup(BaseModel):
    order: str


class Order(BaseModel):
    order: str
    status: str
    tenant: str
    trace_id: str


class Refund(BaseModel):
    order: str


class Approval(BaseModel):
    approved: bool


DB = object()  # stands for a database handle: a Python object, never sent to the LLM


@tool(desc="Report where the call comes from")
async def whoami(args: Note, ctx: Any) -> Seen:
    origin = flow_origin(ctx)
    return Seen(
        tenant=origin.tenant if origin else None,
        flow_trace=origin.trace_id if origin else None,
        run_trace=ctx.trace_id,
        has_db=ctx.tool_context.get("db") is DB,
    )


@tool(desc="Ask a human to approve a refund", side_effects="write")
async def approve(args: Refund, ctx: Any) -> Approval:
    await ctx.pause("approval needed", {"order": args.order})
    raise AssertionError("pause hands control back to the caller")


def catalog(*entries: tuple[Any, Any, Any] | NodeSpec) -> list[NodeSpec]:
    registry = ModelRegistry()
    registry.register("whoami", Note, Seen)
    registry.register("approve", Refund, Approval)
    tools: list[Any] = [whoami, approve]
    specs: list[NodeSpec] = []
    for entry in entries:
        if isinstance(entry, NodeSpec):
            specs.append(entry)
        else:
            func, in_model, out_model = entry
            registry.register(func.__name__, in_model, out_model)
            tools.append(func)
    return build_catalog(tools, registry) + specs


def call(node: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"thought": f"call {node}", "next_node": node, "args": args}


def finish(answer: Any) -> dict[str, Any]:
    return {"thought": "done", "next_node": None, "answer": answer}


def request(messages: list[dict[str, str]]) -> dict[str, Any]:
    """The request (query and context) the planner sent the LLM."""
    first_user = next(m for m in messages if m["role"] == "user")
    return json.loads(first_user["content"])  # type: ignore[no-any-return]


def last_observation(messages: list[dict[str, str]]) -> Any:
    return json.loads(messages[-1]["content"])


def echo_observation(messages: list[dict[str, str]]) -> dict[str, Any]:
    """A scripted reply finishing with the last observation (or error) as the answer."""
    return finish(last_observation(messages))


def planner_with(script: Script, *entries: Any, **options: Any) -> ReactPlanner:
    return ReactPlanner(llm_client=ScriptedLLM(script), catalog=catalog(*entries), **options)


def envelope(payload: Any, tenant: str = "acme", **fields: Any) -> Message:
    return Message(payload=payload, headers=Headers(tenant=tenant), **fields)


async def fetch(flow: PenguiFlow, **options: Any) -> Any:
    return await asyncio.wait_for(flow.fetch(**options), 5)


def single(node: Node, **options: Any) -> PenguiFlow:
    return create(node.to(), emit_errors_to_rookery=True, **options)


# -- planner_node -------------------------------------------------------------------
async def test_each_message_runs_a_planner_and_the_outcome_keeps_the_envelope() -> None:
    async def ingest(msg: Message, _ctx: Any) -> Message:
        return msg.model_copy(update={"payload": {"query": msg.payload.strip()}})

    def answer(messages: list[dict[str, str]]) -> dict[str, Any]:
        seen = last_observation(messages)["observation"]
        return finish(f"{request(messages)['query']} for {seen['tenant']}")

    ingest_node = Node(ingest, policy=NodePolicy(validate="none"))
    node = planner_node(lambda: planner_with([call("whoami", {}), answer]))
    flow = create(ingest_node.to(node), node.to())
    flow.run()
    try:
        first = envelope("  where is A1? ", tenant="acme", meta={"request": 1})
        second = envelope("where is B2?", tenant="initech", meta={"request": 2})
        await flow.emit(first)
        await flow.emit(second)
        results = {(out := await fetch(flow)).trace_id: out for _ in range(2)}
    finally:
        await flow.stop()

    assert set(results) == {first.trace_id, second.trace_id}
    for sent, tenant in ((first, "acme"), (second, "initech")):
        out = results[sent.trace_id]
        assert isinstance(out, Message) and out.headers == sent.headers and out.meta == sent.meta
        outcome = out.payload
        assert isinstance(outcome, PlannerOutcome) and outcome.status == "finished"
        assert outcome.reason == "answer_complete"
        assert outcome.answer == f"{sent.payload.strip()} for {tenant}"
        seen = outcome.metadata["steps"][0]["observation"]
        assert (seen["tenant"], seen["flow_trace"]) == (tenant, sent.trace_id)
        # The planner run takes the flow trace as its own id.
        assert seen["run_trace"] == outcome.metadata["trace_id"] == sent.trace_id


async def test_context_callables_see_the_origin_and_reach_the_llm_and_the_tools() -> None:
    llm = ScriptedLLM([call("whoami", {}), echo_observation])
    planner = ReactPlanner(llm_client=llm, catalog=catalog())
    origins: list[FlowOrigin] = []

    def llm_context(origin: FlowOrigin) -> dict[str, Any]:
        origins.append(origin)
        return {"tenant": origin.tenant, "priority": origin.headers.priority}  # type: ignore[union-attr]

    node = planner_node(
        planner,
        name="agent",
        query=lambda payload: payload["question"],
        llm_context=llm_context,
        tool_context=lambda origin: {"db": DB},
    )
    flow = single(node)
    flow.run()
    try:
        sent = Message(
            payload={"question": "who am I?"}, headers=Headers(tenant="acme", priority=3)
        )
        await flow.emit(sent)
        out = await fetch(flow)
    finally:
        await flow.stop()

    assert request(llm.calls[0].messages) == {
        "query": "who am I?",
        "context": {"tenant": "acme", "priority": 3},
    }
    assert out.payload.answer["observation"]["has_db"] is True
    assert out.payload.answer["observation"]["flow_trace"] == sent.trace_id
    [origin] = origins
    assert (origin.node_name, origin.trace_id, origin.payload) == (
        "agent",
        sent.trace_id,
        sent.payload,
    )


async def test_default_query_and_llm_context_from_str_dict_and_model_payloads() -> None:
    queries: list[Any] = []

    def record(messages: list[dict[str, str]]) -> dict[str, Any]:
        queries.append(request(messages))
        return finish("ok")

    node = planner_node(lambda: planner_with([record]))
    flow = single(node)
    flow.run()
    try:
        payloads = ["as text", {"query": "as dict", "llm_context": {"k": 1}}, Ask(query="as model")]
        for payload in payloads:
            await flow.emit(envelope(payload))
            assert (await fetch(flow)).payload.answer == "ok"
        await flow.emit(envelope(42))
        error = await fetch(flow)
    finally:
        await flow.stop()

    assert queries == [
        {"query": "as text"},
        {"query": "as dict", "context": {"k": 1}},
        {"query": "as model"},
    ]
    assert isinstance(error, FlowError) and error.code is FlowErrorCode.NODE_EXCEPTION
    assert error.node_name == "planner" and "no query in a int payload" in error.message


async def test_a_typed_node_gets_the_payload_and_the_runtime_rewraps_the_outcome() -> None:
    received: list[Any] = []

    def query(payload: Any) -> str:
        received.append(payload)
        return str(payload.query)

    registry = ModelRegistry()
    registry.register("planner", Ask, PlannerOutcome)
    node = planner_node(
        lambda: planner_with([call("whoami", {}), echo_observation]),
        query=query,
        policy=NodePolicy(validate="both"),
    )
    flow = single(node)
    flow.run(registry=registry)
    try:
        sent = envelope({"query": "typed"})
        await flow.emit(sent)
        out = await fetch(flow)
    finally:
        await flow.stop()

    assert received == [Ask(query="typed")]
    assert isinstance(out, Message) and out.trace_id == sent.trace_id
    # Unwrapped payloads still come with their envelope: the tool saw the trace.
    assert out.payload.answer["observation"]["flow_trace"] == sent.trace_id


async def test_payload_only_flows_get_a_bare_outcome_and_no_trace() -> None:
    node = planner_node(lambda: planner_with([call("whoami", {}), echo_observation]))
    flow = single(node)
    flow.run()
    try:
        await flow.emit("who?")
        out = await fetch(flow)
    finally:
        await flow.stop()

    assert isinstance(out, PlannerOutcome) and out.status == "finished"
    seen = out.answer["observation"]
    assert (seen["tenant"], seen["flow_trace"]) == (None, None)


async def test_a_pause_comes_back_as_an_outcome_and_a_resume_message_continues_it() -> None:
    planner = planner_with(
        [call("approve", {"order": "A1"}), echo_observation, call("approve", {"order": "B2"})]
    )
    flow = single(planner_node(planner))
    flow.run()
    try:
        await flow.emit(envelope("refund A1", tenant="acme"))
        paused = (await fetch(flow)).payload
        assert (paused.status, paused.reason) == ("paused", "approval needed")
        assert paused.pause_payload == {"order": "A1"} and paused.answer is None
        assert paused.resume_token

        # Another tenant cannot resume this run, and trying does not use the token up.
        intruder = envelope(PlannerResume(resume_token=paused.resume_token), tenant="initech")
        await flow.emit(intruder)
        refused = await fetch(flow)
        assert isinstance(refused, FlowError) and "another tenant" in refused.message

        resume = PlannerResume(resume_token=paused.resume_token, user_input={"approved": True})
        await flow.emit(envelope(resume, tenant="acme"))
        done = (await fetch(flow)).payload
    finally:
        await flow.stop()

    assert (done.status, done.reason) == ("finished", "answer_complete")
    assert done.answer == {"observation": {"user_input": {"approved": True}}}
    assert done.metadata["steps"][0]["node_name"] == "approve"


async def test_cancelling_the_trace_interrupts_the_planner_and_its_blocked_tool() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    @tool(desc="Wait for something that never happens")
    async def block(args: Note, ctx: Any) -> Note:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return args

    def script(messages: list[dict[str, str]]) -> dict[str, Any]:
        if request(messages)["query"] == "block":
            return call("block", {})
        return finish("still serving")

    planner = ReactPlanner(
        llm_client=ScriptedLLM([script, script]), catalog=catalog((block, Note, Note))
    )
    flow = single(planner_node(planner))
    flow.run()
    try:
        stuck = envelope("block")
        await flow.emit(stuck)
        await asyncio.wait_for(started.wait(), 5)
        assert await asyncio.wait_for(flow.cancel(stuck.trace_id), 5) is True
        assert cancelled.is_set()
        # The node's worker survived: the next trace is planned and answered.
        await flow.emit(envelope("hello"))
        out = await fetch(flow)
    finally:
        await flow.stop()
    assert out.payload.answer == "still serving"


async def test_tools_stream_chunks_into_the_flow_through_the_origin() -> None:
    @tool(desc="Stream progress")
    async def progress(args: Note, ctx: Any) -> Note:
        origin = flow_origin(ctx)
        assert origin is not None
        await origin.emit_chunk("half")
        await origin.emit_chunk("all", done=True)
        return Note(text="streamed")

    node = planner_node(
        lambda: planner_with([call("progress", {}), finish("ok")], (progress, Note, Note))
    )
    flow = single(node)
    flow.run()
    try:
        sent = envelope("stream please")
        await flow.emit(sent)
        items = [await fetch(flow) for _ in range(3)]
    finally:
        await flow.stop()

    chunks = [item.payload for item in items[:2]]
    assert all(isinstance(c, StreamChunk) for c in chunks)
    assert [(c.text, c.seq, c.done) for c in chunks] == [("half", 0, False), ("all", 1, True)]
    assert {item.trace_id for item in items} == {sent.trace_id}
    assert items[2].payload.answer == "ok"


async def test_run_time_mistakes_become_flow_errors_naming_the_node() -> None:
    flows = [
        single(planner_node(lambda: "not a planner", name="p1")),  # type: ignore[arg-type,return-value]
        single(
            planner_node(planner_with([finish("x")]), name="p2", tool_context=lambda o: {"flow": 1})
        ),
    ]
    messages = []
    for flow in flows:
        flow.run()
        try:
            await flow.emit(envelope("q"))
            error = await fetch(flow)
        finally:
            await flow.stop()
        assert isinstance(error, FlowError)
        messages.append(error.message)
    assert "p1" in messages[0] and "returned str, not a ReactPlanner" in messages[0]
    assert "p2" in messages[1] and "must not set the key 'flow'" in messages[1]


async def test_bad_planner_node_arguments_fail_at_construction() -> None:
    planner = planner_with([finish("x")])

    async def async_factory() -> ReactPlanner:
        return planner

    with pytest.raises(TypeError, match="ReactPlanner or a function"):
        planner_node(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ReactPlanner or a function"):
        planner_node(ReactPlanner)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not an async function"):
        planner_node(async_factory)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="query= must be a plain function"):
        planner_node(planner, query="query")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tool_context= must be a plain function"):
        planner_node(planner, tool_context={"db": DB})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="policy must be a NodePolicy"):
        planner_node(planner, policy={"timeout_s": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty string"):
        planner_node(planner, name="")


def test_outcomes_are_json_safe_and_only_built_from_planner_results() -> None:
    finished = PlannerOutcome.from_result(
        PlannerFinish(reason="answer_complete", payload={"a": (1, 2)}, metadata={"steps": []})
    )
    assert PlannerOutcome.model_validate_json(finished.model_dump_json()) == finished
    assert finished.answer == {"a": [1, 2]}
    with pytest.raises(TypeError, match="PlannerFinish or PlannerPause"):
        PlannerOutcome.from_result("answer")  # type: ignore[arg-type]


# -- flow_tool ----------------------------------------------------------------------
def lookup_playbook(record: list[Message] | None = None) -> Callable[[], Any]:
    """A builder of the 2-node playbook ``fetch_order -> describe``."""

    async def fetch_order(msg: Message, _ctx: Any) -> Message:
        if record is not None:
            record.append(msg)
        msg.meta["looked_up"] = msg.payload.order
        return msg.model_copy(update={"payload": {"order": msg.payload.order, "raw": "SHIPPED"}})

    async def describe(msg: Message, _ctx: Any) -> Message:
        status = msg.payload["raw"].lower()
        order = Order(
            order=msg.payload["order"],
            status=status,
            tenant=msg.headers.tenant,
            trace_id=msg.trace_id,
        )
        return msg.model_copy(update={"payload": order})

    def build() -> PenguiFlow:
        first = Node(fetch_order, policy=NodePolicy(validate="none"))
        second = Node(describe, policy=NodePolicy(validate="none"))
        return create(first.to(second), second.to())

    return build


def lookup_tool(builder: Any, **options: Any) -> NodeSpec:
    return flow_tool(
        builder,
        name="lookup",
        desc="Look an order up",
        args_model=Lookup,
        out_model=Order,
        **options,
    )


async def test_a_standalone_planner_gets_the_playbook_result_as_observation() -> None:
    spec = lookup_tool(lookup_playbook())
    assert (spec.side_effects, dict(spec.extra)) == (
        "read",
        {"kind": "flow_tool", "flow": "builder"},
    )
    llm = ScriptedLLM([call("lookup", {"order": "A1"}), echo_observation])
    planner = ReactPlanner(llm_client=llm, catalog=catalog(spec))
    result = await asyncio.wait_for(planner.run("where is A1?"), 5)

    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    observation = result.metadata["steps"][0]["observation"]
    # Outside a flow the subflow runs for the default tenant, in the planner run's trace.
    assert observation == {
        "order": "A1",
        "status": "shipped",
        "tenant": "planner",
        "trace_id": result.metadata["trace_id"],
    }
    assert result.payload == {"observation": observation}


async def test_inside_a_planner_node_the_subflow_runs_in_the_flows_trace_and_tenant() -> None:
    seen: list[Message] = []
    tool_spec = lookup_tool(lookup_playbook(seen), tenant="unused")
    node = planner_node(
        lambda: planner_with([call("lookup", {"order": "B2"}), echo_observation], tool_spec)
    )
    flow = single(node)
    flow.run()
    try:
        sent = envelope("where is B2?", tenant="initech", meta={"request": 7})
        await flow.emit(sent)
        out = await fetch(flow)
    finally:
        await flow.stop()

    observation = out.payload.answer["observation"]
    assert (observation["tenant"], observation["trace_id"]) == ("initech", sent.trace_id)
    [inner] = seen
    assert inner.payload == Lookup(order="B2") and inner.meta["request"] == 7
    # As for playbooks, the meta the subflow set is merged into the caller's envelope.
    assert out.meta == {"request": 7, "looked_up": "B2"}


def blocking_playbook(started: asyncio.Event, cancelled: asyncio.Event) -> Callable[[], Any]:
    async def stuck(msg: Any, _ctx: Any) -> Any:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return msg

    return lambda: create(Node(stuck, policy=NodePolicy(validate="none")).to())


async def test_a_flow_tool_timeout_is_an_observation_and_the_subflow_is_stopped() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()
    spec = lookup_tool(blocking_playbook(started, cancelled), timeout_s=0.05)
    planner = planner_with([call("lookup", {"order": "A1"}), echo_observation], spec)
    result = await asyncio.wait_for(planner.run("where is A1?"), 5)

    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    step = result.metadata["steps"][0]
    assert (
        FlowToolError.__name__ in step["error"]
        and "within 0.05s; its flow was stopped" in step["error"]
    )
    assert "suggestion" in step["observation"]
    assert started.is_set() and cancelled.is_set()


async def test_wrong_results_and_failing_nodes_become_observations() -> None:
    async def wrong(msg: Message, _ctx: Any) -> Message:
        return msg.model_copy(update={"payload": {"order": "A1"}})

    async def broken(msg: Message, _ctx: Any) -> Message:
        raise RuntimeError("warehouse offline")

    def one_node(func: Any) -> Callable[[], PenguiFlow]:
        return lambda: create(Node(func, policy=NodePolicy(validate="none")).to())

    specs = [
        flow_tool(one_node(wrong), name="wrong", desc="d", args_model=Lookup, out_model=Order),
        flow_tool(one_node(broken), name="broken", desc="d", args_model=Lookup, out_model=Order),
    ]
    script = [call("wrong", {"order": "A1"}), call("broken", {"order": "A1"}), finish("sorry")]
    result = await asyncio.wait_for(planner_with(script, *specs).run("q"), 5)

    wrong_step, broken_step = result.metadata["steps"][:2]  # type: ignore[union-attr]
    assert (
        FlowToolError.__name__ in wrong_step["error"] and "not a valid Order" in wrong_step["error"]
    )
    assert "status: Field required" in wrong_step["error"]
    assert "FlowError" in broken_step["error"] and "warehouse offline" in broken_step["error"]
    assert result.payload == "sorry"


async def test_cancelling_the_outer_trace_stops_a_flow_tools_subflow() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()
    spec = lookup_tool(blocking_playbook(started, cancelled))
    flow = single(planner_node(planner_with([call("lookup", {"order": "A1"})], spec)))
    flow.run()
    try:
        sent = envelope("where is A1?")
        await flow.emit(sent)
        await asyncio.wait_for(started.wait(), 5)
        assert await asyncio.wait_for(flow.cancel(sent.trace_id), 5) is True
    finally:
        await flow.stop()
    assert cancelled.is_set()


async def test_a_running_flow_serves_calls_on_fresh_traces_and_is_left_running() -> None:
    shared = lookup_playbook()()
    shared.run()
    try:
        spec = lookup_tool(shared, timeout_s=5)
        plan = {
            "thought": "both at once",
            "plan": [
                {"node": "lookup", "args": {"order": "A1"}},
                {"node": "lookup", "args": {"order": "B2"}},
            ],
        }
        node = planner_node(lambda: planner_with([plan, echo_observation], spec))
        outer = single(node)
        outer.run()
        try:
            sent = envelope("where are A1 and B2?", tenant="initech")
            await outer.emit(sent)
            out = await fetch(outer)
        finally:
            await outer.stop()
        assert shared.running
    finally:
        await shared.stop()

    branches = out.payload.answer["observation"]["branches"]
    orders = [b["observation"] for b in branches]
    assert [o["order"] for o in orders] == ["A1", "B2"]
    assert {o["tenant"] for o in orders} == {"initech"}
    traces = {o["trace_id"] for o in orders}
    assert len(traces) == 2 and sent.trace_id not in traces
    assert out.meta["looked_up"] in {"A1", "B2"}


async def test_a_running_flow_call_times_out_cleanly_and_needs_a_running_flow() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()
    shared = blocking_playbook(started, cancelled)()
    script = [call("lookup", {"order": "A1"}), call("idle", {"order": "A1"}), finish("done")]
    spec = lookup_tool(shared, timeout_s=0.05)
    idle = flow_tool(lookup_playbook()(), name="idle", desc="d", args_model=Lookup, out_model=Order)
    shared.run()
    try:
        result = await asyncio.wait_for(planner_with(script, spec, idle).run("q"), 5)
        # The timed-out call's trace was cancelled, nothing of it is left in the flow.
        assert cancelled.is_set() and shared.running
    finally:
        await shared.stop()

    timed_out, not_running = result.metadata["steps"][:2]  # type: ignore[union-attr]
    assert "no result within 0.05s; its trace was cancelled" in timed_out["error"]
    assert "its flow is not running" in not_running["error"]


def test_bad_flow_tool_arguments_fail_at_construction() -> None:
    builder = lookup_playbook()

    def make(target: Any = builder, **options: Any) -> NodeSpec:
        fields: dict[str, Any] = {
            "name": "lookup",
            "desc": "Look an order up",
            "args_model": Lookup,
            "out_model": Order,
        }
        return flow_tool(target, **{**fields, **options})

    with pytest.raises(TypeError, match=r"playbook builder .* or a running PenguiFlow"):
        make(42)
    with pytest.raises(TypeError, match="playbook builder"):
        make(PenguiFlow)
    for bad in (0, -1, True, "5"):
        with pytest.raises(ValueError, match="timeout_s must be a number > 0"):
            make(timeout_s=bad)
    with pytest.raises(ValueError, match="side_effects must be one of"):
        make(side_effects="dangerous")
    with pytest.raises(TypeError, match="tags must be a list or tuple"):
        make(tags="docs")
    with pytest.raises(ValueError, match="desc must not be empty"):
        make(desc=" ")
    with pytest.raises(ValueError, match="non-empty string"):
        make(name="")
    with pytest.raises(ValueError, match="tenant must be a non-empty string"):
        make(tenant="")
    with pytest.raises(TypeError, match="cannot build a JSON schema for args_model"):
        make(args_model=object())
    assert make(tags=["orders"]).tags == ("orders",)
