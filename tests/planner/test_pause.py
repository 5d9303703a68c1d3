"""Pause and resume: a tool asks for a decision, the run waits, another planner may resume it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import PlannerEvent, PlannerFinish, PlannerPause, ReactPlanner, ResumeError
from penguiflow.planner.testing import ScriptedLLM
from penguiflow.state import open_store

PAUSE_KIND, PAUSE_TENANT = "planner_pause", "penguiflow.planner"  # where pause records live


class Refund(BaseModel):
    order: str
    amount: float


class Approval(BaseModel):
    approved: bool


@tool(desc="Ask a human to approve a refund", side_effects="write")
async def approve(args: Refund, ctx: Any) -> Approval:
    await ctx.pause("approval needed", {"order": args.order, "amount": args.amount})
    raise AssertionError("pause returns control to the caller")


def catalog() -> list[Any]:
    registry = ModelRegistry()
    registry.register("approve", Refund, Approval)
    return build_catalog([approve], registry)


def script() -> list[Any]:
    return [
        {
            "thought": "needs approval",
            "next_node": "approve",
            "args": {"order": "A1", "amount": 9.5},
        },
        lambda messages: {
            "thought": "decided",
            "next_node": None,
            "answer": messages[-1]["content"],
        },
    ]


async def test_a_paused_run_resumes_with_the_users_input() -> None:
    events: list[PlannerEvent] = []
    llm = ScriptedLLM(script(), cost_per_call=0.1)
    planner = ReactPlanner(llm_client=llm, catalog=catalog(), event_callback=events.append)
    paused = await planner.run("refund order A1")
    assert isinstance(paused, PlannerPause)
    assert (paused.reason, paused.payload) == ("approval needed", {"order": "A1", "amount": 9.5})
    result = await planner.resume(paused.resume_token, {"approved": True})
    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    # The approval step observed the user's input, and the LLM saw it.
    assert result.payload == '{"observation": {"user_input": {"approved": true}}}'
    assert result.metadata["steps"][0]["observation"] == {"user_input": {"approved": True}}
    assert result.metadata["cost"]["main_llm_calls"] == 2
    kinds = [e.event_type for e in events]
    assert kinds.index("pause") < kinds.index("resume") < kinds.index("finish")
    with pytest.raises(ResumeError, match="already used"):
        await planner.resume(paused.resume_token)


async def test_run_and_resume_callbacks_each_get_their_own_part() -> None:
    before: list[str] = []
    after: list[str] = []
    planner = ReactPlanner(llm_client=ScriptedLLM(script()), catalog=catalog())
    paused = await planner.run(
        "refund order A1", event_callback=lambda e: before.append(e.event_type)
    )
    assert isinstance(paused, PlannerPause)
    result = await planner.resume(
        paused.resume_token, {"approved": True}, event_callback=lambda e: after.append(e.event_type)
    )
    assert isinstance(result, PlannerFinish)
    assert before == ["step_start", "llm_call", "pause"]
    # The paused run's callback is not kept: the resume's replaces it.
    assert after == ["resume", "step_start", "llm_call", "finish"]


async def test_another_planner_resumes_from_the_same_sqlite_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'planner.db'}"
    async with await open_store(url) as store:
        first = ReactPlanner(
            llm_client=ScriptedLLM(script()[:1]), catalog=catalog(), state_store=store
        )
        paused = await first.run("refund order A1", llm_context={"customer": "ana"})
        assert isinstance(paused, PlannerPause)
    # A new store object and a new planner, as in another process.
    async with await open_store(url, create=False) as store:
        second = ReactPlanner(
            llm_client=ScriptedLLM(script()[1:]), catalog=catalog(), state_store=store
        )
        result = await second.resume(paused.resume_token, "no")
        assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
        assert result.metadata["steps"][0]["action"]["args"] == {"order": "A1", "amount": 9.5}
        assert result.payload == '{"observation": {"user_input": "no"}}'
        assert await store.load_planner_state(paused.resume_token) is None
        assert await store.get_record(PAUSE_KIND, paused.resume_token, tenant=PAUSE_TENANT) is None


async def test_an_unknown_token_is_refused() -> None:
    planner = ReactPlanner(llm_client=ScriptedLLM([]), catalog=catalog())
    with pytest.raises(ResumeError, match="no state_store"):
        await planner.resume("nope")


async def test_a_token_resumed_by_another_planner_is_refused_by_the_first(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'planner.db'}"
    async with await open_store(url) as one, await open_store(url) as two:
        first = ReactPlanner(llm_client=ScriptedLLM(script()), catalog=catalog(), state_store=one)
        second = ReactPlanner(
            llm_client=ScriptedLLM(script()[1:]), catalog=catalog(), state_store=two
        )
        paused = await first.run("refund order A1")
        assert isinstance(paused, PlannerPause)
        assert (await second.resume(paused.resume_token, "yes")).reason == "answer_complete"
        with pytest.raises(ResumeError, match="already used"):
            await first.resume(paused.resume_token, "no")


async def test_two_planners_resuming_one_token_at_once_exactly_one_wins(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'planner.db'}"
    async with await open_store(url) as one, await open_store(url) as two:
        first = ReactPlanner(
            llm_client=ScriptedLLM(script()[:1]), catalog=catalog(), state_store=one
        )
        paused = await first.run("refund order A1")
        assert isinstance(paused, PlannerPause)
        racers = [
            ReactPlanner(llm_client=ScriptedLLM(script()[1:]), catalog=catalog(), state_store=store)
            for store in (one, two, one, two)
        ]
        outcomes = await asyncio.gather(
            *(racer.resume(paused.resume_token, "yes") for racer in racers),
            return_exceptions=True,
        )
    finished = [o for o in outcomes if isinstance(o, PlannerFinish)]
    refused = [o for o in outcomes if isinstance(o, ResumeError)]
    assert len(finished) == 1 and finished[0].reason == "answer_complete"
    assert len(refused) == 3
    assert all("unknown or already used resume token" in str(error) for error in refused)


async def test_a_token_paused_by_an_older_release_still_resumes_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'planner.db'}"
    async with await open_store(url) as store:
        first = ReactPlanner(
            llm_client=ScriptedLLM(script()[:1]), catalog=catalog(), state_store=store
        )
        paused = await first.run("refund order A1")
        assert isinstance(paused, PlannerPause)
        # Move the pause where releases before records kept it.
        record = await store.take_record(PAUSE_KIND, paused.resume_token, tenant=PAUSE_TENANT)
        assert record is not None
        await store.save_planner_state(paused.resume_token, record.value)
        second = ReactPlanner(
            llm_client=ScriptedLLM(script()[1:]), catalog=catalog(), state_store=store
        )
        assert (await second.resume(paused.resume_token, "yes")).reason == "answer_complete"
        assert await store.load_planner_state(paused.resume_token) is None
        with pytest.raises(ResumeError, match="already used"):
            await second.resume(paused.resume_token, "again")


async def test_two_processes_resuming_one_token_at_once_exactly_one_wins(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'planner.db'}"
    async with await open_store(url) as store:
        first = ReactPlanner(
            llm_client=ScriptedLLM(script()[:1]), catalog=catalog(), state_store=store
        )
        paused = await first.run("refund order A1")
        assert isinstance(paused, PlannerPause)
    child = Path(__file__).with_name("resume_child.py")
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(child),
            url,
            paused.resume_token,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        for process in processes:  # both are ready before either resumes
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 60)
            assert line.strip() == b"ready", line
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            await process.stdin.drain()
        outputs = [
            (await asyncio.wait_for(process.communicate(), 60))[0].decode().strip()
            for process in processes
        ]
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert sorted(o.split(":")[0] for o in outputs) == ["finished", "refused"], outputs
    assert "unknown or already used resume token" in next(o for o in outputs if o != "finished")
