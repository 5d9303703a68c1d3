"""The planner's action schema: what the LLM answers each step, and how a reply is parsed.

Every step the LLM replies with one JSON object, one of three shapes::

    {"thought": "...", "next_node": "search", "args": {"text": "routing"}}
    {
        "thought": "...",
        "plan": [{"node": "a", "args": {...}}, {"node": "b", "args": {...}}],
        "join": {"node": "merge", "args": {...}},
    }
    {"thought": "...", "next_node": null, "answer": "the final answer"}

`parse_action` turns the reply text into a `PlannerAction` or raises
`ActionError` whose message is written for the LLM to repair its reply.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from penguiflow.planner.errors import PlannerError
from penguiflow.planner.json_reply import ReplyError, load_json_object

__all__ = [
    "ActionError",
    "JoinCall",
    "ParallelCall",
    "PlannerAction",
    "action_schema",
    "parse_action",
]


class ActionError(PlannerError, ValueError):
    """The LLM's reply is not a valid action; the message tells the LLM what to fix."""


class ParallelCall(BaseModel):
    """One branch of a parallel step."""

    model_config = ConfigDict(extra="forbid")

    node: str
    args: dict[str, Any] = Field(default_factory=dict)


class JoinCall(BaseModel):
    """The tool that receives the results of a parallel step.

    The planner adds the branch results to ``args`` under ``results`` (a list,
    in plan order) unless the tool's arguments model has no such field, in
    which case it must accept them under another name given by ``inject``.
    """

    model_config = ConfigDict(extra="forbid")

    node: str
    args: dict[str, Any] = Field(default_factory=dict)
    inject: str = "results"


class PlannerAction(BaseModel):
    """One step decided by the LLM."""

    model_config = ConfigDict(extra="forbid")

    thought: str = ""
    next_node: str | None = None
    args: dict[str, Any] | None = None
    plan: list[ParallelCall] | None = None
    join: JoinCall | None = None
    answer: Any = None

    @model_validator(mode="after")
    def _one_kind(self) -> PlannerAction:
        if self.plan is not None:
            if self.next_node is not None:
                raise ValueError("give either 'next_node' or 'plan', not both")
            if not self.plan:
                raise ValueError("'plan' must list at least one call")
        elif self.join is not None:
            raise ValueError("'join' is only allowed together with 'plan'")
        return self

    @property
    def kind(self) -> Literal["call", "parallel", "finish"]:
        """``"call"`` one tool, ``"parallel"`` several, ``"finish"`` answer."""
        if self.plan is not None:
            return "parallel"
        if self.next_node is not None:
            return "call"
        return "finish"

    def to_json(self) -> dict[str, Any]:
        """The action as the LLM should have written it (``None`` fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)


def action_schema() -> dict[str, Any]:
    """The JSON schema of `PlannerAction`, for the prompt and ``response_format``."""
    return PlannerAction.model_json_schema()


def parse_action(text: str) -> PlannerAction:
    """Parse the LLM's reply.

    Accepts a bare JSON object, or one wrapped in a Markdown code fence (see
    `penguiflow.planner.json_reply.load_json_object`, which also refuses replies
    nested too deeply).

    Raises:
        ActionError: The reply is not JSON, not an object, or not a valid action.
    """
    try:
        data = load_json_object(text)
    except ReplyError as exc:
        raise ActionError(f"{exc}; reply with exactly one JSON object and nothing else") from None
    try:
        return PlannerAction.model_validate(data)
    except ValidationError as exc:
        raise ActionError(f"your reply is not a valid action: {_errors(exc)}") from None


def _errors(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "reply"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
