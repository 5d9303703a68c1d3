"""A ReactPlanner built from a model description runs through litellm against a loopback server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import PlannerEvent, PlannerFinish, ReactPlanner

pytestmark = [
    # Same litellm streaming warning as in test_litellm_client.py (pydantic on its TypedDicts).
    pytest.mark.filterwarnings(
        "ignore:Item 'summary' on TypedDict class 'ChatCompletionReasoningItem':UserWarning"
    ),
]


class Query(BaseModel):
    text: str


class Documents(BaseModel):
    results: list[str]


@tool(desc="Search documentation")
async def search_docs(args: Query, ctx: Any) -> Documents:
    return Documents(results=[f"doc about {args.text}"])


def catalog() -> list[Any]:
    registry = ModelRegistry()
    registry.register("search_docs", Query, Documents)
    return build_catalog([search_docs], registry)


async def test_a_model_dict_drives_the_planner_through_litellm(openai_server: Any) -> None:
    openai_server.queue_text(
        json.dumps({"thought": "search", "next_node": "search_docs", "args": {"text": "floes"}}),
    )
    openai_server.queue_error(429, "Rate limit reached", kind="rate_limit_error")
    openai_server.queue_text(json.dumps({"thought": "done", "next_node": None, "answer": "ok"}))
    openai_server.queue_stream("Floes ", "are ", "bounded ", "queues.")
    events: list[PlannerEvent] = []
    planner = ReactPlanner(
        llm=openai_server.model(),
        catalog=catalog(),
        stream_final_response=True,
        event_callback=events.append,
    )
    result = await planner.run("What is a floe?")
    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    assert result.payload == "Floes are bounded queues."
    assert result.metadata["steps"][0]["observation"] == {"results": ["doc about floes"]}
    # Four requests: the first step, the rate-limited try and its retry, the streamed answer.
    bodies = [r.json for r in openai_server.requests]
    assert len(bodies) == 4
    assert bodies[0]["response_format"]["type"] == "json_schema"
    assert bodies[0]["messages"][0]["role"] == "system"
    assert bodies[1] == bodies[2]  # the retry repeats the same request
    assert bodies[-1].get("stream") is True
    streamed = [e.extra["text"] for e in events if e.event_type == "llm_stream_chunk"]
    assert "".join(streamed) == "Floes are bounded queues."
