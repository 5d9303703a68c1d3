"""Quickstart: the seed README's triage -> retrieve -> pack flow, as a runnable program.

The code between the imports and ``asyncio.run`` is the README's "Quickstart
Example" as written; only the ``async def main()`` wrapper was added around
the part that needs a running event loop.

Run it from the repository root::

    .venv/bin/python examples/quickstart/main.py
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from penguiflow import Headers, Message, ModelRegistry, Node, NodePolicy, create

__all__ = ["main"]


class TriageIn(BaseModel):
    text: str


class TriageOut(BaseModel):
    text: str
    topic: str


class RetrieveOut(BaseModel):
    topic: str
    docs: list[str]


class PackOut(BaseModel):
    prompt: str


async def triage(msg: TriageIn, ctx) -> TriageOut:
    topic = "metrics" if "metric" in msg.text else "general"
    return TriageOut(text=msg.text, topic=topic)


async def retrieve(msg: TriageOut, ctx) -> RetrieveOut:
    docs = [f"doc_{i}_{msg.topic}" for i in range(2)]
    return RetrieveOut(topic=msg.topic, docs=docs)


async def pack(msg: RetrieveOut, ctx) -> PackOut:
    prompt = f"[{msg.topic}] summarize {len(msg.docs)} docs"
    return PackOut(prompt=prompt)


triage_node = Node(triage, name="triage", policy=NodePolicy(validate="both"))
retrieve_node = Node(retrieve, name="retrieve", policy=NodePolicy(validate="both"))
pack_node = Node(pack, name="pack", policy=NodePolicy(validate="both"))

registry = ModelRegistry()
registry.register("triage", TriageIn, TriageOut)
registry.register("retrieve", TriageOut, RetrieveOut)
registry.register("pack", RetrieveOut, PackOut)


async def main() -> Message:
    """Run one message through the flow and return the envelope that reached Rookery."""
    flow = create(
        triage_node.to(retrieve_node),
        retrieve_node.to(pack_node),
    )
    flow.run(registry=registry)

    message = Message(
        payload=TriageIn(text="show marketing metrics"),
        headers=Headers(tenant="acme"),
    )

    await flow.emit(message)
    out = await flow.fetch()
    print(out.prompt)  # PackOut(prompt='[metrics] summarize 2 docs')

    await flow.stop()
    return out


if __name__ == "__main__":
    asyncio.run(main())
