"""Shared fixtures for the core runtime tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from penguiflow import FlowEvent, PenguiFlow


class EventLog:
    """A middleware that records every FlowEvent it receives."""

    def __init__(self) -> None:
        self.events: list[FlowEvent] = []

    async def __call__(self, event: FlowEvent) -> None:
        self.events.append(event)

    def types(self, node_name: str | None = None) -> list[str]:
        return [e.event_type for e in self.events if node_name is None or e.node_name == node_name]

    def of(self, event_type: str) -> list[FlowEvent]:
        return [e for e in self.events if e.event_type == event_type]


@pytest.fixture
def event_log() -> EventLog:
    return EventLog()


@pytest.fixture
async def stop_after() -> AsyncIterator[Callable[[PenguiFlow], PenguiFlow]]:
    """Register flows to be stopped at the end of the test, even if it fails."""
    flows: list[PenguiFlow] = []

    def register(flow: PenguiFlow) -> PenguiFlow:
        flows.append(flow)
        return flow

    yield register
    for flow in flows:
        await asyncio.wait_for(flow.stop(), 10)


async def _bounded(awaitable: Any, seconds: float = 5.0) -> Any:
    return await asyncio.wait_for(awaitable, seconds)


@pytest.fixture
def bounded() -> Callable[..., Any]:
    """Await with an upper bound so a bug fails the test instead of hanging it."""
    return _bounded
