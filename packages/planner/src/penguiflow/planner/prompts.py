"""The planner's prompts: the system prompt (rules, action schema, tools) and the chat history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from penguiflow.catalog import NodeSpec
from penguiflow.planner.actions import action_schema
from penguiflow.planner.trajectory import Trajectory

__all__ = [
    "REPAIR_PROBLEM_CHARS",
    "REPAIR_REPLY_CHARS",
    "build_messages",
    "estimate_tokens",
    "render_repair",
    "system_prompt",
]

REPAIR_REPLY_CHARS = 4000
"""How much of an invalid reply is shown back to the LLM when it is asked to repair it."""

REPAIR_PROBLEM_CHARS = 2000
"""How much of the problem found in an invalid reply is shown back to the LLM."""

_RULES = """You are a planner. You answer the user's request by calling tools, one step at a time.
Each reply is exactly one JSON object, with no text around it, in one of these shapes:
- call one tool: {"thought": "...", "next_node": "<tool name>", "args": {...}}
- call several independent tools at once:
  {"thought": "...", "plan": [{"node": "<tool>", "args": {...}}, ...]}
  optionally with a tool that receives their results: "join": {"node": "<tool>", "args": {...}}
- finish: {"thought": "...", "next_node": null, "answer": <the final answer>}
Arguments must match the tool's args_schema. After each call you receive the observation
(the tool's result, or an error with a suggestion); use it to decide the next step.
Finish as soon as you can answer. Never invent tool names."""


def estimate_tokens(text: str) -> int:
    """A cheap token estimate (about four characters per token)."""
    return max(1, len(text) // 4)


def system_prompt(specs: Sequence[NodeSpec], hints: str | None = None) -> str:
    """The system message: rules, the action schema, the tools, and planning hints."""
    tools = [spec.to_tool_json() for spec in specs]
    parts = [
        _RULES,
        "Action schema:\n" + json.dumps(action_schema(), separators=(",", ":")),
        "Tools:\n" + json.dumps(tools, separators=(",", ":"), ensure_ascii=False),
    ]
    if hints:
        parts.append("Planning hints:\n" + hints)
    return "\n\n".join(parts)


def build_messages(
    system: str,
    trajectory: Trajectory,
    *,
    extra_system: Sequence[str] = (),
) -> list[dict[str, str]]:
    """The chat for the next step: system, the request, then one exchange per step taken.

    Steps covered by ``trajectory.summary`` are replaced by the summary.
    """
    messages: list[dict[str, str]] = [{"role": "system", "content": system}]
    messages.extend({"role": "system", "content": text} for text in extra_system)
    request: dict[str, Any] = {"query": trajectory.query}
    if trajectory.llm_context:
        request["context"] = trajectory.llm_context
    messages.append({"role": "user", "content": json.dumps(request, ensure_ascii=False)})
    if trajectory.summary:
        messages.append(
            {
                "role": "user",
                "content": json.dumps(
                    {"summary_of_earlier_steps": trajectory.summary}, ensure_ascii=False
                ),
            }
        )
    for step in trajectory.steps[trajectory.summarized_upto :]:
        messages.append({"role": "assistant", "content": json.dumps(step.action)})
        outcome: dict[str, Any] = {"observation": step.observation}
        if step.error is not None:
            outcome = {"error": step.error, "observation": step.observation}
        messages.append({"role": "user", "content": json.dumps(outcome, ensure_ascii=False)})
    return messages


def render_repair(
    reply: str,
    problem: str,
    *,
    what: str = "reply",
    ask: str = "Reply again with one valid JSON action.",
) -> list[dict[str, str]]:
    """The two messages that show the LLM its invalid reply and what is wrong with it.

    Only the latest invalid reply is ever shown (callers replace the previous
    pair), and only its first `REPAIR_REPLY_CHARS` characters: a model that
    answered with a megabyte of garbage must not make every repair prompt a
    megabyte larger. The LLM is told when its reply was cut.

    Args:
        reply: The invalid reply.
        problem: What is wrong with it (cut to `REPAIR_PROBLEM_CHARS`).
        what: What the reply was, for the message ("reply", "review"...).
        ask: The instruction that ends the message.
    """
    shown = reply[:REPAIR_REPLY_CHARS]
    note = ""
    if len(reply) > REPAIR_REPLY_CHARS:
        note = (
            f" (Your {what} was {len(reply):,} characters long; only its first "
            f"{REPAIR_REPLY_CHARS:,} are shown above.)"
        )
    if len(problem) > REPAIR_PROBLEM_CHARS:
        problem = problem[: REPAIR_PROBLEM_CHARS - 1] + "…"
    return [
        {"role": "assistant", "content": shown},
        {"role": "user", "content": f"Invalid {what}: {problem}.{note} {ask}"},
    ]
