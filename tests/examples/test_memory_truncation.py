"""examples/memory_truncation: the last two turns only, and each overflow policy of the budget."""

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
from penguiflow.planner.memory import MemoryBudgetExceeded

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "memory_truncation"


def readme_output() -> str:
    """The block after "Output:" in the example's README."""
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Output:\n\n```\n(.*?)```", readme, re.S)
    assert match, "README lost its Output block"
    return match.group(1)


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("memory_truncation")


async def test_the_oldest_turn_drops_out_and_budgets_hold(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    chat, (oldest, error) = await asyncio.wait_for(example.main(), 20)

    # Part 1: the full zone slides over the conversation, two turns wide.
    assert chat.kept == [[1], [1, 2], [2, 3], [3, 4]]
    steps = [r.metadata["steps"][0] for r in chat.results[1:3]]
    assert [(s["node_name"], s["args"]) for s in steps] == [
        ("lookup_order", {"order_id": "A-1042"}),
        ("request_replacement", {"order_id": "A-1042"}),
    ]
    # Turn 4's only prompt shows turns 2 and 3: the order number is gone.
    [last_call] = chat.llm.calls[5:]
    shown = example.shown_memory(last_call.messages)
    assert [t["user"] for t in shown["recent_turns"]] == list(example.QUESTIONS[1:3])
    assert shown["pending_turns"] == [] and shown["summary"] == ""
    assert "A-1042" not in json.dumps(shown)
    assert chat.results[3].payload.endswith("Could you tell me the number again?")
    # Truncation makes no side calls: one main-LLM call per decision, nothing else.
    assert chat.llm.remaining == 0
    assert [r.metadata["cost"]["main_llm_calls"] for r in chat.results] == [1, 2, 2, 1]
    assert all(r.metadata["cost"].get("summarizer_llm_calls", 0) == 0 for r in chat.results)

    # Part 2: truncate_oldest drops turn 1 to make room for the long log ...
    assert (oldest.policy, oldest.kept, oldest.error) == ("truncate_oldest", [2, 3], None)
    assert oldest.tokens <= example.BUDGET.total_max_tokens
    # ... while error refuses the log's turn and keeps the memory as it was.
    assert (error.policy, error.kept) == ("error", [1, 2])
    assert isinstance(error.error, MemoryBudgetExceeded)
    assert error.error.limit == 150 and error.error.needed > 150
    assert "overflow_policy='error'" in str(error.error)
    finished = error.error.result
    assert isinstance(finished, PlannerFinish)
    assert finished.payload == example.BUDGET_TURNS[2][1]
    assert error.tokens <= example.BUDGET.total_max_tokens
    assert capsys.readouterr().out == readme_output()


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
