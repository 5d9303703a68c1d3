"""The reflection loop: a critic LLM scores each draft answer, and weak drafts go back for revision.

Design notes. When the planner's LLM finishes, the `Reflector` asks the
critic (a separate ``reflection_llm`` or the main client) to score the draft
against the `ReflectionCriteria`. A score at or above
``quality_threshold`` passes. A draft that does not pass, while revisions
remain, is kept in the trajectory as a step whose observation is the review
("Your draft answer was reviewed: ... Revise ..."), and the run goes on
through the planner's ordinary loop: the LLM may call more tools and then
finishes again. Revisions therefore count against ``max_iters``, the hop,
deadline and token budgets like any other step; a draft is accepted as it is
when a limit leaves no room for a revision.

The number of revisions so far is read from the trajectory (drafts carrying
a review), so it survives a pause and a resume in another process.

A critique that is not the JSON asked for is shown to the critic once with
the problem; if the second reply is no better (or the critic's call fails),
the draft is accepted and ``metadata["reflection"]["error"]`` says why. The
critic can never keep a run looping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from penguiflow.planner.events import PlannerEvent, emit
from penguiflow.planner.llm import JSONLLMClient, LLMError
from penguiflow.planner.pause import RunState
from penguiflow.planner.prompts import render_repair
from penguiflow.planner.side_llm import (
    ReplyError,
    ask_role,
    compact_steps,
    is_finish,
    json_format,
    parse_json_reply,
    request_json,
    shorten,
)
from penguiflow.planner.step import LLMCaller

__all__ = ["Critique", "ReflectionConfig", "ReflectionCriteria", "Reflector", "Review"]

EVENT_FEEDBACK_CHARS = 200
"""Feedback longer than this is cut in ``reflection`` events (``metadata`` keeps it whole)."""

LimitCheck = Callable[[], "tuple[str, str] | None"]


class ReflectionCriteria(BaseModel):
    """What the critic judges a draft answer on; each field is one plain-language criterion.

    Example:
        >>> ReflectionCriteria(accuracy="Every number comes from a tool observation")
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    completeness: str = Field(
        "Answers every part of the user's query.", min_length=1, description="Coverage."
    )
    accuracy: str = Field(
        "States only what the observations support; invents nothing.",
        min_length=1,
        description="Grounding.",
    )
    clarity: str = Field(
        "Is clear, well organised and easy to follow.", min_length=1, description="Readability."
    )

    def render(self) -> str:
        """The criteria as the bullet list shown to the critic."""
        return "\n".join(f"- {name}: {text}" for name, text in self.model_dump().items())


class ReflectionConfig(BaseModel):
    """Whether and how the planner critiques its draft answers before finishing.

    Attributes:
        enabled: Critique each draft answer (off by default).
        criteria: What the critic judges (`ReflectionCriteria`).
        quality_threshold: Lowest passing score, 0 to 1.
        max_revisions: Most times a draft is sent back for revision (0: critique only).
        use_separate_llm: Insist on the planner's ``reflection_llm`` (building the
            planner without one is an error). A ``reflection_llm`` that is given
            critiques either way; without one the main LLM does.

    Example:
        >>> ReflectionConfig(enabled=True, quality_threshold=0.85, max_revisions=2)
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    enabled: bool = False
    criteria: ReflectionCriteria = Field(default_factory=ReflectionCriteria)
    quality_threshold: float = Field(0.8, ge=0.0, le=1.0)
    max_revisions: int = Field(2, ge=0)
    use_separate_llm: bool = False


class Critique(BaseModel):
    """The critic's reply.

    Attributes:
        score: Quality from 0 (useless) to 1 (perfect).
        passed: The critic's own verdict (the planner decides by ``score``).
        feedback: What to improve.
        issues: Specific problems found.
    """

    model_config = ConfigDict(extra="ignore")

    score: float = Field(ge=0.0, le=1.0)
    passed: bool | None = None
    feedback: str = ""
    issues: list[str] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Review:
    """What the reflector decided about one draft.

    Attributes:
        record: ``metadata["reflection"]``: ``score``, ``revisions``, ``passed``,
            ``feedback`` (and ``error`` when the critique failed, ``stopped_by``
            when a limit left no room for a revision).
        revise: Send the draft back; ``message`` is the review to show the LLM.
        message: The review the main LLM reads before revising.
    """

    record: dict[str, Any]
    revise: bool = False
    message: str | None = None


_CRITIC_RULES = """You review a draft answer written by an assistant that used tools.
Judge the draft against these criteria:
{criteria}
Give a score from 0.0 (useless) to 1.0 (perfect). Reply with exactly one JSON object and nothing
else: {{"score": <0..1>, "passed": <true if it can be sent as it is>, "feedback": "<what to
improve>", "issues": ["<specific problem>", ...]}}"""


class Reflector:
    """Critiques draft answers for a planner (see the module docstring).

    Args:
        config: The reflection settings (must be enabled).
        client: The critic LLM.
    """

    def __init__(self, config: ReflectionConfig, client: JSONLLMClient) -> None:
        self.config = config
        self.client = client
        self._rules = _CRITIC_RULES.format(criteria=config.criteria.render())
        self._format = json_format("critique", Critique)

    async def review(self, state: RunState, main: LLMCaller, limit: LimitCheck) -> Review:
        """Critique the draft that ends ``state``'s trajectory and decide whether to revise it.

        Args:
            state: The run; its last step is the finish action holding the draft.
            main: The run's main-LLM caller (its cost tracker and token count are shared).
            limit: Tells whether a run limit is already reached (then no revision).
        """
        steps = state.trajectory.steps
        index = len(steps) - 1
        draft = steps[index].action.get("answer")
        revisions = sum(1 for s in steps[:index] if is_finish(s) and s.observation is not None)
        critique, error = await self._critique(state, main, draft, index)
        if critique is None:
            record: dict[str, Any] = {
                "score": None,
                "revisions": revisions,
                "passed": False,
                "feedback": "",
                "error": error,
            }
            await self._event(main, index, revisions, record, critic_passed=None)
            return Review(record)
        passed = critique.score >= self.config.quality_threshold
        record = {
            "score": critique.score,
            "revisions": revisions,
            "passed": passed,
            "feedback": critique.feedback,
        }
        await self._event(main, index, revisions, record, critic_passed=critique.passed)
        if passed or revisions >= self.config.max_revisions:
            return Review(record)
        state.tokens = main.tokens_used
        blocked = limit()
        if blocked is not None:
            record["stopped_by"] = blocked[0]
            return Review(record)
        record["revisions"] = revisions + 1
        return Review(record, revise=True, message=self._revision_message(critique))

    async def _critique(
        self, state: RunState, main: LLMCaller, draft: Any, index: int
    ) -> tuple[Critique | None, str | None]:
        trajectory = state.trajectory
        request: dict[str, Any] = {"query": trajectory.query}
        if trajectory.llm_context:
            request["context"] = trajectory.llm_context
        request["draft_answer"] = draft
        request["observations"] = compact_steps(trajectory)
        chat = [
            {"role": "system", "content": self._rules},
            {"role": "user", "content": request_json(request)},
        ]
        problem = ""
        for attempt in range(2):  # the critique, then one repair
            try:
                text = await ask_role(
                    main, self.client, "reflection", chat, step=index, response_format=self._format
                )
            except LLMError as exc:
                return None, f"critic call failed: {exc}"
            try:
                return parse_json_reply(text, Critique), None
            except ReplyError as exc:
                problem = str(exc)
            if attempt == 0:
                ask = "Reply again with exactly one JSON object."
                chat.extend(render_repair(text, problem, what="review", ask=ask))
        return None, f"invalid critique after one repair: {problem}"

    def _revision_message(self, critique: Critique) -> str:
        parts = [
            f"Your draft answer was reviewed: it scored {critique.score:.2f}, below the "
            f"{self.config.quality_threshold:.2f} needed."
        ]
        if critique.feedback:
            parts.append(f"Feedback: {critique.feedback}")
        if critique.issues:
            parts.append("Issues: " + "; ".join(critique.issues))
        parts.append(
            "Revise the answer: call tools if you need more information, "
            "then finish again with the improved answer."
        )
        return "\n".join(parts)

    async def _event(
        self,
        main: LLMCaller,
        index: int,
        revision: int,
        record: dict[str, Any],
        *,
        critic_passed: bool | None,
    ) -> None:
        await emit(
            main.callback,
            PlannerEvent(
                "reflection",
                trajectory_step=index,
                error=record.get("error"),
                extra={
                    "score": record["score"],
                    "passed": record["passed"],
                    "revision": revision,
                    "threshold": self.config.quality_threshold,
                    "critic_passed": critic_passed,
                    "feedback": shorten(record["feedback"], EVENT_FEEDBACK_CHARS),
                },
            ),
        )
