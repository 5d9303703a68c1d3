"""ReactPlanner with a reflection loop: a critic scores each draft answer, weak drafts are revised.

This is the seed README's "Reflection Loop" and "Cost Tracking" snippets made
runnable. The planner's LLM is a `ScriptedLLM` replaying what a model did for
this query: search, answer too briefly, then — after reading the critic's
review — search again and answer properly. The critic is a separate, cheaper
LLM (``use_separate_llm=True``); here it is a small rule-based stand-in that
scores a draft by the share of the expected facts it states, and names the
missing ones. The same input always gives the same output.

Swap ``llm_client=ScriptedLLM(PLANNER_SCRIPT)`` for ``llm="gpt-4o"`` and
``reflection_llm=critic`` for ``reflection_llm="gpt-4o-mini"`` to run it
against real models.

Run it from the repository root::

    .venv/bin/python examples/react_reflection/main.py
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import (
    PlannerEvent,
    PlannerFinish,
    PlannerPause,
    ReactPlanner,
    ReflectionConfig,
    ReflectionCriteria,
)
from penguiflow.planner.testing import ScriptedLLM

__all__ = [
    "FACTS",
    "PLANNER_SCRIPT",
    "QUERY",
    "build_planner",
    "critic_reply",
    "main",
]

QUERY = "Explain how PenguiFlow handles errors in parallel execution"

DOCS: dict[str, str] = {
    "parallel errors": (
        "In a parallel step every branch runs to its end; a branch that fails is reported "
        "as an error observation in its place, and the other branches still finish."
    ),
    "replanning": (
        "The planner shows the LLM each failure with a suggestion, so it can replan: "
        "retry with other arguments, or use another tool."
    ),
}

FACTS: dict[str, str] = {
    "error observation": "say how a failing branch is reported",
    "other branches": "say what happens to the other branches",
    "replan": "say how the planner recovers",
}
"""What a complete answer states (phrase to find -> what to ask for when it is missing)."""

PLANNER_COST_USD = 0.0025
CRITIC_COST_USD = 0.0004


class Query(BaseModel):
    text: str


class Passage(BaseModel):
    text: str


@tool(desc="Search the PenguiFlow documentation", side_effects="read")
async def search_docs(args: Query, ctx: Any) -> Passage:
    return Passage(text=DOCS.get(args.text, "no match"))


registry = ModelRegistry()
registry.register("search_docs", Query, Passage)

PLANNER_SCRIPT: list[dict[str, Any]] = [
    {
        "thought": "Look up how parallel steps treat failures.",
        "next_node": "search_docs",
        "args": {"text": "parallel errors"},
    },
    {
        "thought": "The docs say failures become observations; that answers it.",
        "next_node": None,
        "answer": "A failing branch becomes an error observation.",
    },
    {
        "thought": "The review asks about recovery; search for replanning.",
        "next_node": "search_docs",
        "args": {"text": "replanning"},
    },
    {
        "thought": "Now I can cover failures, the other branches and recovery.",
        "next_node": None,
        "answer": (
            "Every branch of a parallel step runs to its end: a failing branch is reported as "
            "an error observation in its place while the other branches still finish. The "
            "planner then shows the failure to the LLM with a suggestion, so it can replan "
            "(retry with other arguments or use another tool)."
        ),
    },
]


def critic_reply(messages: list[dict[str, str]]) -> dict[str, Any]:
    """The stand-in critic: score = share of `FACTS` the draft states; feedback names the rest."""
    draft = str(json.loads(messages[-1]["content"])["draft_answer"]).lower()
    missing = [ask for phrase, ask in FACTS.items() if phrase not in draft]
    score = round(1 - len(missing) / len(FACTS), 2)
    feedback = "Complete and grounded." if not missing else "Also " + "; ".join(missing) + "."
    return {"score": score, "passed": not missing, "feedback": feedback, "issues": missing}


def report(event: PlannerEvent) -> None:
    """Print each critique as it happens (the event's feedback is cut to 200 characters)."""
    if event.event_type == "reflection":
        extra = event.extra
        print(
            f"critique of draft {extra['revision'] + 1}: score {extra['score']:.2f} "
            f"(needs {extra['threshold']:.2f}), passed {extra['passed']}"
        )
        print(f"  feedback: {extra['feedback']}")


def build_planner(planner_llm: ScriptedLLM, critic: ScriptedLLM) -> ReactPlanner:
    """The README's planner, with scripted clients in place of model names."""
    return ReactPlanner(
        llm_client=planner_llm,
        catalog=build_catalog([search_docs], registry),
        reflection_config=ReflectionConfig(
            enabled=True,
            criteria=ReflectionCriteria(
                completeness="Addresses all aspects of the user's query",
                accuracy="Grounds statements in verified observations",
                clarity="Explains reasoning clearly",
            ),
            quality_threshold=0.85,
            max_revisions=2,
            use_separate_llm=True,
        ),
        reflection_llm=critic,
        event_callback=report,
    )


async def main() -> PlannerFinish | PlannerPause:
    """Run the query, print the critiques, the answer, the reflection summary and the cost."""
    planner = build_planner(
        ScriptedLLM(PLANNER_SCRIPT, cost_per_call=PLANNER_COST_USD, name="planner"),
        ScriptedLLM([critic_reply] * 3, cost_per_call=CRITIC_COST_USD, name="critic"),
    )
    print(f"query: {QUERY}")
    result = await planner.run(QUERY)
    assert isinstance(result, PlannerFinish), result
    print(textwrap.fill(f"answer: {result.payload}", 88, subsequent_indent="  "))
    reflection = result.metadata["reflection"]
    print(
        f"reflection: score {reflection['score']:.2f}, revisions {reflection['revisions']}, "
        f"passed {reflection['passed']}"
    )
    cost = result.metadata["cost"]
    print(f"Total cost: ${cost['total_cost_usd']:.4f}")
    print(f"Planner calls: {cost['main_llm_calls']}")
    print(f"Reflections: {cost['reflection_llm_calls']}")
    print(f"Summaries: {cost['summarizer_llm_calls']}")
    return result


if __name__ == "__main__":
    asyncio.run(main())
