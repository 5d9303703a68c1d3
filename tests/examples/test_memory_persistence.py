"""examples/memory_persistence: memory saved to SQLite by one process, continued by another."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from penguiflow.planner import DefaultShortTermMemory, MemoryHealth, MemoryKey, PlannerFinish
from penguiflow.planner.memory import FORMAT_VERSION
from penguiflow.planner.testing import ScriptedLLM
from penguiflow.state import open_store

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "memory_persistence"


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
    return load_example("memory_persistence")


async def test_the_memory_outlives_the_writing_process(example: ModuleType, tmp_path: Path) -> None:
    db = tmp_path / "helpdesk.db"
    written = run_script("write", str(db))
    assert written.returncode == 0, written.stderr
    assert written.stdout.startswith("== process 1: session acme:ana:helpdesk-311")

    # What the file holds once process 1 is gone: the summary of turn 1, turns 2 and 3.
    key = example.KEY.composite()
    async with await open_store(f"sqlite:///{db}", create=False) as store:
        saved = await store.load_memory_state(key)
    assert saved is not None
    assert saved["format"] == FORMAT_VERSION
    assert (saved["strategy"], saved["health"]) == ("rolling_summary", "healthy")
    assert saved["summary"] == example.SUMMARIES[0]
    assert [t["user"] for t in saved["turns"]] == list(example.FIRST_DAY[1:])
    assert saved["pending"] == []
    assert saved["turns"][0]["trajectory_digest"] == {"tools": ["search_kb"]}

    read = run_script("read", str(db))
    assert read.returncode == 0, read.stderr
    assert "hydrated: True; health healthy; recent turns: 2" in read.stdout
    assert "memory shown to the LLM: 2 recent turn(s), 0 pending, a summary" in read.stdout

    # Process 2 saved its turn, and the summary that folded turn 2 in when it closed.
    async with await open_store(f"sqlite:///{db}", create=False) as store:
        after = await store.load_memory_state(key)
    assert after is not None
    assert after["summary"] == example.SUMMARIES[1]
    assert [t["user"] for t in after["turns"]] == [example.FIRST_DAY[2], example.NEXT_DAY]


async def test_the_new_planner_answers_from_the_hydrated_memory(
    example: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "helpdesk.db"
    written = await example.write_session(db)
    assert [r.reason for r in written.results] == ["answer_complete"] * 3
    assert written.summary == example.SUMMARIES[0]
    read = await example.read_session(db)

    assert read.hydrated is True
    assert read.hydrated_summary == example.SUMMARIES[0]
    assert read.hydrated_recent == list(example.FIRST_DAY[1:])
    shown = example.shown_memory(read.llm.calls[0].messages)
    assert shown is not None
    assert shown["summary"] == example.SUMMARIES[0]
    assert [t["user"] for t in shown["recent_turns"]] == list(example.FIRST_DAY[1:])
    # The device was named only in turn 1, which reached process 2 through the summary.
    assert isinstance(read.result, PlannerFinish)
    assert read.result.metadata["steps"][0]["args"] == {
        "device": "ThinkPad X1 Carbon Gen 11",
        "symptom": "wifi drops again",
    }
    assert read.result.payload.startswith("Since power saving was not the whole story")
    assert read.llm.remaining == 0
    capsys.readouterr()


async def test_hydrate_finds_nothing_for_an_unknown_session(
    example: ModuleType, tmp_path: Path
) -> None:
    async with await open_store(f"sqlite:///{tmp_path / 'empty.db'}") as store:
        memory = DefaultShortTermMemory(example.CONFIG, ScriptedLLM([]))
        other = MemoryKey(tenant_id="acme", user_id="ana", session_id="never-seen")
        assert await memory.hydrate(store, other.composite()) is False
        assert memory.get_llm_context() == {}
        assert memory.health is MemoryHealth.HEALTHY


def test_without_arguments_it_runs_both_steps_as_two_processes() -> None:
    done = run_script()
    assert done.returncode == 0, done.stderr
    assert done.stdout == readme_output()
    bad = run_script("read")
    assert (bad.returncode, bad.stderr) == (2, "usage: main.py [write DB | read DB]\n")
