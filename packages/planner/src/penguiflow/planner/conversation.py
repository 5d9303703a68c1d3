"""How a planner run uses short-term memory: which session, what the LLM sees, what is kept.

A run with memory (``ReactPlanner(short_term_memory=...)``):

1. resolves its `MemoryKey` (the ``memory_key`` argument, else the config's
   ``key_from_tool_context``; with ``require_explicit_key`` a run without one
   fails before any LLM call);
2. shows the session's memory to the LLM as a separate system message;
3. when it finishes with an answer, records the turn (query, answer, the
   tools used) — summarisation runs in the background, never delaying the
   result.

A paused run remembers its key; `resume` must give the same key (or none,
when the key comes from ``tool_context``) so one session never continues
another's run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from penguiflow.planner.llm import JSONLLMClient
from penguiflow.planner.memory import (
    ConversationTurn,
    MemoryKey,
    MemoryKeyError,
    MemorySessions,
    ShortTermMemoryConfig,
)
from penguiflow.planner.trajectory import PlannerFinish

__all__ = ["Conversation"]


class Conversation:
    """The planner's short-term memory, per session."""

    def __init__(
        self,
        config: ShortTermMemoryConfig,
        summarizer: JSONLLMClient,
        state_store: Any | None,
    ) -> None:
        self.sessions = MemorySessions(config, summarizer, state_store)

    def key_for_run(
        self, memory_key: MemoryKey | None, tool_context: Mapping[str, Any] | None
    ) -> MemoryKey | None:
        """The run's session key (``None``: no memory for this run).

        Raises:
            MemoryKeyRequired: No key and the config requires one.
        """
        return self.sessions.resolve_key(memory_key, tool_context)

    def key_for_resume(
        self,
        saved: str | None,
        memory_key: MemoryKey | None,
        tool_context: Mapping[str, Any] | None,
    ) -> MemoryKey | None:
        """The key a resumed run continues with; it must be the paused run's.

        Raises:
            MemoryKeyError: The key differs from the paused run's (another session).
            MemoryKeyRequired: No key and the config requires one.
        """
        key = self.sessions.resolve_key(memory_key, tool_context)
        found = key.composite() if key is not None else None
        if found != saved:
            raise MemoryKeyError(
                "resume must continue the paused run's memory session: pass the same "
                f"memory_key as run() (paused with {_label(saved)}, resumed with {_label(found)})"
            )
        return key

    async def system_message(self, key: MemoryKey | None) -> list[str]:
        """The memory message for the prompt (empty when the session has nothing yet)."""
        if key is None:
            return []
        message = await self.sessions.system_message(key)
        return [message] if message else []

    async def remember(self, key: MemoryKey | None, query: str, result: PlannerFinish) -> None:
        """Record the finished run as a turn of ``key``'s session.

        Raises:
            MemoryBudgetExceeded: ``overflow_policy="error"`` refused the turn;
                the finished run is attached to the error as ``result``.
        """
        if key is None or result.reason != "answer_complete":
            return
        answer = result.payload
        text = answer if isinstance(answer, str) else json.dumps(answer, default=str)
        tools = [s["node_name"] for s in result.metadata["steps"] if s.get("node_name")]
        turn = ConversationTurn(
            user_message=query,
            assistant_response=text,
            trajectory_digest={"tools": tools} if tools else None,
        )
        try:
            await self.sessions.record(key, turn)
        except Exception as exc:
            exc.result = result  # type: ignore[attr-defined]
            raise


def _label(composite: str | None) -> str:
    return f"session {composite!r}" if composite is not None else "no memory key"
