"""ScriptedLLM: replies in order, records calls, and an exhausted script fails the test loudly."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import ReactPlanner, ReflectionConfig
from penguiflow.planner.testing import ScriptedLLM, ScriptExhausted


class Query(BaseModel):
    text: str


class Documents(BaseModel):
    results: list[str]


@tool(desc="Search documentation")
async def search_docs(args: Query, ctx: Any) -> Documents:
    return Documents(results=[f"doc about {args.text} " * 50])


def catalog() -> list[Any]:
    registry = ModelRegistry()
    registry.register("search_docs", Query, Documents)
    return build_catalog([search_docs], registry)


SEARCH = {"thought": "look", "next_node": "search_docs", "args": {"text": "routing"}}
FINISH = {"thought": "done", "next_node": None, "answer": "a"}


async def test_replies_come_in_order_and_every_call_is_recorded() -> None:
    llm = ScriptedLLM(["text", {"a": 1}, lambda messages: {"seen": len(messages)}], name="s")
    replies = [await llm.complete(messages=[{"role": "user", "content": "q"}]) for _ in range(3)]
    assert [text for text, _ in replies] == ["text", '{"a": 1}', '{"seen": 1}']
    assert llm.remaining == 0 and len(llm.calls) == 3
    assert llm.calls[0].messages == [{"role": "user", "content": "q"}]


async def test_an_exhausted_main_script_raises_out_of_run() -> None:
    llm = ScriptedLLM([SEARCH])
    planner = ReactPlanner(llm_client=llm, catalog=catalog())
    with pytest.raises(ScriptExhausted) as info:
        await asyncio.wait_for(planner.run("q"), 10)
    message = str(info.value)
    assert message.startswith("ScriptedLLM: call 2 but the script has 1 replies; last message: ")
    assert "doc about routing" in message  # the observation the LLM was last sent
    assert isinstance(info.value, AssertionError)


@pytest.mark.parametrize(
    ("side", "complaint"),
    [
        ("critic", "critic: call 1 but the script has 0 replies"),
        ("summarizer", "summarizer: call 1 but the script has 0 replies"),
        ("answer writer", "main: call 2 but the script has 1 replies"),
    ],
)
async def test_an_exhausted_side_script_raises_out_of_run(side: str, complaint: str) -> None:
    options: dict[str, Any] = {}
    main = ScriptedLLM([FINISH], name="main")
    if side == "critic":
        options["reflection_config"] = ReflectionConfig(enabled=True)
        options["reflection_llm"] = ScriptedLLM([], name="critic")
    elif side == "summarizer":
        main = ScriptedLLM([SEARCH, SEARCH, SEARCH, FINISH], name="main")
        options["summarizer_llm"] = ScriptedLLM([], name="summarizer")
        options["prompt_token_budget"] = 1
    else:
        options["stream_final_response"] = True
    # A deadline does not turn it into a deadline finish either.
    planner = ReactPlanner(llm_client=main, catalog=catalog(), deadline_s=60, **options)
    with pytest.raises(ScriptExhausted, match=complaint):
        await asyncio.wait_for(planner.run("q"), 10)
