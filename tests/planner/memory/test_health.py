"""Health: a failing summariser retries, degrades to truncation, and recovers when it works."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from penguiflow.planner.memory import (
    ConversationTurn,
    DefaultShortTermMemory,
    MemoryBudget,
    MemoryHealth,
    ShortTermMemoryConfig,
)

HEALTHY, RETRY, DEGRADED, RECOVERING = (
    MemoryHealth.HEALTHY,
    MemoryHealth.RETRY,
    MemoryHealth.DEGRADED,
    MemoryHealth.RECOVERING,
)


def turn(n: int) -> ConversationTurn:
    return ConversationTurn(f"q{n}", f"a{n}", None, ts=float(n))


def memory_with(summarizer: Any, changes: list[Any], **extra: Any) -> DefaultShortTermMemory:
    async def on_health_changed(old: MemoryHealth, new: MemoryHealth) -> None:
        changes.append((old, new))

    config = ShortTermMemoryConfig(
        strategy="rolling_summary",
        budget=MemoryBudget(full_zone_turns=2),
        summarizer_retries=2,
        summarizer_backoff_s=0,
        recovery_probe_every_turns=2,
        on_health_changed=on_health_changed,
        **extra,
    )
    return DefaultShortTermMemory(config, summarizer)


def shown(memory: DefaultShortTermMemory) -> tuple[list[str], list[str], str]:
    return (
        [t.user_message for t in memory.pending_turns],
        [t.user_message for t in memory.recent_turns],
        memory.summary,
    )


async def test_failure_retries_then_degrades_to_truncation_then_recovers(
    gated: Callable[..., Any],
) -> None:
    summarizer = gated()
    summarizer.failing = True
    changes: list[tuple[MemoryHealth, MemoryHealth]] = []
    memory = memory_with(summarizer, changes)

    for n in range(3):
        await memory.add_turn(turn(n))
    await memory.flush()
    assert summarizer.calls == [["q0"]] * 3  # the first try and two retries
    assert changes == [(HEALTHY, RETRY), (RETRY, DEGRADED)]
    assert memory.health is DEGRADED
    assert shown(memory) == ([], ["q1", "q2"], "")  # q0 dropped, as truncation would

    await memory.add_turn(turn(3))  # degraded: q1 leaves the full zone and is dropped
    await memory.flush()
    assert shown(memory) == ([], ["q2", "q3"], "")
    assert len(summarizer.calls) == 3  # no call while degraded

    summarizer.failing = False
    await memory.add_turn(turn(4))  # the second turn while degraded: q2 becomes a probe
    await memory.flush()
    assert summarizer.calls[-1] == ["q2"]
    assert changes == [
        (HEALTHY, RETRY),
        (RETRY, DEGRADED),
        (DEGRADED, RECOVERING),
        (RECOVERING, HEALTHY),
    ]
    assert memory.health is HEALTHY
    assert shown(memory) == ([], ["q3", "q4"], "q2")

    await memory.add_turn(turn(5))  # healthy again: summaries as usual
    await memory.flush()
    assert shown(memory) == ([], ["q4", "q5"], "q2 | q3")
    assert changes[-1] == (RECOVERING, HEALTHY)


async def test_a_failed_probe_degrades_again_without_retries(gated: Callable[..., Any]) -> None:
    summarizer = gated()
    summarizer.failing = True
    changes: list[tuple[MemoryHealth, MemoryHealth]] = []
    memory = memory_with(summarizer, changes)
    for n in range(5):  # degrade on q0, then q4 arrives and q2 is the probe
        await memory.add_turn(turn(n))
        await memory.flush()
    assert [len(c) for c in summarizer.calls] == [1, 1, 1, 1]
    assert summarizer.calls[-1] == ["q2"]  # one probe call, no retries
    assert changes == [
        (HEALTHY, RETRY),
        (RETRY, DEGRADED),
        (DEGRADED, RECOVERING),
        (RECOVERING, DEGRADED),
    ]
    assert shown(memory) == ([], ["q3", "q4"], "")


async def test_a_retry_that_succeeds_returns_to_healthy(gated: Callable[..., Any]) -> None:
    summarizer = gated()
    summarizer.failures = 1
    changes: list[tuple[MemoryHealth, MemoryHealth]] = []
    memory = memory_with(summarizer, changes)
    for n in range(3):
        await memory.add_turn(turn(n))
    await memory.flush()
    assert changes == [(HEALTHY, RETRY), (RETRY, HEALTHY)]
    assert shown(memory) == ([], ["q1", "q2"], "q0")


async def test_pending_turns_stay_visible_while_retrying(gated: Callable[..., Any]) -> None:
    summarizer = gated(open_gate=False)
    summarizer.failures = 1
    changes: list[tuple[MemoryHealth, MemoryHealth]] = []
    memory = memory_with(summarizer, changes)
    for n in range(3):
        await memory.add_turn(turn(n))
    await summarizer.entered.wait()
    summarizer.entered.clear()
    summarizer.gate.set()
    await summarizer.entered.wait()  # the retry has started
    summarizer.gate.clear()
    assert memory.health is RETRY
    await memory.add_turn(turn(3))
    assert shown(memory) == (["q0", "q1"], ["q2", "q3"], "")
    summarizer.gate.set()
    await memory.flush()
    assert shown(memory) == ([], ["q2", "q3"], "q0 | q1")
    assert changes == [(HEALTHY, RETRY), (RETRY, HEALTHY)]


async def test_a_summariser_reply_that_is_not_a_summary_counts_as_a_failure(
    gated: Callable[..., Any],
) -> None:
    from penguiflow.planner.testing import ScriptedLLM

    llm = ScriptedLLM(["not json", {"summary": ""}, {"text": "wrong field"}])
    changes: list[tuple[MemoryHealth, MemoryHealth]] = []
    memory = memory_with(llm, changes)
    for n in range(3):
        await memory.add_turn(turn(n))
    await memory.flush()
    assert llm.remaining == 0
    assert memory.health is DEGRADED
    assert changes == [(HEALTHY, RETRY), (RETRY, DEGRADED)]


async def test_a_hanging_summariser_times_out_and_counts_as_a_failure(
    gated: Callable[..., Any],
) -> None:
    summarizer = gated(open_gate=False)  # never answers
    changes: list[tuple[MemoryHealth, MemoryHealth]] = []
    memory = memory_with(summarizer, changes, summarizer_timeout_s=0.01)
    for n in range(3):
        await memory.add_turn(turn(n))
    await memory.flush()
    assert len(summarizer.calls) == 3
    assert memory.health is DEGRADED
