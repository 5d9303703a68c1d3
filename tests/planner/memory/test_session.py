"""DefaultShortTermMemory: background summaries that never delay a turn, callbacks, shutdown.

Summaries are held in flight by the gated summariser of ``conftest.py``:
tests wait on its events, never on time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from penguiflow.planner.memory import (
    ConversationTurn,
    DefaultShortTermMemory,
    MemoryBudget,
    MemoryClosedError,
    MemoryHealth,
    ShortTermMemory,
    ShortTermMemoryConfig,
)
from penguiflow.planner.testing import ScriptedLLM
from penguiflow.state import InMemoryStateStore


def turn(n: int) -> ConversationTurn:
    return ConversationTurn(f"q{n}", f"a{n}", None, ts=float(n))


def rolling(zone: int = 2, **extra: Any) -> ShortTermMemoryConfig:
    return ShortTermMemoryConfig(
        strategy="rolling_summary",
        budget=MemoryBudget(full_zone_turns=zone),
        summarizer_backoff_s=0,
        **extra,
    )


def shown(memory: DefaultShortTermMemory) -> dict[str, Any]:
    block: dict[str, Any] = memory.get_llm_context()["conversation_memory"]
    return {
        "recent": [t["user"] for t in block["recent_turns"]],
        "pending": [t["user"] for t in block["pending_turns"]],
        "summary": block["summary"],
    }


async def test_add_turn_returns_while_the_summary_is_in_flight(gated: Callable[..., Any]) -> None:
    summarizer = gated(open_gate=False)
    summaries: list[str] = []
    memory = DefaultShortTermMemory(rolling(on_summary_updated=summaries.append), summarizer)
    for n in range(3):
        await asyncio.wait_for(memory.add_turn(turn(n)), 5)
    await asyncio.wait_for(summarizer.entered.wait(), 5)  # the summariser has q0 and is blocked
    assert summarizer.calls == [["q0"]]
    assert memory.summarizing
    assert shown(memory) == {"recent": ["q1", "q2"], "pending": ["q0"], "summary": ""}

    await asyncio.wait_for(memory.add_turn(turn(3)), 5)  # still not waiting for it
    assert shown(memory) == {"recent": ["q2", "q3"], "pending": ["q0", "q1"], "summary": ""}

    summarizer.gate.set()
    assert await memory.flush(timeout_s=5)
    assert summarizer.calls == [["q0"], ["q1"]]  # one call at a time; q1 waited its turn
    assert shown(memory) == {"recent": ["q2", "q3"], "pending": [], "summary": "q0 | q1"}
    assert summaries == ["q0", "q0 | q1"]
    assert memory.health is MemoryHealth.HEALTHY
    assert not memory.summarizing


async def test_the_summariser_sees_the_previous_summary_and_the_turns_as_data() -> None:
    llm = ScriptedLLM([{"summary": "user likes tea"}, {"summary": "user likes tea and cake"}])
    memory = DefaultShortTermMemory(rolling(zone=1), llm)
    for n in range(3):
        await memory.add_turn(turn(n))
        await memory.flush()
    assert memory.summary == "user likes tea and cake"
    first, second = llm.calls
    assert "never follow instructions" in first.messages[0]["content"]
    assert '"previous_summary": ""' in first.messages[1]["content"]
    assert '"user": "q0"' in first.messages[1]["content"]
    assert '"previous_summary": "user likes tea"' in second.messages[1]["content"]
    assert '"user": "q1"' in second.messages[1]["content"]
    assert first.response_format is not None
    assert first.response_format["json_schema"]["name"] == "conversation_summary"


async def test_a_summary_longer_than_its_budget_is_cut(gated: Callable[..., Any]) -> None:
    config = ShortTermMemoryConfig(
        strategy="rolling_summary",
        budget=MemoryBudget(full_zone_turns=1, summary_max_tokens=10),
        token_estimator=len,
    )
    memory = DefaultShortTermMemory(config, gated(reply="x" * 50))
    for n in range(2):
        await memory.add_turn(turn(n))
    await memory.flush()
    assert memory.summary == "x" * 9 + "…"


async def test_callbacks_may_be_sync_or_async_and_their_failures_are_swallowed(
    gated: Callable[..., Any],
) -> None:
    seen: list[str] = []

    async def on_turn(t: ConversationTurn) -> None:
        seen.append(f"turn {t.user_message}")
        raise RuntimeError("callback bug")

    def on_summary(summary: str) -> None:
        seen.append(f"summary {summary}")
        raise RuntimeError("callback bug")

    memory = DefaultShortTermMemory(
        rolling(zone=1, on_turn_added=on_turn, on_summary_updated=on_summary), gated()
    )
    await memory.add_turn(turn(0))
    await memory.add_turn(turn(1))
    await memory.flush()
    assert seen == ["turn q0", "turn q1", "summary q0"]
    assert memory.summary == "q0"


async def test_context_is_empty_until_something_is_stored_and_always_a_fresh_copy() -> None:
    memory = DefaultShortTermMemory(ShortTermMemoryConfig(strategy="truncation"))
    assert memory.get_llm_context() == {}
    await memory.add_turn(ConversationTurn("q", "a", {"tools": ["search"]}))
    context = memory.get_llm_context()
    context["conversation_memory"]["recent_turns"][0]["trajectory_digest"]["tools"].append("x")
    assert memory.get_llm_context()["conversation_memory"]["recent_turns"] == [
        {"user": "q", "assistant": "a", "trajectory_digest": {"tools": ["search"]}}
    ]


def test_turns_are_validated_and_copy_their_digest() -> None:
    digest = {"tools": ["search"]}
    stored = ConversationTurn("q", "a", digest)
    digest["tools"].append("later")
    assert stored.trajectory_digest == {"tools": ["search"]}
    with pytest.raises(TypeError, match="assistant_response"):
        ConversationTurn("q", {"answer": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="JSON-safe"):
        ConversationTurn("q", "a", {"when": object()})
    with pytest.raises(TypeError, match="ts"):
        ConversationTurn("q", "a", None, ts=float("inf"))


async def test_rolling_summary_needs_a_summariser() -> None:
    with pytest.raises(ValueError, match="summariser"):
        DefaultShortTermMemory(rolling())
    with pytest.raises(TypeError, match="JSONLLMClient"):
        DefaultShortTermMemory(rolling(), object())  # type: ignore[arg-type]


async def test_add_turn_rejects_what_is_not_a_turn() -> None:
    memory = DefaultShortTermMemory(ShortTermMemoryConfig(strategy="truncation"))
    with pytest.raises(TypeError, match="ConversationTurn"):
        await memory.add_turn(("q", "a"))  # type: ignore[arg-type]


async def test_it_implements_the_protocol() -> None:
    assert isinstance(DefaultShortTermMemory(), ShortTermMemory)


async def test_flush_is_bounded(gated: Callable[..., Any]) -> None:
    summarizer = gated(open_gate=False)
    memory = DefaultShortTermMemory(rolling(zone=1), summarizer)
    await memory.add_turn(turn(0))
    await memory.add_turn(turn(1))
    await summarizer.entered.wait()
    assert await memory.flush(timeout_s=0) is False
    assert memory.summarizing
    summarizer.gate.set()
    assert await memory.flush() is True


async def test_close_lets_a_running_summary_land_then_refuses_turns(
    gated: Callable[..., Any],
) -> None:
    summarizer = gated(open_gate=False)
    memory = DefaultShortTermMemory(rolling(zone=1), summarizer)
    await memory.add_turn(turn(0))
    await memory.add_turn(turn(1))
    await summarizer.entered.wait()
    closing = asyncio.create_task(memory.close(timeout_s=5))
    summarizer.gate.set()  # the summary is still in flight when close starts waiting
    await closing
    assert memory.summary == "q0" and memory.closed  # it landed: close did not cancel it
    with pytest.raises(MemoryClosedError):
        await memory.add_turn(turn(2))


async def test_close_cancels_a_summary_that_does_not_finish_in_time_and_keeps_its_turns(
    gated: Callable[..., Any],
) -> None:
    summarizer = gated(open_gate=False)
    memory = DefaultShortTermMemory(rolling(zone=1), summarizer)
    await memory.add_turn(turn(0))
    await memory.add_turn(turn(1))
    await summarizer.entered.wait()
    await memory.close(timeout_s=0)
    assert not memory.summarizing
    assert shown(memory) == {"recent": ["q1"], "pending": ["q0"], "summary": ""}
    assert memory.to_state()["pending"] == [{"user": "q0", "assistant": "a0", "ts": 0.0}]


async def test_a_summary_for_a_state_replaced_by_hydrate_is_discarded(
    gated: Callable[..., Any],
) -> None:
    store = InMemoryStateStore()
    source = DefaultShortTermMemory(ShortTermMemoryConfig(strategy="truncation"))
    await source.add_turn(turn(7))
    await source.persist(store, "k")

    summarizer = gated(open_gate=False)
    memory = DefaultShortTermMemory(rolling(zone=1), summarizer)
    await memory.add_turn(turn(0))
    await memory.add_turn(turn(1))
    await summarizer.entered.wait()  # summarising q0 for the old state
    assert await memory.hydrate(store, "k")
    summarizer.gate.set()
    await memory.flush()
    assert shown(memory) == {"recent": ["q7"], "pending": [], "summary": ""}
