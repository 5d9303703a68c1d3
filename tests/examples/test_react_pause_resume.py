"""examples/react_pause_resume: an approval pauses the run; a second planner resumes it."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from penguiflow.planner import PlannerFinish, PlannerPause
from penguiflow.planner.testing import ScriptedLLM
from penguiflow.state import open_store

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "react_pause_resume"


def readme_output() -> str:
    """The block after "Output:" in the example's README."""
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Output:\n\n```\n(.*?)```", readme, re.S)
    assert match, "README lost its Output block"
    return match.group(1)


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(FOLDER / "main.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("react_pause_resume")


async def test_the_approval_pauses_and_a_second_planner_finishes(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    run = await asyncio.wait_for(example.main(), 20)

    paused = run.paused
    assert isinstance(paused, PlannerPause)
    assert paused.reason == "refund above the auto-approval limit"
    assert paused.payload == {
        "order_id": "A-1042",
        "amount_usd": 129.9,
        "reason": "arrived damaged",
    }
    # What the file held while paused: the finished lookup and the paused approval step.
    saved = run.saved_state
    assert saved is not None
    assert [s["node_name"] for s in saved["trajectory"]["steps"]] == ["lookup_order"]
    assert saved["paused_step"]["node_name"] == "request_approval"
    assert saved["cost"]["main_llm_calls"] == 2
    assert "payments" not in str(saved)  # tool_context is never saved

    result = run.result
    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    steps = result.metadata["steps"]
    assert [s["node_name"] for s in steps] == [
        "lookup_order",
        "request_approval",
        "issue_refund",
        None,
    ]
    assert steps[1]["observation"] == {"user_input": example.APPROVAL}
    assert steps[2]["observation"] == {
        "refund_id": "rf-0001",
        "order_id": "A-1042",
        "amount_usd": 129.9,
    }
    assert [r.refund_id for r in run.payments.refunds] == ["rf-0001"]
    # Cost and counters continue across the pause: 2 calls before, 2 after.
    assert result.metadata["cost"]["main_llm_calls"] == 4
    assert result.metadata["cost"]["total_cost_usd"] == pytest.approx(4 * 0.0021)
    assert result.metadata["iterations"] == 4
    assert result.metadata["hops"] == 3
    assert run.reused == "ResumeError"
    assert capsys.readouterr().out == readme_output()


async def test_the_resumed_llm_sees_the_approvers_input(
    example: ModuleType, tmp_path: Path
) -> None:
    db = tmp_path / "refunds.db"
    paused = await example.start_refund(db)
    assert isinstance(paused, PlannerPause)

    llm = ScriptedLLM(example.AFTER_RESUME)
    async with await open_store(f"sqlite:///{db}", create=False) as store:
        result = await example.build_planner(llm, store).resume(
            paused.resume_token,
            {"approved": False, "approver": "lee"},
            tool_context={"payments": example.Payments()},
        )
        assert await store.load_planner_state(paused.resume_token) is None
    assert isinstance(result, PlannerFinish)
    first = llm.calls[0].messages
    # The whole trajectory is back in the prompt, ending with the user's input.
    assert '"next_node": "lookup_order"' in first[-4]["content"]
    assert first[-1]["content"] == (
        '{"observation": {"user_input": {"approved": false, "approver": "lee"}}}'
    )
    assert '"auto_approve_limit_usd": 50' in first[1]["content"]  # llm_context survived


async def test_small_refunds_are_approved_without_a_pause(example: ModuleType) -> None:
    script = [
        {
            "thought": "12 USD is under the limit",
            "next_node": "request_approval",
            "args": {"order_id": "A-1042", "amount_usd": 12.0, "reason": "late"},
        },
        {"thought": "approved", "next_node": None, "answer": "approved automatically"},
    ]
    planner = example.build_planner(ScriptedLLM(script), None)
    result = await planner.run("refund 12 USD", llm_context=example.LLM_CONTEXT)

    assert isinstance(result, PlannerFinish)
    assert result.metadata["steps"][0]["observation"] == {"approved": True, "approver": "auto"}


async def test_hints_are_shown_and_enforced(example: ModuleType) -> None:
    parallel_refund = {
        "thought": "refund and approve at once",
        "plan": [
            {"node": "issue_refund", "args": {"order_id": "A-1042", "amount_usd": 1.0}},
            {"node": "lookup_order", "args": {"order_id": "A-1042"}},
        ],
    }
    delete = {"thought": "clean up", "next_node": "delete_order", "args": {"order_id": "A-1042"}}
    done = {"thought": "give up", "next_node": None, "answer": "no"}
    llm = ScriptedLLM([parallel_refund, delete, done])
    planner = example.build_planner(llm, None)
    result = await planner.run("q", tool_context={"payments": example.Payments()})

    assert isinstance(result, PlannerFinish) and result.payload == "no"
    system = llm.calls[0].messages[0]["content"]
    assert "Planning hints:\n" + example.HINTS.render() in system
    assert "delete_order" not in system
    assert "must not run in a parallel step" in llm.calls[1].messages[-1]["content"]
    assert "unknown tool 'delete_order'" in llm.calls[2].messages[-1]["content"]
    assert result.metadata["hops"] == 0  # neither refused action ran


def test_two_processes_share_only_the_database_file(tmp_path: Path) -> None:
    db = str(tmp_path / "refunds.db")
    started = run_script("start", db)
    assert started.returncode == 0, started.stderr
    *_, last = started.stdout.splitlines()
    assert last.startswith("resume token: ")
    token = last.removeprefix("resume token: ")

    resumed = run_script("resume", db, token)
    assert resumed.returncode == 0, resumed.stderr
    assert "finished: answer_complete (4 LLM calls, $0.0084)" in resumed.stdout
    assert "refunds issued: ['rf-0001']" in resumed.stdout

    again = run_script("resume", db, token)
    assert again.returncode == 1
    assert again.stderr.startswith("cannot resume: unknown or already used resume token")


def test_runs_as_a_script() -> None:
    done = run_script()
    assert done.returncode == 0, done.stderr
    assert done.stdout == readme_output()
    bad = run_script("resume")
    assert (bad.returncode, bad.stderr) == (2, "usage: main.py [start DB | resume DB TOKEN]\n")
