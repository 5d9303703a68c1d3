"""Retries, timeouts and a middleware that records every FlowEvent the runtime emits.

``flaky`` fails twice and succeeds on its third attempt (``max_retries=2``
with a small backoff). ``stuck`` waits for something that never happens, so
every attempt hits its ``timeout_s`` and, once its one retry is used up, the
runtime gives up with a ``FlowError`` delivered to Rookery. The
``EventRecorder`` middleware sees each step: ``node_start``, ``node_error``,
``node_retry``, ``node_success``, ``node_timeout`` and ``node_failed``.

Run it from the repository root::

    .venv/bin/python examples/reliability_middleware/main.py
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from penguiflow import (
    Context,
    FlowError,
    FlowEvent,
    Headers,
    Message,
    Node,
    NodePolicy,
    create,
)

__all__ = ["EventRecorder", "ReliabilityResult", "main"]


class EventRecorder:
    """A middleware that keeps every FlowEvent in arrival order."""

    def __init__(self) -> None:
        self.events: list[FlowEvent] = []

    def __call__(self, event: FlowEvent) -> None:
        """Record ``event`` (middlewares may be plain or async callables)."""
        self.events.append(event)

    def sequence(self, node_name: str) -> list[tuple[str, int]]:
        """Return ``(event_type, attempt)`` of every event of ``node_name``."""
        return [(e.event_type, e.attempt) for e in self.events if e.node_name == node_name]


@dataclass(slots=True)
class ReliabilityResult:
    """What the example observed.

    Attributes:
        flaky_result: The envelope ``flaky`` finally produced.
        stuck_error: The ``FlowError`` reported for ``stuck``.
        events: Every FlowEvent, in order.
    """

    flaky_result: Message
    stuck_error: FlowError
    events: list[FlowEvent]


class Flaky:
    """A node function that raises ``ConnectionError`` on its first ``failures`` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self, msg: Message, _ctx: Context) -> Message:
        """Fail while there are failures left, then answer."""
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"upstream unavailable (call {self.calls})")
        return msg.model_copy(update={"payload": f"fetched {msg.payload!r} on call {self.calls}"})


async def stuck(msg: Message, _ctx: Context) -> Message:
    """A node that waits for an event nobody sets: only its timeout ends it."""
    await asyncio.Event().wait()
    return msg


def _detail(event: FlowEvent) -> str:
    extra = event.extra
    if event.event_type == "node_retry":
        return f"retrying in {extra['delay_s']}s after {extra['error']}"
    if event.event_type == "node_failed":
        return f"gave up: {extra['code']}"
    return str(extra.get("error", ""))


async def main() -> ReliabilityResult:
    """Run one message through each node and print the events they caused."""
    recorder = EventRecorder()
    flaky_node = Node(
        Flaky(failures=2),
        name="flaky",
        policy=NodePolicy(validate="none", max_retries=2, backoff_base=0.001, backoff_mult=2.0),
    )
    stuck_node = Node(
        stuck,
        name="stuck",
        policy=NodePolicy(validate="none", timeout_s=0.02, max_retries=1, backoff_base=0.001),
    )
    # Two independent egress nodes; messages pick one with emit(..., to=...).
    flow = create(
        flaky_node.to(), stuck_node.to(), middlewares=[recorder], emit_errors_to_rookery=True
    )
    flow.run()
    try:
        # One trace at a time, so the two event streams do not interleave.
        await flow.emit(Message(payload="report.csv", headers=Headers(tenant="acme")), to="flaky")
        flaky_result = await flow.fetch()
        await flow.emit(Message(payload="slow.csv", headers=Headers(tenant="acme")), to="stuck")
        stuck_error = await flow.fetch()
    finally:
        await flow.stop()

    for event in recorder.events:
        head = f"{event.node_name:<6} {event.event_type:<13} attempt={event.attempt}"
        print(f"{head}  {_detail(event)}".rstrip())
    print(f"flaky result: {flaky_result.payload}")
    print(f"stuck error:  {stuck_error.code} - {stuck_error.message}")
    return ReliabilityResult(flaky_result, stuck_error, recorder.events)


if __name__ == "__main__":
    asyncio.run(main())
