"""examples/streaming_llm: tokens stream over a real SSE endpoint (uvicorn) read with httpx."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

__all__: list[str] = []

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "streaming_llm" / "main.py"


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    """The example's module."""
    return load_example("streaming_llm")


def client_for(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=10, trust_env=False)


def parse_event_stream(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.split("\n\n"):
        if not block:
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events


async def test_main_streams_every_token_in_order(example: ModuleType) -> None:
    result = await asyncio.wait_for(example.main(), 30)

    n = len(result.expected)
    assert result.tokens == result.expected
    assert result.seqs == list(range(n))
    assert result.done == [False] * (n - 1) + [True]
    assert result.events == ["chunk"] * n + ["final", "end"]
    assert result.answer == "".join(result.expected)
    assert result.answer.startswith("Q: why do penguins huddle?\n")


async def test_sse_endpoint_read_with_httpx_streaming(example: ModuleType) -> None:
    llm = example.MockLLM()
    app = example.create_app(example.build_flow(llm))
    async with example.serve(app) as base_url, client_for(base_url) as client:
        assert base_url.startswith("http://127.0.0.1:") and not base_url.endswith(":0")
        received: list[str] = []
        async with client.stream("GET", "/stream", params={"q": "fish?"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            trace_id = response.headers["x-trace-id"]
            async for text in response.aiter_text():
                received.append(text)
    events = parse_event_stream("".join(received))

    expected = llm.tokens("fish?")
    chunks = [data for name, data in events if name == "chunk"]
    assert [c["text"] for c in chunks] == expected
    assert [c["seq"] for c in chunks] == list(range(len(expected)))
    assert {c["stream_id"] for c in chunks} == {trace_id}
    assert [c["done"] for c in chunks][-1] is True and not any(c["done"] for c in chunks[:-1])
    assert events[-2] == ("final", {"text": "".join(expected), "citations": []})
    assert events[-1] == ("end", {"trace_id": trace_id})


async def test_concurrent_clients_get_their_own_streams(example: ModuleType) -> None:
    llm = example.MockLLM(repeat=20)
    app = example.create_app(example.build_flow(llm))
    prompts = [f"question {i}" for i in range(4)]
    async with example.serve(app) as base_url, client_for(base_url) as client:
        results = await asyncio.wait_for(
            asyncio.gather(*(example.read_events(client, p) for p in prompts)), 30
        )
    for prompt, events in zip(prompts, results, strict=True):
        chunks = [e.data for e in events if e.event == "chunk"]
        assert [c["text"] for c in chunks] == llm.tokens(prompt)
        assert [c["seq"] for c in chunks] == list(range(len(chunks)))
        assert [e.event for e in events[-2:]] == ["final", "end"]


async def test_client_hanging_up_cancels_the_trace(example: ModuleType) -> None:
    tasks_before = asyncio.all_tasks()
    llm = example.MockLLM(repeat=10_000)  # far more than the floes and socket buffers hold
    app = example.create_app(example.build_flow(llm))
    async with example.serve(app) as base_url, client_for(base_url) as client:
        events = await example.read_events(client, "long answer", limit=3)
        assert [e.data["seq"] for e in events] == [0, 1, 2]
        # The server sees the disconnect, closes the event stream, and that cancels the
        # trace: the LLM stream is closed before its last token.
        await asyncio.wait_for(llm.interrupted.wait(), 10)
    assert asyncio.all_tasks() - tasks_before - {asyncio.current_task()} == set()


async def test_bad_requests_get_plain_errors(example: ModuleType) -> None:
    app = example.create_app(example.build_flow(example.MockLLM()))
    async with example.serve(app) as base_url, client_for(base_url) as client:
        missing = await client.get("/stream")
        wrong_path = await client.get("/nope")
        wrong_method = await client.post("/stream", params={"q": "x"})
    assert (missing.status_code, missing.text) == (400, "missing query parameter q")
    assert wrong_path.status_code == 404
    assert wrong_method.status_code == 405


def test_example_runs_as_a_script() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "Emperor penguins huddle to share warmth." in proc.stdout
    assert "last chunk done: True" in proc.stdout
    assert proc.stderr == ""
