"""examples/react_parallel: a parallel plan over three shards, merged by a join tool."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from penguiflow import build_catalog
from penguiflow.planner import PlannerEvent, PlannerFinish, PlanningHints, ReactPlanner
from penguiflow.planner.testing import ScriptedLLM

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "react_parallel"


def readme_output() -> str:
    """The block after "Output:" in the example's README."""
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Output:\n\n```\n(.*?)```", readme, re.S)
    assert match, "README lost its Output block"
    return match.group(1)


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("react_parallel")


async def test_three_shards_run_at_once_and_the_join_ranks_their_hits(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    run = await asyncio.wait_for(example.main(), 10)

    result = run.result
    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    assert run.index.peak_in_flight == 3
    assert run.index.in_flight == 0
    step = result.metadata["steps"][0]
    branches = step["observation"]["branches"]
    assert [b["node"] for b in branches] == ["search_shard"] * 3
    assert [b["observation"]["shard"] for b in branches] == [
        "antarctica",
        "patagonia",
        "south_africa",
    ]
    assert all(b["error"] is None for b in branches)
    # Only documents sharing a query word match ("penguins" is not "penguin").
    assert [len(b["observation"]["hits"]) for b in branches] == [2, 1, 1]
    joined = step["observation"]["join"]
    assert joined["query"] == "penguin colonies"
    assert [(h["shard"], h["score"]) for h in joined["hits"]] == [
        ("antarctica", 0.93),
        ("patagonia", 0.88),
        ("antarctica", 0.81),
    ]
    assert result.metadata["hops"] == 4  # three branches and the join
    kinds = [e.event_type for e in run.events]
    assert kinds.count("branch_start") == kinds.count("branch_complete") == 3
    assert kinds.index("parallel_start") < kinds.index("branch_start")
    assert kinds.index("parallel_complete") > max(
        i for i, kind in enumerate(kinds) if kind == "branch_complete"
    )
    assert capsys.readouterr().out == readme_output()


async def test_the_llm_sees_branches_and_join_as_one_observation(example: ModuleType) -> None:
    llm = ScriptedLLM(example.SCRIPT)
    planner = example.build_planner(llm, [])
    result = await planner.run(
        example.QUERY, tool_context={"index": example.ShardIndex(example.SHARDS)}
    )

    assert isinstance(result, PlannerFinish) and llm.remaining == 0
    seen = json.loads(llm.calls[1].messages[-1]["content"])["observation"]
    assert set(seen) == {"branches", "join"}
    assert seen["join"]["hits"][0]["doc"].startswith("Emperor penguin colonies")
    # The index object itself never reaches the LLM.
    assert "ShardIndex" not in json.dumps([c.messages for c in llm.calls])


async def test_a_plan_wider_than_the_hints_allow_is_sent_back_to_the_llm(
    example: ModuleType,
) -> None:
    events: list[PlannerEvent] = []
    narrower = {
        "thought": "Only two branches are allowed per step; the two largest shards first.",
        "plan": [
            {"node": "search_shard", "args": {"shard": shard, "query": "penguin colonies"}}
            for shard in ("antarctica", "patagonia")
        ],
        "join": {"node": "merge_hits", "args": {"query": "penguin colonies", "top_k": 3}},
    }
    llm = ScriptedLLM([example.SCRIPT[0], narrower, example.SCRIPT[1]])
    index = example.ShardIndex(example.SHARDS)
    planner = ReactPlanner(
        llm_client=llm,
        catalog=build_catalog([example.search_shard, example.merge_hits], example.registry),
        planning_hints=PlanningHints(max_parallel=2),
        event_callback=events.append,
    )
    result = await planner.run(example.QUERY, tool_context={"index": index})

    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    assert "at most 2 branches, not 3" in llm.calls[1].messages[-1]["content"]
    assert [e.event_type for e in events].count("repair") == 1
    assert index.peak_in_flight == 2
    joined = result.metadata["steps"][0]["observation"]["join"]
    assert [h["shard"] for h in joined["hits"]] == ["antarctica", "patagonia", "antarctica"]


async def test_a_failing_shard_is_reported_in_its_place(example: ModuleType) -> None:
    events: list[PlannerEvent] = []
    plan = {
        "thought": "search two shards",
        "plan": [
            {"node": "search_shard", "args": {"shard": "arctic", "query": "penguin"}},
            {"node": "search_shard", "args": {"shard": "patagonia", "query": "penguin"}},
        ],
    }
    finish = {"thought": "one shard failed", "next_node": None, "answer": "partial"}
    planner = example.build_planner(ScriptedLLM([plan, finish]), events)
    result = await planner.run("q", tool_context={"index": example.ShardIndex(example.SHARDS)})

    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    step = result.metadata["steps"][0]
    failed, found = step["observation"]["branches"]
    assert "KeyError" in failed["error"] and "no shard 'arctic'" in failed["error"]
    assert found["error"] is None and found["observation"]["shard"] == "patagonia"
    assert step["error"] == "branches failed: ['search_shard']"
    assert [e.event_type for e in events].count("tool_error") == 1


def test_runs_as_a_script() -> None:
    proc = subprocess.run(
        [sys.executable, str(FOLDER / "main.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == readme_output()
