"""ReactPlanner, minimal: the LLM searches the docs, summarizes what it found, then answers.

This is the seed README's "React Planner" snippet made runnable. The two
tools are the README's ``search_docs`` and ``summarize``; ``search`` and
``llm_summarize``, which the README leaves to you, are small stand-ins for a
search index and a summarizing model. The planner's own LLM is
`ScriptedLLM`, which replays the replies a real model gave for this query,
so the example runs offline and prints the same thing every time. Swap
``llm_client=ScriptedLLM(SCRIPT)`` for ``llm="gpt-4o-mini"`` to plan with a
real model.

Run it from the repository root::

    .venv/bin/python examples/react_minimal/main.py
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, ReactPlanner, build_catalog, tool
from penguiflow.planner import PlannerFinish, PlannerPause
from penguiflow.planner.testing import ScriptedLLM

__all__ = ["QUERY", "SCRIPT", "build_planner", "main"]


class Query(BaseModel):
    text: str


class Documents(BaseModel):
    results: list[str]


class Summary(BaseModel):
    text: str


# A tiny documentation index, keyed by topic.
DOCS: dict[str, list[str]] = {
    "routing": [
        "predicate_router sends a message to every successor whose predicate returns True.",
        "union_router picks the successor from the type of a discriminated-union payload.",
        "Routing policies can override a router's choice at run time, per tenant or message.",
    ],
    "backpressure": [
        "Floes are bounded queues: a full floe makes the sending node wait.",
    ],
}


async def search(text: str) -> list[str]:
    """Stand-in for a search index: the passages of every topic named in ``text``."""
    words = set(text.lower().split())
    return [passage for topic, passages in DOCS.items() if topic in words for passage in passages]


async def llm_summarize(results: list[str]) -> str:
    """Stand-in for a summarizing model: the first words of each passage."""
    return "; ".join(" ".join(passage.split()[:4]) for passage in results) + "."


@tool(desc="Search documentation", side_effects="read")
async def search_docs(args: Query, ctx: Any) -> Documents:
    return Documents(results=await search(args.text))


@tool(desc="Summarize results")
async def summarize(args: Documents, ctx: Any) -> Summary:
    return Summary(text=await llm_summarize(args.results))


registry = ModelRegistry()
registry.register("search_docs", Query, Documents)
registry.register("summarize", Documents, Summary)

QUERY = "Explain PenguiFlow routing"

# What a real model answered at each step of this run, thoughts included.
SCRIPT: list[dict[str, Any]] = [
    {
        "thought": (
            "The user wants to know how routing works in PenguiFlow. I should not rely on "
            "memory for project specifics, so I'll search the documentation first."
        ),
        "next_node": "search_docs",
        "args": {"text": "routing"},
    },
    {
        "thought": (
            "The search found three passages: predicate routers, union routers and routing "
            "policies. I'll have them summarized to check they cover the question."
        ),
        "next_node": "summarize",
        "args": {"results": DOCS["routing"]},
    },
    {
        "thought": (
            "The summary confirms three routing mechanisms. That is enough to answer, "
            "explaining each one and how they relate."
        ),
        "next_node": None,
        "answer": (
            "PenguiFlow routes messages in three ways: predicate_router sends a message to "
            "every successor whose predicate matches, union_router picks the successor from "
            "the payload's type in a discriminated union, and routing policies can override "
            "either choice at run time, for example per tenant."
        ),
    },
]


def build_planner(llm: ScriptedLLM) -> ReactPlanner:
    """The README's planner, with ``llm_client`` in place of ``llm="gpt-4"``."""
    return ReactPlanner(
        llm_client=llm,
        catalog=build_catalog([search_docs, summarize], registry),
        max_iters=10,
    )


def brief(value: Any, width: int = 76) -> str:
    """``value`` as one line of JSON, cut to ``width`` characters."""
    text = json.dumps(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def show(result: PlannerFinish | PlannerPause) -> None:
    """Print each step (thought, call, observation), then the answer."""
    assert isinstance(result, PlannerFinish), result
    for number, step in enumerate(result.metadata["steps"], start=1):
        print(f"step {number}: {step['node_name'] or 'finish'}")
        print(
            textwrap.fill(
                step["thought"], 88, initial_indent="  thought: ", subsequent_indent="    "
            )
        )
        if step["node_name"] is not None:
            print(f"  args:        {brief(step['args'])}")
            print(f"  observation: {brief(step['observation'])}")
    calls = result.metadata["cost"]["main_llm_calls"]
    print(f"finished: {result.reason} ({calls} LLM calls, {result.metadata['hops']} tool calls)")
    print(textwrap.fill(f"answer: {result.payload}", 88, subsequent_indent="  "))


async def main() -> PlannerFinish | PlannerPause:
    """Plan and answer the query with the scripted LLM; print and return the result."""
    planner = build_planner(ScriptedLLM(SCRIPT))
    print(f"query: {QUERY}")
    result = await planner.run(QUERY)
    show(result)
    return result


if __name__ == "__main__":
    asyncio.run(main())
