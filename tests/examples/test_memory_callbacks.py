"""examples/memory_callbacks: the callbacks fire through RETRY, DEGRADED, RECOVERING, HEALTHY."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from penguiflow import build_catalog
from penguiflow.planner import MemoryHealth, PlannerFinish, ReactPlanner
from penguiflow.planner.testing import ScriptedLLM

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "memory_callbacks"

HEALTHY, RETRY = MemoryHealth.HEALTHY, MemoryHealth.RETRY
DEGRADED, RECOVERING = MemoryHealth.DEGRADED, MemoryHealth.RECOVERING


def readme_output() -> str:
    """The block after "Output:" in the example's README."""
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Output:\n\n```\n(.*?)```", readme, re.S)
    assert match, "README lost its Output block"
    return match.group(1)


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("memory_callbacks")


async def test_an_outage_degrades_the_memory_and_a_probe_recovers_it(
    example: ModuleType, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="penguiflow.planner.memory"):
        run = await asyncio.wait_for(example.main(), 20)

    assert run.journal.health == [
        (HEALTHY, RETRY),
        (RETRY, DEGRADED),
        (DEGRADED, RECOVERING),
        (RECOVERING, DEGRADED),
        (DEGRADED, RECOVERING),
        (RECOVERING, HEALTHY),
    ]
    assert run.health_after_turn == [HEALTHY, DEGRADED, DEGRADED, HEALTHY]
    assert run.journal.turns == [question for question, _ in example.TURNS]
    # Which turns the summariser was asked about: turn 1 twice (a retry), then one
    # probe per turn while degraded; turn 1 itself was dropped, never summarised.
    asked = [
        [t["user"] for t in json.loads(call.messages[-1]["content"])["turns"]]
        for call in run.summarizer.calls
    ]
    questions = [question for question, _ in example.TURNS]
    assert asked == [[questions[0]], [questions[0]], [questions[1]], [questions[2]]]
    assert run.journal.summaries == ["One guest can't eat nuts."]
    assert run.summary == "One guest can't eat nuts."
    assert run.recent == [questions[3]]
    assert run.summarizer.remaining == 0
    failures = [r.getMessage() for r in caplog.records if "summariser failed" in r.getMessage()]
    assert len(failures) == 3
    assert capsys.readouterr().out == readme_output()


async def test_a_callback_that_raises_never_breaks_a_run(example: ModuleType) -> None:
    journal = example.Journal()

    def broken(turn: object) -> None:
        raise RuntimeError("the metrics backend is down")

    config = example.build_config(journal)
    planner = ReactPlanner(
        llm_client=ScriptedLLM([{"thought": "ack", "next_node": None, "answer": "ok"}]),
        catalog=build_catalog([example.find_recipe], example.registry),
        short_term_memory=replace(config, on_turn_added=broken),
        summarizer_llm=ScriptedLLM([]),
    )
    result = await planner.run("hello", memory_key=example.KEY)

    assert isinstance(result, PlannerFinish) and result.payload == "ok"
    memory = await planner.memory(example.KEY)
    assert [t.user_message for t in memory.recent_turns] == ["hello"]
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
    assert done.stderr.count("memory summariser failed") == 3
