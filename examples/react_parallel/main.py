"""ReactPlanner, parallel: one step fans a search out to three shards, a join merges the hits.

The LLM answers with a *plan* instead of a single call::

    {"thought": "...",
     "plan": [{"node": "search_shard", "args": {"shard": "antarctica", ...}}, ...],
     "join": {"node": "merge_hits", "args": {"query": "...", "top_k": 3}}}

The planner runs the branches concurrently (at most ``max_parallel`` at a
time), then calls the join tool once with the branch results added to its
arguments under ``results`` (in plan order). The LLM sees the branches and
the join's result as one observation.

The shards are an in-process `ShardIndex` handed to the tools through
``tool_context``: Python objects live there, the LLM never sees them. The
index also counts how many searches were in flight at once, to show that
the branches really overlapped.

Run it from the repository root::

    .venv/bin/python examples/react_parallel/main.py
"""

from __future__ import annotations

import asyncio
import itertools
import textwrap
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, ReactPlanner, build_catalog, tool
from penguiflow.planner import PlannerEvent, PlannerFinish, PlannerPause
from penguiflow.planner.testing import ScriptedLLM

__all__ = ["QUERY", "SCRIPT", "ShardIndex", "build_planner", "main"]


class ShardQuery(BaseModel):
    shard: str
    query: str


class Hit(BaseModel):
    doc: str
    score: float


class ShardHits(BaseModel):
    shard: str
    hits: list[Hit]


class MergeArgs(BaseModel):
    query: str
    top_k: int = 3
    results: list[ShardHits]


class RankedHit(BaseModel):
    shard: str
    doc: str
    score: float


class Ranked(BaseModel):
    query: str
    hits: list[RankedHit]


# Documents per regional shard, with the relevance score the shard's index gives them.
SHARDS: dict[str, list[tuple[str, float]]] = {
    "antarctica": [
        ("Emperor penguin colonies breed on sea ice through the winter.", 0.93),
        ("Adelie penguin colonies return to the same rocky nests each year.", 0.81),
    ],
    "patagonia": [
        ("Magellanic penguin colonies at Punta Tombo hold about 200,000 pairs.", 0.88),
    ],
    "south_africa": [
        ("African penguin colonies at Boulders Beach shrank after sardine declines.", 0.74),
        ("Cape fur seals share the coast with African penguins.", 0.32),
    ],
}


class ShardIndex:
    """The shards' search client; counts searches in flight to show they overlap."""

    def __init__(self, shards: dict[str, list[tuple[str, float]]]) -> None:
        self.shards = shards
        self.in_flight = 0
        self.peak_in_flight = 0

    async def search(self, shard: str, query: str) -> list[Hit]:
        """Documents of ``shard`` sharing a word of ``query``, best first."""
        if shard not in self.shards:
            raise KeyError(f"no shard {shard!r}; shards are {sorted(self.shards)}")
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # a real index answers over the network
            words = {word.lower() for word in query.split()}
            hits = [
                Hit(doc=doc, score=score)
                for doc, score in self.shards[shard]
                if words & {word.lower().strip(".,") for word in doc.split()}
            ]
            return sorted(hits, key=lambda hit: -hit.score)
        finally:
            self.in_flight -= 1


@tool(desc="Search one regional shard of the penguin research index", side_effects="read")
async def search_shard(args: ShardQuery, ctx: Any) -> ShardHits:
    index: ShardIndex = ctx.tool_context["index"]
    return ShardHits(shard=args.shard, hits=await index.search(args.shard, args.query))


@tool(desc="Merge the hits of several shards into one ranking (join tool for a parallel plan)")
async def merge_hits(args: MergeArgs, ctx: Any) -> Ranked:
    ranked = [
        RankedHit(shard=result.shard, doc=hit.doc, score=hit.score)
        for result in args.results
        for hit in result.hits
    ]
    ranked.sort(key=lambda hit: -hit.score)
    return Ranked(query=args.query, hits=ranked[: args.top_k])


registry = ModelRegistry()
registry.register("search_shard", ShardQuery, ShardHits)
registry.register("merge_hits", MergeArgs, Ranked)

QUERY = "Which penguin colonies are best documented in our research index?"

SCRIPT: list[dict[str, Any]] = [
    {
        "thought": (
            "The index is split into regional shards that can be searched independently, "
            "so I'll query all three at once and let merge_hits rank the combined hits."
        ),
        "plan": [
            {"node": "search_shard", "args": {"shard": shard, "query": "penguin colonies"}}
            for shard in ("antarctica", "patagonia", "south_africa")
        ],
        "join": {"node": "merge_hits", "args": {"query": "penguin colonies", "top_k": 3}},
    },
    {
        "thought": (
            "The merged ranking puts the emperor colonies first, then Punta Tombo and the "
            "Adelie colonies. Every shard answered, so I can summarize the top three."
        ),
        "next_node": None,
        "answer": (
            "The best-documented colonies are the emperor penguin colonies breeding on "
            "Antarctic sea ice (score 0.93), the Magellanic colony at Punta Tombo in "
            "Patagonia (0.88) and the Adelie colonies on Antarctica's rocky coasts (0.81)."
        ),
    },
]


@dataclass(slots=True)
class ParallelRun:
    """What `main` returns: the result, the events seen, and the index's counters."""

    result: PlannerFinish | PlannerPause
    events: list[PlannerEvent]
    index: ShardIndex


def build_planner(llm: ScriptedLLM, events: list[PlannerEvent]) -> ReactPlanner:
    """A planner over the two tools, recording every event into ``events``."""
    return ReactPlanner(
        llm_client=llm,
        catalog=build_catalog([search_shard, merge_hits], registry),
        max_parallel=4,
        event_callback=events.append,
    )


def show(run: ParallelRun) -> None:
    """Print the parallel step (branches, join), the events, and the answer."""
    result = run.result
    assert isinstance(result, PlannerFinish), result
    step = result.metadata["steps"][0]
    print(textwrap.fill(step["thought"], 88, initial_indent="thought: ", subsequent_indent="  "))
    for branch in step["observation"]["branches"]:
        docs = len(branch["observation"]["hits"])
        print(f"  branch {branch['observation']['shard']:<13} {docs} hit(s)")
    print(f"searches in flight at once: {run.index.peak_in_flight}")
    print("join merge_hits:")
    for hit in step["observation"]["join"]["hits"]:
        print(f"  {hit['score']:.2f}  {hit['shard']:<13} {hit['doc']}")
    kinds = [e.event_type for e in run.events]
    shown = kinds[kinds.index("parallel_start") : kinds.index("parallel_complete") + 1]
    runs = [(kind, len(list(group))) for kind, group in itertools.groupby(shown)]
    print("events: " + ", ".join(kind if n == 1 else f"{kind} x{n}" for kind, n in runs))
    print(f"finished: {result.reason} ({result.metadata['hops']} tool calls in one step)")
    print(textwrap.fill(f"answer: {result.payload}", 88, subsequent_indent="  "))


async def main() -> ParallelRun:
    """Run the query with the scripted LLM; print and return what happened."""
    events: list[PlannerEvent] = []
    index = ShardIndex(SHARDS)
    planner = build_planner(ScriptedLLM(SCRIPT), events)
    print(f"query: {QUERY}")
    result = await planner.run(QUERY, tool_context={"index": index})
    run = ParallelRun(result=result, events=events, index=index)
    show(run)
    return run


if __name__ == "__main__":
    asyncio.run(main())
