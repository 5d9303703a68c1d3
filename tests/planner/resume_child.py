"""A process that resumes one paused planner run when told to (see test_pause.py).

Usage: ``python resume_child.py SQLITE_URL TOKEN``; prints ``ready``, waits for a
line on stdin, resumes, and prints ``finished`` or ``refused: <error>``.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import PlannerFinish, ReactPlanner, ResumeError
from penguiflow.planner.testing import ScriptedLLM
from penguiflow.state import open_store


class Refund(BaseModel):
    order: str
    amount: float


class Approval(BaseModel):
    approved: bool


@tool(desc="Ask a human to approve a refund", side_effects="write")
async def approve(args: Refund, ctx: Any) -> Approval:
    raise AssertionError("a resumed run does not call the paused tool again")


async def main(url: str, token: str) -> None:
    registry = ModelRegistry()
    registry.register("approve", Refund, Approval)
    finish = {"thought": "decided", "next_node": None, "answer": "approved"}
    async with await open_store(url, create=False) as store:
        planner = ReactPlanner(
            llm_client=ScriptedLLM([finish]),
            catalog=build_catalog([approve], registry),
            state_store=store,
        )
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        try:
            result = await planner.resume(token, "yes")
        except ResumeError as exc:
            print(f"refused: {exc}", flush=True)
            return
        print("finished" if isinstance(result, PlannerFinish) else f"other: {result!r}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
