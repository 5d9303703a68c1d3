"""Cost tracking: LLM spend and call counts per role over one planner run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["CostTracker", "LLMRole"]

LLMRole = Literal["main", "reflection", "summarizer"]
"""Who made an LLM call: the planner's steps, the reflection critic, the trajectory summariser."""

_ROLES: tuple[LLMRole, ...] = ("main", "reflection", "summarizer")


@dataclass(slots=True)
class CostTracker:
    """Sums the cost (USD) and counts the calls of each role."""

    costs: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_ROLES, 0.0))
    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_ROLES, 0))

    def record(self, role: LLMRole, cost_usd: float) -> None:
        """Count one call of ``role`` that cost ``cost_usd``."""
        self.costs[role] += cost_usd
        self.calls[role] += 1

    @property
    def total_usd(self) -> float:
        """Everything spent so far."""
        return sum(self.costs.values())

    def to_dict(self) -> dict[str, Any]:
        """``metadata["cost"]``: the total, then cost and call count per role."""
        summary: dict[str, Any] = {"total_cost_usd": round(self.total_usd, 10)}
        for role in _ROLES:
            summary[f"{role}_llm_calls"] = self.calls[role]
            summary[f"{role}_cost_usd"] = round(self.costs[role], 10)
        return summary

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CostTracker:
        """Rebuild a tracker saved with `to_dict` (a paused run's)."""
        tracker = cls()
        for role in _ROLES:
            tracker.calls[role] = int(data.get(f"{role}_llm_calls", 0))
            tracker.costs[role] = float(data.get(f"{role}_cost_usd", 0.0))
        return tracker
