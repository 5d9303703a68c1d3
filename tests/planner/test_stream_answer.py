"""stream_final_response: one more main-LLM call streams the answer the user reads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import PlannerEvent, PlannerFinish, ReactPlanner
from penguiflow.planner.llm import ChatMessage, StreamCallback
from penguiflow.planner.reflection import ReflectionConfig
from penguiflow.planner.testing import ScriptedLLM


class Query(BaseModel):
    text: str


class Documents(BaseModel):
    results: list[str]


@tool(desc="Search documentation")
async def search_docs(args: Query, ctx: Any) -> Documents:
    return Documents(results=[f"doc about {args.text}"])


registry = ModelRegistry()
registry.register("search_docs", Query, Documents)

SEARCH = {"thought": "look", "next_node": "search_docs", "args": {"text": "routing"}}
DRAFT = {"thought": "done", "next_node": None, "answer": {"routers": ["predicate", "union"]}}
FINAL = "PenguiFlow has two routers: predicate and union."


def catalog() -> list[Any]:
    return build_catalog([search_docs], registry)


def provider_down(messages: list[dict[str, str]]) -> str:
    raise RuntimeError("503 Service Unavailable")


def chunks(events: list[PlannerEvent]) -> list[tuple[str, bool]]:
    return [
        (e.extra["text"], e.extra["done"]) for e in events if e.event_type == "llm_stream_chunk"
    ]


async def test_the_streamed_text_becomes_the_payload() -> None:
    events: list[PlannerEvent] = []
    llm = ScriptedLLM([SEARCH, DRAFT, FINAL], cost_per_call=0.01)
    planner = ReactPlanner(
        llm_client=llm, catalog=catalog(), stream_final_response=True, event_callback=events.append
    )
    result = await planner.run("Which routers are there?")

    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("answer_complete", FINAL)
    assert result.metadata["draft_answer"] == {"routers": ["predicate", "union"]}
    assert "stream_error" not in result.metadata
    assert chunks(events) == [
        ("PenguiFlow ", False),
        ("has ", False),
        ("two ", False),
        ("routers: ", False),
        ("predicate ", False),
        ("and ", False),
        ("union.", False),
        ("", True),
    ]
    kinds = [e.event_type for e in events]
    # Every chunk, the closing one included, is reported before the run finishes.
    assert kinds[-2:] == ["llm_stream_chunk", "finish"]
    # The writer call streamed, without a response format, from the draft and observations.
    writer = llm.calls[2]
    assert writer.stream is True and writer.response_format is None
    request = json.loads(writer.messages[-1]["content"])
    assert request == {
        "query": "Which routers are there?",
        "draft_answer": {"routers": ["predicate", "union"]},
        "observations": ['0. search_docs -> {"results": ["doc about routing"]}'],
    }
    assert "plain text" in writer.messages[0]["content"]
    assert result.metadata["cost"]["main_llm_calls"] == 3
    assert {e.trajectory_step for e in events if e.event_type == "llm_stream_chunk"} == {1}


async def test_an_async_callback_sees_chunks_while_the_model_is_still_writing() -> None:
    first_chunk_seen = asyncio.Event()
    seen: list[tuple[str, bool]] = []

    class SlowWriter:
        """Streams one piece, waits until the planner reported it, then finishes."""

        def __init__(self) -> None:
            self.script = ScriptedLLM([DRAFT])

        async def complete(
            self,
            *,
            messages: Sequence[ChatMessage],
            response_format: Mapping[str, Any] | None = None,
            stream: bool = False,
            on_stream_chunk: StreamCallback | None = None,
        ) -> str | tuple[str, float]:
            if not stream:
                return await self.script.complete(messages=messages)
            assert on_stream_chunk is not None
            on_stream_chunk("Hello ", False)
            await asyncio.wait_for(first_chunk_seen.wait(), 5)
            on_stream_chunk("world", False)
            on_stream_chunk("", True)
            return "Hello world"

    async def callback(event: PlannerEvent) -> None:
        if event.event_type == "llm_stream_chunk":
            await asyncio.sleep(0)
            seen.append((event.extra["text"], event.extra["done"]))
            first_chunk_seen.set()

    planner = ReactPlanner(
        llm_client=SlowWriter(),
        catalog=catalog(),
        stream_final_response=True,
        event_callback=callback,
    )
    result = await asyncio.wait_for(planner.run("hi"), 10)

    assert isinstance(result, PlannerFinish) and result.payload == "Hello world"
    assert seen == [("Hello ", False), ("world", False), ("", True)]


async def test_cancelling_the_run_stops_a_callback_blocked_on_a_chunk() -> None:
    blocked, writing = asyncio.Event(), asyncio.Event()
    callback_cancelled = asyncio.Event()

    class StuckWriter:
        """Streams one piece, then keeps writing until cancelled."""

        def __init__(self) -> None:
            self.script = ScriptedLLM([DRAFT])

        async def complete(
            self,
            *,
            messages: Sequence[ChatMessage],
            response_format: Mapping[str, Any] | None = None,
            stream: bool = False,
            on_stream_chunk: StreamCallback | None = None,
        ) -> str | tuple[str, float]:
            if not stream:
                return await self.script.complete(messages=messages)
            assert on_stream_chunk is not None
            on_stream_chunk("Hello ", False)
            writing.set()
            await asyncio.Event().wait()
            raise AssertionError("never reached")

    async def callback(event: PlannerEvent) -> None:
        if event.event_type == "llm_stream_chunk":
            blocked.set()
            try:  # like a flow node forwarding the piece into a full floe
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                callback_cancelled.set()
                raise

    planner = ReactPlanner(llm_client=StuckWriter(), catalog=catalog(), stream_final_response=True)
    run = asyncio.create_task(planner.run("hi", event_callback=callback))
    await asyncio.wait_for(asyncio.gather(blocked.wait(), writing.wait()), 5)
    run.cancel()
    done, _ = await asyncio.wait([run], timeout=5)
    if not done:  # without the fix the run waits forever on the blocked callback
        run.cancel()
        await asyncio.wait([run], timeout=5)
    assert done == {run} and run.cancelled()
    assert callback_cancelled.is_set()


async def test_a_client_that_does_not_stream_still_gives_one_chunk_and_done() -> None:
    class Plain:
        def __init__(self) -> None:
            self.replies = [json.dumps(DRAFT), "All in one go."]

        async def complete(self, **_: Any) -> str:
            return self.replies.pop(0)

    events: list[PlannerEvent] = []
    planner = ReactPlanner(
        llm_client=Plain(),
        catalog=catalog(),
        stream_final_response=True,
        event_callback=events.append,
    )
    result = await planner.run("hi")

    assert isinstance(result, PlannerFinish) and result.payload == "All in one go."
    assert chunks(events) == [("All in one go.", False), ("", True)]


async def test_a_failed_stream_keeps_the_draft() -> None:
    events: list[PlannerEvent] = []
    planner = ReactPlanner(
        llm_client=ScriptedLLM([DRAFT, provider_down]),
        catalog=catalog(),
        stream_final_response=True,
        event_callback=events.append,
    )
    result = await planner.run("hi")

    assert isinstance(result, PlannerFinish)
    assert (result.reason, result.payload) == ("answer_complete", DRAFT["answer"])
    assert result.metadata["draft_answer"] == DRAFT["answer"]
    assert result.metadata["stream_error"] == (
        "streaming the final answer failed: main LLM call failed: RuntimeError: 503 Service "
        "Unavailable"
    )
    (event,) = [e for e in events if e.event_type == "llm_stream_chunk"]
    assert (event.extra, event.error) == (
        {"text": "", "done": True},
        result.metadata["stream_error"],
    )


async def test_an_empty_streamed_answer_keeps_the_draft() -> None:
    planner = ReactPlanner(
        llm_client=ScriptedLLM([DRAFT, "   "]), catalog=catalog(), stream_final_response=True
    )
    result = await planner.run("hi")

    assert isinstance(result, PlannerFinish) and result.payload == DRAFT["answer"]
    assert result.metadata["stream_error"] == "the answer writer returned no text"


async def test_the_answer_is_streamed_after_reflection_accepts_it() -> None:
    events: list[PlannerEvent] = []
    critic = ScriptedLLM([{"score": 0.3, "feedback": "name them"}, {"score": 0.9}])
    draft_1 = {"thought": "done", "next_node": None, "answer": "some routers"}
    llm = ScriptedLLM([draft_1, DRAFT, FINAL])
    planner = ReactPlanner(
        llm_client=llm,
        catalog=catalog(),
        reflection_config=ReflectionConfig(enabled=True, use_separate_llm=True),
        reflection_llm=critic,
        stream_final_response=True,
        event_callback=events.append,
    )
    result = await planner.run("hi")

    assert isinstance(result, PlannerFinish) and result.payload == FINAL
    assert result.metadata["draft_answer"] == DRAFT["answer"]
    assert result.metadata["reflection"]["passed"] is True
    kinds = [e.event_type for e in events if e.event_type in ("reflection", "llm_stream_chunk")]
    assert kinds[:2] == ["reflection", "reflection"]
    assert set(kinds[2:]) == {"llm_stream_chunk"}
    assert llm.calls[2].stream is True and len(llm.calls) == 3


async def test_nothing_is_streamed_when_the_run_ends_without_an_answer() -> None:
    llm = ScriptedLLM([SEARCH], name="main")
    planner = ReactPlanner(
        llm_client=llm, catalog=catalog(), max_iters=1, stream_final_response=True
    )
    result = await planner.run("hi")

    assert isinstance(result, PlannerFinish) and result.reason == "max_iters"
    assert len(llm.calls) == 1 and "draft_answer" not in result.metadata


async def test_streaming_is_off_by_default() -> None:
    llm = ScriptedLLM([DRAFT])
    result = await ReactPlanner(llm_client=llm, catalog=catalog()).run("hi")

    assert isinstance(result, PlannerFinish) and result.payload == DRAFT["answer"]
    assert "draft_answer" not in result.metadata and len(llm.calls) == 1


@pytest.mark.parametrize("flag", [1, "yes", None])
def test_stream_final_response_must_be_a_bool(flag: Any) -> None:
    with pytest.raises(TypeError, match="stream_final_response must be a bool"):
        ReactPlanner(llm_client=ScriptedLLM([]), catalog=catalog(), stream_final_response=flag)
