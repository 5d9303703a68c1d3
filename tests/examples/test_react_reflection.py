"""examples/react_reflection: a critic sends a weak draft back, the revision passes."""

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

from penguiflow.planner import PlannerFinish
from penguiflow.planner.testing import ScriptedLLM

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "react_reflection"


def readme_output() -> str:
    """The block after "Output:" in the example's README."""
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Output:\n\n```\n(.*?)```", readme, re.S)
    assert match, "README lost its Output block"
    return match.group(1)


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("react_reflection")


async def test_main_prints_the_critiques_the_answer_and_the_cost(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    result = await asyncio.wait_for(example.main(), 10)

    assert isinstance(result, PlannerFinish)
    assert result.reason == "answer_complete"
    assert result.payload == example.PLANNER_SCRIPT[3]["answer"]
    assert result.metadata["reflection"] == {
        "score": 1.0,
        "revisions": 1,
        "passed": True,
        "feedback": "Complete and grounded.",
    }
    cost = result.metadata["cost"]
    assert (cost["main_llm_calls"], cost["reflection_llm_calls"]) == (4, 2)
    assert cost["total_cost_usd"] == pytest.approx(0.0108)
    assert capsys.readouterr().out == readme_output()


async def test_the_planner_revises_after_reading_the_review(example: ModuleType) -> None:
    planner_llm = ScriptedLLM(example.PLANNER_SCRIPT)
    critic = ScriptedLLM([example.critic_reply] * 2)
    result = await example.build_planner(planner_llm, critic).run(example.QUERY)

    assert isinstance(result, PlannerFinish)
    assert (planner_llm.remaining, critic.remaining) == (0, 0)
    review = json.loads(planner_llm.calls[2].messages[-1]["content"])["observation"]
    assert review.startswith("Your draft answer was reviewed: it scored 0.33, below the 0.85")
    assert "say how the planner recovers" in review
    # The critic judged with the README's criteria and saw the search result.
    system = critic.calls[0].messages[0]["content"]
    assert "- accuracy: Grounds statements in verified observations" in system
    request = json.loads(critic.calls[0].messages[-1]["content"])
    assert request["observations"] == [
        f"0. search_docs -> {json.dumps({'text': example.DOCS['parallel errors']})}"
    ]


def test_the_stand_in_critic_scores_by_the_facts_stated(example: ModuleType) -> None:
    def ask(draft: str) -> dict[str, object]:
        message = {"role": "user", "content": json.dumps({"draft_answer": draft})}
        return example.critic_reply([message])  # type: ignore[no-any-return]

    assert ask("nothing useful") == {
        "score": 0.0,
        "passed": False,
        "feedback": "Also " + "; ".join(example.FACTS.values()) + ".",
        "issues": list(example.FACTS.values()),
    }
    assert ask("An Error Observation; other branches go on; the LLM can replan.")["score"] == 1.0


def test_runs_as_a_script() -> None:
    proc = subprocess.run(
        [sys.executable, str(FOLDER / "main.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == readme_output()
