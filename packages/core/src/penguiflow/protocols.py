"""The contracts features and sibling packages program against: `Flow` and `Planner`.

Features (playbooks, streaming helpers, diagrams, distribution) and the
sibling packages (planner, A2A, tools, playground) take a `Flow`, never the
concrete `penguiflow.core.PenguiFlow`, so they sit above the runtime without
importing its facade. A2A, tools and the playground drive planners through
`Planner` (``run``/``resume``) without importing ``penguiflow.planner``.
Check objects with `is_flow` and `is_planner` rather than ``isinstance``: a
``runtime_checkable`` protocol only looks for the members' names, which a
flow *class* has as well as its instances, and the look-up costs tens of
microseconds per call; the two functions refuse classes and remember the
classes they accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeAlias, runtime_checkable

from typing_extensions import TypeIs

from penguiflow.graph import FlowGraph
from penguiflow.node import Node, Targets
from penguiflow.registry import ModelRegistry
from penguiflow.types import Message, StreamChunk

__all__ = [
    "Flow",
    "FlowState",
    "FlowStatistics",
    "Planner",
    "PlaybookBuilder",
    "is_flow",
    "is_planner",
]


class FlowState(StrEnum):
    """Where a flow is in its lifecycle: ``run()`` once, then ``stop()``."""

    CREATED = "created"
    """Built; ``run()`` not called yet."""
    RUNNING = "running"
    """Between ``run()`` and ``stop()``: emit, fetch and cancel work."""
    STOPPED = "stopped"
    """``stop()`` was called; the flow cannot run again."""


@dataclass(frozen=True, slots=True)
class FlowStatistics:
    """A snapshot of a flow's load and losses, taken by `Flow.statistics`.

    Attributes:
        state: The lifecycle state.
        queued: Messages waiting in each node's incoming floes, by node name.
        queued_in_rookery: Results waiting in Rookery for a ``fetch``.
        traces_in_flight: Traces with a message queued, being processed or
            waiting in Rookery.
        dropped_events: Events dropped because a middleware fell more than
            10,000 events behind.
        state_store_errors: Events the state store failed to save.
    """

    state: FlowState
    queued: Mapping[str, int]
    queued_in_rookery: int
    traces_in_flight: int
    dropped_events: int
    state_store_errors: int

    @property
    def total_queued(self) -> int:
        """Messages waiting anywhere in the flow, Rookery included."""
        return sum(self.queued.values()) + self.queued_in_rookery


@runtime_checkable
class Flow(Protocol):
    """What features need from a running graph of nodes (`penguiflow.core.PenguiFlow` is one).

    See `penguiflow.core.PenguiFlow` for the behaviour of each member.
    """

    emit_errors_to_rookery: bool
    """Deliver failures as `penguiflow.errors.FlowError` through ``fetch``."""

    @property
    def graph(self) -> FlowGraph:
        """The static shape of the flow."""
        ...

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node of the flow."""
        ...

    @property
    def state(self) -> FlowState:
        """Where the flow is in its lifecycle."""
        ...

    @property
    def running(self) -> bool:
        """``True`` between ``run`` and ``stop``."""
        ...

    @property
    def bus_namespace(self) -> str:
        """Prefix of the flow's message-bus topics."""
        ...

    def run(self, registry: ModelRegistry | None = None) -> None:
        """Start the flow's workers."""
        ...

    async def stop(self) -> None:
        """Stop the workers; idempotent."""
        ...

    async def emit(self, msg: Any, to: Targets = None) -> None:
        """Send ``msg`` in at OpenSea, waiting while a floe is full."""
        ...

    def emit_nowait(self, msg: Any, to: Targets = None) -> None:
        """Send ``msg`` in at OpenSea or raise ``asyncio.QueueFull``."""
        ...

    async def emit_chunk(
        self,
        parent: Message,
        text: str,
        *,
        stream_id: str | None = None,
        seq: int | None = None,
        done: bool = False,
        meta: dict[str, Any] | None = None,
        to: Targets = None,
    ) -> StreamChunk:
        """Send one stream chunk in at OpenSea."""
        ...

    async def fetch(
        self,
        from_: Node | str | None = None,
        *,
        trace_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - SPEC 2.4's signature
        tenant: str | None = None,
    ) -> Any:
        """Return the next Rookery item (of ``trace_id`` only, if given); see SPEC 2.4."""
        ...

    async def first_result(
        self,
        trace_id: str | None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - like fetch's timeout (SPEC 2.4)
    ) -> Any:
        """Return the first Rookery item of ``trace_id``; fail once the trace ends without one."""
        ...

    async def cancel(self, trace_id: str, *, tenant: str | None = None) -> bool:
        """Cancel one trace."""
        ...

    async def wait_idle(self, trace_id: str) -> None:
        """Wait until nothing of ``trace_id`` is left in the flow."""
        ...

    def statistics(self) -> FlowStatistics:
        """A snapshot of the flow's load and losses."""
        ...


PlaybookBuilder: TypeAlias = Callable[[], "Flow | tuple[Flow, ModelRegistry | None]"]
"""What ``ctx.call_playbook`` takes: a callable returning a flow or ``(flow, registry)``."""


@runtime_checkable
class Planner(Protocol):
    """An agent run on a query and resumed after a pause (`penguiflow.planner.ReactPlanner`).

    The A2A server, the tool node and the playground drive planners through
    this protocol, so they never import ``penguiflow.planner``.
    """

    async def run(
        self,
        query: str,
        *,
        llm_context: Mapping[str, Any] | None = None,
        tool_context: Mapping[str, Any] | None = None,
    ) -> object:
        """Run the agent on ``query``; return its finish or its pause."""
        ...

    async def resume(self, token: str, user_input: Any = None) -> object:
        """Continue a paused run with the user's answer."""
        ...


# Classes whose instances passed the protocol check: the members a protocol asks
# for are the class's own, so the next instance needs only a type look-up.
_FLOW_TYPES: set[type] = set()
_PLANNER_TYPES: set[type] = set()


def is_flow(value: object) -> TypeIs[Flow]:
    """Whether ``value`` is a flow (an instance with the `Flow` members; a class is not one)."""
    kind = type(value)
    if kind in _FLOW_TYPES:
        return True
    if isinstance(value, type) or not isinstance(value, Flow):
        return False
    _FLOW_TYPES.add(kind)
    return True


def is_planner(value: object) -> TypeIs[Planner]:
    """Whether ``value`` is a planner (an instance with ``run`` and ``resume``; not a class)."""
    kind = type(value)
    if kind in _PLANNER_TYPES:
        return True
    if isinstance(value, type) or not isinstance(value, Planner):
        return False
    _PLANNER_TYPES.add(kind)
    return True
