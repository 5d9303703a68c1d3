"""Fixtures for the memory tests: a summariser the test gates, and real stores per backend.

`GatedSummarizer` is a `JSONLLMClient` whose every call waits on an
`asyncio.Event` the test controls, so a test can hold a summary "in flight"
and assert what the memory does meanwhile, then release it; it records the
turns of each call and folds them deterministically into
``previous | user1 | user2`` (or fails while ``failing`` is set).

``memory_store`` opens a store of each backend on storage of its own (a file
under ``tmp_path``, a fresh PostgreSQL schema, a fresh Redis prefix) and
destroys it afterwards; ``reopen()`` gives a second, independent connection
to the same storage, as another process would have.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from penguiflow.planner.llm import ChatMessage, LLMError, StreamCallback
from penguiflow.state import StateStore, open_store


class GatedSummarizer:
    """A summariser LLM whose calls wait for ``gate`` (open by default).

    Attributes:
        gate: Calls wait for it; clear it to hold summaries in flight.
        entered: Set when a call starts waiting (clear it to await the next one).
        failing: While true, calls raise `LLMError` (after the gate).
        failures: Calls that fail before ``failing`` is consulted (counts down).
        calls: The user messages of the turns of each call, in call order.
    """

    def __init__(self, *, open_gate: bool = True, reply: str | None = None) -> None:
        self.gate = asyncio.Event()
        if open_gate:
            self.gate.set()
        self.entered = asyncio.Event()
        self.failing = False
        self.failures = 0
        self.reply = reply
        self.calls: list[list[str]] = []

    async def complete(
        self,
        *,
        messages: Sequence[ChatMessage],
        response_format: Mapping[str, Any] | None = None,
        stream: bool = False,
        on_stream_chunk: StreamCallback | None = None,
    ) -> str:
        request = json.loads(messages[-1]["content"])
        users = [turn["user"] for turn in request["turns"]]
        self.calls.append(users)
        self.entered.set()
        await self.gate.wait()
        if self.failures > 0:
            self.failures -= 1
            raise LLMError("summariser unavailable (scripted)")
        if self.failing:
            raise LLMError("summariser unavailable (scripted)")
        if self.reply is not None:
            return json.dumps({"summary": self.reply})
        previous = request["previous_summary"]
        return json.dumps({"summary": " | ".join([previous, *users] if previous else users)})


@pytest.fixture
def gated() -> Callable[..., GatedSummarizer]:
    """``gated(open_gate=True, reply=None)``: a new `GatedSummarizer`."""
    return GatedSummarizer


@dataclass
class MemoryBackend:
    """A store backend under test: ``store`` is open; ``reopen()`` opens another connection."""

    name: str
    store: StateStore
    reopen: Callable[[], Awaitable[StateStore]]


@pytest.fixture(params=["sqlite", "postgres", "redis"])
async def memory_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[MemoryBackend]:
    """Each persistent backend on throw-away storage (services via tests/conftest.py)."""
    name: str = request.param
    unique = uuid.uuid4().hex[:12]
    if name == "sqlite":
        url, options = f"sqlite:///{tmp_path / 'memory.db'}", {}
    elif name == "postgres":
        url, options = request.getfixturevalue("postgres_url"), {"schema": f"pf_mem_{unique}"}
    else:
        url, options = request.getfixturevalue("redis_url"), {"prefix": f"pf-mem-{unique}"}
    opened: list[StateStore] = []

    async def reopen() -> StateStore:
        store = await open_store(url, **options)
        opened.append(store)
        return store

    try:
        yield MemoryBackend(name, await reopen(), reopen)
    finally:
        for store in opened:
            await store.close()
        cleanup: Any = await open_store(url, **options)
        await cleanup.destroy()
