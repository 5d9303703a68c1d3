"""Policy-based tool filtering: one catalog, a different `ToolPolicy` per tenant tier.

The seed README's "Policy-Based Tool Filtering" snippet, made runnable. Every
tenant shares one catalog of five tools; the planner built for a tenant gets
that tier's policy, checked in this order:

1. ``denied_tools``: never visible;
2. ``allowed_tools``: if given, only these;
3. ``require_tags``: the tool must carry every one of these tags.

Tools failing a check are removed before the prompt is built, so the LLM
never learns they exist; their names are logged and reported in a
``tools_filtered`` event. Each tier then answers the same question with the
tools it has.

Run it from the repository root::

    .venv/bin/python examples/policy_filtering/main.py
"""

from __future__ import annotations

import asyncio
import textwrap
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import PlannerEvent, PlannerFinish, PlannerPause, ReactPlanner, ToolPolicy
from penguiflow.planner.testing import ScriptedLLM

__all__ = ["QUERY", "SCRIPTS", "TENANT_POLICIES", "TierRun", "build_planner", "catalog", "main"]


class Query(BaseModel):
    text: str


class Passages(BaseModel):
    passages: list[str]


class Summary(BaseModel):
    text: str


class UserRef(BaseModel):
    user_id: str


class Done(BaseModel):
    ok: bool


PUBLIC = ["Q3 pricing: the Starter plan goes from 9 to 12 USD per month on 1 July."]
INTERNAL = [
    "Q3 pricing memo: the Starter increase funds 24/7 support for that plan.",
    "Q3 pricing memo: Enterprise discounts are capped at 20% from July.",
]


@tool(desc="Search the public changelog and pricing pages", side_effects="read", tags=("safe",))
async def search_public(args: Query, ctx: Any) -> Passages:
    return Passages(passages=[p for p in PUBLIC if "pricing" in args.text.lower()])


@tool(desc="Search internal memos", side_effects="read", tags=("safe", "internal"))
async def search_internal(args: Query, ctx: Any) -> Passages:
    return Passages(passages=[p for p in INTERNAL if "pricing" in args.text.lower()])


@tool(desc="Summarise passages in one paragraph", tags=("safe",))
async def summarise(args: Passages, ctx: Any) -> Summary:
    return Summary(text=" ".join(p.split(": ", 1)[-1] for p in args.passages))


@tool(desc="Export all customer records as CSV", side_effects="read", tags=("bulk",))
async def export_csv(args: Query, ctx: Any) -> Passages:
    return Passages(passages=[])


# Tagged "safe" by mistake: the denial still wins, since denied_tools is checked first.
@tool(desc="Delete a user account", side_effects="write", tags=("admin", "safe"))
async def delete_user(args: UserRef, ctx: Any) -> Done:
    return Done(ok=True)


registry = ModelRegistry()
registry.register("search_public", Query, Passages)
registry.register("search_internal", Query, Passages)
registry.register("summarise", Passages, Summary)
registry.register("export_csv", Query, Passages)
registry.register("delete_user", UserRef, Done)

catalog = build_catalog(
    [search_public, search_internal, summarise, export_csv, delete_user], registry
)

policy_free = ToolPolicy(allowed_tools={"search_public", "summarise"})
policy_premium = ToolPolicy(denied_tools={"delete_user"}, require_tags={"safe"})

# In an application these come from stored tenant settings.
TENANT_POLICIES = {"free": policy_free, "premium": policy_premium}

QUERY = "What changes in our Q3 pricing, and why?"


def _call(thought: str, node: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"thought": thought, "next_node": node, "args": args}


SCRIPTS: dict[str, list[dict[str, Any]]] = {
    "free": [
        _call(
            "I only have the public search. I'll look for the Q3 pricing announcement.",
            "search_public",
            {"text": "Q3 pricing"},
        ),
        {
            "thought": (
                "The public page states the change but not the reason, and I have no "
                "other source. I'll answer with what is public and say so."
            ),
            "next_node": None,
            "answer": (
                "From 1 July the Starter plan goes from 9 to 12 USD per month. The public "
                "pages do not give a reason."
            ),
        },
    ],
    "premium": [
        _call(
            "The why is likely in internal memos, which I can search. I'll start there.",
            "search_internal",
            {"text": "Q3 pricing"},
        ),
        _call(
            "Two memos cover the change and its reason. I'll summarise them together.",
            "summarise",
            {"passages": INTERNAL},
        ),
        {
            "thought": "The summary explains both the change and the reason. I can answer.",
            "next_node": None,
            "answer": (
                "From July the Starter plan costs more to fund 24/7 support for that "
                "plan, and Enterprise discounts are capped at 20%."
            ),
        },
    ],
}


@dataclass(slots=True)
class TierRun:
    """One tier's planner, its run, and the events it reported."""

    planner: ReactPlanner
    result: PlannerFinish | PlannerPause
    events: list[PlannerEvent]


def build_planner(tier: str, llm: ScriptedLLM, events: list[PlannerEvent]) -> ReactPlanner:
    """The planner for a tenant of ``tier``: the shared catalog under that tier's policy."""
    return ReactPlanner(
        llm_client=llm,
        catalog=catalog,
        tool_policy=TENANT_POLICIES[tier],
        event_callback=events.append,
    )


async def main() -> dict[str, TierRun]:
    """Build and run one planner per tier; print what each may use and its answer."""
    runs: dict[str, TierRun] = {}
    for tier in TENANT_POLICIES:
        events: list[PlannerEvent] = []
        planner = build_planner(tier, ScriptedLLM(SCRIPTS[tier]), events)
        print(f"{tier} tier:")
        print(f"  {planner._spec_by_name.keys()}")
        result = await planner.run(QUERY)
        assert isinstance(result, PlannerFinish), result
        [filtered] = [e.extra["filtered"] for e in events if e.event_type == "tools_filtered"]
        print(f"  filtered out: {filtered}")
        used = [s["node_name"] for s in result.metadata["steps"] if s["node_name"]]
        print(f"  tools used: {used}")
        print(
            textwrap.fill(
                f"answer: {result.payload}", 88, initial_indent="  ", subsequent_indent="    "
            )
        )
        runs[tier] = TierRun(planner=planner, result=result, events=events)
    return runs


if __name__ == "__main__":
    asyncio.run(main())
