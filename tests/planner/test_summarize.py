"""Trajectory summarisation: older steps become a summary once the prompt outgrows its budget."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import PlannerEvent, PlannerFinish, ReactPlanner, Step
from penguiflow.planner.summarize import FALLBACK_LINE_CHARS, fallback_summary
from penguiflow.planner.testing import ScriptedLLM

# Each search observation is about 300 estimated tokens; the prompt with no
# steps is about 650. With this budget the 4th step is the first over budget
# with more than the two most recent steps to summarise.
BUDGET = 1000


class Query(BaseModel):
    text: str


class Documents(BaseModel):
    results: list[str]


@tool(desc="Search documentation")
async def search_docs(args: Query, ctx: Any) -> Documents:
    return Documents(results=[f"{args.text} " * 200])


registry = ModelRegistry()
registry.register("search_docs", Query, Documents)


def catalog() -> list[Any]:
    return build_catalog([search_docs], registry)


def search(text: str) -> dict[str, Any]:
    return {"thought": f"look up {text}", "next_node": "search_docs", "args": {"text": text}}


def finish(answer: Any = "done") -> dict[str, Any]:
    return {"thought": "done", "next_node": None, "answer": answer}


def provider_down(messages: list[dict[str, str]]) -> str:
    raise RuntimeError("503 Service Unavailable")


def prompt_text(llm: ScriptedLLM, index: int) -> str:
    return "\n".join(m["content"] for m in llm.calls[index].messages)


async def test_a_small_budget_summarises_the_older_steps() -> None:
    events: list[PlannerEvent] = []
    main = ScriptedLLM(
        [search("alpha"), search("beta"), search("gamma"), finish("answer")],
        cost_per_call=0.01,
        name="main",
    )
    summarizer = ScriptedLLM(
        [{"summary": "Searched the first topic: one long document."}],
        cost_per_call=0.001,
        name="summarizer",
    )
    planner = ReactPlanner(
        llm_client=main,
        catalog=catalog(),
        summarizer_llm=summarizer,
        prompt_token_budget=BUDGET,
        event_callback=events.append,
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("answer_complete", "answer")
    assert len(summarizer.calls) == 1
    # Before the summary the LLM saw every step; after it, the summary and the last two.
    before = prompt_text(main, 2)
    assert "alpha alpha" in before and "summary_of_earlier_steps" not in before
    after = main.calls[3].messages
    assert json.loads(after[2]["content"]) == {
        "summary_of_earlier_steps": "Searched the first topic: one long document."
    }
    text = prompt_text(main, 3)
    assert "alpha" not in text
    assert "beta beta" in text and "gamma gamma" in text
    # The summariser got exactly the step leaving the prompt.
    request = json.loads(summarizer.calls[0].messages[-1]["content"])
    assert request["query"] == "q" and "previous_summary" not in request
    assert [s["step"] for s in request["steps"]] == [0]
    assert request["steps"][0]["action"]["args"] == {"text": "alpha"}
    assert summarizer.calls[0].response_format is not None
    # The steps are all still in the result; only the prompt shrank.
    assert [s["node_name"] for s in result.metadata["steps"]] == ["search_docs"] * 3 + [None]
    cost = result.metadata["cost"]
    assert (cost["main_llm_calls"], cost["summarizer_llm_calls"]) == (4, 1)
    assert cost["summarizer_cost_usd"] == pytest.approx(0.001)
    assert "summary_error" not in result.metadata
    (event,) = [e for e in events if e.event_type == "summarize"]
    assert event.trajectory_step == 3 and event.error is None
    assert event.extra["summarized_upto"] == 1 and event.extra["steps_summarized"] == 1
    assert event.extra["fallback"] is False
    assert event.extra["tokens_before"] > BUDGET > 0
    assert event.extra["tokens_after"] < event.extra["tokens_before"]
    roles = [e.extra["role"] for e in events if e.event_type == "llm_call"]
    assert roles == ["main", "main", "main", "summarizer", "main"]


async def test_a_later_summary_merges_the_previous_one() -> None:
    summarizer = ScriptedLLM([{"summary": "S1: alpha found."}, {"summary": "S2: alpha, beta."}])
    main = ScriptedLLM(
        [search("alpha"), search("beta"), search("gamma"), search("delta"), finish()]
    )
    planner = ReactPlanner(
        llm_client=main, catalog=catalog(), summarizer_llm=summarizer, prompt_token_budget=BUDGET
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    second = json.loads(summarizer.calls[1].messages[-1]["content"])
    assert second["previous_summary"] == "S1: alpha found."
    assert [s["step"] for s in second["steps"]] == [1]
    last = prompt_text(main, 4)
    assert "S2: alpha, beta." in last and "S1" not in last
    assert "beta beta" not in last and "gamma gamma" in last and "delta delta" in last


async def test_without_a_summarizer_llm_the_main_llm_summarises() -> None:
    main = ScriptedLLM(
        [search("alpha"), search("beta"), search("gamma"), {"summary": "alpha seen"}, finish()]
    )
    planner = ReactPlanner(llm_client=main, catalog=catalog(), prompt_token_budget=BUDGET)
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    assert "You condense the earlier steps" in main.calls[3].messages[0]["content"]
    assert "alpha seen" in prompt_text(main, 4)
    cost = result.metadata["cost"]
    assert (cost["main_llm_calls"], cost["summarizer_llm_calls"]) == (4, 1)


@pytest.mark.parametrize(
    "reply",
    [
        "not json at all",
        {"summary": "   "},
        {"text": "wrong key"},
        ["a", "list"],
        "[" * 1000 + "]" * 1000,
    ],
    ids=["not-json", "blank", "wrong-key", "list", "nested-1000-deep"],
)
async def test_junk_from_the_summariser_falls_back_to_a_truncated_summary(reply: Any) -> None:
    events: list[PlannerEvent] = []
    main = ScriptedLLM([search("alpha"), search("beta"), search("gamma"), finish("answer")])
    planner = ReactPlanner(
        llm_client=main,
        catalog=catalog(),
        summarizer_llm=ScriptedLLM([reply]),
        prompt_token_budget=BUDGET,
        event_callback=events.append,
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("answer_complete", "answer")
    assert result.metadata["summary_error"].startswith("summariser failed, used a truncated")
    summary = json.loads(main.calls[3].messages[2]["content"])["summary_of_earlier_steps"]
    assert summary.startswith('0. search_docs -> {"results": ["alpha alpha')
    assert len(summary) == len("0. search_docs -> ") + FALLBACK_LINE_CHARS
    assert summary.endswith("…")
    assert "beta" not in summary
    (event,) = [e for e in events if e.event_type == "summarize"]
    assert event.extra["fallback"] is True
    assert event.error == result.metadata["summary_error"]


async def test_a_failing_summariser_call_falls_back_and_costs_nothing() -> None:
    main = ScriptedLLM([search("alpha"), search("beta"), search("gamma"), finish("answer")])
    planner = ReactPlanner(
        llm_client=main,
        catalog=catalog(),
        summarizer_llm=ScriptedLLM([provider_down], name="down"),
        prompt_token_budget=BUDGET,
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    assert result.metadata["summary_error"] == (
        "summariser failed, used a truncated summary instead: "
        "summarizer LLM call failed: RuntimeError: 503 Service Unavailable"
    )
    assert result.metadata["cost"]["summarizer_llm_calls"] == 0
    assert "0. search_docs -> " in prompt_text(main, 3)


@pytest.mark.parametrize("argument", ["token_budget", "prompt_token_budget"])
async def test_token_budget_is_the_summary_threshold_not_a_limit(argument: str) -> None:
    # The published meaning: token_budget summarises like prompt_token_budget; the
    # run, which uses far more than BUDGET tokens in all, still finishes with its answer.
    main = ScriptedLLM([search("alpha"), search("beta"), search("gamma"), finish("answer")])
    summarizer = ScriptedLLM([{"summary": "alpha was searched"}], name="summarizer")
    planner = ReactPlanner(
        llm_client=main, catalog=catalog(), summarizer_llm=summarizer, **{argument: BUDGET}
    )
    result = await asyncio.wait_for(planner.run("q"), 10)

    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("answer_complete", "answer")
    assert result.metadata["token_estimate"] > BUDGET
    assert len(summarizer.calls) == 1
    assert "alpha was searched" in prompt_text(main, 3)
    assert planner.token_budget == BUDGET and planner.max_run_tokens is None


def test_token_budget_and_prompt_token_budget_are_one_setting() -> None:
    both = ReactPlanner(
        llm_client=ScriptedLLM([]), catalog=catalog(), token_budget=10, prompt_token_budget=10
    )
    assert both.token_budget == 10
    with pytest.raises(ValueError, match=r"are one setting .* give max_run_tokens"):
        ReactPlanner(
            llm_client=ScriptedLLM([]), catalog=catalog(), token_budget=10, prompt_token_budget=20
        )
    with pytest.raises(ValueError, match="token_budget must be an int > 0"):
        ReactPlanner(llm_client=ScriptedLLM([]), catalog=catalog(), token_budget=0)


async def test_no_budget_means_no_summary() -> None:
    main = ScriptedLLM([search("alpha"), search("beta"), search("gamma"), finish()])
    summarizer = ScriptedLLM([], name="summarizer")
    planner = ReactPlanner(llm_client=main, catalog=catalog(), summarizer_llm=summarizer)
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish)
    assert summarizer.calls == []
    assert "alpha alpha" in prompt_text(main, 3)


async def test_the_two_latest_steps_are_never_summarised() -> None:
    # Over budget from the start, but there is never more than the last two to keep.
    main = ScriptedLLM([search("alpha"), search("beta"), finish()])
    summarizer = ScriptedLLM([], name="summarizer")
    planner = ReactPlanner(
        llm_client=main, catalog=catalog(), summarizer_llm=summarizer, prompt_token_budget=1
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    assert summarizer.calls == []


def test_fallback_summary_lines_and_cap() -> None:
    steps = [
        Step(action={"next_node": "search_docs", "args": {}}, observation={"n": 1}),
        Step(action={"next_node": "search_docs", "args": {}}, error="boom"),
        Step(action={"plan": [{"node": "a"}, {"node": "b"}]}, observation={"branches": []}),
    ]
    assert fallback_summary("earlier", steps, 4).splitlines() == [
        "earlier",
        '4. search_docs -> {"n": 1}',
        "5. search_docs -> error: boom",
        '6. parallel[a, b] -> {"branches": []}',
    ]
    long = fallback_summary("x" * 10_000, steps, 0)
    assert len(long) == 4000 and long.startswith("…")
    assert long.endswith('2. parallel[a, b] -> {"branches": []}')


@pytest.mark.parametrize("budget", [0, -5, 2.5, "100", True])
def test_the_budget_must_be_a_positive_int(budget: Any) -> None:
    with pytest.raises(ValueError, match="prompt_token_budget must be an int > 0"):
        ReactPlanner(llm_client=ScriptedLLM([]), catalog=catalog(), prompt_token_budget=budget)


def test_the_summarizer_llm_must_be_a_client_or_a_model() -> None:
    with pytest.raises(TypeError, match="summarizer_llm must have an async complete"):
        ReactPlanner(
            llm_client=ScriptedLLM([]),
            catalog=catalog(),
            summarizer_llm=object(),  # type: ignore[arg-type]
            prompt_token_budget=10,
        )
