"""The errors of short-term memory, one hierarchy under `ShortTermMemoryError`.

``ShortTermMemoryError`` is a `penguiflow.planner.errors.PlannerError`::

    ShortTermMemoryError              any memory failure
    ├── MemoryKeyError                a MemoryKey is malformed or cannot be derived
    │   └── MemoryKeyRequired         memory is on, require_explicit_key=True, no key given
    ├── MemoryBudgetExceeded          overflow_policy="error" and a turn would exceed the budget
    ├── MemoryStateError              a stored memory document is corrupt or of another format
    └── MemoryClosedError             the memory (or its session manager) was closed

`MemoryKeyError` is also a `ValueError`, so code that validates inputs with
``except ValueError`` keeps working.
"""

from __future__ import annotations

from penguiflow.planner.errors import PlannerError

__all__ = [
    "MemoryBudgetExceeded",
    "MemoryClosedError",
    "MemoryKeyError",
    "MemoryKeyRequired",
    "MemoryStateError",
    "ShortTermMemoryError",
]


class ShortTermMemoryError(PlannerError):
    """Base class of every short-term memory error."""


class MemoryKeyError(ShortTermMemoryError, ValueError):
    """A `MemoryKey` is malformed or ``key_from_tool_context`` failed; the message says which."""


class MemoryKeyRequired(MemoryKeyError):
    """Memory is enabled with ``require_explicit_key=True`` but the run has no `MemoryKey`."""


class MemoryBudgetExceeded(ShortTermMemoryError):
    """With ``overflow_policy="error"``, adding a turn would take the memory over its budget.

    Attributes:
        needed: Estimated tokens the memory would hold with the turn.
        limit: ``total_max_tokens`` of the budget.
    """

    def __init__(self, message: str, *, needed: int, limit: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.limit = limit


class MemoryStateError(ShortTermMemoryError):
    """A stored memory document cannot be hydrated; the in-memory state was left untouched."""


class MemoryClosedError(ShortTermMemoryError):
    """The memory or its `MemorySessions` was closed and accepts no more turns."""
