"""The reflection loop: a critic scores drafts, weak ones are revised, the critic never loops."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import PlannerEvent, PlannerFinish, PlannerPause, ReactPlanner
from penguiflow.planner.reflection import ReflectionConfig, ReflectionCriteria
from penguiflow.planner.testing import ScriptedLLM


class Query(BaseModel):
    text: str


class Documents(BaseModel):
    results: list[str]


class Summary(BaseModel):
    text: str


class Refund(BaseModel):
    order: str


class Approval(BaseModel):
    approved: bool


@tool(desc="Search documentation")
async def search_docs(args: Query, ctx: Any) -> Documents:
    return Documents(results=[f"doc about {args.text}"])


@tool(desc="Summarize results")
async def summarize(args: Documents, ctx: Any) -> Summary:
    return Summary(text=" / ".join(args.results))


@tool(desc="Ask a human to approve", side_effects="write")
async def approve(args: Refund, ctx: Any) -> Approval:
    await ctx.pause("approval needed", {"order": args.order})
    raise AssertionError("pause returns control to the caller")


registry = ModelRegistry()
registry.register("search_docs", Query, Documents)
registry.register("summarize", Documents, Summary)
registry.register("approve", Refund, Approval)


def catalog() -> list[Any]:
    return build_catalog([search_docs, summarize, approve], registry)


def call(node: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"thought": f"call {node}", "next_node": node, "args": args}


def finish(answer: Any) -> dict[str, Any]:
    return {"thought": "done", "next_node": None, "answer": answer}


def critique(score: float, feedback: str = "", issues: list[str] | None = None) -> dict[str, Any]:
    return {"score": score, "passed": score >= 0.8, "feedback": feedback, "issues": issues or []}


def provider_down(messages: list[dict[str, str]]) -> str:
    raise RuntimeError("503 Service Unavailable")


def config(**fields: Any) -> ReflectionConfig:
    return ReflectionConfig(enabled=True, use_separate_llm=True, **fields)


def reflections(events: list[PlannerEvent]) -> list[dict[str, Any]]:
    return [e.extra for e in events if e.event_type == "reflection"]


async def test_a_weak_draft_is_revised_until_it_passes() -> None:
    events: list[PlannerEvent] = []
    main = ScriptedLLM(
        [
            call("search_docs", {"text": "errors"}),
            finish("Errors are caught."),
            call("search_docs", {"text": "parallel errors"}),
            finish("A failing branch becomes an error observation; the others still finish."),
        ],
        name="main",
    )
    critic = ScriptedLLM(
        [
            critique(0.4, "Say what happens to the other branches.", ["too vague"]),
            critique(0.9, "Complete and grounded."),
        ],
        name="critic",
    )
    planner = ReactPlanner(
        llm_client=main,
        catalog=catalog(),
        reflection_config=config(quality_threshold=0.85),
        reflection_llm=critic,
        event_callback=events.append,
    )
    result = await planner.run("How are errors in parallel branches handled?")

    assert isinstance(result, PlannerFinish)
    assert result.reason == "answer_complete"
    assert result.payload.startswith("A failing branch becomes an error observation")
    assert result.metadata["reflection"] == {
        "score": 0.9,
        "revisions": 1,
        "passed": True,
        "feedback": "Complete and grounded.",
    }
    # After the rejected draft, the main LLM read the review and went on planning.
    review = json.loads(main.calls[2].messages[-1]["content"])["observation"]
    assert review.startswith("Your draft answer was reviewed: it scored 0.40, below the 0.85")
    assert "Say what happens to the other branches." in review and "too vague" in review
    assert "Revise the answer" in review
    assert json.loads(main.calls[2].messages[-2]["content"])["answer"] == "Errors are caught."
    # The critic saw the query, the draft and the observations so far.
    seen = json.loads(critic.calls[1].messages[-1]["content"])
    assert seen["query"] == "How are errors in parallel branches handled?"
    assert seen["draft_answer"] == result.payload
    assert seen["observations"] == [
        '0. search_docs -> {"results": ["doc about errors"]}',
        '2. search_docs -> {"results": ["doc about parallel errors"]}',
    ]
    assert critic.calls[0].response_format is not None
    assert [(r["score"], r["passed"], r["revision"]) for r in reflections(events)] == [
        (0.4, False, 0),
        (0.9, True, 1),
    ]
    drafts = [s for s in result.metadata["steps"] if s["node_name"] is None]
    assert [d["action"]["answer"] for d in drafts] == ["Errors are caught.", result.payload]
    assert drafts[0]["observation"] == review and drafts[1]["observation"] is None
    assert (main.remaining, critic.remaining) == (0, 0)
    assert result.metadata["iterations"] == 4


async def test_revisions_stop_at_max_revisions_and_the_last_draft_is_kept() -> None:
    main = ScriptedLLM([finish("draft 1"), finish("draft 2"), finish("draft 3")])
    critic = ScriptedLLM([critique(0.2, "no"), critique(0.3, "still no"), critique(0.5, "meh")])
    planner = ReactPlanner(
        llm_client=main,
        catalog=catalog(),
        reflection_config=config(max_revisions=2),
        reflection_llm=critic,
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("answer_complete", "draft 3")
    assert result.metadata["reflection"] == {
        "score": 0.5,
        "revisions": 2,
        "passed": False,
        "feedback": "meh",
    }
    assert len(critic.calls) == 3 and main.remaining == 0


async def test_max_revisions_zero_critiques_once_and_accepts() -> None:
    critic = ScriptedLLM([critique(0.1, "bad")])
    planner = ReactPlanner(
        llm_client=ScriptedLLM([finish("only draft")]),
        catalog=catalog(),
        reflection_config=config(max_revisions=0),
        reflection_llm=critic,
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish) and result.payload == "only draft"
    assert result.metadata["reflection"]["passed"] is False
    assert result.metadata["reflection"]["revisions"] == 0


async def test_a_separate_critic_is_charged_under_reflection() -> None:
    events: list[PlannerEvent] = []
    main = ScriptedLLM(
        [call("search_docs", {"text": "x"}), finish("a"), finish("b")], cost_per_call=0.01
    )
    critic = ScriptedLLM([critique(0.5), critique(0.95)], cost_per_call=0.001)
    planner = ReactPlanner(
        llm_client=main,
        catalog=catalog(),
        reflection_config=config(),
        reflection_llm=critic,
        event_callback=events.append,
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish)
    cost = result.metadata["cost"]
    assert (cost["main_llm_calls"], cost["reflection_llm_calls"]) == (3, 2)
    assert cost["reflection_cost_usd"] == pytest.approx(0.002)
    assert cost["total_cost_usd"] == pytest.approx(0.032)
    assert cost["summarizer_llm_calls"] == 0
    roles = [e.extra["role"] for e in events if e.event_type == "llm_call"]
    assert roles == ["main", "main", "reflection", "main", "reflection"]
    # The main client only ever got planner prompts.
    assert all("You are a planner" in c.messages[0]["content"] for c in main.calls)
    assert all("You review a draft answer" in c.messages[0]["content"] for c in critic.calls)


async def test_without_use_separate_llm_the_main_client_critiques() -> None:
    main = ScriptedLLM([finish("a"), critique(0.9, "fine")], cost_per_call=0.01)
    planner = ReactPlanner(
        llm_client=main,
        catalog=catalog(),
        reflection_config=ReflectionConfig(enabled=True),
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish) and result.payload == "a"
    assert result.metadata["reflection"]["passed"] is True
    assert "You review a draft answer" in main.calls[1].messages[0]["content"]
    cost = result.metadata["cost"]
    assert (cost["main_llm_calls"], cost["reflection_llm_calls"]) == (1, 1)


async def test_the_criteria_are_shown_to_the_critic() -> None:
    critic = ScriptedLLM([critique(1.0)])
    criteria = ReflectionCriteria(completeness="Names all three routers")
    planner = ReactPlanner(
        llm_client=ScriptedLLM([finish("a")]),
        catalog=catalog(),
        reflection_config=config(criteria=criteria),
        reflection_llm=critic,
    )
    await planner.run("q")

    system = critic.calls[0].messages[0]["content"]
    assert "- completeness: Names all three routers" in system
    assert f"- accuracy: {ReflectionCriteria().accuracy}" in system
    assert f"- clarity: {ReflectionCriteria().clarity}" in system


async def test_an_invalid_critique_is_repaired_once() -> None:
    critic = ScriptedLLM(["looks good to me", "```json\n" + json.dumps(critique(0.9)) + "\n```"])
    planner = ReactPlanner(
        llm_client=ScriptedLLM([finish("a")]),
        catalog=catalog(),
        reflection_config=config(),
        reflection_llm=critic,
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish)
    assert result.metadata["reflection"]["score"] == 0.9
    assert "error" not in result.metadata["reflection"]
    repair = critic.calls[1].messages
    assert repair[-2] == {"role": "assistant", "content": "looks good to me"}
    assert repair[-1]["content"].startswith("Invalid review: the reply is not valid JSON")


async def test_a_critique_that_stays_invalid_accepts_the_draft_with_an_error() -> None:
    events: list[PlannerEvent] = []
    main = ScriptedLLM([finish("the draft")])
    critic = ScriptedLLM(["nope", {"score": 7, "feedback": "great"}])
    planner = ReactPlanner(
        llm_client=main,
        catalog=catalog(),
        reflection_config=config(),
        reflection_llm=critic,
        event_callback=events.append,
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("answer_complete", "the draft")
    record = result.metadata["reflection"]
    assert (record["score"], record["passed"], record["revisions"]) == (None, False, 0)
    assert record["error"].startswith("invalid critique after one repair")
    assert "score: Input should be less than or equal to 1" in record["error"]
    assert len(main.calls) == 1 and len(critic.calls) == 2
    (event,) = [e for e in events if e.event_type == "reflection"]
    assert event.error == record["error"] and event.extra["passed"] is False


async def test_a_deeply_nested_critique_is_malformed_and_the_draft_accepted() -> None:
    deep = "[" * 1000 + "]" * 1000
    critic = ScriptedLLM([deep, '{"score": 0.9, "issues": ' + "[" * 300 + "]" * 300 + "}"])
    planner = ReactPlanner(
        llm_client=ScriptedLLM([finish("the draft")]),
        catalog=catalog(),
        reflection_config=config(),
        reflection_llm=critic,
    )
    result = await asyncio.wait_for(planner.run("q"), 10)

    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("answer_complete", "the draft")
    assert result.metadata["reflection"]["error"] == (
        "invalid critique after one repair: "
        "the reply nests objects or lists more than 100 levels deep"
    )
    assert "levels deep" in critic.calls[1].messages[-1]["content"]


async def test_the_critic_sees_its_invalid_review_cut_short() -> None:
    critic = ScriptedLLM(["n" * 1_000_000, critique(0.9)])
    planner = ReactPlanner(
        llm_client=ScriptedLLM([finish("a")]),
        catalog=catalog(),
        reflection_config=config(),
        reflection_llm=critic,
    )
    result = await asyncio.wait_for(planner.run("q"), 10)

    assert isinstance(result, PlannerFinish) and result.metadata["reflection"]["score"] == 0.9
    shown, complaint = critic.calls[1].messages[-2:]
    assert shown == {"role": "assistant", "content": "n" * 4000}
    assert "1,000,000 characters long; only its first 4,000 are shown" in complaint["content"]


async def test_a_failing_critic_accepts_the_draft() -> None:
    planner = ReactPlanner(
        llm_client=ScriptedLLM([finish("the draft")]),
        catalog=catalog(),
        reflection_config=config(),
        reflection_llm=ScriptedLLM([provider_down], name="critic"),
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish) and result.payload == "the draft"
    assert result.metadata["reflection"]["error"] == (
        "critic call failed: reflection LLM call failed: RuntimeError: 503 Service Unavailable"
    )
    assert result.metadata["cost"]["reflection_llm_calls"] == 0


async def test_no_revision_when_a_limit_leaves_no_room() -> None:
    critic = ScriptedLLM([critique(0.1, "weak")])
    planner = ReactPlanner(
        llm_client=ScriptedLLM([call("search_docs", {"text": "x"}), finish("draft")]),
        catalog=catalog(),
        max_iters=2,
        reflection_config=config(),
        reflection_llm=critic,
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("answer_complete", "draft")
    assert result.metadata["reflection"] == {
        "score": 0.1,
        "revisions": 0,
        "passed": False,
        "feedback": "weak",
        "stopped_by": "max_iters",
    }


async def test_a_limit_hit_while_revising_finishes_with_the_last_review() -> None:
    planner = ReactPlanner(
        llm_client=ScriptedLLM(
            [
                finish("draft"),
                call("search_docs", {"text": "a"}),
                call("search_docs", {"text": "b"}),
            ]
        ),
        catalog=catalog(),
        max_iters=3,
        reflection_config=config(),
        reflection_llm=ScriptedLLM([critique(0.3, "look it up")]),
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("max_iters", None)
    assert result.metadata["reflection"]["revisions"] == 1
    assert result.metadata["reflection"]["passed"] is False
    assert result.metadata["steps"][0]["action"]["answer"] == "draft"


async def test_the_revision_count_survives_a_pause() -> None:
    main = ScriptedLLM([finish("draft 1"), call("approve", {"order": "A1"}), finish("draft 2")])
    critic = ScriptedLLM([critique(0.2, "ask for approval"), critique(0.5, "better")])
    planner = ReactPlanner(
        llm_client=main,
        catalog=catalog(),
        reflection_config=config(max_revisions=1),
        reflection_llm=critic,
    )
    paused = await planner.run("refund A1")
    assert isinstance(paused, PlannerPause)
    result = await planner.resume(paused.resume_token, {"approved": True})

    assert isinstance(result, PlannerFinish) and result.payload == "draft 2"
    assert result.metadata["reflection"]["revisions"] == 1
    assert result.metadata["reflection"]["passed"] is False
    assert critic.remaining == 0


async def test_reflection_events_cut_long_feedback() -> None:
    events: list[PlannerEvent] = []
    feedback = "x" * 500
    planner = ReactPlanner(
        llm_client=ScriptedLLM([finish("a")]),
        catalog=catalog(),
        reflection_config=config(),
        reflection_llm=ScriptedLLM([critique(0.99, feedback)]),
        event_callback=events.append,
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish)
    (extra,) = reflections(events)
    assert len(extra["feedback"]) == 200 and extra["feedback"].endswith("…")
    assert extra["threshold"] == 0.8 and extra["critic_passed"] is True
    assert result.metadata["reflection"]["feedback"] == feedback


async def test_disabled_reflection_never_calls_the_critic() -> None:
    critic = ScriptedLLM([], name="critic")
    planner = ReactPlanner(
        llm_client=ScriptedLLM([finish("a")]),
        catalog=catalog(),
        reflection_config=ReflectionConfig(enabled=False, use_separate_llm=True),
        reflection_llm=critic,
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish) and "reflection" not in result.metadata
    assert critic.calls == []


def test_config_defaults_and_validation() -> None:
    default = ReflectionConfig()
    assert (default.enabled, default.quality_threshold, default.max_revisions) == (False, 0.8, 2)
    assert default.use_separate_llm is False
    assert all(default.criteria.model_dump().values())
    assert ReflectionConfig(criteria={"accuracy": "cite"}).criteria.accuracy == "cite"  # type: ignore[arg-type]
    for bad in (
        {"quality_threshold": 1.5},
        {"quality_threshold": -0.1},
        {"max_revisions": -1},
        {"max_revisions": 1.5},
        {"enabled": "yes"},
        {"threshold": 0.5},
    ):
        with pytest.raises(ValidationError):
            ReflectionConfig(**bad)
    with pytest.raises(ValidationError):
        ReflectionCriteria(clarity="")
    with pytest.raises(ValidationError):
        default.max_revisions = 3  # type: ignore[misc]


def test_the_planner_checks_its_reflection_arguments(caplog: pytest.LogCaptureFixture) -> None:
    llm = ScriptedLLM([])
    with pytest.raises(ValueError, match=r"use_separate_llm=True\) needs reflection_llm="):
        ReactPlanner(llm_client=llm, catalog=catalog(), reflection_config=config())
    with pytest.raises(TypeError, match="reflection_config must be a ReflectionConfig"):
        ReactPlanner(llm_client=llm, catalog=catalog(), reflection_config={"enabled": True})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="reflection_llm must have an async complete"):
        ReactPlanner(
            llm_client=llm,
            catalog=catalog(),
            reflection_config=config(),
            reflection_llm=42,  # type: ignore[arg-type]
        )
    with caplog.at_level(logging.WARNING, logger="penguiflow.planner"):
        ReactPlanner(
            llm_client=llm,
            catalog=catalog(),
            reflection_config=ReflectionConfig(enabled=False),
            reflection_llm=ScriptedLLM([]),
        )
    assert "reflection_llm is unused" in caplog.text


async def test_a_model_name_critic_goes_through_litellm(openai_server: Any) -> None:
    openai_server.queue_text(json.dumps(critique(0.9, "ok")))
    planner = ReactPlanner(
        llm_client=ScriptedLLM([finish("a")]),
        catalog=catalog(),
        reflection_config=config(),
        reflection_llm=openai_server.model(),
    )
    result = await planner.run("q")

    assert isinstance(result, PlannerFinish)
    assert result.metadata["reflection"]["score"] == 0.9
    (request,) = openai_server.requests
    assert request.json["response_format"]["json_schema"]["name"] == "critique"
    assert "You review a draft answer" in request.json["messages"][0]["content"]


# -- the seed README snippets, with scripted LLMs in place of model names ---------------


async def test_seed_reflection_loop_snippet(capsys: pytest.CaptureFixture[str]) -> None:
    from penguiflow.planner import ReactPlanner, ReflectionConfig, ReflectionCriteria

    planner = ReactPlanner(
        llm_client=ScriptedLLM(
            [
                call("search_docs", {"text": "parallel errors"}),
                finish("A failing branch becomes an error."),
                finish("A failing branch becomes an error observation; other branches finish."),
            ]
        ),
        catalog=build_catalog([search_docs, summarize], registry),
        reflection_config=ReflectionConfig(
            enabled=True,
            criteria=ReflectionCriteria(
                completeness="Addresses all aspects of the user's query",
                accuracy="Grounds statements in verified observations",
                clarity="Explains reasoning clearly",
            ),
            quality_threshold=0.85,
            max_revisions=2,
            use_separate_llm=True,
        ),
        reflection_llm=ScriptedLLM(
            [critique(0.6, "Say what happens to the other branches."), critique(0.92, "...")]
        ),
    )

    result = await planner.run("Explain how PenguiFlow handles errors in parallel execution")
    print(result.metadata["reflection"])  # type: ignore[union-attr]

    assert capsys.readouterr().out == (
        "{'score': 0.92, 'revisions': 1, 'passed': True, 'feedback': '...'}\n"
    )


def test_seed_reflection_snippet_builds_with_model_names_as_written() -> None:
    # litellm is imported lazily, on the first call: building needs neither it nor the network.
    planner = ReactPlanner(
        llm="gpt-4",
        catalog=build_catalog([search_docs, summarize], registry),
        reflection_config=ReflectionConfig(enabled=True, use_separate_llm=True),
        reflection_llm="gpt-4o-mini",
    )
    assert planner.tools == ["search_docs", "summarize"]


async def test_seed_cost_tracking_snippet(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from penguiflow.planner import ReactPlanner, ReflectionConfig

    cheap = ScriptedLLM([critique(0.9, "grounded")], cost_per_call=0.0001, name="cheap critic")
    # The given reflection_llm critiques, even without use_separate_llm=True.
    planner = ReactPlanner(
        llm_client=ScriptedLLM(
            [
                call("search_docs", {"text": "onboarding friction"}),
                finish("Sign-up takes too long in EMEA."),
            ],
            cost_per_call=0.0025,
        ),
        catalog=build_catalog([search_docs, summarize], registry),
        reflection_config=ReflectionConfig(enabled=True, max_revisions=2),
        reflection_llm=cheap,  # cheaper critique model
    )

    result = await planner.run("Analyse onboarding friction across regions")

    cost = result.metadata["cost"]  # type: ignore[union-attr]
    print(f"Total cost: ${cost['total_cost_usd']:.4f}")
    print(f"Planner calls: {cost['main_llm_calls']}")
    print(f"Reflections: {cost['reflection_llm_calls']}")
    print(f"Summaries: {cost['summarizer_llm_calls']}")

    assert capsys.readouterr().out.splitlines() == [
        "Total cost: $0.0051",
        "Planner calls: 2",
        "Reflections: 1",
        "Summaries: 0",
    ]
    assert len(cheap.calls) == 1
    assert cost["reflection_cost_usd"] == 0.0001
