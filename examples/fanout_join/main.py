"""Fan-out and join: three retrievers answer in parallel; `join_k` waits for all three.

``plan`` fans each question out to three retrievers (each branch gets its own
copy of the envelope and of ``meta``). The retrievers finish in different
orders. ``join_k("join", 3)`` collects the three results of a trace and emits
one envelope whose payload is the list of results in arrival order and whose
``meta`` merges the branches' meta. ``answer`` turns that list into one reply.
Two questions run at the same time; their results never mix.

Run it from the repository root::

    .venv/bin/python examples/fanout_join/main.py
"""

from __future__ import annotations

import asyncio

from penguiflow import Context, Headers, Message, Node, NodePolicy, create
from penguiflow.patterns import join_k

__all__ = ["QUESTIONS", "answer", "main", "plan", "retriever"]

PLAIN = NodePolicy(validate="none")
QUESTIONS = ("Where do emperor penguins live?", "What do penguins eat?")


async def plan(msg: Message, _ctx: Context) -> Message:
    """Entry node: everything it returns goes to all three retrievers."""
    msg.meta["question"] = msg.payload
    return msg


def retriever(name: str, yields: int) -> Node:
    """A retriever that takes ``yields`` turns of the event loop to answer."""

    async def retrieve(msg: Message, _ctx: Context) -> Message:
        for _ in range(yields):
            await asyncio.sleep(0)
        msg.meta[f"{name}_hits"] = len(name)
        return msg.model_copy(update={"payload": f"{name} hit"})

    return Node(retrieve, name=name, policy=PLAIN)


async def answer(msg: Message, _ctx: Context) -> Message:
    """After the join: one envelope per trace, payload = the three results."""
    parts = "; ".join(msg.payload)
    return msg.model_copy(update={"payload": f"{msg.meta['question']} <- {parts}"})


async def main() -> list[Message]:
    """Ask two questions concurrently and return the two joined answers."""
    start = Node(plan, name="plan", policy=PLAIN)
    retrievers = [retriever("vector", 3), retriever("keyword", 1), retriever("graph", 2)]
    join = join_k("join", 3)
    reply = Node(answer, name="answer", policy=PLAIN)
    flow = create(
        start.to(*retrievers),
        *(r.to(join) for r in retrievers),
        join.to(reply),
        reply.to(),
    )
    flow.run()
    try:
        messages = [Message(payload=q, headers=Headers(tenant="acme")) for q in QUESTIONS]
        for msg in messages:
            await flow.emit(msg)
        results = [await flow.fetch(trace_id=msg.trace_id) for msg in messages]
    finally:
        await flow.stop()
    for out in results:
        print(out.payload)
        print(f"  meta: {out.meta}")
    return results


if __name__ == "__main__":
    asyncio.run(main())
