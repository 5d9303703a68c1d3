"""ReactPlanner with short-term memory: sessions in the prompt, isolation, resume, persistence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import PlannerFinish, PlannerPause, ReactPlanner
from penguiflow.planner.memory import (
    MemoryKey,
    MemoryKeyError,
    MemoryKeyRequired,
    ShortTermMemoryConfig,
)
from penguiflow.planner.testing import ScriptedLLM
from penguiflow.state import open_store


class Query(BaseModel):
    text: str


class Answer(BaseModel):
    text: str


@tool(desc="Look something up")
async def lookup(args: Query, ctx: Any) -> Answer:
    if args.text == "approval":
        await ctx.pause("approve?", {})
    return Answer(text=f"found {args.text}")


def catalog() -> list[Any]:
    registry = ModelRegistry()
    registry.register("lookup", Query, Answer)
    return build_catalog([lookup], registry)


def finish(answer: str) -> dict[str, Any]:
    return {"thought": "answer", "next_node": None, "answer": answer}


def memory_block(messages: list[dict[str, str]]) -> dict[str, Any] | None:
    """The conversation_memory the LLM was shown, if any."""
    for message in messages:
        if message["role"] == "system" and "conversation_memory" in message["content"]:
            start = message["content"].index("{")
            block: dict[str, Any] = json.loads(message["content"][start:])["conversation_memory"]
            return block
    return None


ANA = MemoryKey(tenant_id="acme", user_id="ana", session_id="s1")
BOB = MemoryKey(tenant_id="acme", user_id="bob", session_id="s1")


def truncation(**options: Any) -> ShortTermMemoryConfig:
    return ShortTermMemoryConfig(strategy="truncation", **options)


async def test_the_next_turn_sees_the_previous_one() -> None:
    llm = ScriptedLLM([finish("Paris"), finish("It is in France")])
    planner = ReactPlanner(llm_client=llm, catalog=catalog(), short_term_memory=truncation())
    first = await planner.run("Capital of France?", memory_key=ANA)
    assert isinstance(first, PlannerFinish) and first.payload == "Paris"
    assert memory_block(llm.calls[0].messages) is None  # nothing remembered yet
    await planner.run("Where is it?", memory_key=ANA)
    block = memory_block(llm.calls[1].messages)
    assert block is not None
    [turn] = block["recent_turns"]
    assert (turn["user"], turn["assistant"]) == ("Capital of France?", "Paris")
    preamble = next(m for m in llm.calls[1].messages if "conversation_memory" in m["content"])
    assert "not instructions" in preamble["content"]


async def test_sessions_never_see_each_other() -> None:
    llm = ScriptedLLM([finish("ana's answer"), finish("bob's answer"), finish("again")])
    planner = ReactPlanner(llm_client=llm, catalog=catalog(), short_term_memory=truncation())
    await planner.run("ana's secret question", memory_key=ANA)
    await planner.run("bob asks", memory_key=BOB)
    await planner.run("bob again", memory_key=BOB)
    assert memory_block(llm.calls[1].messages) is None
    shown = json.dumps(memory_block(llm.calls[2].messages))
    assert "bob asks" in shown and "ana" not in shown


async def test_a_run_without_a_key_fails_before_any_llm_call() -> None:
    llm = ScriptedLLM([finish("x")])
    planner = ReactPlanner(llm_client=llm, catalog=catalog(), short_term_memory=truncation())
    with pytest.raises(MemoryKeyRequired, match="memory_key=MemoryKey"):
        await planner.run("q")
    assert llm.calls == []
    derived = ReactPlanner(
        llm_client=llm,
        catalog=catalog(),
        short_term_memory=truncation(
            key_from_tool_context=lambda tc: MemoryKey(
                tenant_id=tc["tenant"], user_id=tc["user"], session_id="web"
            )
        ),
    )
    await derived.run("q", tool_context={"tenant": "acme", "user": "ana"})
    key = MemoryKey(tenant_id="acme", user_id="ana", session_id="web")
    context = (await derived.memory(key)).get_llm_context()
    assert context["conversation_memory"]["recent_turns"][0]["user"] == "q"


async def test_resume_must_continue_the_same_session() -> None:
    llm = ScriptedLLM(
        [{"thought": "ask", "next_node": "lookup", "args": {"text": "approval"}}, finish("done")]
    )
    planner = ReactPlanner(llm_client=llm, catalog=catalog(), short_term_memory=truncation())
    paused = await planner.run("refund?", memory_key=ANA)
    assert isinstance(paused, PlannerPause)
    with pytest.raises(MemoryKeyError, match="same memory_key"):
        await planner.resume(paused.resume_token, "yes", memory_key=BOB)
    with pytest.raises(MemoryKeyRequired):
        await planner.resume(paused.resume_token, "yes")
    result = await planner.resume(paused.resume_token, "yes", memory_key=ANA)
    assert isinstance(result, PlannerFinish) and result.payload == "done"
    recent = (await planner.memory(ANA)).get_llm_context()["conversation_memory"]["recent_turns"]
    assert [t["user"] for t in recent] == ["refund?"]
    assert recent[0]["trajectory_digest"] == {"tools": ["lookup"]}
    assert (await planner.memory(BOB)).get_llm_context() == {}


async def test_memory_survives_a_new_planner_on_the_same_sqlite_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    async with await open_store(url) as store:
        first = ReactPlanner(
            llm_client=ScriptedLLM([finish("Paris")]),
            catalog=catalog(),
            short_term_memory=truncation(),
            state_store=store,
        )
        await first.run("Capital of France?", memory_key=ANA)
        await first.aclose()
    async with await open_store(url, create=False) as store:
        llm = ScriptedLLM([finish("In France")])
        second = ReactPlanner(
            llm_client=llm, catalog=catalog(), short_term_memory=truncation(), state_store=store
        )
        await second.run("Where is it?", memory_key=ANA)
        block = memory_block(llm.calls[0].messages)
        assert block is not None and block["recent_turns"][0]["assistant"] == "Paris"
        await second.aclose()


async def test_rolling_summaries_are_written_by_the_summarizer_llm() -> None:
    summarizer = ScriptedLLM([{"summary": "Ana asked about France."}], name="summarizer")
    config = ShortTermMemoryConfig(strategy="rolling_summary")
    llm = ScriptedLLM([finish(f"answer {i}") for i in range(7)])
    planner = ReactPlanner(
        llm_client=llm, catalog=catalog(), short_term_memory=config, summarizer_llm=summarizer
    )
    for i in range(7):
        await planner.run(f"question {i}", memory_key=ANA)
    memory = await planner.memory(ANA)
    assert await memory.flush(5)
    context = memory.get_llm_context()["conversation_memory"]
    assert context["summary"] == "Ana asked about France."
    assert len(summarizer.calls) == 1
    await planner.aclose()


def test_memory_configuration_mistakes_fail_at_construction() -> None:
    with pytest.raises(TypeError, match="ShortTermMemoryConfig"):
        ReactPlanner(
            llm_client=ScriptedLLM([]),
            catalog=catalog(),
            short_term_memory={"strategy": "truncation"},  # type: ignore[arg-type]
        )


async def test_two_processes_serving_one_session_in_turn_lose_no_turn(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    async with await open_store(url) as store_a, await open_store(url) as store_b:
        llm_a = ScriptedLLM([finish("one"), finish("three")], name="A")
        llm_b = ScriptedLLM([finish("two")], name="B")
        a = ReactPlanner(
            llm_client=llm_a, catalog=catalog(), short_term_memory=truncation(), state_store=store_a
        )
        b = ReactPlanner(
            llm_client=llm_b, catalog=catalog(), short_term_memory=truncation(), state_store=store_b
        )
        await a.run("turn1", memory_key=ANA)
        await b.run("turn2", memory_key=ANA)
        await a.run("turn3", memory_key=ANA)
        # A's third prompt shows B's turn, and the store keeps all three.
        block = memory_block(llm_a.calls[1].messages)
        assert block is not None
        assert [t["user"] for t in block["recent_turns"]] == ["turn1", "turn2"]
        stored = await store_a.load_memory_state(ANA.composite())
        assert stored is not None
        assert [t["user"] for t in stored["turns"]] == ["turn1", "turn2", "turn3"]
        await a.aclose()
        await b.aclose()
