"""Short-term memory for the ReactPlanner: per-session conversation continuity.

Strategies ``none`` (default), ``truncation`` and ``rolling_summary``;
budgets with overflow policies; isolation per `MemoryKey` that fails
closed; background summarisation with health states; persistence through a
`penguiflow.state.StateStore`. See `DefaultShortTermMemory` for one session
and `MemorySessions` for the per-key manager a planner uses.
"""

from __future__ import annotations

from penguiflow.planner.memory.config import (
    MemoryBudget,
    MemoryStrategy,
    OverflowPolicy,
    ShortTermMemoryConfig,
)
from penguiflow.planner.memory.errors import (
    MemoryBudgetExceeded,
    MemoryClosedError,
    MemoryKeyError,
    MemoryKeyRequired,
    MemoryStateError,
    ShortTermMemoryError,
)
from penguiflow.planner.memory.health import MemoryHealth
from penguiflow.planner.memory.key import MemoryKey
from penguiflow.planner.memory.persistence import FORMAT_VERSION, MemoryStore
from penguiflow.planner.memory.prompt import MEMORY_PREAMBLE, render_memory_message
from penguiflow.planner.memory.protocol import ShortTermMemory
from penguiflow.planner.memory.session import DefaultShortTermMemory
from penguiflow.planner.memory.sessions import MemorySessions
from penguiflow.planner.memory.turns import ConversationTurn

__all__ = [
    "FORMAT_VERSION",
    "MEMORY_PREAMBLE",
    "ConversationTurn",
    "DefaultShortTermMemory",
    "MemoryBudget",
    "MemoryBudgetExceeded",
    "MemoryClosedError",
    "MemoryHealth",
    "MemoryKey",
    "MemoryKeyError",
    "MemoryKeyRequired",
    "MemorySessions",
    "MemoryStateError",
    "MemoryStore",
    "MemoryStrategy",
    "OverflowPolicy",
    "ShortTermMemory",
    "ShortTermMemoryConfig",
    "ShortTermMemoryError",
    "render_memory_message",
]
