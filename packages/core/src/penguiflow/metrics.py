"""`FlowEvent` under its published module path; it lives in `penguiflow.events`."""

from __future__ import annotations

from penguiflow.events import FlowEvent, FlowEventType

__all__ = ["FlowEvent", "FlowEventType"]
