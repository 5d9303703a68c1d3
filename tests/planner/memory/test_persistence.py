"""Persistence: documents round-trip through SQLite, PostgreSQL and Redis; bad ones are refused.

The service-backed stores are the real servers of the machine (see
``tests/conftest.py``), each test on its own schema or key prefix.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from penguiflow.planner.memory import (
    FORMAT_VERSION,
    ConversationTurn,
    DefaultShortTermMemory,
    MemoryBudget,
    MemoryHealth,
    MemoryKey,
    MemorySessions,
    MemoryStateError,
    ShortTermMemoryConfig,
)
from penguiflow.state import InMemoryStateStore, open_store

KEY = MemoryKey(tenant_id="acme", user_id="user123", session_id="sess-abc")


def turn(n: int, digest: dict[str, Any] | None = None) -> ConversationTurn:
    return ConversationTurn(f"q{n} — ünïcode", f"a{n}", digest, ts=1_700_000_000.5 + n)


def rolling(zone: int = 2) -> ShortTermMemoryConfig:
    return ShortTermMemoryConfig(
        strategy="rolling_summary",
        budget=MemoryBudget(full_zone_turns=zone),
        summarizer_backoff_s=0,
    )


async def test_round_trip_through_each_backend_and_a_second_connection(
    memory_store: Any, gated: Callable[..., Any]
) -> None:
    summarizer = gated(open_gate=False)
    memory = DefaultShortTermMemory(rolling(), summarizer)
    await memory.add_turn(turn(0, {"tools": ["search"], "facts": {"n": 1}}))
    summarizer.gate.set()
    for n in range(1, 3):
        await memory.add_turn(turn(n))
    await memory.flush()
    summarizer.gate.clear()
    await memory.add_turn(turn(3))  # q1 pending, in flight
    await summarizer.entered.wait()
    await memory.persist(memory_store.store, KEY.composite())
    await memory.close(timeout_s=0)

    other_process = await memory_store.reopen()
    restored = DefaultShortTermMemory(rolling(), gated())
    assert await restored.hydrate(other_process, KEY.composite())
    assert restored.recent_turns == memory.recent_turns
    assert restored.pending_turns == memory.pending_turns
    assert restored.summary == memory.summary == "q0 — ünïcode"
    assert restored.get_llm_context() == memory.get_llm_context()
    await restored.flush()  # the hydrated pending turn is summarised now
    assert restored.summary == "q0 — ünïcode | q1 — ünïcode"
    assert restored.pending_turns == ()


async def test_the_document_is_versioned_json(memory_store: Any) -> None:
    memory = DefaultShortTermMemory(ShortTermMemoryConfig(strategy="truncation"))
    await memory.add_turn(turn(0, {"tools": ["search"]}))
    await memory.persist(memory_store.store, KEY.composite())
    document = await memory_store.store.load_memory_state(KEY.composite())
    assert document == {
        "format": FORMAT_VERSION,
        "strategy": "truncation",
        "turns": [
            {
                "user": "q0 — ünïcode",
                "assistant": "a0",
                "trajectory_digest": {"tools": ["search"]},
                "ts": 1_700_000_000.5,
            }
        ],
        "pending": [],
        "summary": "",
        "health": "healthy",
        "revision": memory.revision,
    }
    assert isinstance(memory.revision, str) and len(memory.revision) == 32


async def test_hydrating_a_key_never_saved_changes_nothing(memory_store: Any) -> None:
    memory = DefaultShortTermMemory(ShortTermMemoryConfig(strategy="truncation"))
    await memory.add_turn(turn(0))
    assert await memory.hydrate(memory_store.store, "acme:nobody:none") is False
    assert [t.user_message for t in memory.recent_turns] == ["q0 — ünïcode"]


GOOD = {
    "format": 1,
    "strategy": "truncation",
    "turns": [{"user": "stored", "assistant": "a", "ts": 1.0}],
    "pending": [],
    "summary": "",
    "health": "healthy",
}

BAD_DOCUMENTS = {
    "format 2": ({**GOOD, "format": 2}, "format 2"),
    "no format": ({"turns": []}, "no 'format' field"),
    "format as bool": ({**GOOD, "format": True}, "format True"),
    "turns not a list": ({**GOOD, "turns": "q0"}, "'turns' must be a list"),
    "turn without ts": ({**GOOD, "turns": [{"user": "q", "assistant": "a"}]}, r"turns\[0\]"),
    "turn of numbers": ({**GOOD, "pending": [{"user": 1, "assistant": "a", "ts": 1}]}, "pending"),
    "unknown strategy": ({**GOOD, "strategy": "lru"}, "strategy 'lru'"),
    "unknown health": ({**GOOD, "health": "fine"}, "health 'fine'"),
    "summary not text": ({**GOOD, "summary": ["x"]}, "'summary' must be a string"),
    "missing field": ({k: v for k, v in GOOD.items() if k != "pending"}, "pending"),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
async def test_a_bad_document_is_refused_and_nothing_is_overwritten(
    memory_store: Any, case: str
) -> None:
    document, message = BAD_DOCUMENTS[case]
    store = memory_store.store
    await store.save_memory_state(KEY.composite(), document)
    memory = DefaultShortTermMemory(ShortTermMemoryConfig(strategy="truncation"))
    await memory.add_turn(turn(0))
    before = memory.to_state()
    with pytest.raises(MemoryStateError, match=message):
        await memory.hydrate(store, KEY.composite())
    assert memory.to_state() == before
    assert await store.load_memory_state(KEY.composite()) == document


async def test_an_undecodable_record_is_a_memory_state_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await open_store(f"sqlite:///{path}")
    await store.save_memory_state("k", GOOD)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE penguiflow_memory_state SET state = '{not json' WHERE key = 'k'")
    memory = DefaultShortTermMemory(ShortTermMemoryConfig(strategy="truncation"))
    with pytest.raises(MemoryStateError, match="cannot be read"):
        await memory.hydrate(store, "k")
    assert memory.get_llm_context() == {}
    await store.close()


async def test_hydrate_fits_the_stored_turns_to_the_current_configuration(
    gated: Callable[..., Any],
) -> None:
    store = InMemoryStateStore()
    turns = [{"user": f"q{n}", "assistant": "a", "ts": float(n)} for n in range(5)]
    stored = {
        **GOOD,
        "strategy": "rolling_summary",
        "turns": turns[2:],
        "pending": turns[:2],
        "summary": "earlier",
        "health": "retry",
    }
    await store.save_memory_state("k", stored)
    truncating = DefaultShortTermMemory(
        ShortTermMemoryConfig(strategy="truncation", budget=MemoryBudget(full_zone_turns=2))
    )
    assert await truncating.hydrate(store, "k")
    assert [t.user_message for t in truncating.recent_turns] == ["q3", "q4"]
    assert truncating.pending_turns == () and truncating.summary == ""

    summarizer = gated(open_gate=False)
    summarising = DefaultShortTermMemory(
        ShortTermMemoryConfig(strategy="rolling_summary", budget=MemoryBudget(full_zone_turns=4)),
        summarizer,
    )
    await summarising.hydrate(store, "k")  # pending turns stay pending, whatever the zone
    await summarizer.entered.wait()  # and are summarised again
    assert summarizer.calls == [["q0", "q1"]]
    assert [t.user_message for t in summarising.recent_turns] == ["q2", "q3", "q4"]
    assert [t.user_message for t in summarising.pending_turns] == ["q0", "q1"]
    assert summarising.summary == "earlier"
    assert summarising.health is MemoryHealth.HEALTHY  # a stored "retry" was transient
    await summarising.close(timeout_s=0)


async def test_a_degraded_memory_stays_degraded_after_hydrate(gated: Callable[..., Any]) -> None:
    store = InMemoryStateStore()
    summarizer = gated()
    summarizer.failing = True
    config = ShortTermMemoryConfig(
        strategy="rolling_summary",
        budget=MemoryBudget(full_zone_turns=1),
        summarizer_retries=0,
    )
    memory = DefaultShortTermMemory(config, summarizer)
    await memory.add_turn(turn(0))
    await memory.add_turn(turn(1))
    await memory.flush()
    assert memory.health is MemoryHealth.DEGRADED
    await memory.persist(store, "k")
    assert (await store.load_memory_state("k") or {})["health"] == "degraded"

    changes: list[Any] = []
    restored = DefaultShortTermMemory(
        ShortTermMemoryConfig(
            strategy="rolling_summary",
            budget=MemoryBudget(full_zone_turns=1),
            on_health_changed=lambda old, new: changes.append((old, new)),
        ),
        summarizer,
    )
    await restored.hydrate(store, "k")
    assert restored.health is MemoryHealth.DEGRADED
    assert changes == [(MemoryHealth.HEALTHY, MemoryHealth.DEGRADED)]


async def test_strategy_none_neither_saves_nor_loads() -> None:
    store = InMemoryStateStore()
    memory = DefaultShortTermMemory()
    await memory.persist(store, "k")
    assert await store.load_memory_state("k") is None
    await store.save_memory_state("k", GOOD)
    assert await memory.hydrate(store, "k") is False


def test_documents_are_plain_json() -> None:
    memory = DefaultShortTermMemory(ShortTermMemoryConfig(strategy="truncation"))
    assert json.loads(json.dumps(memory.to_state())) == memory.to_state()


async def test_sessions_of_a_new_process_pick_up_where_the_last_one_stopped(
    memory_store: Any, gated: Callable[..., Any]
) -> None:
    first = MemorySessions(rolling(), gated(), memory_store.store)
    for n in range(4):
        await first.record(KEY, turn(n))
    await first.close()  # the summaries land and are saved

    second = MemorySessions(rolling(), gated(), await memory_store.reopen())
    block = (await second.llm_context(KEY))["conversation_memory"]
    assert [t["user"] for t in block["recent_turns"]] == ["q2 — ünïcode", "q3 — ünïcode"]
    assert block["pending_turns"] == []
    assert block["summary"] == "q0 — ünïcode | q1 — ünïcode"
    await second.close()
