"""One planning step: ask the LLM for an action, and repair it until it is valid (or give up).

A reply can be wrong in two ways: not a valid action (bad JSON, JSON nested
too deeply, wrong shape), or a valid action that names an unknown tool or
gives arguments its model rejects. Either way the reply (cut to its first
few thousand characters) and the problem are shown to the LLM, which tries
again, up to ``repair_attempts`` times per step. Each repair prompt is the
step's prompt plus the latest bad reply only, so repairs never pile up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from penguiflow.planner.actions import ActionError, PlannerAction, parse_action
from penguiflow.planner.cost import CostTracker, LLMRole
from penguiflow.planner.events import EventCallback, PlannerEvent, emit
from penguiflow.planner.execution import ToolRunner, describe_validation
from penguiflow.planner.limits import TokenBudgetSpent
from penguiflow.planner.llm import JSONLLMClient, LLMError, StreamCallback, normalize_reply
from penguiflow.planner.prompts import estimate_tokens, render_repair

__all__ = ["Decision", "LLMCaller", "decide"]


@dataclass(slots=True)
class Decision:
    """A valid action with its arguments parsed, or why none was reached.

    Attributes:
        action: The action (``None`` when ``failure`` is set).
        calls: ``(tool, parsed args)`` for each call: one, or one per parallel branch.
        join: ``(tool, raw args)`` of a parallel step's join, if any.
        failure: ``"invalid_output"`` or ``"llm_error"`` when no valid action came.
        error: The last problem, for the finish metadata.
        repairs: Replies that had to be repaired.
    """

    action: PlannerAction | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    join: tuple[str, dict[str, Any]] | None = None
    failure: str | None = None
    error: str | None = None
    repairs: int = 0


@dataclass(slots=True)
class LLMCaller:
    """Calls one LLM for a role, counting its cost, tokens and an ``llm_call`` event.

    Attributes:
        tokens_used: Estimated tokens of the run so far (this call's included after it).
        max_tokens: The run's ``max_run_tokens``: a call that reaches it is still
            counted, then raises `TokenBudgetSpent` (``None``: no limit).
    """

    client: JSONLLMClient
    role: LLMRole
    cost: CostTracker
    callback: EventCallback | None
    tokens_used: int = 0
    max_tokens: int | None = None

    async def __call__(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        step: int,
        response_format: Mapping[str, Any] | None = None,
        on_stream_chunk: StreamCallback | None = None,
    ) -> str:
        """Return the reply text.

        Raises:
            LLMError: The client failed (its own retries exhausted) or returned garbage.
            TokenBudgetSpent: The call brought the run to ``max_tokens``.
        """
        prompt_tokens = sum(estimate_tokens(m["content"]) for m in messages)
        started = time.perf_counter()
        try:
            raw = await self.client.complete(
                messages=messages,
                response_format=response_format,
                stream=on_stream_chunk is not None,
                on_stream_chunk=on_stream_chunk,
            )
            reply = normalize_reply(raw, self.client)
        except (LLMError, AssertionError):
            raise  # AssertionError: a test double's complaint (ScriptExhausted), not the LLM's
        except Exception as exc:
            raise LLMError(f"{self.role} LLM call failed: {type(exc).__name__}: {exc}") from exc
        self.cost.record(self.role, reply.cost_usd)
        self.tokens_used += prompt_tokens + estimate_tokens(reply.text)
        await emit(
            self.callback,
            PlannerEvent(
                "llm_call",
                trajectory_step=step,
                latency_ms=(time.perf_counter() - started) * 1000,
                token_estimate=prompt_tokens,
                extra={"role": self.role, "cost_usd": reply.cost_usd},
            ),
        )
        if self.max_tokens is not None and self.tokens_used >= self.max_tokens:
            raise TokenBudgetSpent(self.tokens_used, self.max_tokens)
        return reply.text


async def decide(
    llm: LLMCaller,
    messages: list[dict[str, str]],
    runner: ToolRunner,
    *,
    step: int,
    repair_attempts: int,
    response_format: Mapping[str, Any] | None,
    check: Callable[[PlannerAction], str | None] = lambda action: None,
) -> Decision:
    """Get one valid action for ``step``; ``check`` adds planner-level rules (hints, limits)."""
    chat = list(messages)
    decision = Decision()
    while True:
        try:
            text = await llm(chat, step=step, response_format=response_format)
        except LLMError as exc:
            decision.failure, decision.error = "llm_error", str(exc)
            return decision
        try:
            action = parse_action(text)
            problem = check(action) or _resolve(action, runner, decision)
        except ActionError as exc:
            problem = str(exc)
        if problem is None:
            decision.action = action
            return decision
        decision.calls.clear()
        decision.join = None
        if decision.repairs >= repair_attempts:
            decision.failure = "invalid_output"
            decision.error = f"no valid action after {repair_attempts} repairs: {problem}"
            return decision
        decision.repairs += 1
        await emit(
            llm.callback,
            PlannerEvent(
                "repair", trajectory_step=step, error=problem, extra={"reply": text[:500]}
            ),
        )
        # Only the latest bad reply is shown, cut short: earlier ones would only
        # grow every repair prompt (a 1 MB reply repaired three times is not a 3 MB prompt).
        chat = [*messages, *render_repair(text, problem)]


def _resolve(action: PlannerAction, runner: ToolRunner, decision: Decision) -> str | None:
    """Check tool names and parse arguments into ``decision``; return the problem, if any."""
    if action.kind == "call":
        assert action.next_node is not None
        return _parse(runner, action.next_node, action.args or {}, decision, "next_node")
    if action.kind == "parallel":
        assert action.plan is not None
        for index, branch in enumerate(action.plan):
            problem = _parse(runner, branch.node, branch.args, decision, f"plan[{index}]")
            if problem:
                return problem
        if action.join is not None:
            if runner.spec(action.join.node) is None:
                return f"join names unknown tool {action.join.node!r}{_known(runner)}"
            decision.join = (action.join.node, dict(action.join.args))
    return None


def _parse(
    runner: ToolRunner, name: str, args: dict[str, Any], decision: Decision, where: str
) -> str | None:
    if runner.spec(name) is None:
        return f"{where} names unknown tool {name!r}{_known(runner)}"
    try:
        decision.calls.append((name, runner.parse_args(name, args)))
    except ValidationError as exc:
        return f"invalid args for tool {name!r}: {describe_validation(exc)}"
    return None


def _known(runner: ToolRunner) -> str:
    return f"; the tools are {runner.names()}"
