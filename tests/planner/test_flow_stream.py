"""A planner node passes each run on: its chunks into the trace, its events to a callback."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from itertools import groupby
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import (
    FlowError,
    Headers,
    Message,
    ModelRegistry,
    PenguiFlow,
    StreamChunk,
    TraceCancelled,
    build_catalog,
    create,
    tool,
)
from penguiflow.planner import PlannerEvent, ReactPlanner
from penguiflow.planner.flow_stream import ChunkForwarder
from penguiflow.planner.flows import FlowOrigin, PlannerOutcome, PlannerResume, planner_node
from penguiflow.planner.testing import ScriptedLLM
from penguiflow.streaming import stream_flow

FINAL = "Order A1 ships today."


class Note(BaseModel):
    text: str = ""


@tool(desc="Report progress on one stream, numbered with gaps, and close it")
async def progress(args: Note, ctx: Any) -> Note:
    await ctx.emit_chunk("steps", 0, "looking ", meta={"pct": 10})
    await ctx.emit_chunk("steps", 5, "found", meta={"pct": 90})  # a gap in the tool's numbers
    await ctx.emit_chunk("steps", 6, "", done=True)
    return Note(text="found")


@tool(desc="Write a log line and never close the stream")
async def chatty(args: Note, ctx: Any) -> Note:
    await ctx.emit_chunk("log", 0, "checking stock")
    return Note(text="in stock")


@tool(desc="Ask a person to approve", side_effects="write")
async def approve(args: Note, ctx: Any) -> Note:
    await ctx.emit_chunk("ask", 0, "waiting for approval")
    await ctx.pause("approval needed", {"order": args.text})
    raise AssertionError("pause hands control back to the caller")


def catalog() -> list[Any]:
    registry = ModelRegistry()
    for name in ("progress", "chatty", "approve"):
        registry.register(name, Note, Note)
    return build_catalog([progress, chatty, approve], registry)


def call(node: str) -> dict[str, Any]:
    return {"thought": f"call {node}", "next_node": node, "args": {}}


def finish(answer: Any) -> dict[str, Any]:
    return {"thought": "done", "next_node": None, "answer": answer}


def envelope(payload: Any) -> Message:
    return Message(payload=payload, headers=Headers(tenant="acme"), meta={"request": 7})


async def collect(flow: PenguiFlow, message: Message) -> list[Any]:
    async with stream_flow(flow, message, timeout_s=10) as items:
        return [item async for item in items]


async def fetch_trace(flow: PenguiFlow, trace_id: str) -> tuple[list[Message], Any]:
    """Fetch a trace's chunk envelopes up to its first other result, as stream_flow would."""
    chunks: list[Message] = []
    for _ in range(100):
        item = await asyncio.wait_for(flow.fetch(trace_id=trace_id), 5)
        if not (isinstance(item, Message) and isinstance(item.payload, StreamChunk)):
            return chunks, item
        chunks.append(item)
    raise AssertionError(f"trace {trace_id}: no result after 100 chunks")


def streams(chunks: list[StreamChunk]) -> dict[str, list[StreamChunk]]:
    by_id: dict[str, list[StreamChunk]] = defaultdict(list)
    for chunk in chunks:
        by_id[chunk.stream_id].append(chunk)
    return dict(by_id)


def assert_gap_free_and_closed(chunks: list[StreamChunk]) -> None:
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert [c.done for c in chunks] == [False] * (len(chunks) - 1) + [True]


# -- chunks reach the flow ------------------------------------------------------------
async def test_tool_and_answer_chunks_stream_in_order_then_the_outcome() -> None:
    planner_events: list[str] = []
    node_events: list[tuple[str, str | None, Any]] = []

    async def on_event(event: PlannerEvent, origin: FlowOrigin) -> None:
        node_events.append((event.event_type, origin.trace_id, origin.payload))

    planner = ReactPlanner(
        llm_client=ScriptedLLM([call("progress"), call("chatty"), finish("ships"), FINAL]),
        catalog=catalog(),
        stream_final_response=True,
        event_callback=lambda event: planner_events.append(event.event_type),
    )
    node = planner_node(planner, stream_chunks=True, event_callback=on_event)
    flow = create(node.to())
    flow.run()
    try:
        sent = envelope("where is A1?")
        items = await collect(flow, sent)
    finally:
        await flow.stop()

    *chunks, final = items
    assert isinstance(final, Message) and final.trace_id == sent.trace_id
    assert isinstance(final.payload, PlannerOutcome) and final.payload.answer == FINAL
    assert all(isinstance(c, StreamChunk) for c in chunks)
    by_id = streams(chunks)
    trace = sent.trace_id
    answer_id = f"{trace}:planner:answer"
    progress_id, chatty_id = (
        f"{trace}:planner:tool:progress:steps",
        f"{trace}:planner:tool:chatty:log",
    )
    # The streams come one after the other, as the run produced them: a tool's
    # stream is closed when its call returns, before the next step starts.
    assert [key for key, _ in groupby(c.stream_id for c in chunks)] == [
        progress_id,
        chatty_id,
        answer_id,
    ]
    for stream in by_id.values():
        assert_gap_free_and_closed(stream)

    steps = by_id[progress_id]
    assert [(c.text, c.meta["tool_seq"], c.meta["tool_meta"]) for c in steps] == [
        ("looking ", 0, {"pct": 10}),
        ("found", 5, {"pct": 90}),
        ("", 6, {}),
    ]
    assert {(c.meta["kind"], c.meta["node"], c.meta["tool"]) for c in steps} == {
        ("tool", "planner", "progress")
    }
    # The node closed the stream the tool left open, as soon as the tool returned.
    log = by_id[chatty_id]
    assert [(c.text, c.meta["tool_seq"]) for c in log] == [("checking stock", 0), ("", None)]
    answer = by_id[answer_id]
    assert "".join(c.text for c in answer) == FINAL
    assert {c.meta["kind"] for c in answer} == {"answer"} and len(answer) > 2

    # The node's callback got every event of the run, with its origin; the planner's
    # own callback still got them too.
    kinds = [kind for kind, _, _ in node_events]
    assert kinds == planner_events
    assert {(t, p) for _, t, p in node_events} == {(trace, "where is A1?")}
    assert kinds.count("stream_chunk") == 4 and kinds.count("llm_stream_chunk") == len(answer)
    assert kinds[-1] == "finish"


async def test_a_pause_closes_its_streams_and_the_resume_streams_on_fetch() -> None:
    planner = ReactPlanner(
        llm_client=ScriptedLLM([call("approve"), finish("approved"), "Refund approved."]),
        catalog=catalog(),
        stream_final_response=True,
    )
    seen: list[str] = []
    node = planner_node(
        planner, stream_chunks=True, event_callback=lambda e, o: seen.append(o.tenant)
    )
    flow = create(node.to())
    flow.run()
    try:
        first = envelope("refund A1")
        await flow.emit(first)
        asked, paused = await fetch_trace(flow, first.trace_id)
        token = paused.payload.resume_token
        resume = envelope(PlannerResume(resume_token=token, user_input={"approved": True}))
        await flow.emit(resume)
        answered, done = await fetch_trace(flow, resume.trace_id)
    finally:
        await flow.stop()

    ask = [m.payload for m in asked]
    assert [(c.text, c.seq, c.done, c.meta["tool"]) for c in ask] == [
        ("waiting for approval", 0, False, "approve"),
        ("", 1, True, "approve"),
    ]
    assert paused.payload.status == "paused"
    assert all(m.meta == {"request": 7} for m in asked)  # chunks carry the envelope's meta
    answer = [m.payload for m in answered]
    assert "".join(c.text for c in answer) == "Refund approved."
    assert {c.stream_id for c in answer} == {f"{resume.trace_id}:planner:answer"}
    assert_gap_free_and_closed(answer)
    assert done.payload.answer == "Refund approved." and set(seen) == {"acme"}


async def test_parallel_branches_stream_side_by_side_under_backpressure() -> None:
    a_started, b_started = asyncio.Event(), asyncio.Event()

    @tool(desc="Branch A: starts, waits for B, leaves its stream open")
    async def branch_a(args: Note, ctx: Any) -> Note:
        await ctx.emit_chunk("out", 0, "a0")
        a_started.set()
        await asyncio.wait_for(b_started.wait(), 5)
        await ctx.emit_chunk("out", 1, "a1")
        return Note(text="a")

    @tool(desc="Branch B: waits for A, streams and closes")
    async def branch_b(args: Note, ctx: Any) -> Note:
        await asyncio.wait_for(a_started.wait(), 5)
        await ctx.emit_chunk("out", 0, "b0")
        b_started.set()
        await ctx.emit_chunk("out", 1, "b1", done=True)
        return Note(text="b")

    registry = ModelRegistry()
    registry.register("branch_a", Note, Note)
    registry.register("branch_b", Note, Note)
    fan_out = {
        "thought": "both",
        "plan": [{"node": "branch_a", "args": {}}, {"node": "branch_b", "args": {}}],
    }
    planner = ReactPlanner(
        llm_client=ScriptedLLM([fan_out, finish("done")]),
        catalog=build_catalog([branch_a, branch_b], registry),
    )
    # A one-slot Rookery: every chunk waits for the reader, none is dropped.
    flow = create(planner_node(planner, stream_chunks=True).to(), queue_maxsize=1)
    flow.run()
    try:
        sent = envelope("go")
        *chunks, final = await collect(flow, sent)
    finally:
        await flow.stop()

    assert final.payload.answer == "done"
    by_id = streams(chunks)
    a_id = f"{sent.trace_id}:planner:tool:branch_a:out"
    b_id = f"{sent.trace_id}:planner:tool:branch_b:out"
    assert set(by_id) == {a_id, b_id}
    for stream in by_id.values():
        assert_gap_free_and_closed(stream)
    assert [c.text for c in by_id[a_id]] == ["a0", "a1", ""]
    assert [c.text for c in by_id[b_id]] == ["b0", "b1"]
    # The branches really ran side by side: their chunks interleave.
    order = [c.text for c in chunks if c.text]
    assert order.index("a0") < order.index("b0") < order.index("a1")


async def test_streaming_is_off_by_default() -> None:
    planner = ReactPlanner(
        llm_client=ScriptedLLM([call("chatty"), finish("x"), FINAL]),
        catalog=catalog(),
        stream_final_response=True,
    )
    flow = create(planner_node(planner).to())
    flow.run()
    try:
        items = await collect(flow, envelope("q"))
    finally:
        await flow.stop()

    [final] = items  # no chunk: only the outcome
    assert final.payload.answer == FINAL


async def test_payload_only_messages_cannot_stream_but_still_report_events() -> None:
    llm = ScriptedLLM([finish("x")])
    streaming = planner_node(
        ReactPlanner(llm_client=llm, catalog=catalog()), name="streamer", stream_chunks=True
    )
    seen: list[tuple[str, str | None]] = []
    quiet = planner_node(
        ReactPlanner(llm_client=ScriptedLLM([finish("y")]), catalog=catalog()),
        event_callback=lambda event, origin: seen.append((event.event_type, origin.trace_id)),
    )
    results = []
    for node in (streaming, quiet):
        flow = create(node.to(), emit_errors_to_rookery=True)
        flow.run()
        try:
            await flow.emit("bare payload")
            results.append(await asyncio.wait_for(flow.fetch(), 5))
        finally:
            await flow.stop()

    error, outcome = results
    assert isinstance(error, FlowError) and error.node_name == "streamer"
    assert "bare payloads" in error.message and "stream_chunks" in error.message
    assert llm.calls == []  # refused before the planner ran
    assert isinstance(outcome, PlannerOutcome) and outcome.answer == "y"
    assert seen == [("step_start", None), ("llm_call", None), ("finish", None)]


async def test_a_run_that_fails_closes_its_open_streams_before_the_error() -> None:
    class StreamsThenFails(ReactPlanner):
        async def run(self, query: str, **options: Any) -> Any:
            chunk = {"stream_id": "s", "seq": 0, "text": "partial", "done": False, "meta": {}}
            await options["event_callback"](
                PlannerEvent("stream_chunk", node_name="tool", extra=chunk)
            )
            raise RuntimeError("the planner broke")

    planner = StreamsThenFails(llm_client=ScriptedLLM([]), catalog=catalog())
    flow = create(planner_node(planner, stream_chunks=True).to(), emit_errors_to_rookery=True)
    flow.run()
    try:
        sent = envelope("q")
        await flow.emit(sent)
        items = [await asyncio.wait_for(flow.fetch(trace_id=sent.trace_id), 5) for _ in range(3)]
    finally:
        await flow.stop()

    # The FlowError reaches Rookery on the runtime's own floe, so it may come before
    # the node's last chunks; the chunks keep their order.
    [error] = [item for item in items if isinstance(item, FlowError)]
    assert "the planner broke" in error.message
    chunks = [item.payload for item in items if isinstance(item, Message)]
    assert [(c.text, c.seq, c.done) for c in chunks] == [("partial", 0, False), ("", 1, True)]


async def test_the_forwarder_goes_quiet_once_the_trace_is_cancelled() -> None:
    sent: list[tuple[str, bool]] = []

    class CancelledAfterOne:
        async def emit_chunk(self, parent: Message, text: str, **options: Any) -> None:
            if sent:
                raise TraceCancelled(parent.trace_id)
            sent.append((text, options["done"]))

    forwarder = ChunkForwarder(CancelledAfterOne(), envelope("q"), "planner")  # type: ignore[arg-type]
    for text in ("a", "b", "c"):
        await forwarder.on_event(
            PlannerEvent("llm_stream_chunk", extra={"text": text, "done": False})
        )
    await forwarder.close()
    assert sent == [("a", False)]


def test_bad_streaming_arguments_fail_at_construction() -> None:
    planner = ReactPlanner(llm_client=ScriptedLLM([]), catalog=catalog())
    with pytest.raises(TypeError, match="stream_chunks must be a bool"):
        planner_node(planner, stream_chunks=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"called as callback\(event, origin\)"):
        planner_node(planner, event_callback=lambda event: None)  # type: ignore[arg-type,misc]
    for bad in (42, dict):
        with pytest.raises(TypeError, match="event_callback must be a function"):
            planner_node(planner, event_callback=bad)  # type: ignore[arg-type]
    planner_node(planner, event_callback=print)  # no Python signature: accepted as is
