"""Metadata: nodes add to ``Message.meta`` along a chain; each fan-out branch gets its own copy.

The request enters with a ``request_id`` in ``meta``. ``tag`` and ``enrich``
add to the same dict as the envelope moves down the chain (``enrich`` is a
typed node: it gets the payload and reaches the envelope's meta through
``ctx.meta``). ``enrich`` then fans out to ``summarize`` and ``classify``;
each branch receives a shallow copy of ``meta``, so what one branch writes
is invisible to the other. The two Rookery results carry the full story.

Run it from the repository root::

    .venv/bin/python examples/metadata_propagation/main.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from penguiflow import Context, Headers, Message, ModelRegistry, Node, NodePolicy, create

__all__ = ["Ticket", "classify", "enrich", "main", "summarize", "tag"]


class Ticket(BaseModel):
    """A support ticket."""

    text: str


def _trail(meta: dict[str, Any], step: str) -> None:
    # Assign a new list rather than appending: fan-out branches share nested values.
    meta["trail"] = [*meta.get("trail", []), step]


async def tag(msg: Message, _ctx: Context) -> Message:
    """Record where the request came from; meta travels with the envelope."""
    msg.meta["channel"] = "email"
    _trail(msg.meta, "tag")
    return msg


async def enrich(ticket: Ticket, ctx: Context) -> Ticket:
    """A typed node: it gets the payload, and reaches the envelope's meta through ``ctx``."""
    meta = ctx.meta
    assert meta is not None  # an envelope is being processed
    meta["words"] = len(ticket.text.split())
    _trail(meta, "enrich")
    return Ticket(text=ticket.text.strip().lower())


async def summarize(msg: Message, _ctx: Context) -> Message:
    """Branch one: shorten the ticket."""
    msg.meta["branch"] = "summarize"
    _trail(msg.meta, "summarize")
    words = msg.payload.text.split()
    return msg.model_copy(update={"payload": " ".join(words[:4]) + " ..."})


async def classify(msg: Message, _ctx: Context) -> Message:
    """Branch two: label the ticket."""
    msg.meta["branch"] = "classify"
    msg.meta["label"] = "billing" if "invoice" in msg.payload.text else "other"
    _trail(msg.meta, "classify")
    return msg.model_copy(update={"payload": msg.meta["label"]})


async def main() -> dict[str, Message]:
    """Send one ticket and return the two results, keyed by branch."""
    plain = NodePolicy(validate="none")
    tag_node = Node(tag, name="tag", policy=plain)
    enrich_node = Node(enrich, name="enrich", policy=NodePolicy(validate="both"))
    summarize_node = Node(summarize, name="summarize", policy=plain)
    classify_node = Node(classify, name="classify", policy=plain)
    registry = ModelRegistry()
    registry.register("enrich", Ticket, Ticket)

    flow = create(tag_node.to(enrich_node), enrich_node.to(summarize_node, classify_node))
    flow.run(registry=registry)
    try:
        ticket = Message(
            payload=Ticket(text="  Where is my INVOICE for March?  "),
            headers=Headers(tenant="acme"),
            meta={"request_id": "req-7"},
        )
        await flow.emit(ticket)
        results = [await flow.fetch(trace_id=ticket.trace_id) for _ in range(2)]
    finally:
        await flow.stop()

    by_branch = {out.meta["branch"]: out for out in results}
    for branch in sorted(by_branch):
        out = by_branch[branch]
        print(f"{branch}: payload={out.payload!r}")
        print(f"  meta={out.meta}")
    print(f"separate meta dicts: {by_branch['summarize'].meta is not by_branch['classify'].meta}")
    return by_branch


if __name__ == "__main__":
    asyncio.run(main())
