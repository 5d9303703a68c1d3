"""Acting on a step's decision: call its tool, or its parallel branches and join, and record it.

The planner's loop (`penguiflow.planner.react`) decides; an `Actor` carries
the decision out for one step. It counts the step's tool calls against the
run's hops, builds each tool's `ToolContext` (whose streamed chunks are kept
on the step and sent as ``stream_chunk`` events), and writes the outcome on
the `Step` — the observation the LLM reads next, the error, the latency —
with a ``step_complete``/``tool_error`` or ``parallel_*`` event.
"""

from __future__ import annotations

from typing import Any

from penguiflow.planner.context import ToolContext
from penguiflow.planner.events import PlannerEvent, emit
from penguiflow.planner.execution import ToolRunner
from penguiflow.planner.parallel import run_branches, run_join
from penguiflow.planner.pause import RunState
from penguiflow.planner.step import Decision
from penguiflow.planner.trajectory import Step, to_json_value

__all__ = ["Actor"]


class Actor:
    """Runs the tool calls of one step for a planner.

    Args:
        runner: Calls the tools (arguments already parsed by the decision).
        max_parallel: Most branches of a parallel step running at once.
    """

    def __init__(self, runner: ToolRunner, max_parallel: int) -> None:
        self.runner = runner
        self.max_parallel = max_parallel

    async def call(self, state: RunState, step: Step, decision: Decision) -> None:
        """Call the decision's one tool and record the outcome on ``step``.

        Raises:
            PauseRequested: The tool paused the run.
        """
        name, args = decision.calls[0]
        state.hops += 1
        outcome = await self.runner.run(name, args, self.context(state, step, name))
        step.observation = outcome.observation
        step.error = outcome.error
        step.latency_ms = outcome.latency_ms
        await state.emit(
            "step_complete" if outcome.error is None else "tool_error",
            node_name=name,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
            extra={"attempts": outcome.attempts},
        )

    async def parallel(self, state: RunState, step: Step, decision: Decision) -> None:
        """Run the decision's branches, then its join (if any), and record them on ``step``.

        Raises:
            PauseRequested: The join paused the run (a branch cannot).
        """
        names = [name for name, _ in decision.calls]
        await state.emit("parallel_start", extra={"branches": names})
        state.hops += len(decision.calls)
        outcomes = await run_branches(
            self.runner,
            decision.calls,
            lambda name: self.context(state, step, name),
            max_parallel=self.max_parallel,
            callback=state.callback,
            step=len(state.trajectory.steps),
        )
        branches = [
            {"node": name, "observation": o.observation, "error": o.error}
            for name, o in zip(names, outcomes, strict=True)
        ]
        step.latency_ms = max((o.latency_ms for o in outcomes), default=0.0)
        step.observation = {"branches": branches}
        failed = [b["node"] for b in branches if b["error"] is not None]
        if decision.join is not None and decision.action is not None:
            assert decision.action.join is not None
            state.hops += 1
            join_name = decision.join[0]
            ctx = self.context(state, step, join_name)
            joined = await run_join(
                self.runner, decision.join, decision.action.join.inject, outcomes, ctx
            )
            step.observation = {"branches": branches, "join": joined.observation}
            step.error = joined.error
        elif failed:
            step.error = f"branches failed: {failed}"
        await state.emit(
            "parallel_complete",
            latency_ms=step.latency_ms,
            error=step.error,
            extra={"branches": names, "failed": failed, "joined": decision.join is not None},
        )

    def context(self, state: RunState, step: Step, node_name: str) -> ToolContext:
        """The `ToolContext` of tool ``node_name`` within ``step``."""
        index = len(state.trajectory.steps)

        async def sink(
            stream_id: str, seq: int, text: str, done: bool, meta: dict[str, Any]
        ) -> None:
            chunk = {"seq": seq, "text": text, "done": done, "meta": to_json_value(meta)}
            step.streams.setdefault(stream_id, []).append(chunk)
            await emit(
                state.callback,
                PlannerEvent(
                    "stream_chunk",
                    trajectory_step=index,
                    node_name=node_name,
                    extra={"stream_id": stream_id, **chunk},
                ),
            )

        return ToolContext(
            llm_context=state.trajectory.llm_context,
            tool_context=state.tool_context,
            meta=state.meta,
            trace_id=state.trace_id,
            node_name=node_name,
            chunk_sink=sink,
        )
