"""`ShortTermMemory`: the protocol a session's memory implements for the planner."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from penguiflow.planner.memory.health import MemoryHealth
from penguiflow.planner.memory.persistence import MemoryStore
from penguiflow.planner.memory.turns import ConversationTurn

__all__ = ["CLOSE_TIMEOUT_S", "ShortTermMemory"]

CLOSE_TIMEOUT_S = 5.0
"""Default bound of the flush done by ``close``."""


@runtime_checkable
class ShortTermMemory(Protocol):
    """One session's conversation memory, as the planner uses it."""

    @property
    def health(self) -> MemoryHealth:
        """The current `MemoryHealth`."""
        ...

    async def add_turn(self, turn: ConversationTurn) -> None:
        """Store ``turn``; never waits for summarisation."""
        ...

    def get_llm_context(self) -> dict[str, Any]:
        """``{"conversation_memory": {...}}`` for the prompt, or ``{}`` when there is nothing."""
        ...

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Wait (at most ``timeout_s``) for background work; return whether it finished."""
        ...

    async def persist(self, store: MemoryStore, key: str) -> None:
        """Save the state under ``key``."""
        ...

    async def hydrate(self, store: MemoryStore, key: str) -> bool:
        """Load the state under ``key``; return whether there was one."""
        ...

    async def close(self, timeout_s: float | None = CLOSE_TIMEOUT_S) -> None:
        """Flush (bounded), then stop background work."""
        ...
