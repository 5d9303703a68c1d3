"""MemorySessions: fail-closed keys, isolation between keys, the LRU bound, auto-persistence."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from penguiflow.planner.memory import (
    ConversationTurn,
    MemoryBudget,
    MemoryClosedError,
    MemoryKey,
    MemoryKeyError,
    MemoryKeyRequired,
    MemorySessions,
    MemoryStateError,
    ShortTermMemoryConfig,
)
from penguiflow.state import InMemoryStateStore

A = MemoryKey("acme", "alice", "s1")
B = MemoryKey("acme", "bob", "s1")
C = MemoryKey("globex", "alice", "s1")


def turn(text: str) -> ConversationTurn:
    return ConversationTurn(text, f"answer to {text}", None, ts=1.0)


def config(strategy: str = "truncation", **extra: Any) -> ShortTermMemoryConfig:
    extra.setdefault("budget", MemoryBudget(full_zone_turns=2))
    return ShortTermMemoryConfig(
        strategy=strategy,  # type: ignore[arg-type]
        summarizer_backoff_s=0,
        **extra,
    )


def users(context: dict[str, Any]) -> list[str]:
    block = context.get("conversation_memory", {})
    turns = [*block.get("pending_turns", []), *block.get("recent_turns", [])]
    return [t["user"] for t in turns]


# -- keys ---------------------------------------------------------------------------------------
def test_an_explicit_key_wins() -> None:
    sessions = MemorySessions(config(key_from_tool_context=lambda ctx: B))
    assert sessions.resolve_key(A, {"anything": 1}) == A


def test_a_key_can_be_derived_from_the_tool_context() -> None:
    def derive(ctx: Any) -> MemoryKey | None:
        if "tenant" not in ctx:
            return None
        return MemoryKey(ctx["tenant"], ctx["user"], ctx["session"])

    sessions = MemorySessions(config(key_from_tool_context=derive))
    context = {"tenant": "acme", "user": "alice", "session": "s1", "db": object()}
    assert sessions.resolve_key(None, context) == A
    with pytest.raises(MemoryKeyRequired, match="key_from_tool_context found none"):
        sessions.resolve_key(None, {"db": object()})


def test_a_missing_key_fails_closed_with_a_clear_message() -> None:
    sessions = MemorySessions(config())
    with pytest.raises(MemoryKeyRequired) as caught:
        sessions.resolve_key(None, None)
    message = str(caught.value)
    assert "require_explicit_key=True" in message
    assert "memory_key=MemoryKey(tenant_id=..., user_id=..., session_id=...)" in message
    assert "resume()" in message
    assert isinstance(caught.value, ValueError)


def test_without_require_explicit_key_a_run_without_key_has_no_memory() -> None:
    sessions = MemorySessions(config(require_explicit_key=False))
    assert sessions.resolve_key(None, {}) is None


def test_strategy_none_never_needs_a_key() -> None:
    sessions = MemorySessions(ShortTermMemoryConfig())
    assert sessions.resolve_key(None, {}) is None
    assert sessions.resolve_key(A, {}) is None  # memory is off: nothing to scope


def test_a_failing_or_wrong_derivation_is_reported() -> None:
    def broken(ctx: Any) -> MemoryKey:
        return MemoryKey(ctx["tenant"], "u", "s")

    with pytest.raises(MemoryKeyError, match="KeyError"):
        MemorySessions(config(key_from_tool_context=broken)).resolve_key(None, {})
    wrong = MemorySessions(config(key_from_tool_context=lambda ctx: "acme:alice:s1"))
    with pytest.raises(TypeError, match="MemoryKey or None"):
        wrong.resolve_key(None, {})
    with pytest.raises(TypeError, match="memory_key must be a MemoryKey"):
        MemorySessions(config()).resolve_key("acme:alice:s1", {})  # type: ignore[arg-type]


def test_rolling_summary_needs_a_summariser() -> None:
    with pytest.raises(ValueError, match="summariser"):
        MemorySessions(config("rolling_summary"))


# -- isolation ----------------------------------------------------------------------------------
async def test_each_key_has_its_own_memory() -> None:
    sessions = MemorySessions(config())
    await sessions.record(A, turn("alice asks"))
    await sessions.record(B, turn("bob asks"))
    assert users(await sessions.llm_context(A)) == ["alice asks"]
    assert users(await sessions.llm_context(B)) == ["bob asks"]
    assert users(await sessions.llm_context(C)) == []
    assert await sessions.system_message(C) is None
    message = await sessions.system_message(A)
    assert message is not None and "alice asks" in message and "bob" not in message
    assert await sessions.session(A) is not await sessions.session(B)


async def _interleave(
    ops: list[tuple[int, str, int]], strategy: str, max_sessions: int, summarizer: Any
) -> None:
    store = InMemoryStateStore()
    sessions = MemorySessions(
        config(strategy, max_sessions=max_sessions), summarizer, store, close_timeout_s=5
    )
    keys = [A, B]
    recorded: list[list[str]] = [[], []]
    rng = random.Random(len(ops))

    def check(who: int, context: dict[str, Any]) -> None:
        mine = set(recorded[who])
        assert set(users(context)) <= mine
        summary = context.get("conversation_memory", {}).get("summary", "")
        assert all(piece in mine for piece in summary.split(" | ") if piece)

    async def actor(who: int) -> None:
        for _ in range(rng.randint(0, 2)):
            await asyncio.sleep(0)  # start the two actors out of step
        for owner, action, yields in ops:
            if owner != who:
                continue
            if action == "add":
                text = f"k{who}-{len(recorded[who])}"
                recorded[who].append(text)
                await sessions.record(keys[who], turn(text))
            else:
                check(who, await sessions.llm_context(keys[who]))
            for _ in range(yields):
                await asyncio.sleep(0)  # let the other actor and the summaries run

    await asyncio.gather(actor(0), actor(1))
    await sessions.flush()
    for who, key in enumerate(keys):
        check(who, await sessions.llm_context(key))
        stored = await store.load_memory_state(key.composite())
        if recorded[who]:
            assert stored is not None
            block = {
                "recent_turns": stored["turns"],
                "pending_turns": stored["pending"],
                "summary": stored["summary"],
            }
            check(who, {"conversation_memory": block})
    await sessions.close()


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from(["add", "read"]), st.integers(0, 3)),
        max_size=40,
    ),
    strategy=st.sampled_from(["truncation", "rolling_summary"]),
    max_sessions=st.sampled_from([1, 2]),
)
def test_two_sessions_never_mix_under_any_interleaving(
    gated: Callable[..., Any], ops: list[tuple[int, str, int]], strategy: str, max_sessions: int
) -> None:
    # One summariser serves both keys, and with max_sessions=1 every switch evicts the other.
    asyncio.run(_interleave(ops, strategy, max_sessions, gated()))


# -- persistence and the LRU bound ---------------------------------------------------------------
async def test_record_persists_and_a_landing_summary_persists_again(
    gated: Callable[..., Any],
) -> None:
    store = InMemoryStateStore()
    summarizer = gated(open_gate=False)
    sessions = MemorySessions(config("rolling_summary"), summarizer, store)
    for text in ("one", "two", "three"):
        await sessions.record(A, turn(text))
    stored = await store.load_memory_state(A.composite())
    assert stored is not None
    assert [t["user"] for t in stored["pending"]] == ["one"]
    assert stored["summary"] == ""
    summarizer.gate.set()
    await sessions.flush()
    stored = await store.load_memory_state(A.composite())
    assert stored is not None
    assert stored["pending"] == [] and stored["summary"] == "one"
    await sessions.close()


async def test_an_evicted_session_is_saved_and_comes_back_from_the_store() -> None:
    store = InMemoryStateStore()
    sessions = MemorySessions(config(max_sessions=2), None, store)
    await sessions.record(A, turn("alice asks"))
    await sessions.record(B, turn("bob asks"))
    await sessions.record(C, turn("carol asks"))
    await sessions.flush()
    assert sessions.keys() == [B, C]
    assert A not in sessions
    stored = await store.load_memory_state(A.composite())  # saved on eviction
    assert stored is not None and stored["turns"][0]["user"] == "alice asks"
    assert users(await sessions.llm_context(A)) == ["alice asks"]  # hydrated
    assert sessions.keys() == [C, A]
    await sessions.close()


async def test_an_evicted_session_keeps_its_unsummarised_turns(gated: Callable[..., Any]) -> None:
    store = InMemoryStateStore()
    summarizer = gated(open_gate=False)
    sessions = MemorySessions(
        config("rolling_summary", max_sessions=1), summarizer, store, close_timeout_s=0
    )
    for text in ("one", "two", "three"):
        await sessions.record(A, turn(text))
    await summarizer.entered.wait()
    await sessions.record(B, turn("bob"))  # evicts A with its summary in flight
    await sessions.flush()
    stored = await store.load_memory_state(A.composite())
    assert stored is not None and [t["user"] for t in stored["pending"]] == ["one"]

    summarizer.gate.set()
    memory = await sessions.session(A)  # evicts B, hydrates A, summarises "one" again
    await memory.flush()
    assert memory.summary == "one"
    assert [t.user_message for t in memory.recent_turns] == ["two", "three"]
    await sessions.close()


async def test_a_session_whose_state_is_corrupt_is_refused_and_never_overwritten() -> None:
    store = InMemoryStateStore()
    foreign = {"format": 2, "turns": [], "note": "written by a newer release"}
    await store.save_memory_state(A.composite(), foreign)
    sessions = MemorySessions(config(), None, store)
    with pytest.raises(MemoryStateError, match="format 2"):
        await sessions.session(A)
    with pytest.raises(MemoryStateError):
        await sessions.record(A, turn("would overwrite"))
    assert A not in sessions
    await sessions.close()
    assert await store.load_memory_state(A.composite()) == foreign


async def test_two_callers_opening_one_key_share_one_memory_and_one_load() -> None:
    class CountingStore(InMemoryStateStore):
        loads = 0

        async def load_memory_state(self, key: str) -> dict[str, Any] | None:
            CountingStore.loads += 1
            await asyncio.sleep(0)  # a real store would await I/O here
            return await super().load_memory_state(key)

    sessions = MemorySessions(config(), None, CountingStore())
    first, second = await asyncio.gather(sessions.session(A), sessions.session(A))
    assert first is second
    assert CountingStore.loads == 1
    await sessions.close()


async def test_close_saves_every_session_and_then_refuses_work() -> None:
    store = InMemoryStateStore()
    sessions = MemorySessions(config(), None, store)
    memory = await sessions.session(A)
    await memory.add_turn(turn("not yet saved"))  # added directly: record would save it
    assert await store.load_memory_state(A.composite()) is None
    await sessions.close()
    await sessions.close()  # idempotent
    stored = await store.load_memory_state(A.composite())
    assert stored is not None and stored["turns"][0]["user"] == "not yet saved"
    assert memory.closed
    with pytest.raises(MemoryClosedError):
        await sessions.session(A)
    with pytest.raises(MemoryClosedError):
        await sessions.record(B, turn("late"))


async def test_a_failing_store_does_not_fail_record(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenStore(InMemoryStateStore):
        async def save_memory_state(self, key: str, state: dict[str, Any]) -> None:
            raise ConnectionError("store down")

    sessions = MemorySessions(config(), None, BrokenStore())
    await sessions.record(A, turn("kept in memory"))
    assert users(await sessions.llm_context(A)) == ["kept in memory"]
    assert "could not save the memory of session acme:alice:s1" in caplog.text
    await sessions.close()
