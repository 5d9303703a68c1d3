"""The planner's side LLM calls (critic, summariser, answer writer): shared calling and reading.

A side call is any LLM call besides the planner's own steps. It is charged
to its role in the run's `CostTracker` (``reflection``, ``summarizer``) and
its tokens count toward the run's ``max_run_tokens`` like any other call.
Side LLMs see the trajectory through `compact_steps`: one short line of
JSON per step instead of full observations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from penguiflow.planner.cost import LLMRole
from penguiflow.planner.json_reply import ReplyError, load_json_object
from penguiflow.planner.llm import JSONLLMClient
from penguiflow.planner.step import LLMCaller
from penguiflow.planner.trajectory import Step, Trajectory

__all__ = [
    "ReplyError",
    "ask_role",
    "compact_steps",
    "describe_step",
    "is_finish",
    "json_format",
    "parse_json_reply",
    "request_json",
    "shorten",
]

ModelT = TypeVar("ModelT", bound=BaseModel)


async def ask_role(
    main: LLMCaller,
    client: JSONLLMClient,
    role: LLMRole,
    messages: Sequence[Mapping[str, str]],
    *,
    step: int,
    response_format: Mapping[str, Any] | None = None,
) -> str:
    """Call ``client`` for ``role``, charging the run's cost and token count kept by ``main``.

    Raises:
        LLMError: The call failed.
        penguiflow.planner.limits.TokenBudgetSpent: The call brought the run to
            ``max_run_tokens``.
    """
    caller = LLMCaller(
        client,
        role,
        main.cost,
        main.callback,
        tokens_used=main.tokens_used,
        max_tokens=main.max_tokens,
    )
    try:
        return await caller(messages, step=step, response_format=response_format)
    finally:
        main.tokens_used = caller.tokens_used


def json_format(name: str, model: type[BaseModel]) -> dict[str, Any]:
    """An OpenAI-style ``response_format`` asking for ``model``'s JSON schema."""
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": model.model_json_schema()},
    }


def parse_json_reply(text: str, model: type[ModelT]) -> ModelT:
    """Read a reply holding one JSON object (bare or in a Markdown fence) into ``model``.

    Raises:
        ReplyError: Not JSON, nested too deeply, not an object, or not valid for
            ``model`` (see `penguiflow.planner.json_reply.load_json_object`).
    """
    data = load_json_object(text)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'reply'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise ReplyError(f"the reply is not valid: {problems}") from None


def request_json(payload: Mapping[str, Any]) -> str:
    """``payload`` as the JSON body of a user message."""
    return json.dumps(payload, ensure_ascii=False, default=repr)


def shorten(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def describe_step(step: Step, width: int = 120) -> str:
    """One line for a step: ``tool -> observation`` (or its error), the result cut to ``width``."""
    action = step.action
    if is_finish(step):
        label = "finish"
        result = json.dumps(action.get("answer"), ensure_ascii=False, default=repr)
        if step.observation is not None:  # a draft sent back by the reflection critic
            label = "draft answer"
            result += f" (review: {step.observation})"
    else:
        if step.node_name is not None:
            label = step.node_name
        else:
            label = "parallel[" + ", ".join(str(c.get("node")) for c in action["plan"]) + "]"
        if step.error is not None:
            result = f"error: {step.error}"
        else:
            result = json.dumps(step.observation, ensure_ascii=False, default=repr)
    return f"{label} -> {shorten(result, width)}"


def is_finish(step: Step) -> bool:
    """Whether ``step`` is a finish action (a draft answer) rather than tool calls."""
    return step.node_name is None and not isinstance(step.action.get("plan"), list)


def compact_steps(trajectory: Trajectory, width: int = 300) -> list[str]:
    """The tool steps of ``trajectory`` as numbered `describe_step` lines (for side LLMs)."""
    return [
        f"{index}. {describe_step(step, width)}"
        for index, step in enumerate(trajectory.steps)
        if not is_finish(step)
    ]
