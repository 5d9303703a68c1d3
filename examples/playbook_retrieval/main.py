"""Playbooks: a controller runs a retrieve -> rerank -> compress subflow like a function call.

``build_retrieval_playbook`` builds a small typed flow. The controller calls
it with ``ctx.call_playbook(build_retrieval_playbook, msg)``: the playbook
runs with the parent's trace id and headers, its first Rookery payload comes
back as the return value, and the ``meta`` keys its nodes set are merged
into the parent message.

Run it from the repository root::

    .venv/bin/python examples/playbook_retrieval/main.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from penguiflow import (
    Context,
    Headers,
    Message,
    ModelRegistry,
    Node,
    NodePolicy,
    PenguiFlow,
    create,
)

__all__ = [
    "Candidates",
    "Compressed",
    "Doc",
    "Query",
    "build_retrieval_playbook",
    "controller",
    "main",
]

CORPUS: dict[str, str] = {
    "doc-1": "Penguins keep warm with dense feathers and a layer of fat.",
    "doc-2": "Krill is the main food of many Antarctic penguins.",
    "doc-3": "Emperor penguins huddle to keep warm during winter storms.",
    "doc-4": "Ships follow the Antarctic coast in summer.",
    "doc-5": "Feathers overlap like roof tiles and keep penguins dry.",
}


class Query(BaseModel):
    """What the user asked, and how many documents to keep."""

    text: str
    top_k: int = 2


class Doc(BaseModel):
    """One retrieved document with its relevance score."""

    doc_id: str
    text: str
    score: int = 0


class Candidates(BaseModel):
    """Documents on their way through the playbook."""

    query: Query
    docs: list[Doc]


class Compressed(BaseModel):
    """The playbook's result: a short context and where it came from."""

    query: str
    summary: str
    sources: list[str]


def _terms(text: str) -> set[str]:
    return {word.strip(".,?").lower() for word in text.split() if len(word) > 3}


def _note(ctx: Context, key: str, value: Any) -> None:
    # Typed nodes get the payload; the envelope's meta is still reachable through ctx.
    meta = ctx.meta
    if meta is not None:
        meta[key] = value


async def retrieve(query: Query, ctx: Context) -> Candidates:
    """Keep every document sharing at least one term with the query."""
    wanted = _terms(query.text)
    docs = [Doc(doc_id=i, text=t) for i, t in CORPUS.items() if wanted & _terms(t)]
    _note(ctx, "retrieved", len(docs))
    return Candidates(query=query, docs=docs)


async def rerank(candidates: Candidates, ctx: Context) -> Candidates:
    """Score documents by shared terms and keep the best ``top_k``."""
    wanted = _terms(candidates.query.text)
    scored = [d.model_copy(update={"score": len(wanted & _terms(d.text))}) for d in candidates.docs]
    best = sorted(scored, key=lambda d: (-d.score, d.doc_id))[: candidates.query.top_k]
    _note(ctx, "reranked", [d.doc_id for d in best])
    return candidates.model_copy(update={"docs": best})


async def compress(candidates: Candidates, ctx: Context) -> Compressed:
    """Join the kept documents into one short context."""
    summary = " ".join(d.text for d in candidates.docs)
    _note(ctx, "compressed_chars", len(summary))
    return Compressed(
        query=candidates.query.text,
        summary=summary,
        sources=[d.doc_id for d in candidates.docs],
    )


def build_retrieval_playbook() -> tuple[PenguiFlow, ModelRegistry]:
    """Build a fresh retrieve -> rerank -> compress flow and its registry."""
    retrieve_node = Node(retrieve, name="retrieve")
    rerank_node = Node(rerank, name="rerank")
    compress_node = Node(compress, name="compress")
    registry = ModelRegistry()
    registry.register("retrieve", Query, Candidates)
    registry.register("rerank", Candidates, Candidates)
    registry.register("compress", Candidates, Compressed)
    flow = create(retrieve_node.to(rerank_node), rerank_node.to(compress_node))
    return flow, registry


async def controller(msg: Message, ctx: Context) -> Message:
    """Delegate retrieval to the playbook and pass its result on in the same envelope."""
    playbook_result = await ctx.call_playbook(build_retrieval_playbook, msg)
    return msg.model_copy(update={"payload": playbook_result})


async def main() -> Message:
    """Ask one question and return the envelope that reached Rookery."""
    flow = create(Node(controller, name="controller", policy=NodePolicy(validate="none")).to())
    flow.run()
    try:
        question = Message(
            payload=Query(text="How do penguins keep warm?"),
            headers=Headers(tenant="acme"),
            meta={"request_id": "req-42"},
        )
        await flow.emit(question)
        out: Message = await flow.fetch()
    finally:
        await flow.stop()

    print(f"trace:   {out.trace_id} (same as sent: {out.trace_id == question.trace_id})")
    print(f"summary: {out.payload.summary}")
    print(f"sources: {out.payload.sources}")
    print(f"meta:    {out.meta}")
    return out


if __name__ == "__main__":
    asyncio.run(main())
