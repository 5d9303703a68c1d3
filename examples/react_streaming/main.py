"""Streaming planner responses: a tool emits chunks, an event callback prints them as they come.

The seed README's "Streaming Planner Responses" snippet, made runnable. It
is unchanged except for ``llm_client=ScriptedLLM(SCRIPT)`` in place of
``llm="gpt-4o-mini"`` and the ``async def main()`` wrapper around the part
that needs a running event loop.

Each ``ctx.emit_chunk(stream_id, seq, text, done=...)`` becomes a
``PlannerEvent(event_type="stream_chunk")`` at once (``extra`` holds
``stream_id``, ``seq``, ``text``, ``done`` and ``meta``) and is kept on the
step, under ``metadata["steps"][i]["streams"][stream_id]``.

Run it from the repository root::

    .venv/bin/python examples/react_streaming/main.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from penguiflow.catalog import build_catalog, tool
from penguiflow.planner import PlannerEvent, PlannerFinish, PlannerPause, ReactPlanner
from penguiflow.planner.testing import ScriptedLLM
from penguiflow.registry import ModelRegistry

__all__ = ["SCRIPT", "main"]


class Query(BaseModel):
    question: str


class Answer(BaseModel):
    answer: str


@tool(desc="Stream answer token-by-token")
async def stream_answer(args: Query, ctx: Any) -> Answer:
    tokens = ["PenguiFlow", "is", "a", "typed", "async", "planner"]
    for index, token in enumerate(tokens):
        await ctx.emit_chunk("answer_stream", index, f"{token} ", done=False)

    await ctx.emit_chunk("answer_stream", len(tokens), "", done=True)
    return Answer(answer=" ".join(tokens))


def handle_stream(event: PlannerEvent) -> None:
    if event.event_type == "stream_chunk":
        print(event.extra["text"], end="", flush=True)
        if event.extra["done"]:
            print()


registry = ModelRegistry()
registry.register("stream_answer", Query, Answer)

# What a real model replied for this query.
SCRIPT: list[dict[str, Any]] = [
    {
        "thought": (
            "The user wants an overview of PenguiFlow. stream_answer delivers the answer "
            "token by token, so the user sees it while it is written."
        ),
        "next_node": "stream_answer",
        "args": {"question": "Tell me about PenguiFlow"},
    },
    {
        "thought": "The answer has been streamed to the user; I'll return it as the result.",
        "next_node": None,
        "answer": "PenguiFlow is a typed async planner",
    },
]


async def main() -> PlannerFinish | PlannerPause:
    """Run the README snippet with the scripted LLM and return the result."""
    planner = ReactPlanner(
        llm_client=ScriptedLLM(SCRIPT),
        catalog=build_catalog([stream_answer], registry),
        event_callback=handle_stream,
    )

    result = await planner.run("Tell me about PenguiFlow")
    print(result.metadata["steps"][0]["streams"]["answer_stream"])  # structured chunks
    return result


if __name__ == "__main__":
    asyncio.run(main())
