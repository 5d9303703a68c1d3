"""Streaming LLM tokens over Server-Sent Events: a mock LLM -> PenguiFlow -> uvicorn -> httpx.

The flow has two nodes. ``llm`` asks a mock LLM for tokens and sends each one
downstream with ``ctx.emit_chunk``; ``answer`` passes every chunk on to
Rookery and, once it sees ``done=True``, also returns the assembled
`FinalAnswer`. A minimal raw ASGI app serves ``GET /stream?q=...`` as
``text/event-stream`` with `emit_stream_events`, runs the flow from the ASGI
lifespan, and cancels the trace when the client goes away. ``main()`` starts
uvicorn on a free loopback port, reads one answer with httpx, and stops the
server.

Run it from the repository root::

    .venv/bin/python examples/streaming_llm/main.py

or serve it and watch with curl::

    .venv/bin/uvicorn --app-dir examples/streaming_llm main:app --port 8000
    curl -N "http://127.0.0.1:8000/stream?q=why+do+penguins+huddle"
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import uvicorn
from pydantic import BaseModel

from penguiflow import (
    Context,
    FinalAnswer,
    Headers,
    Message,
    Node,
    NodePolicy,
    PenguiFlow,
    StreamChunk,
    create,
)
from penguiflow.streaming import emit_stream_events

__all__ = [
    "MockLLM",
    "Prompt",
    "SSEEvent",
    "StreamResult",
    "app",
    "build_flow",
    "create_app",
    "main",
    "read_events",
    "serve",
]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

STREAM_TIMEOUT_S = 30.0
"""Budget of one streamed answer; the trace is cancelled when it runs out."""


class Prompt(BaseModel):
    """What a client asks."""

    text: str


@dataclass
class MockLLM:
    """A deterministic stand-in for a streaming LLM client.

    Attributes:
        answer: The words every answer is made of (after an echo of the prompt).
        repeat: How many times ``answer`` is repeated (long answers for tests).
        interrupted: Set when a stream was closed before its last token (its trace
            was cancelled).
    """

    answer: tuple[str, ...] = ("Emperor", "penguins", "huddle", "to", "share", "warmth.")
    repeat: int = 1
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)

    def tokens(self, prompt: str) -> list[str]:
        """The tokens `stream` yields for ``prompt``, in order."""
        words = [f"Q: {prompt}\n", *(list(self.answer) * self.repeat)]
        return [word if i == len(words) - 1 else f"{word} " for i, word in enumerate(words)]

    async def stream(self, prompt: str) -> AsyncIterator[str]:
        """Yield the answer token by token, giving the event loop a turn between tokens."""
        finished = False
        try:
            for token in self.tokens(prompt):
                await asyncio.sleep(0)  # a real client would await the network here
                yield token
            finished = True
        finally:
            if not finished:
                self.interrupted.set()


def build_flow(llm: MockLLM) -> PenguiFlow:
    """``llm`` (one chunk per token) -> ``answer`` (chunks + final answer) -> Rookery."""

    async def ask_llm(msg: Message, ctx: Context) -> None:
        prompt: Prompt = msg.payload
        previous: str | None = None
        # aclosing: if the trace is cancelled, the LLM stream is closed right away.
        async with contextlib.aclosing(llm.stream(prompt.text)) as tokens:
            async for token in tokens:
                if previous is not None:
                    await ctx.emit_chunk(parent=msg, text=previous)
                previous = token
        # The last token goes out with done=True: the stream is complete.
        await ctx.emit_chunk(parent=msg, text=previous or "", done=True)

    texts: dict[str, list[str]] = {}

    async def answer(msg: Message, ctx: Context) -> Message | None:
        chunk: StreamChunk = msg.payload
        if msg.trace_id not in texts:
            texts[msg.trace_id] = []
            ctx.on_trace_idle(_forget(texts))  # frees the buffer of cancelled traces too
        texts[msg.trace_id].append(chunk.text)
        await ctx.emit(msg)  # every chunk reaches Rookery as it comes
        if not chunk.done:
            return None
        text = "".join(texts.pop(msg.trace_id))
        return msg.model_copy(update={"payload": FinalAnswer(text=text)})

    answer_node = Node(answer, name="answer", policy=NodePolicy(validate="none"))
    llm_node = Node(ask_llm, name="llm", policy=NodePolicy(validate="none"))
    return create(llm_node.to(answer_node), answer_node.to(), queue_maxsize=16)


def _forget(texts: dict[str, list[str]]) -> Callable[[str], None]:
    def forget(trace_id: str) -> None:
        texts.pop(trace_id, None)

    return forget


# -- the ASGI app ------------------------------------------------------------------------


def create_app(flow: PenguiFlow) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """A raw ASGI app serving ``GET /stream?q=...``; the lifespan runs and stops ``flow``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(flow, receive, send)
        elif scope["type"] == "http":
            await _http(flow, scope, receive, send)

    return app


async def _lifespan(flow: PenguiFlow, receive: Receive, send: Send) -> None:
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            flow.run()
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await flow.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _http(flow: PenguiFlow, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["path"] != "/stream":
        await _plain(send, 404, "not found; try GET /stream?q=...")
        return
    if scope["method"] != "GET":
        await _plain(send, 405, "use GET")
        return
    query = parse_qs(scope["query_string"].decode("latin-1"))
    prompt = query.get("q", [""])[0].strip()
    if not prompt:
        await _plain(send, 400, "missing query parameter q")
        return
    message = Message(payload=Prompt(text=prompt), headers=Headers(tenant="demo"))
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"),
                (b"x-trace-id", message.trace_id.encode()),
            ],
        }
    )

    async def pump() -> None:
        async with emit_stream_events(flow, message, timeout_s=STREAM_TIMEOUT_S) as events:
            async for text in events:
                await send({"type": "http.response.body", "body": text.encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    # Whichever ends first wins: the stream, or the client hanging up. Cancelling the
    # pump closes the event stream, which cancels the trace so the LLM stops too.
    tasks = [asyncio.create_task(pump()), asyncio.create_task(_until_disconnect(receive))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
    streamed = tasks[0]
    error = None if streamed.cancelled() else streamed.exception()
    if error is not None:
        raise error


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _plain(send: Send, status: int, text: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": text.encode()})


app = create_app(build_flow(MockLLM()))
"""Module-level app for ``uvicorn main:app``."""


# -- serving and reading ------------------------------------------------------------------


class _Server(uvicorn.Server):
    """A uvicorn server that says when it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


@contextlib.asynccontextmanager
async def serve(asgi_app: Any, *, start_timeout_s: float = 10.0) -> AsyncIterator[str]:
    """Serve ``asgi_app`` with uvicorn on a free loopback port; yield its base URL.

    Leaving the block stops the server (bounded: streams still open after two
    seconds are cancelled) and with it the app's lifespan.
    """
    config = uvicorn.Config(
        asgi_app,
        host="127.0.0.1",
        port=0,  # the OS picks a free port; we read it back from the socket
        lifespan="on",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(), name="uvicorn")
    ready = asyncio.create_task(server.ready.wait())
    try:
        await asyncio.wait(
            {serving, ready}, timeout=start_timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if not ready.done():
            raise RuntimeError("uvicorn did not start listening")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        ready.cancel()
        server.should_exit = True
        await asyncio.wait_for(serving, start_timeout_s)


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One Server-Sent Event as a client sees it.

    Attributes:
        event: The event name (``chunk``, ``final``, ``error`` or ``end``).
        data: The event's data, decoded from JSON.
    """

    event: str
    data: Any


async def read_events(
    client: httpx.AsyncClient,
    prompt: str,
    *,
    on_event: Callable[[SSEEvent], None] | None = None,
    limit: int | None = None,
) -> list[SSEEvent]:
    """``GET /stream?q=prompt`` and parse the event stream as it arrives.

    Args:
        client: An httpx client whose ``base_url`` is the server.
        prompt: The question.
        on_event: Called with every event as soon as it is parsed.
        limit: Hang up after this many events (``None``: read to the end).
    """
    events: list[SSEEvent] = []
    async with client.stream("GET", "/stream", params={"q": prompt}) as response:
        response.raise_for_status()
        name, data = "message", []
        async for line in response.aiter_lines():
            if line:
                field_name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field_name == "event":
                    name = value
                elif field_name == "data":
                    data.append(value)
                continue
            if not data:
                continue
            event = SSEEvent(name, json.loads("\n".join(data)))
            events.append(event)
            if on_event is not None:
                on_event(event)
            if limit is not None and len(events) >= limit:
                break
            name, data = "message", []
    return events


@dataclass(frozen=True, slots=True)
class StreamResult:
    """What ``main()`` observed.

    Attributes:
        tokens: Chunk texts in arrival order.
        seqs: Chunk ``seq`` numbers in arrival order.
        done: The ``done`` flag of every chunk.
        answer: Text of the ``final`` event.
        events: Event names in order.
        expected: The tokens the mock LLM produced.
    """

    tokens: list[str]
    seqs: list[int]
    done: list[bool]
    answer: str
    events: list[str]
    expected: list[str]


async def main(prompt: str = "why do penguins huddle?", echo: bool = False) -> StreamResult:
    """Serve the flow, stream one answer over HTTP, and return what arrived."""
    llm = MockLLM()
    asgi_app = create_app(build_flow(llm))

    def show(event: SSEEvent) -> None:
        if echo and event.event == "chunk":
            print(event.data["text"], end="", flush=True)

    async with (
        serve(asgi_app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10, trust_env=False) as client,
    ):
        events = await read_events(client, prompt, on_event=show)
    chunks = [e.data for e in events if e.event == "chunk"]
    final = next(e.data for e in events if e.event == "final")
    return StreamResult(
        tokens=[c["text"] for c in chunks],
        seqs=[c["seq"] for c in chunks],
        done=[c["done"] for c in chunks],
        answer=final["text"],
        events=[e.event for e in events],
        expected=llm.tokens(prompt),
    )


if __name__ == "__main__":
    result = asyncio.run(main(echo=True))
    print()
    print(f"chunks: {len(result.tokens)}, seq {result.seqs[0]}..{result.seqs[-1]}")
    print(f"last chunk done: {result.done[-1]}")
    print(f"events: {' '.join(dict.fromkeys(result.events))}")
