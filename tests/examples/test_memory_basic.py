"""examples/memory_basic: later turns of a session are answered from what earlier turns said."""

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

from penguiflow.planner import MemoryHealth, MemoryKey, PlannerFinish
from penguiflow.planner.memory import MEMORY_PREAMBLE
from penguiflow.planner.testing import ScriptedLLM

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "memory_basic"


def readme_output() -> str:
    """The block after "Output:" in the example's README."""
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Output:\n\n```\n(.*?)```", readme, re.S)
    assert match, "README lost its Output block"
    return match.group(1)


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("memory_basic")


async def test_later_turns_use_what_earlier_turns_said(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    run = await asyncio.wait_for(example.main(), 20)

    assert all(isinstance(r, PlannerFinish) for r in run.results)
    assert [r.reason for r in run.results] == ["answer_complete"] * 4
    # The tools received the trip's details, which only turn 1 stated.
    weather, hotels = run.results[1].metadata["steps"][0], run.results[2].metadata["steps"][0]
    assert weather["args"] == {"city": "Lisbon", "month": "May"}
    assert hotels["args"] == {"city": "Lisbon", "nights": 2, "max_total_eur": 600}
    assert hotels["observation"] == {
        "hotels": [
            {"name": "Casa do Rio", "total_eur": 290},
            {"name": "Alfama Suites", "total_eur": 520},
        ]
    }

    # What each turn's first prompt showed: nothing, then turn 1 in full, ...
    firsts = [0, 1, 3, 5]  # index of each turn's first LLM call
    shown = [example.shown_memory(run.llm.calls[i].messages) for i in firsts]
    assert shown[0] is None
    assert shown[1] is not None
    [turn1] = shown[1]["recent_turns"]
    assert turn1["user"] == example.QUESTIONS[0]
    assert turn1["assistant"] == run.results[0].payload
    # ... and in turn 4, turn 1 only through the summary written in the background.
    assert shown[3] is not None
    assert [t["user"] for t in shown[3]["recent_turns"]] == list(example.QUESTIONS[1:3])
    assert shown[3]["pending_turns"] == []
    assert shown[3]["summary"] == example.summarizer_script()[0]["summary"]
    assert example.QUESTIONS[0] not in json.dumps(shown[3])
    memory_message = run.llm.calls[5].messages[1]
    assert memory_message["role"] == "system"
    assert memory_message["content"].startswith(MEMORY_PREAMBLE)

    # The summariser folded turn 1, then turn 2 into the previous summary.
    requests = [json.loads(call.messages[-1]["content"]) for call in run.summarizer.calls]
    assert [[t["user"] for t in r["turns"]] for r in requests] == [
        [example.QUESTIONS[0]],
        [example.QUESTIONS[1]],
    ]
    assert requests[0]["previous_summary"] == ""
    assert requests[1]["previous_summary"] == example.summarizer_script()[0]["summary"]
    assert run.pending_seen == [[1], [2]]

    memory = run.memory
    assert memory.health is MemoryHealth.HEALTHY
    assert memory.summary == example.summarizer_script()[1]["summary"]
    assert [t.user_message for t in memory.recent_turns] == list(example.QUESTIONS[2:])
    assert memory.pending_turns == ()
    assert run.llm.remaining == 0 and run.summarizer.remaining == 0
    assert capsys.readouterr().out == readme_output()


async def test_the_tool_arguments_come_from_memory_not_from_the_script(
    example: ModuleType,
) -> None:
    acknowledge, _, _, plan_hotels, answer_hotels, _ = example.planner_script()
    llm = ScriptedLLM([acknowledge, plan_hotels, answer_hotels])
    planner = example.build_planner(llm, ScriptedLLM([]))
    key = MemoryKey(tenant_id="acme", user_id="lee", session_id="trip-7")
    await planner.run("I'm planning three nights in Lisbon in May, with 900 EUR.", memory_key=key)
    result = await planner.run("Find me a hotel within my budget.", memory_key=key)

    assert isinstance(result, PlannerFinish)
    assert result.metadata["steps"][0]["args"] == {
        "city": "Lisbon",
        "nights": 3,
        "max_total_eur": 900,
    }
    assert "Alfama Suites (780 EUR)" in result.payload
    await planner.aclose()


async def test_another_session_sees_nothing_of_this_one(example: ModuleType) -> None:
    llm = ScriptedLLM([example.planner_script()[0], example.planner_script()[0]])
    planner = example.build_planner(llm, ScriptedLLM([]))
    await planner.run(example.QUESTIONS[0], memory_key=example.KEY)
    other = MemoryKey(tenant_id="acme", user_id="bob", session_id="trip-42")
    await planner.run("Hello", memory_key=other)

    assert example.shown_memory(llm.calls[1].messages) is None
    assert (await planner.memory(other)).recent_turns[0].user_message == "Hello"
    await planner.aclose()


def test_runs_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, str(FOLDER / "main.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == readme_output()
