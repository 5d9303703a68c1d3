"""Trajectory summarisation: older steps become one summary when the prompt outgrows its budget.

Design notes. Before each step the planner estimates the tokens of the
prompt it is about to send. Above the planner's ``token_budget`` (the
published name; ``prompt_token_budget`` is the same setting), the steps not yet
summarised — all but the last `KEEP_RECENT`, which stay verbatim — are
condensed by the summariser LLM (together with the previous summary) into
``trajectory.summary``, and ``trajectory.summarized_upto`` moves past them;
`penguiflow.planner.prompts.build_messages` then shows the summary instead
of those steps. The steps themselves stay in the trajectory (and in
``metadata["steps"]``): only the prompt shrinks.

The summariser can never break a run: if its call fails or its reply is not
``{"summary": "..."}``, a deterministic summary (one ``tool -> result`` line
per step, results cut to 120 characters) is used instead, and the finish
metadata gets ``summary_error``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from penguiflow.planner.events import PlannerEvent, emit
from penguiflow.planner.llm import JSONLLMClient, LLMError
from penguiflow.planner.pause import RunState
from penguiflow.planner.prompts import build_messages, estimate_tokens
from penguiflow.planner.side_llm import (
    ReplyError,
    ask_role,
    describe_step,
    json_format,
    parse_json_reply,
    request_json,
    shorten,
)
from penguiflow.planner.step import LLMCaller
from penguiflow.planner.trajectory import Step

__all__ = [
    "FALLBACK_LINE_CHARS",
    "KEEP_RECENT",
    "SummaryReply",
    "TrajectorySummarizer",
    "fallback_summary",
    "prompt_tokens",
]

KEEP_RECENT = 2
"""The latest steps always shown verbatim."""

FALLBACK_LINE_CHARS = 120
"""How much of each step's result the deterministic fallback summary keeps."""

_FALLBACK_MAX_CHARS = 4000
_OBSERVATION_CHARS = 2000

_RULES = """You condense the earlier steps of an assistant that answers a request by calling tools.
Write a short summary that keeps everything needed to finish the request: which tools were
called with which arguments, the facts, numbers and identifiers they returned, and any errors.
If a previous summary is given, merge it in. Reply with exactly one JSON object and nothing
else: {"summary": "<the summary>"}"""


class SummaryReply(BaseModel):
    """The summariser's reply: ``{"summary": "..."}`` with a non-blank summary."""

    model_config = ConfigDict(extra="ignore")

    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def prompt_tokens(messages: list[dict[str, str]]) -> int:
    """Estimated tokens of a prompt (the sum over its messages)."""
    return sum(estimate_tokens(message["content"]) for message in messages)


def fallback_summary(previous: str | None, steps: list[Step], first_index: int) -> str:
    """A summary made without an LLM: one ``i. tool -> result`` line per step, after ``previous``.

    The result is cut to its last few thousand characters, so it cannot grow without bound.
    """
    lines = [previous] if previous else []
    lines += [
        f"{first_index + offset}. {describe_step(step, FALLBACK_LINE_CHARS)}"
        for offset, step in enumerate(steps)
    ]
    text = "\n".join(lines)
    if len(text) > _FALLBACK_MAX_CHARS:
        text = "…" + text[-(_FALLBACK_MAX_CHARS - 1) :]
    return text


class TrajectorySummarizer:
    """Keeps a run's prompt under ``prompt_token_budget`` by summarising older steps.

    Args:
        client: The summariser LLM.
        prompt_token_budget: Estimated prompt tokens above which older steps are summarised.
    """

    def __init__(self, client: JSONLLMClient, prompt_token_budget: int) -> None:
        self.client = client
        self.prompt_token_budget = prompt_token_budget
        self._format = json_format("trajectory_summary", SummaryReply)

    async def maybe_summarize(
        self, state: RunState, system: str, main: LLMCaller, notes: dict[str, Any]
    ) -> bool:
        """Summarise older steps if the next prompt is over budget; return whether it did.

        Args:
            state: The run; its trajectory's ``summary`` and ``summarized_upto`` are updated.
            system: The planner's system prompt (part of the prompt being measured).
            main: The run's main-LLM caller (its cost tracker and token count are shared).
            notes: The run's extra finish metadata; gets ``summary_error`` on a fallback.
        """
        trajectory = state.trajectory
        before = prompt_tokens(build_messages(system, trajectory))
        upto = len(trajectory.steps) - KEEP_RECENT
        if before <= self.prompt_token_budget or upto <= trajectory.summarized_upto:
            return False
        start = trajectory.summarized_upto
        steps = trajectory.steps[start:upto]
        index = len(trajectory.steps)
        error: str | None = None
        try:
            summary = await self._ask(state, main, steps, start, index)
        except (LLMError, ReplyError) as exc:
            error = f"summariser failed, used a truncated summary instead: {exc}"
            summary = fallback_summary(trajectory.summary, steps, start)
            notes["summary_error"] = error
        trajectory.summary = summary
        trajectory.summarized_upto = upto
        after = prompt_tokens(build_messages(system, trajectory))
        await emit(
            main.callback,
            PlannerEvent(
                "summarize",
                trajectory_step=index,
                token_estimate=after,
                error=error,
                extra={
                    "summarized_upto": upto,
                    "steps_summarized": len(steps),
                    "tokens_before": before,
                    "tokens_after": after,
                    "fallback": error is not None,
                },
            ),
        )
        return True

    async def _ask(
        self, state: RunState, main: LLMCaller, steps: list[Step], start: int, index: int
    ) -> str:
        trajectory = state.trajectory
        request: dict[str, Any] = {"query": trajectory.query}
        if trajectory.summary:
            request["previous_summary"] = trajectory.summary
        request["steps"] = [
            {
                "step": start + offset,
                "action": step.action,
                "observation": shorten(
                    json.dumps(step.observation, ensure_ascii=False, default=repr),
                    _OBSERVATION_CHARS,
                ),
                **({"error": step.error} if step.error is not None else {}),
            }
            for offset, step in enumerate(steps)
        ]
        chat = [
            {"role": "system", "content": _RULES},
            {"role": "user", "content": request_json(request)},
        ]
        text = await ask_role(
            main, self.client, "summarizer", chat, step=index, response_format=self._format
        )
        return parse_json_reply(text, SummaryReply).summary
