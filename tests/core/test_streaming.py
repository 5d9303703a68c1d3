"""penguiflow.streaming: emit_chunk, SSE/WebSocket rendering, stream_flow and emit_stream_events."""

from __future__ import annotations

import asyncio
import gc
import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from penguiflow import (
    Context,
    FinalAnswer,
    FlowError,
    FlowErrorCode,
    Headers,
    Message,
    Node,
    NodePolicy,
    PenguiFlow,
    StreamChunk,
    create,
)
from penguiflow._kernel.sequencer import StreamSequencer
from penguiflow.streaming import (
    TraceStream,
    chunk_to_ws_json,
    emit_stream_events,
    format_sse_event,
    stream_flow,
)

__all__: list[str] = []

NONE = NodePolicy(validate="none")
HEADERS = Headers(tenant="acme", topic="chat")


def node(func: Any, name: str) -> Node:
    return Node(func, name=name, policy=NONE)


def parse_sse(text: str) -> list[dict[str, str]]:
    """A small event-stream parser following the WHATWG rules (enough for these tests)."""
    events: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    data: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if data or fields:
                events.append({**fields, "data": "\n".join(data)})
            fields, data = {}, []
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        else:
            fields[name] = value
    return events


def other_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


class Probe:
    """What a producer node saw."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []
        self.cancelled = asyncio.Event()
        self.started = asyncio.Event()
        self.gate = asyncio.Event()

    def sent_for(self, trace_id: str) -> int:
        return sum(1 for trace, _ in self.sent if trace == trace_id)


def chat_flow(
    tokens: list[str], *, maxsize: int = 4, probe: Probe | None = None, wait_gate_at: int = -1
) -> PenguiFlow:
    """llm (emits one chunk per token) -> sink (forwards chunks, answers on done) -> Rookery."""
    probe = probe or Probe()

    async def llm(msg: Message, ctx: Context) -> None:
        probe.started.set()
        try:
            for index, token in enumerate(tokens):
                if index == wait_gate_at:
                    await probe.gate.wait()
                chunk = await ctx.emit_chunk(parent=msg, text=token, done=index == len(tokens) - 1)
                probe.sent.append((msg.trace_id, chunk.seq))
        except asyncio.CancelledError:
            probe.cancelled.set()
            raise

    async def sink(msg: Message, ctx: Context) -> Message:
        chunk = msg.payload
        if not chunk.done:
            return msg
        await ctx.emit(msg)
        return msg.model_copy(update={"payload": FinalAnswer(text="".join(tokens))})

    sink_node = node(sink, "sink")
    return create(node(llm, "llm").to(sink_node), sink_node.to(), queue_maxsize=maxsize)


def run_flow(flow: PenguiFlow, stop_after: Callable[[PenguiFlow], PenguiFlow]) -> PenguiFlow:
    stop_after(flow)
    flow.run()
    return flow


# -- emit_chunk ------------------------------------------------------------------------------


async def test_emit_chunk_inherits_trace_headers_and_a_copy_of_meta(stop_after, bounded):
    seen: list[Message] = []

    async def producer(msg: Message, ctx: Context) -> None:
        for text in ("a", "b"):
            chunk = await ctx.emit_chunk(parent=msg, text=text, meta={"i": text})
            assert isinstance(chunk, StreamChunk)

    async def sink(msg: Message, ctx: Context) -> None:
        seen.append(msg)

    flow = run_flow(create(node(producer, "p").to(node(sink, "s")), queue_maxsize=1), stop_after)
    parent = Message(payload="q", headers=HEADERS, deadline_s=4e9, meta={"request_id": "r1"})
    await flow.emit(parent)
    await bounded(flow.wait_idle(parent.trace_id))

    assert [m.payload.text for m in seen] == ["a", "b"]
    for message in seen:
        assert message.trace_id == parent.trace_id
        assert message.headers == HEADERS
        assert message.deadline_s == 4e9
        assert message.meta == {"request_id": "r1"}
        assert message.meta is not parent.meta
    assert seen[0].meta is not seen[1].meta
    assert [m.payload.meta for m in seen] == [{"i": "a"}, {"i": "b"}]


async def test_seq_counts_per_stream_and_restarts_after_done(stop_after, bounded):
    out: list[StreamChunk] = []

    async def producer(msg: Message, ctx: Context) -> None:
        for i in range(3):
            await ctx.emit_chunk(parent=msg, text=f"a{i}", done=i == 2)
        await ctx.emit_chunk(parent=msg, text="again")  # same default stream id, new stream
        await ctx.emit_chunk(parent=msg, text="x", stream_id="side")
        await ctx.emit_chunk(parent=msg, text="y", stream_id="side", seq=10)
        await ctx.emit_chunk(parent=msg, text="z", stream_id="side", done=True)

    async def sink(msg: Message, ctx: Context) -> None:
        out.append(msg.payload)

    flow = run_flow(create(node(producer, "p").to(node(sink, "s"))), stop_after)
    parent = Message(payload="q", headers=HEADERS)
    await flow.emit(parent)
    await bounded(flow.wait_idle(parent.trace_id))

    assert [(c.stream_id, c.seq, c.text, c.done) for c in out] == [
        (parent.trace_id, 0, "a0", False),
        (parent.trace_id, 1, "a1", False),
        (parent.trace_id, 2, "a2", True),
        (parent.trace_id, 0, "again", False),
        ("side", 0, "x", False),
        ("side", 10, "y", False),
        ("side", 11, "z", True),
    ]


async def test_flow_emit_chunk_feeds_opensea(stop_after, bounded):
    async def echo(msg: Message, ctx: Context) -> Message:
        return msg

    flow = run_flow(create(node(echo, "echo").to()), stop_after)
    parent = Message(payload="q", headers=HEADERS, meta={"k": 1})
    first = await flow.emit_chunk(parent, "hel")
    second = await flow.emit_chunk(parent, "lo", done=True)
    assert (first.seq, second.seq, second.done) == (0, 1, True)

    got = [await bounded(flow.fetch(trace_id=parent.trace_id)) for _ in range(2)]
    assert [m.payload for m in got] == [first, second]
    assert all(m.meta == {"k": 1} and m.headers == HEADERS for m in got)


async def test_emit_chunk_rejects_bad_input_without_using_a_seq(stop_after, bounded):
    errors: list[BaseException] = []
    out: list[int] = []

    async def producer(msg: Message, ctx: Context) -> None:
        for bad in (
            lambda: ctx.emit_chunk(parent=msg.payload, text="x"),
            lambda: ctx.emit_chunk(parent=msg, text=b"x"),
            lambda: ctx.emit_chunk(parent=msg, text="x", seq=-1),
            lambda: ctx.emit_chunk(parent=msg, text="x", to="nowhere"),
        ):
            try:
                await bad()
            except (TypeError, ValueError) as exc:
                errors.append(exc)
        await ctx.emit_chunk(parent=msg, text="ok")

    async def sink(msg: Message, ctx: Context) -> None:
        out.append(msg.payload.seq)

    flow = run_flow(create(node(producer, "p").to(node(sink, "s"))), stop_after)
    parent = Message(payload="q", headers=HEADERS)
    await flow.emit(parent)
    await bounded(flow.wait_idle(parent.trace_id))

    assert [type(e) for e in errors] == [TypeError, TypeError, ValueError, ValueError]
    assert "parent=<Message>" in str(errors[0])
    assert "'nowhere'" in str(errors[3]) and "successor" in str(errors[3])
    assert out == [0]  # the rejected calls did not consume sequence numbers

    with pytest.raises(ValueError, match="OpenSea feeds only"):
        await flow.emit_chunk(parent, "x", to="nope")
    assert (await flow.emit_chunk(parent, "y", stream_id="other")).seq == 0


async def test_emit_chunk_on_stopped_flow_is_a_runtime_error():
    async def echo(msg: Message, ctx: Context) -> Message:
        return msg

    flow = create(node(echo, "echo").to())
    with pytest.raises(RuntimeError, match=r"flow\.run\(\) first"):
        await flow.emit_chunk(Message(payload=1, headers=HEADERS), "x")


async def test_cancel_mid_stream_stops_the_chunks(stop_after, bounded):
    probe = Probe()
    flow = run_flow(chat_flow([f"t{i}" for i in range(2000)], maxsize=4, probe=probe), stop_after)
    parent = Message(payload="q", headers=HEADERS)
    await flow.emit(parent)
    received = [await bounded(flow.fetch(trace_id=parent.trace_id)) for _ in range(10)]
    assert [m.payload.seq for m in received] == list(range(10))

    assert await bounded(flow.cancel(parent.trace_id)) is True
    assert probe.cancelled.is_set()  # the producer was interrupted inside emit_chunk
    sent_at_cancel = probe.sent_for(parent.trace_id)
    assert 10 <= sent_at_cancel < 2000
    assert not [i for f in flow.floes for i in f.items() if i.trace_id == parent.trace_id]

    # A second trace runs through the same floes to its end; fetching *everything* from
    # Rookery meanwhile shows that not one more chunk of the cancelled trace arrives.
    other = Message(payload="other", headers=HEADERS)
    await flow.emit(other)
    arrived: list[Message] = []
    while not arrived or isinstance(arrived[-1].payload, StreamChunk):
        arrived.append(await bounded(flow.fetch()))
    assert {m.trace_id for m in arrived} == {other.trace_id}
    assert [m.payload.seq for m in arrived[:-1]] == list(range(2000))
    assert probe.sent_for(parent.trace_id) == sent_at_cancel
    assert await flow.cancel(parent.trace_id) is False


async def test_cancel_forgets_the_trace_streams(stop_after, bounded):
    gate = asyncio.Event()
    emitted = asyncio.Event()
    seqs: list[tuple[str, int]] = []

    async def producer(msg: Message, ctx: Context) -> None:
        chunk = await ctx.emit_chunk(parent=msg, text="x", stream_id="shared")
        seqs.append((msg.payload, chunk.seq))
        if msg.payload == "first":
            emitted.set()
            await gate.wait()

    async def sink(msg: Message, ctx: Context) -> None:
        return None

    flow = run_flow(create(node(producer, "p").to(node(sink, "s"))), stop_after)
    first = Message(payload="first", headers=HEADERS)
    await flow.emit(first)
    await bounded(emitted.wait())  # the producer emitted its chunk and now waits on the gate
    assert await bounded(flow.cancel(first.trace_id))
    second = Message(payload="second", headers=HEADERS)
    await flow.emit(second)
    await bounded(flow.wait_idle(second.trace_id))
    # The unfinished "shared" stream died with its trace: the next one starts at 0.
    assert seqs == [("first", 0), ("second", 0)]


async def test_streams_left_open_are_freed_when_their_trace_ends(stop_after, bounded):
    """A trace that fails mid-stream (no done=True, no cancel) leaves no stream counter."""

    async def producer(msg: Message, ctx: Context) -> None:
        await ctx.emit_chunk(parent=msg, text="a")
        await ctx.emit_chunk(parent=msg, text="b", stream_id=f"side-{msg.payload}")
        raise RuntimeError("the model went away mid-answer")

    flow = run_flow(create(node(producer, "p").to()), stop_after)
    messages = [Message(payload=i, headers=HEADERS) for i in range(50)]
    for message in messages:
        await flow.emit(message)
    for message in messages:
        for _ in range(2):  # the two chunks each trace sent before failing
            assert isinstance(
                (await bounded(flow.fetch(trace_id=message.trace_id))).payload, StreamChunk
            )
        await bounded(flow.wait_idle(message.trace_id))
    assert len(flow._runtime.streams) == 0
    # The stream ids start over for a new trace using the same explicit id.
    again = Message(payload=0, headers=HEADERS)
    await flow.emit(again)
    chunks = [(await bounded(flow.fetch(trace_id=again.trace_id))).payload for _ in range(2)]
    assert [(c.stream_id, c.seq) for c in chunks] == [(again.trace_id, 0), ("side-0", 0)]


async def test_a_stream_fed_from_outside_keeps_counting_while_its_trace_is_idle(
    stop_after, bounded
):
    async def sink(msg: Message, ctx: Context) -> Message:
        return msg

    flow = run_flow(create(node(sink, "s").to()), stop_after)
    parent = Message(payload="p", headers=HEADERS)
    seqs = []
    for text in ("a", "b"):
        await flow.emit_chunk(parent, text)
        seqs.append((await bounded(flow.fetch(trace_id=parent.trace_id))).payload.seq)
        await bounded(flow.wait_idle(parent.trace_id))  # idle between the two chunks
    assert seqs == [0, 1]
    await flow.emit_chunk(parent, "c", done=True)
    assert (await bounded(flow.fetch(trace_id=parent.trace_id))).payload.seq == 2
    assert len(flow._runtime.streams) == 0


def test_forgetting_a_trace_touches_only_its_own_streams():
    """cancel's cleanup costs the trace's own streams, not every stream open in the flow."""
    sequencer = StreamSequencer()
    parents = [Message(payload=i, headers=HEADERS) for i in range(1000)]
    for parent in parents:
        sequencer.build(parent, "x", stream_id=None, seq=None, done=False, meta=None)
    target = parents[500]
    sequencer.build(target, "y", stream_id="extra", seq=None, done=False, meta=None)
    owners_seen: list[str] = []

    class Spy(dict):  # records every owner lookup forget_trace makes
        def items(self):  # type: ignore[override]
            owners_seen.append("scan")
            return super().items()

    sequencer._owner = Spy(sequencer._owner)
    sequencer.forget_trace(target.trace_id)
    assert owners_seen == []  # no scan over the 1,000 open streams
    assert len(sequencer) == 999
    rebuilt = sequencer.build(target, "z", stream_id="extra", seq=None, done=False, meta=None)
    assert rebuilt.payload.seq == 0


# -- format_sse_event / chunk_to_ws_json ---------------------------------------------------


def test_format_sse_event_renders_one_event():
    chunk = StreamChunk(stream_id="s1", seq=2, text="Hi", meta={"lang": "en"})
    assert format_sse_event(chunk) == (
        'event: chunk\ndata: {"stream_id":"s1","seq":2,"text":"Hi","done":false,'
        '"meta":{"lang":"en"}}\n\n'
    )
    assert format_sse_event(chunk, event="token", id=7).startswith("event: token\nid: 7\ndata: ")
    assert format_sse_event(chunk, event=None, id="s1:2").startswith("id: s1:2\ndata: ")


@pytest.mark.parametrize(
    "text", ["line1\nline2", "a\r\nb", "trailing\n", "\r", "data: fake\n\nevent: x", "é ü\u2028💡"]
)
def test_sse_data_survives_any_text(text: str):
    chunk = StreamChunk(stream_id="s", seq=0, text=text, done=True)
    rendered = format_sse_event(chunk)
    assert rendered.endswith("\n\n")
    (event,) = parse_sse(rendered)  # exactly one event, whatever the text
    assert event["event"] == "chunk"
    assert StreamChunk.model_validate(json.loads(event["data"])) == chunk


def test_sse_stream_of_several_events_parses_back():
    chunks = [StreamChunk(stream_id="s", seq=i, text=f"t{i}\n", done=i == 2) for i in range(3)]
    text = "".join(format_sse_event(c, id=c.seq) for c in chunks)
    events = parse_sse(text)
    assert [e["id"] for e in events] == ["0", "1", "2"]
    assert [json.loads(e["data"])["text"] for e in events] == ["t0\n", "t1\n", "t2\n"]


def test_chunk_to_ws_json_has_the_chunk_fields():
    chunk = StreamChunk(stream_id="s", seq=4, text="a\nb", done=True, meta={"n": [1, 2]})
    text = chunk_to_ws_json(chunk)
    assert json.loads(text) == {
        "stream_id": "s",
        "seq": 4,
        "text": "a\nb",
        "done": True,
        "meta": {"n": [1, 2]},
    }
    assert json.loads(text) == json.loads(parse_sse(format_sse_event(chunk))[0]["data"])


def test_renderers_accept_an_envelope_carrying_a_chunk():
    chunk = StreamChunk(stream_id="s", seq=0, text="x")
    envelope = Message(payload=chunk, headers=HEADERS)
    assert format_sse_event(envelope) == format_sse_event(chunk)
    assert chunk_to_ws_json(envelope) == chunk_to_ws_json(chunk)


@pytest.mark.parametrize("render", [format_sse_event, chunk_to_ws_json])
def test_renderers_reject_what_is_not_a_chunk(render: Callable[[Any], str]):
    name = render.__name__
    with pytest.raises(TypeError, match=rf"{name} needs a StreamChunk .*got dict"):
        render({"text": "x"})
    with pytest.raises(TypeError, match=r"got a Message carrying str"):
        render(Message(payload="x", headers=HEADERS))
    odd = StreamChunk(stream_id="s", seq=3, text="x", meta={"obj": object()})
    with pytest.raises(TypeError, match=r"chunk 3 of stream 's' has a meta value"):
        render(odd)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"event": ""}, "event name"),
        ({"event": "a\nb"}, "event name"),
        ({"event": "a\rb"}, "event name"),
        ({"event": 3}, "event name"),
        ({"id": "1\n2"}, "SSE id"),
        ({"id": "a\0"}, "SSE id"),
        ({"id": ""}, "SSE id"),
        ({"id": 1.5}, "SSE id"),
    ],
)
def test_format_sse_event_rejects_fields_that_would_break_framing(kwargs: Any, match: str):
    with pytest.raises(ValueError, match=match):
        format_sse_event(StreamChunk(stream_id="s", seq=0, text="x"), **kwargs)


# -- stream_flow --------------------------------------------------------------------------


async def test_stream_flow_yields_chunks_then_the_final_result(stop_after, bounded):
    tokens = ["Hel", "lo", ", ", "world"]
    flow = run_flow(chat_flow(tokens, maxsize=1), stop_after)
    before = other_tasks()
    message = Message(payload="hi", headers=HEADERS, meta={"request_id": "r"})

    stream = stream_flow(flow, message)
    assert isinstance(stream, TraceStream) and stream.trace_id == message.trace_id
    items = await bounded(_collect(stream))

    *chunks, final = items
    assert all(isinstance(c, StreamChunk) for c in chunks)
    assert [(c.seq, c.text, c.done) for c in chunks] == [
        (0, "Hel", False),
        (1, "lo", False),
        (2, ", ", False),
        (3, "world", True),
    ]
    assert isinstance(final, Message) and final.trace_id == message.trace_id
    assert final.payload == FinalAnswer(text="Hello, world")
    assert final.meta == {"request_id": "r"}
    assert other_tasks() == before  # the idle watcher is gone
    assert await flow.cancel(message.trace_id) is False  # nothing left of the trace


async def _collect(stream: TraceStream[Any]) -> list[Any]:
    return [item async for item in stream]


async def test_stream_flow_supports_anext_and_async_with(stop_after, bounded):
    flow = run_flow(chat_flow(["a", "b"]), stop_after)
    async with stream_flow(flow, Message(payload="q", headers=HEADERS)) as stream:
        first = await bounded(anext(stream))
        rest = await bounded(_collect(stream))
    assert first.text == "a"
    assert [type(x) for x in rest] == [StreamChunk, Message]
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_stream_flow_ends_when_the_trace_ends_without_a_final_result(stop_after, bounded):
    started = asyncio.Event()

    async def talker(msg: Message, ctx: Context) -> None:
        await ctx.emit_chunk(parent=msg, text="only")
        started.set()
        await msg.payload.wait()  # the stream is blocked in fetch while we wait here

    flow = run_flow(create(node(talker, "talker").to()), stop_after)
    release = asyncio.Event()
    message = Message(payload=release, headers=HEADERS)

    async def consume() -> tuple[list[Any], int]:
        items = [item async for item in stream_flow(flow, message)]
        # The interrupt that ended the wait left no cancellation behind.
        return items, asyncio.current_task().cancelling()  # type: ignore[union-attr]

    consumer = asyncio.create_task(consume())
    await bounded(started.wait())
    release.set()  # talker returns None: the trace is over without a final result
    items, cancelling = await bounded(consumer)
    assert [c.text for c in items] == ["only"]
    assert cancelling == 0


async def test_stream_flow_yields_a_flow_error_in_error_mode(stop_after, bounded):
    async def fails(msg: Message, ctx: Context) -> None:
        await ctx.emit_chunk(parent=msg, text="partial")
        raise RuntimeError("model crashed")

    flow = create(node(fails, "fails").to(), emit_errors_to_rookery=True)
    run_flow(flow, stop_after)
    items = await bounded(_collect(stream_flow(flow, Message(payload="q", headers=HEADERS))))
    assert [type(i) for i in items] == [StreamChunk, FlowError]
    assert items[1].code is FlowErrorCode.NODE_EXCEPTION


async def test_stream_flow_emits_to_the_chosen_ingress(stop_after, bounded):
    async def left(msg: Message, ctx: Context) -> Message:
        return msg.model_copy(update={"payload": "left"})

    async def right(msg: Message, ctx: Context) -> Message:
        return msg.model_copy(update={"payload": "right"})

    flow = run_flow(create(node(left, "left").to(), node(right, "right").to()), stop_after)
    items = await bounded(
        _collect(stream_flow(flow, Message(payload=0, headers=HEADERS), to="right"))
    )
    assert [i.payload for i in items] == ["right"]
    with pytest.raises(ValueError, match="OpenSea feeds only"):
        await anext(stream_flow(flow, Message(payload=0, headers=HEADERS), to="up"))


async def test_stream_flow_checks_its_arguments(stop_after):
    flow = chat_flow(["a"])
    message = Message(payload="q", headers=HEADERS)
    with pytest.raises(RuntimeError, match=r"call flow\.run\(\) first"):
        stream_flow(flow, message)
    run_flow(flow, stop_after)
    with pytest.raises(TypeError, match="needs a Message"):
        stream_flow(flow, "q")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"needs a flow .* got str"):
        stream_flow("flow", message)  # type: ignore[arg-type]
    for bad in (0, -1, math.nan, True, "5"):
        with pytest.raises(ValueError, match="timeout_s must be a number > 0"):
            stream_flow(flow, message, timeout_s=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="emit_stream_events needs a Message"):
        emit_stream_events(flow, None)  # type: ignore[arg-type]
    await flow.stop()
    with pytest.raises(RuntimeError, match="not running"):
        stream_flow(flow, message)


# -- stopping early -------------------------------------------------------------------------


async def test_aclose_cancels_the_trace_and_leaves_no_task(stop_after, bounded):
    probe = Probe()
    flow = run_flow(chat_flow([f"t{i}" for i in range(5000)], maxsize=2, probe=probe), stop_after)
    before = other_tasks()
    message = Message(payload="q", headers=HEADERS)
    stream = stream_flow(flow, message)
    firsts = [await bounded(anext(stream)) for _ in range(3)]
    assert [c.seq for c in firsts] == [0, 1, 2]

    await bounded(stream.aclose())
    assert probe.cancelled.is_set()  # the producer stopped instead of blocking forever
    assert other_tasks() == before
    assert await flow.cancel(message.trace_id) is False
    assert not [i for f in flow.floes for i in f.items()]
    await stream.aclose()  # idempotent


async def test_leaving_async_with_early_cancels_the_trace(stop_after, bounded):
    probe = Probe()
    flow = run_flow(chat_flow([f"t{i}" for i in range(5000)], maxsize=2, probe=probe), stop_after)
    before = other_tasks()
    message = Message(payload="q", headers=HEADERS)
    async with stream_flow(flow, message) as stream:
        async for chunk in stream:
            if chunk.seq == 5:
                break
    assert probe.cancelled.is_set()
    assert other_tasks() == before
    # The flow keeps serving other traces.
    items = await bounded(_collect(stream_flow(flow, Message(payload="again", headers=HEADERS))))
    assert len(items) == 5001


async def test_break_out_of_plain_async_for_is_cleaned_up_by_the_loop(stop_after, bounded):
    probe = Probe()
    flow = run_flow(chat_flow([f"t{i}" for i in range(5000)], maxsize=2, probe=probe), stop_after)
    before = other_tasks()
    message = Message(payload="q", headers=HEADERS)
    async for chunk in stream_flow(flow, message):
        if chunk.seq == 2:
            break
    gc.collect()  # CPython already dropped the iterator; other interpreters may need this
    # asyncio finalises the abandoned generator in a task of its own, which cancels the trace.
    await bounded(probe.cancelled.wait())
    await bounded(flow.wait_idle(message.trace_id))
    await bounded(asyncio.gather(*(other_tasks() - before)))
    assert other_tasks() == before


async def test_cancelling_the_consumer_cancels_the_trace(stop_after, bounded):
    probe = Probe()
    flow = run_flow(chat_flow(["a", "b", "c"], probe=probe, wait_gate_at=1), stop_after)
    before = other_tasks()
    message = Message(payload="q", headers=HEADERS)
    got_first = asyncio.Event()

    async def consume() -> None:
        async for _ in stream_flow(flow, message):
            got_first.set()

    consumer = asyncio.create_task(consume())
    await bounded(got_first.wait())  # the consumer now waits for a chunk that is gated
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await bounded(consumer)
    assert probe.cancelled.is_set()
    assert other_tasks() == before
    assert await flow.cancel(message.trace_id) is False


async def test_an_outer_timeout_still_works_around_a_stream(stop_after, bounded):
    probe = Probe()
    flow = run_flow(chat_flow(["a", "b"], probe=probe, wait_gate_at=1), stop_after)
    before = other_tasks()
    message = Message(payload="q", headers=HEADERS)
    received: list[Any] = []
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            async for item in stream_flow(flow, message):
                received.append(item)
    assert [c.text for c in received] == ["a"]
    assert probe.cancelled.is_set()
    assert other_tasks() == before
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_timeout_s_cancels_the_trace_and_raises(stop_after, bounded):
    probe = Probe()
    flow = run_flow(chat_flow(["a", "b"], probe=probe, wait_gate_at=1), stop_after)
    before = other_tasks()
    message = Message(payload="q", headers=HEADERS)
    received: list[Any] = []
    with pytest.raises(TimeoutError, match=rf"trace {message.trace_id!r} did not finish"):
        async for item in stream_flow(flow, message, timeout_s=0.05):
            received.append(item)
    assert [c.text for c in received] == ["a"]
    assert probe.cancelled.is_set()
    assert other_tasks() == before


async def test_someone_else_cancelling_the_trace_ends_the_stream(stop_after, bounded):
    probe = Probe()
    flow = run_flow(chat_flow(["a", "b"], probe=probe, wait_gate_at=1), stop_after)
    message = Message(payload="q", headers=HEADERS)
    got_first = asyncio.Event()

    async def consume() -> list[Any]:
        items = []
        async for item in stream_flow(flow, message):
            items.append(item)
            got_first.set()
        return items

    consumer = asyncio.create_task(consume())
    await bounded(got_first.wait())
    assert await bounded(flow.cancel(message.trace_id)) is True
    assert [c.text for c in await bounded(consumer)] == ["a"]


async def test_stopping_the_flow_fails_the_stream(bounded):
    probe = Probe()
    flow = chat_flow(["a", "b"], probe=probe, wait_gate_at=1)
    before = other_tasks()
    flow.run()
    got_first = asyncio.Event()

    async def consume() -> None:
        async for _ in stream_flow(flow, Message(payload="q", headers=HEADERS)):
            got_first.set()

    consumer = asyncio.create_task(consume())
    await bounded(got_first.wait())
    await bounded(flow.stop())
    with pytest.raises(RuntimeError):
        await bounded(consumer)
    await bounded(asyncio.gather(*(other_tasks() - before), return_exceptions=True))
    assert other_tasks() == before


# -- emit_stream_events --------------------------------------------------------------------


async def test_emit_stream_events_renders_chunks_final_and_end(stop_after, bounded):
    flow = run_flow(chat_flow(["Hel", "lo\n"]), stop_after)
    message = Message(payload="q", headers=HEADERS)
    stream = emit_stream_events(flow, message)
    assert stream.trace_id == message.trace_id
    lines = await bounded(_collect(stream))
    assert all(isinstance(line, str) and line.endswith("\n\n") for line in lines)

    events = parse_sse("".join(lines))
    assert [e["event"] for e in events] == ["chunk", "chunk", "final", "end"]
    chunks = [json.loads(e["data"]) for e in events[:2]]
    assert [(c["seq"], c["text"], c["done"]) for c in chunks] == [
        (0, "Hel", False),
        (1, "lo\n", True),
    ]
    assert json.loads(events[2]["data"]) == {"text": "Hello\n", "citations": []}
    assert json.loads(events[3]["data"]) == {"trace_id": message.trace_id}


async def test_emit_stream_events_reports_a_flow_error(stop_after, bounded):
    async def fails(msg: Message, ctx: Context) -> None:
        raise ValueError("bad prompt")

    flow = create(node(fails, "fails").to(), emit_errors_to_rookery=True)
    run_flow(flow, stop_after)
    message = Message(payload="q", headers=HEADERS)
    events = parse_sse("".join(await bounded(_collect(emit_stream_events(flow, message)))))
    assert [e["event"] for e in events] == ["error", "end"]
    error = json.loads(events[0]["data"])
    assert error["code"] == "NODE_EXCEPTION" and error["trace_id"] == message.trace_id
    assert error["original_exc"] == {"type": "ValueError", "message": "bad prompt"}


async def test_emit_stream_events_reports_a_timeout(stop_after, bounded):
    probe = Probe()
    flow = run_flow(chat_flow(["a", "b"], probe=probe, wait_gate_at=1), stop_after)
    before = other_tasks()
    message = Message(payload="q", headers=HEADERS)
    events = parse_sse(
        "".join(await bounded(_collect(emit_stream_events(flow, message, timeout_s=0.05))))
    )
    assert [e["event"] for e in events] == ["chunk", "error", "end"]
    error = json.loads(events[1]["data"])
    assert error["code"] == "DEADLINE_EXCEEDED" and error["trace_id"] == message.trace_id
    assert probe.cancelled.is_set()
    assert other_tasks() == before


async def test_emit_stream_events_without_a_final_result_just_ends(stop_after, bounded):
    async def talker(msg: Message, ctx: Context) -> None:
        await ctx.emit_chunk(parent=msg, text="hm", done=True)

    flow = run_flow(create(node(talker, "talker").to()), stop_after)
    lines = await bounded(_collect(emit_stream_events(flow, Message(payload=0, headers=HEADERS))))
    assert [e["event"] for e in parse_sse("".join(lines))] == ["chunk", "end"]


async def test_emit_stream_events_final_must_be_json(stop_after, bounded):
    async def odd(msg: Message, ctx: Context) -> Message:
        return msg.model_copy(update={"payload": object()})

    flow = run_flow(create(node(odd, "odd").to()), stop_after)
    with pytest.raises(TypeError, match=r"the final result \(object\) is not JSON-serialisable"):
        await bounded(_collect(emit_stream_events(flow, Message(payload=0, headers=HEADERS))))


async def test_closing_emit_stream_events_early_cancels_the_trace(stop_after, bounded):
    probe = Probe()
    flow = run_flow(chat_flow([f"t{i}" for i in range(5000)], maxsize=2, probe=probe), stop_after)
    before = other_tasks()
    async with emit_stream_events(flow, Message(payload="q", headers=HEADERS)) as events:
        first = await bounded(anext(events))
    assert parse_sse(first)[0]["event"] == "chunk"
    assert probe.cancelled.is_set()
    assert other_tasks() == before
