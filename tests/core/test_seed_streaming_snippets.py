"""The seed README's "Streaming Responses" section works as written.

The snippet line is kept verbatim between ``# fmt: off`` / ``# fmt: on``; the
tests add the node around it, the sink the README describes ("consumes
``StreamChunk`` payloads and assembles the final result when ``done`` is
observed") and the asserts.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import penguiflow
from penguiflow import Context, FinalAnswer, Headers, Message, Node, NodePolicy, StreamChunk, create
from penguiflow import streaming as streaming_module

__all__: list[str] = []

NONE = NodePolicy(validate="none")
TOKENS = ["Penguins ", "huddle ", "to ", "keep ", "warm."]


def _streaming_flow(seen_done: list[bool], maxsize: int = 64) -> Any:
    async def llm(msg: Message, ctx: Context) -> None:
        for index, token in enumerate(TOKENS):
            done = index == len(TOKENS) - 1
            # fmt: off
            await ctx.emit_chunk(parent=msg, text=token, done=done)
            # fmt: on

    buffers: dict[str, list[str]] = {}

    async def sink(msg: Message, ctx: Context) -> Message | None:
        chunk = msg.payload
        assert isinstance(chunk, StreamChunk)
        buffers.setdefault(chunk.stream_id, []).append(chunk.text)
        await ctx.emit(msg)  # pass the chunk on to Rookery as it comes
        seen_done.append(chunk.done)
        if not chunk.done:
            return None
        text = "".join(buffers.pop(chunk.stream_id))
        return msg.model_copy(update={"payload": FinalAnswer(text=text)})

    sink_node = Node(sink, name="sink", policy=NONE)
    return create(
        Node(llm, name="llm", policy=NONE).to(sink_node), sink_node.to(), queue_maxsize=maxsize
    )


async def _bounded(awaitable: Any) -> Any:
    return await asyncio.wait_for(awaitable, 10)


async def test_emit_chunk_snippet_streams_tokens_with_seq() -> None:
    seen_done: list[bool] = []
    flow = _streaming_flow(seen_done)
    flow.run()
    try:
        message = Message(payload="why huddle?", headers=Headers(tenant="acme"))
        await flow.emit(message)
        results = [await _bounded(flow.fetch(trace_id=message.trace_id))]
        while isinstance(results[-1].payload, StreamChunk):
            results.append(await _bounded(flow.fetch(trace_id=message.trace_id)))
    finally:
        await flow.stop()

    *chunks, final = results
    # "Sequence numbers auto-increment per stream_id (defaults to the parent trace)."
    assert [c.payload.stream_id for c in chunks] == [message.trace_id] * len(TOKENS)
    assert [c.payload.seq for c in chunks] == list(range(len(TOKENS)))
    assert [c.payload.text for c in chunks] == TOKENS
    assert seen_done == [False] * (len(TOKENS) - 1) + [True]
    # "...assembles the final result when done is observed."
    assert final.payload == FinalAnswer(text="".join(TOKENS))
    assert final.trace_id == message.trace_id and final.headers.tenant == "acme"


async def test_emit_chunk_snippet_keeps_backpressure() -> None:
    # "if the downstream queue is full the helper awaits just like Context.emit":
    # with floes of size 1 every token still arrives, in order.
    seen_done: list[bool] = []
    flow = _streaming_flow(seen_done, maxsize=1)
    flow.run()
    try:
        messages = [Message(payload=i, headers=Headers(tenant="acme")) for i in range(3)]

        async def emit_all() -> None:
            for message in messages:
                await flow.emit(message)  # waits while the ingress floe is full

        emitter = asyncio.create_task(emit_all())
        for message in messages:
            texts = []
            while True:
                out = await _bounded(flow.fetch(trace_id=message.trace_id))
                if not isinstance(out.payload, StreamChunk):
                    break
                texts.append(out.payload.text)
            assert texts == TOKENS
        await _bounded(emitter)
    finally:
        await flow.stop()


async def test_done_resets_the_counter_for_the_same_id() -> None:
    # "When done=True, the sequence counter resets so a new stream can reuse the same id."
    async def echo(msg: Message, ctx: Context) -> Message:
        return msg

    flow = create(Node(echo, name="echo", policy=NONE).to())
    flow.run()
    try:
        parent = Message(payload=None, headers=Headers(tenant="acme"))
        seqs = [(await flow.emit_chunk(parent, t, done=t == "b")).seq for t in "ab"]
        seqs += [(await flow.emit_chunk(parent, t, done=t == "d")).seq for t in "cd"]
    finally:
        await flow.stop()
    assert seqs == [0, 1, 0, 1]


def test_helpers_are_exported_from_the_package() -> None:
    # "utilities like format_sse_event(chunk) and chunk_to_ws_json(chunk) (both exported
    # from the package)"
    assert penguiflow.format_sse_event is streaming_module.format_sse_event
    assert penguiflow.chunk_to_ws_json is streaming_module.chunk_to_ws_json
    assert penguiflow.stream_flow is streaming_module.stream_flow
    assert penguiflow.emit_stream_events is streaming_module.emit_stream_events


def test_format_sse_event_and_chunk_to_ws_json_snippets() -> None:
    format_sse_event = streaming_module.format_sse_event
    chunk_to_ws_json = streaming_module.chunk_to_ws_json
    chunk = StreamChunk(stream_id="trace-1", seq=0, text="Penguins ", meta={"model": "mock"})

    # fmt: off
    sse = format_sse_event(chunk)
    ws = chunk_to_ws_json(chunk)
    # fmt: on

    # "SSE-compatible text": one event, data lines, ended by a blank line.
    assert sse.startswith("event: chunk\n") and sse.endswith("\n\n")
    data = "".join(
        line.removeprefix("data: ") for line in sse.splitlines() if line.startswith("data: ")
    )
    fields = {
        "stream_id": "trace-1",
        "seq": 0,
        "text": "Penguins ",
        "done": False,
        "meta": {"model": "mock"},
    }
    assert json.loads(data) == fields
    # "...or WebSocket JSON payloads"
    assert json.loads(ws) == fields
