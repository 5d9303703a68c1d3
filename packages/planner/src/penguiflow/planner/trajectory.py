"""The record of a planner run: its steps, their observations, and the run's results.

Everything here is JSON-safe by construction (observations are dumped with
`to_json_value`), so a trajectory can be saved when a run pauses and
rebuilt in another process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

__all__ = [
    "FinishReason",
    "PlannerFinish",
    "PlannerPause",
    "Step",
    "Trajectory",
    "to_json_value",
]

FinishReason = Literal[
    "answer_complete",
    "max_iters",
    "hop_budget",
    "token_budget",
    "deadline",
    "invalid_output",
    "llm_error",
]
"""Why a run ended: an answer, or which limit or failure stopped it."""


def to_json_value(value: Any) -> Any:
    """``value`` as JSON data: models dumped, other non-JSON values as their ``repr``."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        if isinstance(value, dict):
            return {str(k): to_json_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [to_json_value(v) for v in value]
        return repr(value)


@dataclass(slots=True)
class Step:
    """One step of a run: the action, what came of it, and the chunks streamed meanwhile.

    Attributes:
        action: The action as JSON (``thought``, ``next_node``/``plan``, ``args``...).
        observation: The tool's result (JSON), or per-branch results of a parallel step.
        error: Why the tool failed, when it did (the LLM sees it too).
        latency_ms: How long the tool(s) took.
        streams: Chunks the tools emitted, per stream id, in order.
    """

    action: dict[str, Any]
    observation: Any = None
    error: str | None = None
    latency_ms: float | None = None
    streams: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def node_name(self) -> str | None:
        """The tool called (``None`` for parallel and final steps)."""
        name = self.action.get("next_node")
        return name if isinstance(name, str) else None

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as found in ``PlannerFinish.metadata["steps"]``."""
        return {
            "action": self.action,
            "thought": self.action.get("thought", ""),
            "node_name": self.node_name,
            "args": self.action.get("args"),
            "observation": self.observation,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "streams": self.streams,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        """Rebuild a step saved with `to_dict`."""
        return cls(
            action=dict(data["action"]),
            observation=data.get("observation"),
            error=data.get("error"),
            latency_ms=data.get("latency_ms"),
            streams={k: list(v) for k, v in (data.get("streams") or {}).items()},
        )


@dataclass(slots=True)
class Trajectory:
    """A run so far: the query, the LLM-visible context and the steps taken.

    Attributes:
        query: The user's request.
        llm_context: JSON context shown to the LLM.
        steps: Completed steps, oldest first.
        summary: A summary of older steps, once the prompt outgrew its budget.
        summarized_upto: Steps covered by ``summary`` (they are not repeated in the prompt).
    """

    query: str
    llm_context: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    summary: str | None = None
    summarized_upto: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form (saved while a run is paused)."""
        return {
            "query": self.query,
            "llm_context": self.llm_context,
            "steps": [step.to_dict() for step in self.steps],
            "summary": self.summary,
            "summarized_upto": self.summarized_upto,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trajectory:
        """Rebuild a trajectory saved with `to_dict`."""
        return cls(
            query=str(data["query"]),
            llm_context=dict(data.get("llm_context") or {}),
            steps=[Step.from_dict(s) for s in data.get("steps") or ()],
            summary=data.get("summary"),
            summarized_upto=int(data.get("summarized_upto") or 0),
        )


@dataclass(frozen=True, slots=True)
class PlannerFinish:
    """A run ended.

    Attributes:
        reason: Why (`FinishReason`): ``"answer_complete"`` or the limit/failure that stopped it.
        payload: The answer, or ``None`` when no answer was reached.
        metadata: ``steps`` (each step's action, args, observation, latency,
            streams), ``cost``, ``iterations``, ``trace_id``, ``reflection``
            when reflection ran, and ``error`` for failures.
    """

    reason: FinishReason
    payload: Any
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PlannerPause:
    """A tool paused the run (`ToolContext.pause`); resume it with ``planner.resume(token, ...)``.

    Attributes:
        reason: The reason the tool gave.
        payload: The tool's JSON payload (what to show the person asked to decide).
        resume_token: Opaque token for `ReactPlanner.resume`.
    """

    reason: str
    payload: dict[str, Any]
    resume_token: str
