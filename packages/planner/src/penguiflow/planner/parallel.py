"""Parallel steps: run the branches of a plan concurrently, then hand their results to a join.

The branches run at once, at most ``max_parallel`` at a time. Each branch
ends in its own `Outcome`: a failing branch is reported in its place and
does not stop the others. With a join, the join tool is called once every
branch has ended; its arguments get the branch results (in plan order,
failed ones as their error observations) under ``join.inject`` (default
``results``), and its result is the step's observation. A branch cannot
pause the run (there is no single place to resume it); one that tries is
reported as failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from penguiflow.planner.context import PauseRequested, ToolContext
from penguiflow.planner.events import EventCallback, PlannerEvent, emit
from penguiflow.planner.execution import Outcome, ToolRunner, describe_validation

__all__ = ["run_branches", "run_join"]


async def run_branches(
    runner: ToolRunner,
    calls: list[tuple[str, Any]],
    make_ctx: Callable[[str], ToolContext],
    *,
    max_parallel: int,
    callback: EventCallback | None,
    step: int,
) -> list[Outcome]:
    """Run every ``(tool, args)`` call concurrently; return their outcomes in plan order."""
    gate = asyncio.Semaphore(max_parallel)

    async def branch(index: int, name: str, args: Any) -> Outcome:
        async with gate:
            await emit(
                callback,
                PlannerEvent(
                    "branch_start", trajectory_step=step, node_name=name, extra={"branch": index}
                ),
            )
            try:
                outcome = await runner.run(name, args, make_ctx(name))
            except PauseRequested:
                error = f"tool {name!r} tried to pause inside a parallel step, which cannot pause"
                outcome = Outcome({"error": error}, error, 0.0, 1)
            await emit(
                callback,
                PlannerEvent(
                    "branch_complete" if outcome.error is None else "tool_error",
                    trajectory_step=step,
                    node_name=name,
                    latency_ms=outcome.latency_ms,
                    error=outcome.error,
                    extra={"branch": index},
                ),
            )
            return outcome

    return list(
        await asyncio.gather(*(branch(i, name, args) for i, (name, args) in enumerate(calls)))
    )


async def run_join(
    runner: ToolRunner,
    join: tuple[str, dict[str, Any]],
    inject: str,
    outcomes: list[Outcome],
    ctx: ToolContext,
) -> Outcome:
    """Call the join tool with the branch results injected into its arguments.

    Raises:
        PauseRequested: The join paused the run.
    """
    name, raw_args = join
    args = dict(raw_args)
    args[inject] = [o.result if o.error is None else o.observation for o in outcomes]
    started = time.perf_counter()
    try:
        parsed = runner.parse_args(name, args)
    except ValidationError as exc:
        error = f"join tool {name!r} rejected the results: {describe_validation(exc)}"
        return Outcome(
            {"error": error, "branches": [o.observation for o in outcomes]},
            error,
            (time.perf_counter() - started) * 1000,
            0,
        )
    return await runner.run(name, parsed, ctx)
