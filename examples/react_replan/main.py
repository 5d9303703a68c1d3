"""ReactPlanner, adaptive replanning: a tool fails, the LLM reads the error and uses another tool.

``live_forecast`` calls a weather service that is down: it raises
``ConnectionError``. Its node's `NodePolicy` retries it once; when the retry
fails too, the planner does not end the run or raise. The failure becomes
the step's observation, ``{"error": ..., "suggestion": ...}``, and the LLM
reads it before its next decision: here it switches to ``cached_forecast``
and says in its answer that the data is a few hours old.

Run it from the repository root::

    .venv/bin/python examples/react_replan/main.py
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, Node, NodePolicy, ReactPlanner, build_catalog, tool
from penguiflow.planner import PlannerEvent, PlannerFinish, PlannerPause
from penguiflow.planner.testing import ScriptedLLM

__all__ = ["QUERY", "SCRIPT", "WeatherService", "build_planner", "main"]


class City(BaseModel):
    city: str


class Forecast(BaseModel):
    city: str
    summary: str
    snow_probability: float
    age_hours: float


class WeatherService:
    """The live weather API client; this one's endpoint is unreachable."""

    def __init__(self) -> None:
        self.calls = 0

    async def forecast(self, city: str) -> Forecast:
        """Ask the live service for ``city``'s forecast."""
        self.calls += 1
        raise ConnectionError("weather.example.com:443 is unreachable")


CACHE = {
    "ushuaia": Forecast(
        city="Ushuaia",
        summary="light snow showers after midnight, -2 C",
        snow_probability=0.7,
        age_hours=3.0,
    ),
}


@tool(desc="Tomorrow's forecast from the live weather service", side_effects="read")
async def live_forecast(args: City, ctx: Any) -> Forecast:
    service: WeatherService = ctx.tool_context["weather"]
    return await service.forecast(args.city)


@tool(desc="Tomorrow's forecast from the local cache (refreshed every 6 hours)")
async def cached_forecast(args: City, ctx: Any) -> Forecast:
    return CACHE[args.city.lower()]


registry = ModelRegistry()
registry.register("live_forecast", City, Forecast)
registry.register("cached_forecast", City, Forecast)

# Retry the live service once, 10 ms after the first failure, before giving up.
live_node = Node(
    live_forecast,
    name="live_forecast",
    policy=NodePolicy(max_retries=1, backoff_base=0.01),
)

QUERY = "Will it snow in Ushuaia tomorrow?"

SCRIPT: list[dict[str, Any]] = [
    {
        "thought": (
            "The user asks about tomorrow's weather in Ushuaia. The live forecast is the "
            "most accurate source, so I'll try it first."
        ),
        "next_node": "live_forecast",
        "args": {"city": "Ushuaia"},
    },
    {
        "thought": (
            "The live weather service is unreachable (ConnectionError). The cached "
            "forecast is refreshed every 6 hours, which is recent enough for tomorrow's "
            "outlook, so I'll use it and mention its age."
        ),
        "next_node": "cached_forecast",
        "args": {"city": "Ushuaia"},
    },
    {
        "thought": (
            "The cached forecast is 3 hours old and gives a 70% chance of light snow "
            "showers. I can answer, noting the live service was down."
        ),
        "next_node": None,
        "answer": (
            "Probably yes: light snow showers are likely after midnight (70% chance, "
            "around -2 C). This comes from a forecast cached 3 hours ago, because the "
            "live weather service is unreachable right now."
        ),
    },
]


@dataclass(slots=True)
class ReplanRun:
    """What `main` returns."""

    result: PlannerFinish | PlannerPause
    events: list[PlannerEvent]
    weather: WeatherService


def build_planner(llm: ScriptedLLM, events: list[PlannerEvent]) -> ReactPlanner:
    """A planner over the live (retried) and cached forecasts, recording events."""
    return ReactPlanner(
        llm_client=llm,
        catalog=build_catalog([live_node, cached_forecast], registry),
        event_callback=events.append,
    )


def wrap(text: str, indent: str = "  ") -> str:
    """``text`` wrapped at 88 columns, continuation lines indented."""
    return textwrap.fill(text, 88, subsequent_indent=indent, break_on_hyphens=False)


def show(run: ReplanRun) -> None:
    """Print each step with its observation or error, the tool events, and the answer."""
    result = run.result
    assert isinstance(result, PlannerFinish), result
    for number, step in enumerate(result.metadata["steps"], start=1):
        print(f"step {number}: {step['node_name'] or 'finish'}")
        print(wrap(f"  thought: {step['thought']}", indent="    "))
        if step["error"] is not None:
            print(wrap(f"  error: {step['error']}", indent="    "))
            print(wrap(f"  suggestion: {step['observation']['suggestion']}", indent="    "))
        elif step["node_name"] is not None:
            print(wrap(f"  observation: {json.dumps(step['observation'])}", indent="    "))
    for event in run.events:
        if event.event_type in ("step_complete", "tool_error"):
            attempts = event.extra["attempts"]
            print(f"event {event.event_type:<13} {event.node_name:<15} attempts={attempts}")
    print(f"live service called {run.weather.calls} times")
    print(f"finished: {result.reason} ({result.metadata['hops']} tool calls)")
    print(wrap(f"answer: {result.payload}"))


async def main() -> ReplanRun:
    """Run the query with the scripted LLM; print and return what happened."""
    events: list[PlannerEvent] = []
    weather = WeatherService()
    planner = build_planner(ScriptedLLM(SCRIPT), events)
    print(f"query: {QUERY}")
    result = await planner.run(QUERY, tool_context={"weather": weather})
    run = ReplanRun(result=result, events=events, weather=weather)
    show(run)
    return run


if __name__ == "__main__":
    asyncio.run(main())
