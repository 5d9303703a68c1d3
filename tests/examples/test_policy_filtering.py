"""examples/policy_filtering: one catalog, a ToolPolicy per tenant tier."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from penguiflow.planner import PlannerFinish, ReactPlanner, ToolPolicy
from penguiflow.planner.testing import ScriptedLLM

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "policy_filtering"


def readme_output() -> str:
    """The block after "Output:" in the example's README."""
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Output:\n\n```\n(.*?)```", readme, re.S)
    assert match, "README lost its Output block"
    return match.group(1)


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("policy_filtering")


async def test_each_tier_sees_and_uses_only_its_tools(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = await asyncio.wait_for(example.main(), 10)

    free, premium = runs["free"], runs["premium"]
    assert list(free.planner._spec_by_name.keys()) == ["search_public", "summarise"]
    assert free.planner.tools == ["search_public", "summarise"]
    assert premium.planner.tools == ["search_public", "search_internal", "summarise"]
    for run in (free, premium):
        assert isinstance(run.result, PlannerFinish)
        assert run.result.reason == "answer_complete"
        assert run.events[0].event_type == "tools_filtered"
    assert free.events[0].extra == {"filtered": ["delete_user", "export_csv", "search_internal"]}
    assert premium.events[0].extra == {"filtered": ["delete_user", "export_csv"]}
    premium_steps = premium.result.metadata["steps"]
    assert premium_steps[0]["observation"] == {"passages": example.INTERNAL}
    assert premium_steps[1]["observation"]["text"].startswith("the Starter increase funds")
    assert capsys.readouterr().out == readme_output()


async def test_the_llm_is_never_shown_a_filtered_tool(example: ModuleType) -> None:
    llm = ScriptedLLM(example.SCRIPTS["free"])
    await example.build_planner("free", llm, []).run(example.QUERY)

    system = llm.calls[0].messages[0]["content"]
    assert '"name":"search_public"' in system and '"name":"summarise"' in system
    for hidden in ("search_internal", "export_csv", "delete_user"):
        assert hidden not in system


async def test_a_reply_naming_a_filtered_tool_is_repaired_not_run(example: ModuleType) -> None:
    sneaky = {"thought": "t", "next_node": "delete_user", "args": {"user_id": "u1"}}
    done = {"thought": "t", "next_node": None, "answer": "cannot"}
    llm = ScriptedLLM([sneaky, done])
    result = await example.build_planner("premium", llm, []).run("delete user u1")

    assert isinstance(result, PlannerFinish) and result.payload == "cannot"
    assert result.metadata["hops"] == 0
    assert "unknown tool 'delete_user'" in llm.calls[1].messages[-1]["content"]


def test_a_policy_leaving_no_tool_fails_when_the_planner_is_built(example: ModuleType) -> None:
    with pytest.raises(ValueError, match="no tool left for the planner"):
        ReactPlanner(
            llm_client=ScriptedLLM([]),
            catalog=example.catalog,
            tool_policy=ToolPolicy(require_tags={"nonexistent"}),
        )


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
