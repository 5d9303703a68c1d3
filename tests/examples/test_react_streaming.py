"""examples/react_streaming: a tool's chunks reach the event callback while it runs."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from penguiflow.planner import PlannerEvent, PlannerFinish, ReactPlanner
from penguiflow.planner.testing import ScriptedLLM

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "react_streaming"
TOKENS = ["PenguiFlow ", "is ", "a ", "typed ", "async ", "planner "]


def readme_output() -> str:
    """The block after "Output ...:" in the example's README."""
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Output[^\n]*:\n\n```\n(.*?)```", readme, re.S)
    assert match, "README lost its Output block"
    return match.group(1)


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("react_streaming")


async def test_the_chunks_are_printed_then_kept_on_the_step(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    result = await asyncio.wait_for(example.main(), 10)

    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    assert result.payload == "PenguiFlow is a typed async planner"
    step = result.metadata["steps"][0]
    assert step["observation"] == {"answer": "PenguiFlow is a typed async planner"}
    chunks = step["streams"]["answer_stream"]
    assert [c["seq"] for c in chunks] == list(range(7))
    assert [c["text"] for c in chunks] == [*TOKENS, ""]
    assert [c["done"] for c in chunks] == [False] * 6 + [True]
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "".join(TOKENS)
    assert out == readme_output()


async def test_chunk_events_arrive_while_the_tool_runs(example: ModuleType) -> None:
    events: list[PlannerEvent] = []
    planner = ReactPlanner(
        llm_client=ScriptedLLM(example.SCRIPT),
        catalog=example.build_catalog([example.stream_answer], example.registry),
        event_callback=events.append,
    )
    await planner.run("Tell me about PenguiFlow")

    kinds = [e.event_type for e in events]
    chunk_events = [e for e in events if e.event_type == "stream_chunk"]
    assert len(chunk_events) == 7
    # Every chunk was reported before the tool's step completed.
    assert max(i for i, k in enumerate(kinds) if k == "stream_chunk") < kinds.index("step_complete")
    assert {e.node_name for e in chunk_events} == {"stream_answer"}
    assert {e.trajectory_step for e in chunk_events} == {0}
    assert chunk_events[0].extra == {
        "stream_id": "answer_stream",
        "seq": 0,
        "text": "PenguiFlow ",
        "done": False,
        "meta": {},
    }


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
