"""ToolNode for PenguiFlow: MCP and HTTP tools for the planner land here."""

from __future__ import annotations

__all__: list[str] = []
