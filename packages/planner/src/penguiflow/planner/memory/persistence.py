"""The persisted form of a session's memory: a versioned JSON document, written and read strictly.

A document looks like::

    {
        "format": 1,
        "strategy": "rolling_summary",
        "turns": [...],
        "pending": [...],
        "summary": "...",
        "health": "healthy",
        "revision": "9f1c...",
    }

``revision`` is a fresh id on every save (optional when reading); a process
compares it with the one it last wrote or read to notice another process's
save. ``turns`` are the recent (full-zone) turns and ``pending`` those waiting for
the summariser, each ``{"user", "assistant", "trajectory_digest"?, "ts"}``,
oldest first. Reading checks everything before anything is used, so a
corrupt document or one of another format version is refused as a whole
with `MemoryStateError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, get_args

from penguiflow.planner.memory.block import MemoryBlock
from penguiflow.planner.memory.budget import enforce_budget, fit_text
from penguiflow.planner.memory.config import MemoryStrategy, ShortTermMemoryConfig
from penguiflow.planner.memory.errors import MemoryStateError
from penguiflow.planner.memory.health import MemoryHealth
from penguiflow.planner.memory.turns import ConversationTurn

__all__ = [
    "FORMAT_VERSION",
    "MemoryStore",
    "StoredMemory",
    "decode_state",
    "encode_state",
    "restore_block",
]

FORMAT_VERSION = 1
"""The document format this version writes and reads."""

_FIELDS = {"format", "strategy", "turns", "pending", "summary", "health"}


class MemoryStore(Protocol):
    """What memory needs from a store: any `penguiflow.state.StateStore` (or a look-alike)."""

    async def save_memory_state(self, key: str, state: dict[str, Any]) -> None:
        """Store ``state`` under ``key``, replacing what was there."""
        ...

    async def load_memory_state(self, key: str) -> dict[str, Any] | None:
        """Return the state under ``key``, or ``None``."""
        ...


@dataclass(frozen=True, slots=True)
class StoredMemory:
    """A decoded memory document."""

    strategy: MemoryStrategy
    turns: tuple[ConversationTurn, ...]
    pending: tuple[ConversationTurn, ...]
    summary: str
    health: MemoryHealth


def encode_state(
    strategy: MemoryStrategy,
    turns: Sequence[ConversationTurn],
    pending: Sequence[ConversationTurn],
    summary: str,
    health: MemoryHealth,
) -> dict[str, Any]:
    """The document for a memory's state (JSON-safe)."""
    return {
        "format": FORMAT_VERSION,
        "strategy": strategy,
        "turns": [turn.to_dict() for turn in turns],
        "pending": [turn.to_dict() for turn in pending],
        "summary": summary,
        "health": health.value,
    }


def decode_state(document: object, *, key: str) -> StoredMemory:
    """Read a document written by `encode_state`.

    Args:
        document: What the store returned.
        key: The store key (named in errors).

    Raises:
        MemoryStateError: The document is not a memory state of `FORMAT_VERSION`,
            or any field is malformed; the message names the field.
    """
    where = f"memory state {key!r}"
    if not isinstance(document, dict):
        raise MemoryStateError(f"{where} is a {type(document).__name__}, not a JSON object")
    version = document.get("format")
    if type(version) is not int or version != FORMAT_VERSION:
        if "format" not in document:
            raise MemoryStateError(f"{where} has no 'format' field: not a memory state document")
        raise MemoryStateError(
            f"{where} is in format {version!r}; this version of penguiflow reads format "
            f"{FORMAT_VERSION} only (was it written by a newer release?)"
        )
    missing = sorted(_FIELDS - document.keys())
    if missing:
        raise MemoryStateError(f"{where} is missing the field(s) {missing}")
    strategy = document["strategy"]
    if strategy not in get_args(MemoryStrategy):
        raise MemoryStateError(f"{where} has an unknown strategy {strategy!r}")
    summary = document["summary"]
    if not isinstance(summary, str):
        raise MemoryStateError(f"{where}: 'summary' must be a string, got {type(summary).__name__}")
    try:
        health = MemoryHealth(document["health"])
    except ValueError:
        raise MemoryStateError(
            f"{where} has an unknown health {document['health']!r}; "
            f"expected one of {[h.value for h in MemoryHealth]}"
        ) from None
    return StoredMemory(
        strategy=strategy,
        turns=_turns(document["turns"], where, "turns"),
        pending=_turns(document["pending"], where, "pending"),
        summary=summary,
        health=health,
    )


def _turns(value: object, where: str, name: str) -> tuple[ConversationTurn, ...]:
    if not isinstance(value, list):
        raise MemoryStateError(f"{where}: {name!r} must be a list, got {type(value).__name__}")
    turns: list[ConversationTurn] = []
    for index, item in enumerate(value):
        try:
            turns.append(ConversationTurn.from_dict(item))
        except (TypeError, KeyError) as exc:
            raise MemoryStateError(f"{where}: {name}[{index}] is not a turn ({exc})") from None
    return tuple(turns)


def restore_block(
    config: ShortTermMemoryConfig, stored: StoredMemory, *, next_seq: int = 0
) -> tuple[MemoryBlock, MemoryHealth]:
    """The block and health a memory with ``config`` takes from ``stored``.

    The stored turns are re-fitted to ``config``: its full zone, its strategy
    (``truncation`` keeps no summary or pending turns), and its budget. A
    stored ``DEGRADED`` health is kept (``rolling_summary`` only, dropping
    pending turns as a degraded memory does); ``RETRY`` and ``RECOVERING``
    were transient and become ``HEALTHY``.

    Args:
        config: The configuration of the memory being hydrated.
        stored: The decoded document.
        next_seq: First sequence number for the new entries.
    """
    zone = config.budget.full_zone_turns
    older = [*stored.pending, *stored.turns[:-zone]]
    health = MemoryHealth.HEALTHY
    summary = ""
    if config.strategy == "rolling_summary":
        if stored.health is MemoryHealth.DEGRADED:
            health, older = MemoryHealth.DEGRADED, []
        summary = fit_text(config, stored.summary, config.budget.summary_max_tokens)
    else:
        older = []
    block = MemoryBlock(next_seq=next_seq)
    block.pending = [block.entry(config, turn) for turn in older]
    block.recent = [block.entry(config, turn) for turn in stored.turns[-zone:]]
    block.set_summary(config, summary)
    enforce_budget(block, config)
    return block, health
