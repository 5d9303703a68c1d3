"""Short-term memory callbacks and health: a summariser that fails, degrades, then recovers.

``ShortTermMemoryConfig`` takes three callbacks (plain functions or
coroutines): ``on_turn_added(turn)``, ``on_summary_updated(summary)`` and
``on_health_changed(old, new)``. This example prints each one as it fires,
while the summariser LLM goes through an outage:

* turn 2 pushes turn 1 out of the one-turn full zone; summarising it fails,
  is retried once (``RETRY``), fails again, and the memory degrades
  (``DEGRADED``): like ``truncation``, it drops the turns it could not
  summarise, and the planner keeps answering;
* every ``recovery_probe_every_turns`` turns (here: every turn) a degraded
  memory tries the summariser once more (``RECOVERING``). The probe after
  turn 3 fails (back to ``DEGRADED``); the one after turn 4 succeeds, and
  the memory is ``HEALTHY`` again, with a summary.

The summariser is a `ScriptedLLM` whose first three replies raise
`LLMError`, as a rate-limited provider would; retries and backoff are kept
tiny (``summarizer_retries=1``, ``summarizer_backoff_s=0.0``), and each turn
ends with ``await memory.flush()`` so the output is always in the same order.
The summariser's failures are also logged as warnings on the
``penguiflow.planner.memory`` logger.

Run it from the repository root::

    .venv/bin/python examples/memory_callbacks/main.py
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import (
    ConversationTurn,
    LLMError,
    MemoryBudget,
    MemoryHealth,
    MemoryKey,
    ReactPlanner,
    ShortTermMemoryConfig,
)
from penguiflow.planner.testing import ScriptedLLM

__all__ = ["KEY", "TURNS", "Journal", "build_config", "main", "summarizer_script"]


class Dish(BaseModel):
    name: str


class Recipe(BaseModel):
    name: str
    serves: int


@tool(desc="Find a recipe by dish name", side_effects="read")
async def find_recipe(args: Dish, ctx: Any) -> Recipe:
    return Recipe(name=args.name, serves=4)


registry = ModelRegistry()
registry.register("find_recipe", Dish, Recipe)

KEY = MemoryKey(tenant_id="acme", user_id="sam", session_id="dinner")
TURNS = (
    ("I'm cooking for six on Saturday.", "Lovely! What are you thinking of making?"),
    ("One guest is vegetarian.", "Noted: one vegetarian guest."),
    ("Another one can't eat nuts.", "Noted: one guest with a nut allergy."),
    ("I'd like to make a mushroom risotto.", "Found one that serves 4; I can scale it for you."),
)


def outage(messages: list[dict[str, str]]) -> dict[str, Any]:
    """A summariser reply that never comes: the provider is rate limiting us."""
    raise LLMError("summariser provider answered 429 Too Many Requests")


def summarizer_script() -> list[Any]:
    """Three failed calls (two for turn 1, the first probe), then a summary."""
    return [outage, outage, outage, {"summary": "One guest can't eat nuts."}]


@dataclass(slots=True)
class Journal:
    """Everything the callbacks reported, in order."""

    lines: list[str] = field(default_factory=list)
    health: list[tuple[MemoryHealth, MemoryHealth]] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    turns: list[str] = field(default_factory=list)

    def turn_added(self, turn: ConversationTurn) -> None:
        """``on_turn_added``: a plain function."""
        self.turns.append(turn.user_message)
        self.say(f"[on_turn_added] {turn.user_message!r}")

    def summary_updated(self, summary: str) -> None:
        """``on_summary_updated``."""
        self.summaries.append(summary)
        self.say(f"[on_summary_updated] {summary!r}")

    async def health_changed(self, old: MemoryHealth, new: MemoryHealth) -> None:
        """``on_health_changed``: a coroutine, as an alerting client would be."""
        self.health.append((old, new))
        alert = "  <- alert on-call" if new is MemoryHealth.DEGRADED else ""
        self.say(f"[on_health_changed] {old.value} -> {new.value}{alert}")

    def say(self, line: str) -> None:
        self.lines.append(line)
        print(line)


def build_config(journal: Journal) -> ShortTermMemoryConfig:
    """Rolling summaries over a one-turn full zone, with the journal's callbacks."""
    return ShortTermMemoryConfig(
        strategy="rolling_summary",
        budget=MemoryBudget(full_zone_turns=1),
        summarizer_retries=1,
        summarizer_backoff_s=0.0,
        recovery_probe_every_turns=1,
        on_turn_added=journal.turn_added,
        on_summary_updated=journal.summary_updated,
        on_health_changed=journal.health_changed,
    )


@dataclass(slots=True)
class CallbacksRun:
    """What `main` returns."""

    journal: Journal
    health_after_turn: list[MemoryHealth]
    summarizer: ScriptedLLM
    summary: str
    recent: list[str]


async def main() -> CallbacksRun:
    """Four turns while the summariser fails three times, then works."""
    journal = Journal()
    replies: list[Any] = [
        {
            "thought": "The user is telling me about the dinner; I'll acknowledge it.",
            "next_node": None,
            "answer": answer,
        }
        for _, answer in TURNS
    ]
    recipe = {
        "thought": "The user picked a dish; I'll look up a recipe for it.",
        "next_node": "find_recipe",
        "args": {"name": "mushroom risotto"},
    }
    replies.insert(3, recipe)
    summarizer = ScriptedLLM(summarizer_script(), name="summarizer")
    planner = ReactPlanner(
        llm_client=ScriptedLLM(replies),
        catalog=build_catalog([find_recipe], registry),
        short_term_memory=build_config(journal),
        summarizer_llm=summarizer,
    )
    health_after_turn: list[MemoryHealth] = []
    for number, (question, _) in enumerate(TURNS, start=1):
        print(f"--- turn {number}")
        result = await planner.run(question, memory_key=KEY)
        memory = await planner.memory(KEY)
        await memory.flush()  # wait for the background summariser, to keep the output in order
        health_after_turn.append(memory.health)
        print(f"answer: {result.payload}  (memory health: {memory.health.value})")
    memory = await planner.memory(KEY)
    recent = [turn.user_message for turn in memory.recent_turns]
    print(f"memory kept: the summary {memory.summary!r}")
    print(f"  and the full zone {recent}")
    print("  (turns 1 and 2 were dropped while the summariser was down)")
    await planner.aclose()
    return CallbacksRun(journal, health_after_turn, summarizer, memory.summary, recent)


if __name__ == "__main__":
    asyncio.run(main())
