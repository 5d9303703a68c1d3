"""Budgets: the truncation strategy, each overflow policy, and a bounded memory over 1,000 turns.

Most tests count one token per character (``token_estimator=len``) so sizes
are exact; a turn costs the tokens of its persisted JSON form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from penguiflow.planner.memory import (
    ConversationTurn,
    DefaultShortTermMemory,
    MemoryBudget,
    MemoryBudgetExceeded,
    MemoryKey,
    MemorySessions,
    OverflowPolicy,
    ShortTermMemoryConfig,
)
from penguiflow.planner.memory.block import turn_tokens
from penguiflow.planner.prompts import estimate_tokens
from penguiflow.state import InMemoryStateStore


def turn(n: int, answer: str = "answer") -> ConversationTurn:
    return ConversationTurn(f"q{n}", f"{answer} {n:03d}", None, ts=float(n))


def users(memory: DefaultShortTermMemory) -> tuple[list[str], list[str]]:
    """The user messages of the pending and of the recent turns."""
    return (
        [t.user_message for t in memory.pending_turns],
        [t.user_message for t in memory.recent_turns],
    )


def config(
    strategy: str = "truncation",
    *,
    zone: int = 3,
    total: int = 10_000,
    summary: int = 1000,
    policy: OverflowPolicy = "truncate_oldest",
    **extra: Any,
) -> ShortTermMemoryConfig:
    budget = MemoryBudget(zone, summary, total, policy)
    return ShortTermMemoryConfig(
        strategy=strategy,  # type: ignore[arg-type]
        budget=budget,
        token_estimator=len,
        summarizer_backoff_s=0,
        **extra,
    )


COST = turn_tokens(config(), turn(0))  # every turn(n) costs the same


async def test_truncation_keeps_only_the_last_full_zone_turns() -> None:
    memory = DefaultShortTermMemory(config(zone=3))
    for n in range(10):
        await memory.add_turn(turn(n))
    assert users(memory) == ([], ["q7", "q8", "q9"])
    block = memory.get_llm_context()["conversation_memory"]
    assert block == {
        "recent_turns": [{"user": f"q{n}", "assistant": f"answer {n:03d}"} for n in (7, 8, 9)],
        "pending_turns": [],
        "summary": "",
    }


async def test_strategy_none_keeps_nothing() -> None:
    memory = DefaultShortTermMemory(ShortTermMemoryConfig())
    await memory.add_turn(turn(1))
    assert memory.get_llm_context() == {}
    assert memory.recent_turns == ()


async def test_truncate_oldest_drops_the_oldest_turns_to_fit() -> None:
    memory = DefaultShortTermMemory(config(zone=10, total=3 * COST))
    for n in range(6):
        await memory.add_turn(turn(n))
        assert memory.token_estimate <= 3 * COST
    assert users(memory) == ([], ["q3", "q4", "q5"])


async def test_truncate_oldest_drops_pending_turns_before_recent_ones(
    gated: Callable[..., Any],
) -> None:
    summarizer = gated(open_gate=False)  # summaries never land: pending turns pile up
    memory = DefaultShortTermMemory(config("rolling_summary", zone=2, total=4 * COST), summarizer)
    for n in range(6):
        await memory.add_turn(turn(n))
    assert users(memory) == (["q2", "q3"], ["q4", "q5"])
    assert memory.token_estimate <= 4 * COST
    await memory.close(timeout_s=0)


@pytest.mark.parametrize("policy", ["truncate_summary", "truncate_oldest"])
async def test_truncate_summary_shortens_the_summary_before_dropping_turns(
    gated: Callable[..., Any], policy: OverflowPolicy
) -> None:
    long_summary = "".join(f"<fact {i:03d}>" for i in range(30))  # 300 characters
    summarizer = gated(reply=long_summary)
    limit = 300 + 3 * COST - 20
    memory = DefaultShortTermMemory(
        config("rolling_summary", zone=2, total=limit, summary=300, policy=policy), summarizer
    )
    for n in range(3):
        await memory.add_turn(turn(n))
    await memory.flush()
    assert memory.summary == long_summary
    assert users(memory) == ([], ["q1", "q2"])

    summarizer.gate.clear()  # the next summary stays in flight
    await memory.add_turn(turn(3))
    assert memory.token_estimate <= limit
    if policy == "truncate_summary":
        assert users(memory) == (["q1"], ["q2", "q3"])  # every turn kept
        assert memory.summary.startswith("…")  # the oldest part of the summary went
        assert memory.summary.endswith("<fact 029>")
        assert len(memory.summary) == 280
    else:
        assert users(memory) == ([], ["q2", "q3"])  # the pending turn went
        assert memory.summary == long_summary
    await memory.close(timeout_s=0)


async def test_error_policy_refuses_the_turn_and_keeps_everything_as_it_was() -> None:
    added: list[ConversationTurn] = []
    memory = DefaultShortTermMemory(
        config(zone=10, total=3 * COST, policy="error", on_turn_added=added.append)
    )
    for n in range(3):
        await memory.add_turn(turn(n))
    before = memory.get_llm_context()
    with pytest.raises(MemoryBudgetExceeded, match="total_max_tokens") as caught:
        await memory.add_turn(turn(3))
    assert caught.value.limit == 3 * COST
    assert caught.value.needed == 4 * COST
    assert memory.get_llm_context() == before
    assert [t.user_message for t in added] == ["q0", "q1", "q2"]


async def test_error_policy_allows_what_fits_once_the_full_zone_drops_old_turns() -> None:
    memory = DefaultShortTermMemory(config(zone=2, total=2 * COST, policy="error"))
    for n in range(5):
        await memory.add_turn(turn(n))  # truncation drops the oldest, so it always fits
    assert users(memory) == ([], ["q3", "q4"])


@pytest.mark.parametrize("policy", ["truncate_oldest", "truncate_summary"])
async def test_a_turn_larger_than_the_whole_budget_is_shortened(policy: OverflowPolicy) -> None:
    memory = DefaultShortTermMemory(config(zone=3, total=200, policy=policy))
    await memory.add_turn(turn(0))
    await memory.add_turn(ConversationTurn("what happened?", "x" * 1000, {"tools": ["search"]}))
    assert memory.token_estimate <= 200
    (kept,) = memory.recent_turns  # the older turn made room first
    assert kept.user_message == "what happened?"
    assert kept.assistant_response.startswith("xxx") and kept.assistant_response.endswith("…")
    assert kept.trajectory_digest is None


async def test_a_turn_larger_than_the_whole_budget_is_refused_under_error() -> None:
    memory = DefaultShortTermMemory(config(zone=3, total=200, policy="error"))
    with pytest.raises(MemoryBudgetExceeded):
        await memory.add_turn(ConversationTurn("what happened?", "x" * 1000))
    assert memory.get_llm_context() == {}


@pytest.mark.parametrize(
    ("strategy", "policy"),
    [
        ("truncation", "truncate_oldest"),
        ("rolling_summary", "truncate_oldest"),
        ("rolling_summary", "truncate_summary"),
    ],
)
async def test_a_thousand_turns_stay_within_the_budget_in_the_store(
    gated: Callable[..., Any], strategy: str, policy: OverflowPolicy
) -> None:
    budget = MemoryBudget(
        full_zone_turns=5, summary_max_tokens=200, total_max_tokens=600, overflow_policy=policy
    )
    summaries: list[str] = []
    memory_config = ShortTermMemoryConfig(
        strategy=strategy,  # type: ignore[arg-type]
        budget=budget,
        summarizer_backoff_s=0,
        on_summary_updated=summaries.append,
    )
    store = InMemoryStateStore()
    sessions = MemorySessions(memory_config, gated(), store)
    key = MemoryKey("acme", "u1", "long")
    sizes: list[int] = []
    fewest_recent = 5
    for n in range(1000):
        # 100 to 300 characters, and now and then one of 2,000 that the budget must absorb
        answer = "word " * (400 if n % 97 == 50 else 20 + (n * 37) % 40)
        await sessions.record(key, ConversationTurn(f"question {n}", answer, {"n": n}))
        await sessions.flush()  # as between two requests: the summary lands
        memory = await sessions.session(key)
        assert memory.token_estimate <= 600
        if n >= 5:
            fewest_recent = min(fewest_recent, len(memory.recent_turns))
        if n % 50 == 49:
            stored = await store.load_memory_state(key.composite())
            assert stored is not None
            text = json.dumps(stored, ensure_ascii=False, separators=(",", ":"))
            sizes.append(estimate_tokens(text))
    await sessions.close()
    envelope = 40  # the document's own keys and separators
    assert max(sizes) <= 600 + envelope
    assert fewest_recent < 5  # the budget, not only the full zone, bounded the memory
    if strategy == "rolling_summary":
        assert len(summaries) > 100  # older turns were folded, not just dropped
        assert max(estimate_tokens(summary) for summary in summaries) <= 200
