"""A2A server and client for PenguiFlow: the agent-to-agent bridge lands here."""

from __future__ import annotations

__all__: list[str] = []
