"""Fixtures for planner tests: litellm kept offline, and a scripted OpenAI-compatible server.

litellm fetches its model price map from the internet when it is imported
unless ``LITELLM_LOCAL_MODEL_COST_MAP=True``; the session fixture below sets it
before any test can trigger the (lazy) import. Tests never import litellm at
module level, so collection cannot import it before the variable is set.

`ScriptedOpenAIServer` speaks just enough of ``POST /v1/chat/completions`` for
litellm's ``openai/`` provider: each request takes the next queued
`ScriptedReply` (a completion, an error, or an SSE stream of text deltas) and
is recorded, so a test can assert what litellm actually sent. Like a real
server it echoes the requested model name and reports token usage, so a model
litellm has a price for (``openai/gpt-4o-mini`` routed here) gets a real cost.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn

__all__ = ["RecordedRequest", "ScriptedOpenAIServer", "ScriptedReply"]

LOOPBACK = "127.0.0.1"
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


@pytest.fixture(autouse=True, scope="session")
def _litellm_offline_price_map() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        yield


@dataclass(frozen=True, slots=True)
class ScriptedReply:
    """One answer of the scripted server.

    Attributes:
        content: The message of a successful completion (``None``: no content).
        error: ``(status, message, type)`` of an OpenAI-style error answer.
        pieces: Text deltas of a streamed (SSE) answer.
        hang: Never answer (until the server stops): for client timeouts.
        cut: Drop the connection after the streamed pieces, before the stream ends.
    """

    content: str | None = None
    error: tuple[int, str, str] | None = None
    pieces: tuple[str, ...] | None = None
    hang: bool = False
    cut: bool = False


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """What the scripted server received."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any


@dataclass
class ScriptedOpenAIServer:
    """An ASGI app answering chat completions from a queue of `ScriptedReply`."""

    port: int = 0
    replies: deque[ScriptedReply] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base_url(self) -> str:
        """The ``api_base`` to give litellm."""
        return f"http://{LOOPBACK}:{self.port}/v1"

    def model(self, name: str = "scripted", **extra: Any) -> dict[str, Any]:
        """litellm parameters that route model ``name`` (OpenAI protocol) to this server."""
        return {"model": f"openai/{name}", "api_base": self.base_url, "api_key": "test", **extra}

    def queue_text(self, *contents: str | None) -> None:
        """Answer the next requests with these message contents (``None``: no content)."""
        self.replies.extend(ScriptedReply(content=content) for content in contents)

    def queue_error(
        self, status: int, message: str, *, kind: str = "invalid_request_error", times: int = 1
    ) -> None:
        """Answer the next ``times`` requests with an OpenAI-style error."""
        self.replies.extend([ScriptedReply(error=(status, message, kind))] * times)

    def queue_stream(self, *pieces: str, cut: bool = False) -> None:
        """Answer the next request with an SSE stream of these text deltas (``cut``: then fail)."""
        self.replies.append(ScriptedReply(pieces=pieces, cut=cut))

    def queue_hang(self, *, times: int = 1) -> None:
        """Leave the next ``times`` requests unanswered until the server stops."""
        self.replies.extend([ScriptedReply(hang=True)] * times)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request = RecordedRequest(scope["method"], scope["path"], headers, json.loads(body or "0"))
        self.requests.append(request)
        if scope["path"] != "/v1/chat/completions":
            reply = ScriptedReply(error=(404, f"scripted server: no route {scope['path']}", ""))
        elif self.replies:
            reply = self.replies.popleft()
        else:
            # 418 is a 4xx nobody retries, so a test that queued too little fails at once.
            reply = ScriptedReply(error=(418, "scripted server: no reply queued", ""))
        if reply.hang:
            await self.released.wait()
            reply = ScriptedReply(error=(503, "scripted server: stopping", "server_error"))
        model = request.json.get("model", "scripted") if isinstance(request.json, dict) else ""
        if reply.error is not None:
            status, text, kind = reply.error
            error = {"message": text, "type": kind or None, "param": None, "code": None}
            await _send_json(send, status, {"error": error})
        elif reply.pieces is not None:
            await _send_stream(send, model, reply.pieces, cut=reply.cut)
        else:
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": "stop",
            }
            completion = _envelope("chat.completion", model, choices=[choice], usage=USAGE)
            await _send_json(send, 200, completion)


def _envelope(kind: str, model: str, **fields: Any) -> dict[str, Any]:
    envelope = {"id": "chatcmpl-scripted", "object": kind, "created": 1_700_000_000}
    return {**envelope, "model": model, **fields}


async def _send_stream(send: Any, model: str, pieces: tuple[str, ...], *, cut: bool) -> None:
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": piece} for piece in pieces]
    for delta in deltas:
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        await _send_event(send, _envelope("chat.completion.chunk", model, choices=[choice]))
    if cut:
        return  # returning with the body unfinished makes uvicorn drop the connection
    stop = {"index": 0, "delta": {}, "finish_reason": "stop"}
    await _send_event(send, _envelope("chat.completion.chunk", model, choices=[stop]))
    # The usage chunk OpenAI sends last under stream_options.include_usage.
    await _send_event(send, _envelope("chat.completion.chunk", model, choices=[], usage=USAGE))
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


async def _send_event(send: Any, payload: dict[str, Any]) -> None:
    data = f"data: {json.dumps(payload)}\n\n".encode()
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def _send_json(send: Any, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


@pytest.fixture
async def openai_server() -> AsyncIterator[ScriptedOpenAIServer]:
    """A started `ScriptedOpenAIServer` on a free loopback port, stopped at teardown."""
    # Binding and listening here, before uvicorn runs, makes the port known and
    # connectable at once: early connections wait in the backlog, so no
    # readiness polling is needed.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, 0))
    sock.listen(64)
    app = ScriptedOpenAIServer(port=sock.getsockname()[1])
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield app
    finally:
        app.released.set()  # hung requests end, so the graceful shutdown can finish
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
        sock.close()
