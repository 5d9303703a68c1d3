"""Short-term memory, basic: a travel chat whose later turns build on earlier ones.

One `MemoryKey` (tenant + user + session) scopes the conversation. The
planner has ``short_term_memory=ShortTermMemoryConfig(strategy="rolling_summary")``
with a full zone of two turns: the last two turns are shown to the LLM in
full, and older ones are folded into a rolling summary by a summariser LLM,
in the background.

The user gives the trip's details once (turn 1), then asks questions that
only make sense with them: the weather "then" (turn 2), a hotel "within my
budget" (turn 3), and a reminder of the whole plan (turn 4). The planner's
LLM is a `ScriptedLLM` whose replies are computed from the
``conversation_memory`` block in the prompt, as a model reads it: the city,
month and budget it uses come from memory, never from the question. By
turn 4, turn 1 has left the full zone and reaches the LLM only through the
summary that landed in the background (``await memory.flush()`` waits for
it here).

Swap ``llm_client=`` for ``llm="gpt-4o"`` (and drop ``summarizer_llm=`` to
let the same model summarise) to run it against a real model.

Run it from the repository root::

    .venv/bin/python examples/memory_basic/main.py
"""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import (
    ConversationTurn,
    DefaultShortTermMemory,
    MemoryBudget,
    MemoryKey,
    PlannerFinish,
    ReactPlanner,
    ShortTermMemoryConfig,
)
from penguiflow.planner.testing import ScriptedLLM

__all__ = [
    "CONFIG",
    "KEY",
    "QUESTIONS",
    "BasicRun",
    "build_planner",
    "main",
    "planner_script",
    "shown_memory",
    "summarizer_script",
    "trip_facts",
]

Messages = list[dict[str, str]]


class ForecastQuery(BaseModel):
    city: str
    month: str


class Forecast(BaseModel):
    city: str
    month: str
    outlook: str
    high_c: int
    rainy_days: int


class HotelQuery(BaseModel):
    city: str
    nights: int
    max_total_eur: int


class Hotel(BaseModel):
    name: str
    total_eur: int


class Hotels(BaseModel):
    hotels: list[Hotel]


FORECASTS = {
    ("Lisbon", "May"): Forecast(
        city="Lisbon", month="May", outlook="mostly sunny", high_c=22, rainy_days=4
    ),
}
NIGHTLY_EUR = {"Lisbon": {"Casa do Rio": 145, "Alfama Suites": 260, "Palacio Azul": 390}}


@tool(desc="Weather outlook for a city in a month", side_effects="read")
async def forecast(args: ForecastQuery, ctx: Any) -> Forecast:
    return FORECASTS[(args.city, args.month)]


@tool(desc="Hotels whose total price for the stay is within a budget", side_effects="read")
async def find_hotels(args: HotelQuery, ctx: Any) -> Hotels:
    prices = NIGHTLY_EUR.get(args.city, {})
    stays = [Hotel(name=name, total_eur=night * args.nights) for name, night in prices.items()]
    return Hotels(hotels=[h for h in stays if h.total_eur <= args.max_total_eur])


registry = ModelRegistry()
registry.register("forecast", ForecastQuery, Forecast)
registry.register("find_hotels", HotelQuery, Hotels)

KEY = MemoryKey(tenant_id="acme", user_id="ana", session_id="trip-42")
CONFIG = ShortTermMemoryConfig(
    strategy="rolling_summary",
    budget=MemoryBudget(full_zone_turns=2, summary_max_tokens=200, total_max_tokens=2000),
)
QUESTIONS = (
    "I'm planning two nights in Lisbon in May, with 600 EUR for the hotel.",
    "What will the weather be like then?",
    "Find me a hotel within my budget.",
    "Remind me of the plan so far.",
)

NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4}


# -- what the "model" reads from its prompt ----------------------------------------------


def shown_memory(messages: Messages) -> dict[str, Any] | None:
    """The ``conversation_memory`` block of the prompt, or ``None`` when there is none."""
    for message in messages:
        if message["role"] == "system" and '"conversation_memory"' in message["content"]:
            content = message["content"]
            block: dict[str, Any] = json.loads(content[content.index("{") :])
            return dict(block["conversation_memory"])
    return None


def trip_facts(text: str) -> dict[str, Any]:
    """City, month, nights and budget as stated anywhere in ``text``."""
    stay = re.search(r"\b(one|two|three|four) nights in ([A-Z]\w+) in ([A-Z]\w+)", text)
    budget = re.search(r"\b(\d+) EUR", text)
    if stay is None or budget is None:
        raise LookupError("the conversation memory does not say where and when the trip is")
    return {
        "nights": NUMBERS[stay.group(1)],
        "city": stay.group(2),
        "month": stay.group(3),
        "budget_eur": int(budget.group(1)),
    }


def remembered_trip(messages: Messages) -> dict[str, Any]:
    """The trip as the memory block of ``messages`` describes it."""
    memory = shown_memory(messages)
    if memory is None:
        raise LookupError("no conversation memory in the prompt")
    return trip_facts(json.dumps(memory, ensure_ascii=False))


def last_observation(messages: Messages) -> Any:
    """What the last tool call returned (the last user message)."""
    return json.loads(messages[-1]["content"])["observation"]


# -- the planner's LLM: one entry per call ---------------------------------------------------


def plan_forecast(messages: Messages) -> dict[str, Any]:
    trip = remembered_trip(messages)
    return {
        "thought": (
            "The question says 'then' without naming a place or a date. The conversation "
            f"memory has the trip: {trip['city']} in {trip['month']}. I'll get that forecast."
        ),
        "next_node": "forecast",
        "args": {"city": trip["city"], "month": trip["month"]},
    }


def answer_forecast(messages: Messages) -> dict[str, Any]:
    seen = last_observation(messages)
    return {
        "thought": "The forecast came back; I'll summarise it for the trip.",
        "next_node": None,
        "answer": (
            f"{seen['city']} in {seen['month']} looks {seen['outlook']}: highs around "
            f"{seen['high_c']} C and about {seen['rainy_days']} rainy days in the month."
        ),
    }


def plan_hotels(messages: Messages) -> dict[str, Any]:
    trip = remembered_trip(messages)
    return {
        "thought": (
            f"'My budget' is the {trip['budget_eur']} EUR from earlier in the conversation, for "
            f"{trip['nights']} nights in {trip['city']}. I'll search hotels within it."
        ),
        "next_node": "find_hotels",
        "args": {
            "city": trip["city"],
            "nights": trip["nights"],
            "max_total_eur": trip["budget_eur"],
        },
    }


def answer_hotels(messages: Messages) -> dict[str, Any]:
    hotels = last_observation(messages)["hotels"]
    listed = " and ".join(f"{h['name']} ({h['total_eur']} EUR)" for h in hotels)
    return {
        "thought": f"{len(hotels)} hotels fit the budget; I'll list them with their totals.",
        "next_node": None,
        "answer": f"Within your budget for the whole stay: {listed}.",
    }


def recap(messages: Messages) -> dict[str, Any]:
    memory = shown_memory(messages)
    assert memory is not None
    trip = trip_facts(memory["summary"])
    weather, hotels = (turn["assistant"] for turn in memory["recent_turns"])
    return {
        "thought": (
            "The first turn is no longer shown in full, but the summary keeps the trip's "
            "details, and the last two turns have the weather and the hotels. I'll combine them."
        ),
        "next_node": None,
        "answer": (
            f"Your plan: {trip['nights']} nights in {trip['city']} in {trip['month']}, with "
            f"{trip['budget_eur']} EUR for the hotel. Weather: {weather} {hotels}"
        ),
    }


def planner_script() -> list[Any]:
    """The main LLM's replies for the four turns, in call order."""
    acknowledge = {
        "thought": (
            "The user is giving me the trip's details, not asking anything yet. I'll confirm "
            "them so the next questions can build on them."
        ),
        "next_node": None,
        "answer": (
            "Noted: two nights in Lisbon in May, with 600 EUR for the hotel. Ask me about "
            "the weather or hotels."
        ),
    }
    return [acknowledge, plan_forecast, answer_forecast, plan_hotels, answer_hotels, recap]


def summarizer_script() -> list[Any]:
    """The summariser LLM's replies: what a model wrote as turns 1, then 2, left the full zone."""
    return [
        {
            "summary": (
                "The user plans two nights in Lisbon in May with 600 EUR for the hotel; "
                "the assistant confirmed and offered weather and hotel help."
            )
        },
        {
            "summary": (
                "The user plans two nights in Lisbon in May with 600 EUR for the hotel. "
                "Forecast: mostly sunny, highs around 22 C, about 4 rainy days."
            )
        },
    ]


def build_planner(llm: ScriptedLLM, summarizer: ScriptedLLM) -> ReactPlanner:
    """The travel assistant, with rolling-summary memory."""
    return ReactPlanner(
        llm_client=llm,
        catalog=build_catalog([forecast, find_hotels], registry),
        short_term_memory=CONFIG,
        summarizer_llm=summarizer,
    )


# -- the conversation --------------------------------------------------------------------------


def wrap(text: str, indent: str = "  ") -> str:
    """``text`` wrapped at 88 columns, continuation lines indented."""
    return textwrap.fill(text, 88, subsequent_indent=indent, break_on_hyphens=False)


def describe(memory: dict[str, Any] | None) -> str:
    """One line on what the LLM was shown."""
    if memory is None:
        return "nothing yet"
    recent, pending = len(memory["recent_turns"]), len(memory["pending_turns"])
    summary = "a summary" if memory["summary"] else "no summary"
    return f"{recent} recent turn(s), {pending} pending, {summary}"


def turn_numbers(turns: tuple[ConversationTurn, ...]) -> list[int]:
    """1-based numbers of ``turns`` in the conversation (by their question)."""
    return [QUESTIONS.index(turn.user_message) + 1 for turn in turns]


@dataclass(slots=True)
class BasicRun:
    """What `main` returns."""

    results: list[PlannerFinish]
    llm: ScriptedLLM
    summarizer: ScriptedLLM
    memory: DefaultShortTermMemory
    pending_seen: list[list[int]]


async def main() -> BasicRun:
    """Four turns of one session; the summary of turn 1 lands between turns 3 and 4."""
    llm, summarizer = ScriptedLLM(planner_script()), ScriptedLLM(summarizer_script())
    planner = build_planner(llm, summarizer)
    print(f"session {KEY.composite()}: {CONFIG.strategy}, full_zone_turns=2")
    results: list[PlannerFinish] = []
    pending_seen: list[list[int]] = []
    for number, question in enumerate(QUESTIONS, start=1):
        print(f"--- turn {number}")
        print(wrap(f"user: {question}"))
        first_call = len(llm.calls)
        result = await planner.run(question, memory_key=KEY)
        assert isinstance(result, PlannerFinish), result
        results.append(result)
        print(f"memory shown to the LLM: {describe(shown_memory(llm.calls[first_call].messages))}")
        for step in result.metadata["steps"]:
            print(wrap(f"  thought: {step['thought']}", indent="    "))
            if step["node_name"] is not None:
                print(f"  {step['node_name']} {json.dumps(step['args'])}")
        print(wrap(f"assistant: {result.payload}"))
        memory = await planner.memory(KEY)
        if memory.pending_turns:
            # The answer is back; the summary of the turns leaving the full zone is not.
            pending_seen.append(turn_numbers(memory.pending_turns))
            print(
                f"memory now: recent turns {turn_numbers(memory.recent_turns)}, "
                f"pending turns {pending_seen[-1]} (being summarised in the background)"
            )
            await memory.flush()
            print(wrap(f"summary landed: {memory.summary}"))
    memory = await planner.memory(KEY)
    print(
        f"health: {memory.health.value}; {len(summarizer.calls)} summariser call(s); "
        f"memory within its {CONFIG.budget.total_max_tokens}-token budget: "
        f"{memory.token_estimate <= CONFIG.budget.total_max_tokens}"
    )
    await planner.aclose()
    return BasicRun(results, llm, summarizer, memory, pending_seen)


if __name__ == "__main__":
    asyncio.run(main())
