"""Run limits: the deadline bounds every await of a run, max_run_tokens every LLM call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import (
    PlannerEvent,
    PlannerFinish,
    ReactPlanner,
    ReflectionConfig,
    ResumeError,
)
from penguiflow.planner.limits import RunLimits
from penguiflow.planner.llm import ChatMessage, StreamCallback
from penguiflow.planner.testing import ScriptedLLM

BOUND_S = 10.0
"""How long a test waits for a run that must end at its (much shorter) deadline."""


class Query(BaseModel):
    text: str


class Documents(BaseModel):
    results: list[str]


@tool(desc="Search documentation")
async def search_docs(args: Query, ctx: Any) -> Documents:
    return Documents(results=[f"doc about {args.text} " * 50])


class Stuck:
    """Watches the `stuck` tool: whether it started, and whether it was cancelled."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.cancelled = asyncio.Event()


@tool(desc="Never returns (its node has no timeout_s)")
async def stuck(args: Query, ctx: Any) -> Documents:
    watch: Stuck = ctx.tool_context["watch"]
    watch.entered.set()
    try:
        await asyncio.Event().wait()  # never set: only cancellation ends this
    except asyncio.CancelledError:
        watch.cancelled.set()
        raise
    raise AssertionError("unreachable")


@tool(desc="Asks a person")
async def ask(args: Query, ctx: Any) -> Documents:
    await ctx.pause("approval needed", {"text": args.text})
    raise AssertionError("pause returns control to the caller")


class HungStore:
    """A state store whose ``save_planner_state`` never returns."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

    async def save_planner_state(self, token: str, state: dict[str, Any]) -> None:
        self.tokens.append(token)
        await asyncio.Event().wait()  # never set: only cancellation ends this

    async def load_planner_state(self, token: str) -> dict[str, Any] | None:
        return None

    async def delete_planner_state(self, token: str) -> None:
        return None


class HangsAfter:
    """A `JSONLLMClient` that answers ``replies`` in order, then never answers again."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.calls = 0
        self.hanging = asyncio.Event()

    async def complete(
        self,
        *,
        messages: Sequence[ChatMessage],
        response_format: Mapping[str, Any] | None = None,
        stream: bool = False,
        on_stream_chunk: StreamCallback | None = None,
    ) -> str:
        self.calls += 1
        if self.replies:
            return json.dumps(self.replies.pop(0))
        self.hanging.set()
        await asyncio.Event().wait()  # never set: only cancellation ends this
        raise AssertionError("unreachable")


def catalog() -> list[Any]:
    registry = ModelRegistry()
    registry.register("search_docs", Query, Documents)
    registry.register("stuck", Query, Documents)
    registry.register("ask", Query, Documents)
    return build_catalog([search_docs, stuck, ask], registry)


def call(node: str, text: str = "x", thought: str = "look") -> dict[str, Any]:
    return {"thought": thought, "next_node": node, "args": {"text": text}}


def finish(answer: Any = "done") -> dict[str, Any]:
    return {"thought": "done", "next_node": None, "answer": answer}


def constraints(events: list[PlannerEvent]) -> list[str]:
    return [e.extra["reason"] for e in events if e.event_type == "constraint"]


async def test_the_deadline_cancels_a_tool_that_never_returns() -> None:
    watch = Stuck()
    events: list[PlannerEvent] = []
    llm = ScriptedLLM([call("stuck"), finish()])
    planner = ReactPlanner(
        llm_client=llm, catalog=catalog(), deadline_s=0.2, event_callback=events.append
    )
    result = await asyncio.wait_for(planner.run("q", tool_context={"watch": watch}), BOUND_S)

    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("deadline", None)
    assert result.metadata["error"] == "ran past deadline_s=0.2s"
    assert watch.entered.is_set() and watch.cancelled.is_set()
    assert len(llm.calls) == 1 and result.metadata["hops"] == 1
    assert result.metadata["steps"] == []  # the interrupted call never completed
    assert constraints(events) == ["deadline"]
    assert [e.event_type for e in events].count("finish") == 1


async def test_the_deadline_ends_a_run_whose_llm_client_never_returns() -> None:
    client = HangsAfter()
    events: list[PlannerEvent] = []
    planner = ReactPlanner(
        llm_client=client, catalog=catalog(), deadline_s=0.2, event_callback=events.append
    )
    result = await asyncio.wait_for(planner.run("q"), BOUND_S)

    assert isinstance(result, PlannerFinish) and result.reason == "deadline"
    assert client.hanging.is_set() and client.calls == 1
    assert result.metadata["iterations"] == 0
    assert constraints(events) == ["deadline"]


@pytest.mark.parametrize("side", ["critic", "summarizer", "answer writer"])
async def test_the_deadline_bounds_the_side_calls(side: str) -> None:
    options: dict[str, Any] = {}
    if side == "critic":
        main: Any = ScriptedLLM([finish()])
        options["reflection_config"] = ReflectionConfig(enabled=True)
        options["reflection_llm"] = hung = HangsAfter()
    elif side == "summarizer":
        main = ScriptedLLM([call("search_docs", str(i)) for i in range(3)] + [finish()])
        options["prompt_token_budget"] = 1
        options["summarizer_llm"] = hung = HangsAfter()
    else:
        main = hung = HangsAfter(finish())
        options["stream_final_response"] = True
    planner = ReactPlanner(llm_client=main, catalog=catalog(), deadline_s=0.2, **options)
    result = await asyncio.wait_for(planner.run("q"), BOUND_S)

    assert isinstance(result, PlannerFinish) and result.reason == "deadline"
    assert hung.hanging.is_set()


async def test_the_deadline_bounds_saving_a_pause_and_the_token_is_not_resumable() -> None:
    store = HungStore()
    planner = ReactPlanner(
        llm_client=ScriptedLLM([call("ask")]), catalog=catalog(), deadline_s=0.2, state_store=store
    )
    result = await asyncio.wait_for(planner.run("q"), BOUND_S)

    assert isinstance(result, PlannerFinish) and result.reason == "deadline"
    (token,) = store.tokens
    with pytest.raises(ResumeError):
        await planner.resume(token)


async def test_a_run_cut_by_the_deadline_as_it_finishes_keeps_its_answer() -> None:
    finishes: list[PlannerEvent] = []

    async def callback(event: PlannerEvent) -> None:
        if event.event_type == "finish":
            finishes.append(event)
            await asyncio.Event().wait()  # a consumer that never takes the finish event

    planner = ReactPlanner(
        llm_client=ScriptedLLM([finish("the answer")]),
        catalog=catalog(),
        deadline_s=0.2,
        event_callback=callback,
    )
    result = await asyncio.wait_for(planner.run("q"), BOUND_S)

    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("answer_complete", "the answer")
    assert [e.extra["reason"] for e in finishes] == ["answer_complete"]


async def test_a_timeout_error_from_a_client_is_an_llm_error_not_the_deadline() -> None:
    def times_out(messages: list[dict[str, str]]) -> str:
        raise TimeoutError("the provider timed out")

    planner = ReactPlanner(llm_client=ScriptedLLM([times_out]), catalog=catalog(), deadline_s=60)
    result = await asyncio.wait_for(planner.run("q"), BOUND_S)

    assert isinstance(result, PlannerFinish) and result.reason == "llm_error"
    assert "the provider timed out" in result.metadata["error"]


async def test_max_run_tokens_is_checked_after_every_llm_call() -> None:
    # Each bad reply is about 10,000 estimated tokens: the first one reaches the
    # limit, so the step's repairs never happen.
    bad = "x" * 40_000
    events: list[PlannerEvent] = []
    llm = ScriptedLLM([bad] * 4)
    planner = ReactPlanner(
        llm_client=llm,
        catalog=catalog(),
        max_run_tokens=10_000,
        repair_attempts=3,
        event_callback=events.append,
    )
    result = await asyncio.wait_for(planner.run("q"), BOUND_S)

    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("token_budget", None)
    assert len(llm.calls) == 1
    used = result.metadata["token_estimate"]
    assert 10_000 <= used < 10_000 + 2_000  # one call's overshoot, no more
    assert result.metadata["error"] == (
        f"used {used} estimated tokens, reaching max_run_tokens=10000"
    )
    assert constraints(events) == ["token_budget"]
    assert [e.event_type for e in events].count("repair") == 0


async def test_the_tool_call_that_reaches_max_run_tokens_is_not_made() -> None:
    llm = ScriptedLLM([call("search_docs", thought="t" * 8_000), finish()])
    planner = ReactPlanner(llm_client=llm, catalog=catalog(), max_run_tokens=2_000)
    result = await asyncio.wait_for(planner.run("q"), BOUND_S)

    assert isinstance(result, PlannerFinish) and result.reason == "token_budget"
    assert result.metadata["hops"] == 0 and result.metadata["steps"] == []


async def test_a_side_call_reaching_max_run_tokens_stops_the_run() -> None:
    critic = ScriptedLLM([{"score": 0.9, "feedback": "f" * 40_000}], name="critic")
    planner = ReactPlanner(
        llm_client=ScriptedLLM([finish("the draft")]),
        catalog=catalog(),
        reflection_config=ReflectionConfig(enabled=True),
        reflection_llm=critic,
        max_run_tokens=5_000,
    )
    result = await asyncio.wait_for(planner.run("q"), BOUND_S)

    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("token_budget", None)
    assert result.metadata["cost"]["reflection_llm_calls"] == 1
    assert "reflection" not in result.metadata


async def test_max_run_tokens_holds_across_steps_and_counts_every_call() -> None:
    llm = ScriptedLLM([call("search_docs", str(i)) for i in range(8)])
    planner = ReactPlanner(llm_client=llm, catalog=catalog(), max_run_tokens=4_000)
    result = await asyncio.wait_for(planner.run("q"), BOUND_S)

    assert isinstance(result, PlannerFinish) and result.reason == "token_budget"
    assert 4_000 <= result.metadata["token_estimate"] < 4_000 + 2_000
    # The step whose LLM call reached the limit never ran its tool.
    assert result.metadata["hops"] == len(llm.calls) - 1 == len(result.metadata["steps"])


def test_the_limits_are_checked_when_the_planner_is_built() -> None:
    with pytest.raises(ValueError, match="max_run_tokens must be an int > 0"):
        ReactPlanner(llm_client=ScriptedLLM([]), catalog=catalog(), max_run_tokens=0)
    with pytest.raises(ValueError, match="deadline_s must be a number > 0"):
        RunLimits(deadline_s=float("inf"))
    planner = ReactPlanner(
        llm_client=ScriptedLLM([]), catalog=catalog(), max_run_tokens=10, deadline_s=1.5
    )
    assert planner.limits == RunLimits(max_iters=8, deadline_s=1.5, max_run_tokens=10)
    assert (planner.max_run_tokens, planner.deadline_s, planner.hop_budget) == (10, 1.5, None)
