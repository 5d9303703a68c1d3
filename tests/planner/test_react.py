"""ReactPlanner driven by the scripted client: the loop, repairs, tools, limits, events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import ModelRegistry, Node, NodePolicy, build_catalog, tool
from penguiflow.planner import (
    PlannerEvent,
    PlannerFinish,
    PlanningHints,
    ReactPlanner,
    ToolPolicy,
)
from penguiflow.planner.testing import ScriptedLLM


class Query(BaseModel):
    text: str


class Documents(BaseModel):
    results: list[str]


class Summary(BaseModel):
    text: str


@tool(desc="Search documentation", tags=("docs", "safe"))
async def search_docs(args: Query, ctx: Any) -> Documents:
    return Documents(results=[f"doc about {args.text}"])


@tool(desc="Summarize results", tags=("safe",))
async def summarize(args: Documents, ctx: Any) -> Summary:
    return Summary(text=" / ".join(args.results))


def catalog(*extra: Any, **models: tuple[Any, Any]) -> list[Any]:
    registry = ModelRegistry()
    registry.register("search_docs", Query, Documents)
    registry.register("summarize", Documents, Summary)
    for name, (in_model, out_model) in models.items():
        registry.register(name, in_model, out_model)
    return build_catalog([search_docs, summarize, *extra], registry)


def call(node: str, args: dict[str, Any], thought: str = "") -> dict[str, Any]:
    return {"thought": thought or f"call {node}", "next_node": node, "args": args}


def finish(answer: Any) -> dict[str, Any]:
    return {"thought": "done", "next_node": None, "answer": answer}


def observations(llm: ScriptedLLM, call_index: int) -> list[Any]:
    """The user messages the LLM saw after the request in call ``call_index``."""
    messages = llm.calls[call_index].messages
    return [json.loads(m["content"]) for m in messages[3:] if m["role"] == "user"]


async def test_the_seed_search_then_summarize_run() -> None:
    llm = ScriptedLLM(
        [
            call("search_docs", {"text": "routing"}),
            call("summarize", {"results": ["doc about routing"]}),
            finish("PenguiFlow routes by predicates"),
        ]
    )
    planner = ReactPlanner(llm_client=llm, catalog=catalog(), max_iters=10)
    result = await planner.run("Explain PenguiFlow routing")
    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("answer_complete", "PenguiFlow routes by predicates")
    steps = result.metadata["steps"]
    assert [s["node_name"] for s in steps] == ["search_docs", "summarize", None]
    assert steps[0]["observation"] == {"results": ["doc about routing"]}
    assert steps[1]["observation"] == {"text": "doc about routing"}
    # The LLM saw the first observation before choosing the second tool.
    assert observations(llm, 1) == [{"observation": {"results": ["doc about routing"]}}]
    system = llm.calls[0].messages[0]["content"]
    assert "search_docs" in system and "Summarize results" in system


async def test_malformed_json_is_repaired_then_the_run_goes_on() -> None:
    events: list[PlannerEvent] = []
    llm = ScriptedLLM(["{not json", "```json\n" + json.dumps(finish("ok")) + "\n```"])
    planner = ReactPlanner(llm_client=llm, catalog=catalog(), event_callback=events.append)
    result = await planner.run("q")
    assert (result.reason, result.payload) == ("answer_complete", "ok")
    repair = llm.calls[1].messages[-1]["content"]
    assert "not valid JSON" in repair and llm.calls[1].messages[-2]["content"] == "{not json"
    assert [e.event_type for e in events].count("repair") == 1


async def test_repairs_are_bounded_then_the_run_fails_clearly() -> None:
    llm = ScriptedLLM(["nope"] * 3)
    planner = ReactPlanner(llm_client=llm, catalog=catalog(), repair_attempts=2)
    result = await planner.run("q")
    assert isinstance(result, PlannerFinish) and result.reason == "invalid_output"
    assert result.payload is None
    assert "no valid action after 2 repairs" in result.metadata["error"]
    assert len(llm.calls) == 3


DEEP_LISTS = "[" * 1000 + "]" * 1000
DEEP_ANSWER = '{"thought": "x", "next_node": null, "answer": ' + "[" * 300 + "]" * 300 + "}"


@pytest.mark.parametrize("reply", [DEEP_LISTS, DEEP_ANSWER], ids=["lists-1000", "answer-300"])
async def test_a_deeply_nested_reply_is_repaired_like_malformed_json(reply: str) -> None:
    llm = ScriptedLLM([reply, finish("ok")])
    planner = ReactPlanner(llm_client=llm, catalog=catalog())
    result = await asyncio.wait_for(planner.run("q"), 10)
    assert (result.reason, result.payload) == ("answer_complete", "ok")
    assert "levels deep" in llm.calls[1].messages[-1]["content"]


async def test_a_reply_that_stays_deeply_nested_ends_with_invalid_output() -> None:
    llm = ScriptedLLM([DEEP_LISTS, DEEP_ANSWER])
    planner = ReactPlanner(llm_client=llm, catalog=catalog(), repair_attempts=1)
    result = await asyncio.wait_for(planner.run("q"), 10)
    assert isinstance(result, PlannerFinish) and result.reason == "invalid_output"
    assert "nests objects or lists more than 100 levels deep" in result.metadata["error"]


async def test_a_repair_shows_only_the_latest_bad_reply_cut_short() -> None:
    huge = ["x" * 1_000_000, "y" * 1_000_000, "z" * 1_000_000]
    llm = ScriptedLLM([*huge, finish("ok")])
    planner = ReactPlanner(llm_client=llm, catalog=catalog(), repair_attempts=3)
    result = await asyncio.wait_for(planner.run("q"), 10)
    assert result.reason == "answer_complete"
    first = llm.calls[0].messages
    for index, bad in enumerate(huge, start=1):
        messages = llm.calls[index].messages
        assert messages[: len(first)] == first  # the step's prompt, then one repair pair
        assert len(messages) == len(first) + 2
        shown, complaint = messages[-2], messages[-1]
        assert shown == {"role": "assistant", "content": bad[:4000]}
        assert "1,000,000 characters long; only its first 4,000 are shown" in complaint["content"]
        assert (
            sum(len(m["content"]) for m in messages) < sum(len(m["content"]) for m in first) + 5000
        )


async def test_invalid_args_and_unknown_tools_are_fed_back() -> None:
    llm = ScriptedLLM(
        [
            call("search_docs", {"query": "x"}),
            call("search_everything", {"text": "x"}),
            call("search_docs", {"text": "x"}),
            finish("done"),
        ]
    )
    result = await ReactPlanner(llm_client=llm, catalog=catalog()).run("q")
    assert result.reason == "answer_complete"
    first_fix = llm.calls[1].messages[-1]["content"]
    assert (
        "invalid args for tool 'search_docs'" in first_fix and "text: Field required" in first_fix
    )
    second_fix = llm.calls[2].messages[-1]["content"]
    assert "unknown tool 'search_everything'" in second_fix and "summarize" in second_fix
    assert [s["node_name"] for s in result.metadata["steps"]] == ["search_docs", None]


async def test_a_failing_tool_becomes_an_observation_the_llm_recovers_from() -> None:
    attempts = 0

    @tool(desc="Flaky search")
    async def flaky(args: Query, ctx: Any) -> Documents:
        nonlocal attempts
        attempts += 1
        raise ConnectionError("index offline")

    llm = ScriptedLLM(
        [call("flaky", {"text": "x"}), call("search_docs", {"text": "x"}), finish("recovered")]
    )
    planner = ReactPlanner(llm_client=llm, catalog=catalog(flaky, flaky=(Query, Documents)))
    result = await planner.run("q")
    assert (result.reason, result.payload) == ("answer_complete", "recovered")
    failed = result.metadata["steps"][0]
    assert failed["error"] == "tool 'flaky' raised ConnectionError: index offline"
    seen = observations(llm, 1)[0]
    assert seen["error"] == failed["error"] and "suggestion" in seen["observation"]
    assert attempts == 1


async def test_the_tool_nodes_policy_retries_before_reporting() -> None:
    calls = 0

    async def wobbly(args: Query, ctx: Any) -> Documents:
        """Fails twice, then answers."""
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RuntimeError("try again")
        return Documents(results=["third time"])

    node = Node(wobbly, name="wobbly", policy=NodePolicy(max_retries=2, backoff_base=0.0))
    registry = ModelRegistry()
    registry.register("wobbly", Query, Documents)
    llm = ScriptedLLM([call("wobbly", {"text": "x"}), finish("ok")])
    result = await ReactPlanner(llm_client=llm, catalog=build_catalog([node], registry)).run("q")
    assert result.metadata["steps"][0]["observation"] == {"results": ["third time"]}
    assert calls == 3


async def test_parallel_branches_run_together_and_the_join_gets_every_result() -> None:
    started: list[str] = []
    both_started = asyncio.Event()

    class Shard(BaseModel):
        shard: int

    class Hits(BaseModel):
        hits: list[str]

    class Merge(BaseModel):
        results: list[Hits]

    @tool(desc="Search one shard")
    async def shard_search(args: Shard, ctx: Any) -> Hits:
        started.append(f"s{args.shard}")
        if len(started) == 2:
            both_started.set()
        # Returns only once both branches are running: sequential execution would time out.
        await asyncio.wait_for(both_started.wait(), 5)
        return Hits(hits=[f"hit{args.shard}"])

    @tool(desc="Merge shard hits")
    async def merge(args: Merge, ctx: Any) -> Documents:
        return Documents(results=[h for r in args.results for h in r.hits])

    specs = catalog(shard_search, merge, shard_search=(Shard, Hits), merge=(Merge, Documents))
    events: list[PlannerEvent] = []
    llm = ScriptedLLM(
        [
            {
                "thought": "fan out",
                "plan": [
                    {"node": "shard_search", "args": {"shard": 1}},
                    {"node": "shard_search", "args": {"shard": 2}},
                ],
                "join": {"node": "merge", "args": {}},
            },
            finish("merged"),
        ]
    )
    planner = ReactPlanner(llm_client=llm, catalog=specs, event_callback=events.append)
    result = await planner.run("q")
    assert result.reason == "answer_complete"
    step = result.metadata["steps"][0]
    assert step["observation"]["join"] == {"results": ["hit1", "hit2"]}
    kinds = [(e.event_type, e.extra.get("branch")) for e in events if "branch" in e.event_type]
    assert kinds[:2] == [("branch_start", 0), ("branch_start", 1)]
    assert result.metadata["hops"] == 3


async def test_one_failing_branch_is_reported_in_its_place() -> None:
    @tool(desc="Always fails")
    async def broken(args: Query, ctx: Any) -> Documents:
        raise ValueError("bad shard")

    llm = ScriptedLLM(
        [
            {
                "plan": [
                    {"node": "search_docs", "args": {"text": "a"}},
                    {"node": "broken", "args": {"text": "b"}},
                ]
            },
            finish("partial"),
        ]
    )
    planner = ReactPlanner(llm_client=llm, catalog=catalog(broken, broken=(Query, Documents)))
    result = await planner.run("q")
    branches = result.metadata["steps"][0]["observation"]["branches"]
    assert branches[0] == {
        "node": "search_docs",
        "observation": {"results": ["doc about a"]},
        "error": None,
    }
    assert branches[1]["error"] == "tool 'broken' raised ValueError: bad shard"
    assert result.metadata["steps"][0]["error"] == "branches failed: ['broken']"


async def test_hints_limit_parallel_steps() -> None:
    plan = {"plan": [{"node": "search_docs", "args": {"text": str(i)}} for i in range(3)]}
    llm = ScriptedLLM([plan, finish("x")])
    hints = PlanningHints(max_parallel=2, disallowed_nodes={"summarize"})
    planner = ReactPlanner(llm_client=llm, catalog=catalog(), planning_hints=hints)
    assert planner.tools == ["search_docs"]
    result = await planner.run("q")
    assert result.reason == "answer_complete"
    assert "at most 2 branches, not 3" in llm.calls[1].messages[-1]["content"]


@pytest.mark.parametrize(
    ("limits", "script", "reason"),
    [
        ({"max_iters": 2}, [call("search_docs", {"text": "x"})] * 3, "max_iters"),
        ({"hop_budget": 1}, [call("search_docs", {"text": "x"})] * 3, "hop_budget"),
        ({"max_run_tokens": 50}, [call("search_docs", {"text": "x"})] * 3, "token_budget"),
    ],
)
async def test_each_limit_ends_the_run_with_its_reason(
    limits: dict[str, Any], script: list[Any], reason: str
) -> None:
    events: list[PlannerEvent] = []
    planner = ReactPlanner(
        llm_client=ScriptedLLM(script), catalog=catalog(), event_callback=events.append, **limits
    )
    result = await planner.run("q")
    assert isinstance(result, PlannerFinish) and result.reason == reason
    assert [e.extra["reason"] for e in events if e.event_type == "constraint"] == [reason]


async def test_the_deadline_ends_the_run() -> None:
    @tool(desc="Slow")
    async def slow(args: Query, ctx: Any) -> Documents:
        await asyncio.sleep(0.05)  # the tool's own work, longer than the run's deadline
        return Documents(results=[])

    llm = ScriptedLLM([call("slow", {"text": "x"})] * 2)
    planner = ReactPlanner(
        llm_client=llm, catalog=catalog(slow, slow=(Query, Documents)), deadline_s=0.02
    )
    result = await planner.run("q")
    assert result.reason == "deadline" and "deadline_s=0.02" in result.metadata["error"]
    assert len(llm.calls) == 1


async def test_cost_is_summed_per_role() -> None:
    llm = ScriptedLLM([call("search_docs", {"text": "x"}), finish("y")], cost_per_call=0.25)
    result = await ReactPlanner(llm_client=llm, catalog=catalog()).run("q")
    cost = result.metadata["cost"]
    assert cost["total_cost_usd"] == 0.5
    assert (cost["main_llm_calls"], cost["reflection_llm_calls"]) == (2, 0)


def test_tool_policy_applies_denied_then_allowed_then_tags() -> None:
    @tool(desc="Delete a user", tags=("admin",))
    async def delete_user(args: Query, ctx: Any) -> Documents:
        return Documents(results=[])

    specs = catalog(delete_user, delete_user=(Query, Documents))
    llm = ScriptedLLM([])
    free = ReactPlanner(
        llm_client=llm,
        catalog=specs,
        tool_policy=ToolPolicy(
            allowed_tools={"search_docs", "summarize", "delete_user"}, denied_tools={"delete_user"}
        ),
    )
    assert set(free._spec_by_name.keys()) == {"search_docs", "summarize"}
    tagged = ReactPlanner(
        llm_client=llm, catalog=specs, tool_policy=ToolPolicy(require_tags={"docs", "safe"})
    )
    assert list(tagged._spec_by_name) == ["search_docs"]
    with pytest.raises(ValueError, match="no tool left"):
        ReactPlanner(llm_client=llm, catalog=specs, tool_policy=ToolPolicy(allowed_tools=set()))


async def test_llm_context_must_be_json_and_tool_context_stays_out_of_the_prompt() -> None:
    planner = ReactPlanner(llm_client=ScriptedLLM([finish("x")]), catalog=catalog())
    with pytest.raises(TypeError, match=r"llm_context\['client'\] is not JSON-serialisable"):
        await planner.run("q", llm_context={"client": object()})

    seen: dict[str, Any] = {}

    @tool(desc="Uses both contexts")
    async def peek(args: Query, ctx: Any) -> Documents:
        seen["llm"] = dict(ctx.llm_context)
        seen["tool"] = ctx.tool_context["db"]
        return Documents(results=[])

    secret = object()
    llm = ScriptedLLM([call("peek", {"text": "x"}), finish("x")])
    planner = ReactPlanner(llm_client=llm, catalog=catalog(peek, peek=(Query, Documents)))
    await planner.run("q", llm_context={"user": "ana"}, tool_context={"db": secret})
    assert seen == {"llm": {"user": "ana"}, "tool": secret}
    prompt = "\n".join(m["content"] for c in llm.calls for m in c.messages)
    assert '"context": {"user": "ana"}' in prompt and "object at" not in prompt


async def test_events_of_a_full_run_come_in_order() -> None:
    events: list[PlannerEvent] = []
    llm = ScriptedLLM([call("search_docs", {"text": "x"}), finish("y")])
    planner = ReactPlanner(llm_client=llm, catalog=catalog(), event_callback=events.append)
    await planner.run("q")
    assert [e.event_type for e in events] == [
        "step_start",
        "llm_call",
        "step_complete",
        "step_start",
        "llm_call",
        "finish",
    ]
    assert events[2].node_name == "search_docs" and events[2].latency_ms is not None
    assert events[-1].extra["reason"] == "answer_complete"


async def test_a_run_callback_gets_that_runs_events_after_the_planners_own() -> None:
    order: list[tuple[str, str]] = []

    def broken(event: PlannerEvent) -> None:
        order.append(("planner", event.event_type))
        raise RuntimeError("a failing callback must not stop the next one")

    async def per_run(event: PlannerEvent) -> None:
        order.append(("run", event.event_type))

    llm = ScriptedLLM([call("search_docs", {"text": "x"}), finish("y"), finish("z")])
    planner = ReactPlanner(llm_client=llm, catalog=catalog(), event_callback=broken)
    first = await planner.run("q", event_callback=per_run)
    assert isinstance(first, PlannerFinish) and first.payload == "y"
    kinds = ["step_start", "llm_call", "step_complete", "step_start", "llm_call", "finish"]
    assert order == [(who, kind) for kind in kinds for who in ("planner", "run")]

    # The run callback belongs to that run only; the planner's stays.
    order.clear()
    await planner.run("again")
    assert order == [("planner", k) for k in ("step_start", "llm_call", "finish")]
    with pytest.raises(TypeError, match="event_callback must be a function"):
        await planner.run("q", event_callback="print")  # type: ignore[arg-type]


async def test_stream_chunks_from_tools_reach_events_and_the_trajectory() -> None:
    @tool(desc="Stream answer token-by-token")
    async def stream_answer(args: Query, ctx: Any) -> Summary:
        tokens = ["PenguiFlow", "is", "typed"]
        for index, token in enumerate(tokens):
            await ctx.emit_chunk("answer_stream", index, f"{token} ", done=False)
        await ctx.emit_chunk("answer_stream", len(tokens), "", done=True)
        return Summary(text=" ".join(tokens))

    printed: list[str] = []

    def handle(event: PlannerEvent) -> None:
        if event.event_type == "stream_chunk":
            printed.append(event.extra["text"])

    llm = ScriptedLLM([call("stream_answer", {"text": "x"}), finish("y")])
    planner = ReactPlanner(
        llm_client=llm,
        catalog=catalog(stream_answer, stream_answer=(Query, Summary)),
        event_callback=handle,
    )
    result = await planner.run("Tell me about PenguiFlow")
    assert "".join(printed) == "PenguiFlow is typed "
    chunks = result.metadata["steps"][0]["streams"]["answer_stream"]
    assert [(c["seq"], c["done"]) for c in chunks] == [
        (0, False),
        (1, False),
        (2, False),
        (3, True),
    ]


def test_construction_mistakes_are_reported_early() -> None:
    with pytest.raises(TypeError, match="JSONLLMClient"):
        ReactPlanner(catalog=catalog())
    with pytest.raises(TypeError, match="async complete"):
        ReactPlanner(llm_client=object(), catalog=catalog())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_iters"):
        ReactPlanner(llm_client=ScriptedLLM([]), catalog=catalog(), max_iters=0)
    with pytest.raises(TypeError, match=r"catalog\[0\]"):
        ReactPlanner(llm_client=ScriptedLLM([]), catalog=["search_docs"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="two tools named 'search_docs'"):
        ReactPlanner(llm_client=ScriptedLLM([]), catalog=catalog() + catalog()[:1])
