"""examples/react_replan: a failing tool becomes an observation and the LLM switches tools."""

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

from penguiflow import Node, NodePolicy, build_catalog
from penguiflow.planner import PlannerEvent, PlannerFinish, ReactPlanner
from penguiflow.planner.testing import ScriptedLLM

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "react_replan"


def readme_output() -> str:
    """The block after "Output:" in the example's README."""
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Output:\n\n```\n(.*?)```", readme, re.S)
    assert match, "README lost its Output block"
    return match.group(1)


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("react_replan")


async def test_the_llm_switches_to_the_cache_after_the_live_service_fails(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    run = await asyncio.wait_for(example.main(), 10)

    result = run.result
    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    live, cached, _ = result.metadata["steps"]
    assert live["error"] == (
        "tool 'live_forecast' raised ConnectionError: weather.example.com:443 is unreachable"
    )
    assert live["observation"]["error"] == live["error"]
    assert live["observation"]["suggestion"].startswith("the tool failed")
    assert cached["error"] is None and cached["observation"]["snow_probability"] == 0.7
    assert run.weather.calls == 2  # the first attempt and one retry
    tool_events = [
        (e.event_type, e.node_name, e.extra["attempts"])
        for e in run.events
        if e.event_type in ("tool_error", "step_complete")
    ]
    assert tool_events == [
        ("tool_error", "live_forecast", 2),
        ("step_complete", "cached_forecast", 1),
    ]
    assert "3 hours ago" in result.payload
    assert capsys.readouterr().out == readme_output()


async def test_the_llm_reads_the_error_before_replanning(example: ModuleType) -> None:
    llm = ScriptedLLM(example.SCRIPT)
    planner = example.build_planner(llm, [])
    await planner.run(example.QUERY, tool_context={"weather": example.WeatherService()})

    seen = json.loads(llm.calls[1].messages[-1]["content"])
    assert seen["error"].endswith("ConnectionError: weather.example.com:443 is unreachable")
    assert seen["observation"]["suggestion"].startswith("the tool failed")


async def test_a_hanging_service_times_out_and_is_replanned_the_same_way(
    example: ModuleType,
) -> None:
    class HangingService(example.WeatherService):
        async def forecast(self, city: str) -> object:
            self.calls += 1
            await asyncio.Event().wait()  # never answers
            raise AssertionError("unreachable")

    live = Node(
        example.live_forecast,
        name="live_forecast",
        policy=NodePolicy(timeout_s=0.05, max_retries=0),
    )
    planner = ReactPlanner(
        llm_client=ScriptedLLM(example.SCRIPT),
        catalog=build_catalog([live, example.cached_forecast], example.registry),
    )
    service = HangingService()
    result = await asyncio.wait_for(
        planner.run(example.QUERY, tool_context={"weather": service}), 10
    )

    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    first = result.metadata["steps"][0]
    assert first["error"] == "tool 'live_forecast' timed out after 0.05s"
    assert service.calls == 1
    assert result.metadata["steps"][1]["node_name"] == "cached_forecast"


async def test_an_llm_that_keeps_retrying_is_stopped_by_the_hop_budget(
    example: ModuleType,
) -> None:
    events: list[PlannerEvent] = []
    stubborn = [example.SCRIPT[0]] * 5
    planner = ReactPlanner(
        llm_client=ScriptedLLM(stubborn),
        catalog=build_catalog([example.live_node, example.cached_forecast], example.registry),
        hop_budget=3,
        event_callback=events.append,
    )
    weather = example.WeatherService()
    result = await planner.run(example.QUERY, tool_context={"weather": weather})

    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("hop_budget", None)
    assert result.metadata["hops"] == 3
    assert weather.calls == 6  # three calls, each retried once
    assert [e.extra["reason"] for e in events if e.event_type == "constraint"] == ["hop_budget"]


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
