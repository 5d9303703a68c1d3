"""Predicate routing: a triage router sends each ticket to one, several or no successors.

``predicate_router("triage", choose)`` builds a node whose predicate looks at
the envelope (payload and headers) and returns the successor names to send
it to: ``"billing"``, ``["billing", "engineering"]`` (both get their own
copy), or ``None`` to drop spam.

Run it from the repository root::

    .venv/bin/python examples/routing_predicate/main.py
"""

from __future__ import annotations

import asyncio

from penguiflow import Context, Headers, Message, Node, NodePolicy, create
from penguiflow.patterns import predicate_router

__all__ = ["TICKETS", "choose", "desk", "main"]

TICKETS = [
    "I was charged twice, please refund",
    "The export button crashes the app",
    "Refund me: the app crashed during payment",
    "WIN A FREE CRUISE",
    "How do I change my avatar?",
]


def choose(msg: Message) -> str | list[str] | None:
    """Pick the desks for a ticket; ``None`` drops it."""
    text = msg.payload.lower()
    if "free cruise" in text:
        return None
    desks = [
        name for word, name in (("refund", "billing"), ("crash", "engineering")) if word in text
    ]
    return desks or "support"


def desk(name: str) -> Node:
    """A successor that stamps the ticket with the desk that handled it."""

    async def handle(msg: Message, _ctx: Context) -> Message:
        return msg.model_copy(update={"payload": f"[{name}] {msg.payload}"})

    return Node(handle, name=name, policy=NodePolicy(validate="none"))


async def main() -> list[str]:
    """Route every ticket and return the handled tickets, sorted."""
    billing, engineering, support = desk("billing"), desk("engineering"), desk("support")
    triage = predicate_router("triage", choose)
    flow = create(
        triage.to(billing, engineering, support), billing.to(), engineering.to(), support.to()
    )
    flow.run()
    handled: list[str] = []
    try:
        for text in TICKETS:
            msg = Message(payload=text, headers=Headers(tenant="acme"))
            await flow.emit(msg)
            # choose() is pure, so it also tells how many copies to expect back.
            desks = choose(msg)
            copies = 0 if desks is None else 1 if isinstance(desks, str) else len(desks)
            if copies == 0:
                await flow.wait_idle(msg.trace_id)  # dropped: the trace just ends
                print(f"dropped: {text}")
            for _ in range(copies):
                handled.append((await flow.fetch(trace_id=msg.trace_id)).payload)
    finally:
        await flow.stop()
    handled.sort()
    for line in handled:
        print(line)
    return handled


if __name__ == "__main__":
    asyncio.run(main())
