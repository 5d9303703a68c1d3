"""Union routing: validate a discriminated union and send each variant to its typed node.

``union_router("dispatch", Request)`` validates the incoming payload against
``Request`` (a pydantic discriminated union on ``kind``) and forwards it to
the successor whose name is the variant's class name: ``SearchRequest`` or
``SummarizeRequest``. Those successors are typed nodes (registered in a
``ModelRegistry``), so they receive the validated model, not a dict.

Run it from the repository root::

    .venv/bin/python examples/routing_union/main.py
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from penguiflow import Context, Headers, Message, ModelRegistry, Node, NodePolicy, create
from penguiflow.patterns import union_router

__all__ = ["Request", "SearchRequest", "SummarizeRequest", "main", "search", "summarize"]


class SearchRequest(BaseModel):
    """Look something up."""

    kind: Literal["search"] = "search"
    query: str
    limit: int = 3


class SummarizeRequest(BaseModel):
    """Shorten a text."""

    kind: Literal["summarize"] = "summarize"
    text: str
    max_words: int = 4


Request = Annotated[SearchRequest | SummarizeRequest, Field(discriminator="kind")]


async def search(req: SearchRequest, _ctx: Context) -> str:
    """Typed branch: gets a ``SearchRequest``."""
    return f"search {req.query!r} (top {req.limit})"


async def summarize(req: SummarizeRequest, _ctx: Context) -> str:
    """Typed branch: gets a ``SummarizeRequest``."""
    return "summary: " + " ".join(req.text.split()[: req.max_words]) + " ..."


async def main() -> list[str]:
    """Send two raw requests (plain dicts) and return the answers in order."""
    typed = NodePolicy(validate="both")
    search_node = Node(search, name="SearchRequest", policy=typed)
    summarize_node = Node(summarize, name="SummarizeRequest", policy=typed)
    registry = ModelRegistry()
    registry.register("SearchRequest", SearchRequest, str)
    registry.register("SummarizeRequest", SummarizeRequest, str)

    dispatch = union_router("dispatch", Request)
    flow = create(dispatch.to(search_node, summarize_node), search_node.to(), summarize_node.to())
    flow.run(registry=registry)
    raw_requests = [
        {"kind": "search", "query": "emperor penguin diet"},
        {"kind": "summarize", "text": "Penguins are flightless birds of the southern seas."},
    ]
    answers: list[str] = []
    try:
        for raw in raw_requests:
            msg = Message(payload=raw, headers=Headers(tenant="acme"))
            await flow.emit(msg)
            answers.append((await flow.fetch(trace_id=msg.trace_id)).payload)
    finally:
        await flow.stop()
    for answer in answers:
        print(answer)
    return answers


if __name__ == "__main__":
    asyncio.run(main())
