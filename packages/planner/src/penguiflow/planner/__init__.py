"""ReactPlanner for PenguiFlow: the LLM-driven planner with short-term memory lands here."""

from __future__ import annotations

__all__: list[str] = []
