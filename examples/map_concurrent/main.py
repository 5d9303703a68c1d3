"""Bounded concurrency inside a node: enrich a batch of documents with `map_concurrent`.

One message carries a batch of documents. The ``enrich`` node calls a slow
(simulated) service for each of them with
``map_concurrent(docs, fetch_summary, max_concurrency=3)``: at most three
calls run at once, and the results come back in the order of the input,
whatever order the calls finish in.

Run it from the repository root::

    .venv/bin/python examples/map_concurrent/main.py
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from penguiflow import Context, Headers, Message, Node, NodePolicy, create
from penguiflow.patterns import map_concurrent

__all__ = ["DOCS", "Service", "main"]

DOCS = [f"doc-{i}" for i in range(10)]


@dataclass
class Service:
    """A stand-in for a remote summariser; records how many calls overlap."""

    live: int = 0
    peak: int = 0
    finished: list[str] = field(default_factory=list)

    async def fetch_summary(self, doc: str) -> str:
        self.live += 1
        self.peak = max(self.peak, self.live)
        # Later documents answer faster, so calls finish out of order.
        for _ in range(10 - int(doc.split("-")[1])):
            await asyncio.sleep(0)
        self.live -= 1
        self.finished.append(doc)
        return f"{doc}: summary"


async def main() -> tuple[Message, Service]:
    """Enrich one batch; return the result and the service's call statistics."""
    service = Service()

    async def enrich(msg: Message, _ctx: Context) -> Message:
        summaries = await map_concurrent(msg.payload, service.fetch_summary, max_concurrency=3)
        return msg.model_copy(update={"payload": summaries})

    node = Node(enrich, name="enrich", policy=NodePolicy(validate="none"))
    flow = create(node.to())
    flow.run()
    try:
        await flow.emit(Message(payload=DOCS, headers=Headers(tenant="acme")))
        out: Message = await flow.fetch()
    finally:
        await flow.stop()
    print(f"results, in input order: {out.payload[:3]} ... ({len(out.payload)} total)")
    print(f"finish order: {service.finished}")
    print(f"peak concurrent calls: {service.peak}")
    return out, service


if __name__ == "__main__":
    asyncio.run(main())
