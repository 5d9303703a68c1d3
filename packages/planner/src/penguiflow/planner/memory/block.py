"""`MemoryBlock`: what one session holds (summary, pending and recent turns) and its token cost."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from penguiflow.planner.memory.config import ShortTermMemoryConfig
from penguiflow.planner.memory.turns import ConversationTurn

__all__ = ["Entry", "MemoryBlock", "turn_tokens"]


def turn_tokens(config: ShortTermMemoryConfig, turn: ConversationTurn) -> int:
    """Estimated tokens of ``turn``, measured on its persisted JSON form."""
    text = json.dumps(turn.to_dict(), ensure_ascii=False, separators=(",", ":"))
    return config.estimate(text)


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored turn with its sequence number (unique per memory) and its token cost."""

    seq: int
    turn: ConversationTurn
    tokens: int


@dataclass(slots=True)
class MemoryBlock:
    """The memory of one session, oldest first: ``summary``, then ``pending``, then ``recent``.

    Attributes:
        summary: Rolling summary of turns folded so far ("" when none).
        summary_tokens: Estimated tokens of ``summary`` (kept in step by `set_summary`).
        pending: Turns that left the full zone and wait for the summariser.
        recent: The full zone: the latest turns, shown in full.
        next_seq: Sequence number of the next entry.
    """

    summary: str = ""
    summary_tokens: int = 0
    pending: list[Entry] = field(default_factory=list)
    recent: list[Entry] = field(default_factory=list)
    next_seq: int = 0

    def copy(self) -> MemoryBlock:
        """A copy whose lists can change without touching this block (entries are immutable)."""
        return MemoryBlock(
            self.summary, self.summary_tokens, list(self.pending), list(self.recent), self.next_seq
        )

    def entry(self, config: ShortTermMemoryConfig, turn: ConversationTurn) -> Entry:
        """A new entry for ``turn`` (taking the next sequence number)."""
        entry = Entry(self.next_seq, turn, turn_tokens(config, turn))
        self.next_seq += 1
        return entry

    def set_summary(self, config: ShortTermMemoryConfig, summary: str) -> None:
        """Replace the summary, re-estimating its tokens."""
        self.summary = summary
        self.summary_tokens = config.estimate(summary)

    def turn_tokens(self) -> int:
        """Estimated tokens of the pending and recent turns."""
        return sum(e.tokens for e in self.pending) + sum(e.tokens for e in self.recent)

    def tokens(self) -> int:
        """Estimated tokens of the whole block."""
        return self.summary_tokens + self.turn_tokens()

    def is_empty(self) -> bool:
        """Whether the block holds nothing at all."""
        return not (self.summary or self.pending or self.recent)

    def prompt_view(self) -> dict[str, Any]:
        """The ``conversation_memory`` block the LLM sees."""
        return {
            "recent_turns": [e.turn.to_prompt() for e in self.recent],
            "pending_turns": [e.turn.to_prompt() for e in self.pending],
            "summary": self.summary,
        }
