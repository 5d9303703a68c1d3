"""Context: what a node function can do besides returning a value.

The context reaches its node's worker through `ContextOwner` (so this module
does not import the worker) and reaches beyond the kernel only through the
`NodeHost` the facade hands to every worker: the `Flow` that
``ctx.runtime`` returns and the playbook runner behind ``ctx.call_playbook``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from penguiflow._kernel.floe import Floe, Inbox
from penguiflow._kernel.runtime import FlowRuntime
from penguiflow._kernel.timeouts import check_timeout
from penguiflow.errors import FetchTimeout
from penguiflow.node import Node, Targets
from penguiflow.protocols import Flow, PlaybookBuilder
from penguiflow.types import Message, StreamChunk

__all__ = ["Context", "ContextOwner", "NodeHost", "PlaybookRunner"]


class PlaybookRunner(Protocol):
    """Runs a playbook for a message and returns its first result's payload."""

    def __call__(
        self, builder: PlaybookBuilder, parent_msg: Any, *, timeout: float | None = None
    ) -> Awaitable[Any]:
        """See `penguiflow.playbook.call_playbook`."""
        ...


@dataclass(frozen=True, slots=True)
class NodeHost:
    """What node code reaches beyond the kernel, supplied by the facade that runs the flow.

    Attributes:
        flow: The flow the node runs in (``ctx.runtime``).
        run_playbook: The runner behind ``ctx.call_playbook``
            (`penguiflow.playbook.call_playbook` in a `PenguiFlow`).
    """

    flow: Flow
    run_playbook: PlaybookRunner


class ContextOwner(Protocol):
    """The worker side of a `Context`: the node, its message and its routing."""

    node: Node
    runtime: FlowRuntime
    host: NodeHost
    inbox: Inbox
    current_trace: str | None
    current_message: Message | None
    direct: Floe | None

    def targets(self, to: Targets) -> list[Floe]:
        """Resolve ``to`` to the node's outgoing floes."""
        ...

    async def route(self, item: Any, to: Targets) -> None:
        """Send ``item`` downstream."""
        ...


class Context:
    """Handed to every node call as its second argument.

    One context exists per node; ``trace_id`` and ``message`` describe the
    message being processed right now.
    """

    __slots__ = ("_worker",)

    def __init__(self, worker: ContextOwner) -> None:
        self._worker = worker

    @property
    def owner(self) -> Node:
        """The node this context belongs to."""
        return self._worker.node

    @property
    def runtime(self) -> Flow:
        """The flow running this node (a `penguiflow.core.PenguiFlow`)."""
        return self._worker.host.flow

    @property
    def trace_id(self) -> str | None:
        """Trace of the message being processed (``None`` for payload-only messages)."""
        return self._worker.current_trace

    @property
    def message(self) -> Message | None:
        """The envelope being processed, also when the node received only its payload."""
        return self._worker.current_message

    @property
    def meta(self) -> dict[str, Any] | None:
        """``meta`` of the envelope being processed, or ``None`` for payload-only messages."""
        message = self._worker.current_message
        return message.meta if message is not None else None

    @property
    def is_cancelled(self) -> bool:
        """Whether the current trace has been cancelled."""
        trace_id = self._worker.current_trace
        if trace_id is None:
            return False
        state = self._worker.runtime.traces.get(trace_id)
        return bool(state is not None and state.cancelled)

    def on_trace_idle(self, callback: Callable[[str], None]) -> None:
        """Run ``callback(trace_id)`` once nothing of the current trace is left in the flow.

        "Nothing left" means no message of the trace is queued, being processed
        or waiting in Rookery: the trace finished, was cancelled, or every branch
        stopped. Stateful nodes (such as a join) use it to free per-trace state.

        Raises:
            RuntimeError: The current message is not an envelope (no trace).
        """
        trace_id = self._worker.current_trace
        if trace_id is None:
            raise RuntimeError(
                f"node {self._worker.node.name!r}: on_trace_idle needs an envelope (Message) "
                "with a trace id; payload-only messages have none"
            )
        self._worker.runtime.traces.add_idle_callback(trace_id, callback)

    async def emit(self, msg: Any, to: Targets = None) -> None:
        """Send ``msg`` to the node's successors (or Rookery if it has none).

        Waits while a target floe is full (backpressure).

        Args:
            msg: A payload or a ``Message``.
            to: Successor node(s) or name(s); all successors when ``None``.

        Raises:
            ValueError: If ``to`` names a node that is not a successor.
            TraceCancelled: If the message's trace has been cancelled.
        """
        await self._worker.route(msg, to)

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
        """Send one `StreamChunk` downstream, wrapped in an envelope derived from ``parent``.

        The envelope keeps the parent's trace id, headers and deadline and gets a
        copy of its ``meta``. ``seq`` counts up per ``stream_id`` (default: the
        parent's trace id) without gaps and starts again after ``done=True``.
        Backpressure is the same as for `emit`.

        Args:
            parent: The envelope the stream belongs to.
            text: The chunk's text (an LLM token, a status line, ...).
            stream_id: Stream to append to; defaults to ``parent.trace_id``.
            seq: Explicit position; the counter continues from it.
            done: Marks the last chunk of the stream.
            meta: Extra data for the consumer.
            to: Successor node(s) or name(s); all successors when ``None``.

        Returns:
            The chunk that was sent.

        Raises:
            TypeError: ``parent`` is not a ``Message`` or ``text`` is not a ``str``.
            ValueError: ``to`` is not a successor, or ``seq`` is negative.
            TraceCancelled: The trace is being cancelled.
        """
        worker = self._worker
        if to is not None:
            worker.targets(to)  # reject a bad target before a sequence number is used up
        message = worker.runtime.streams.build(
            parent, text, stream_id=stream_id, seq=seq, done=done, meta=meta
        )
        direct = worker.direct
        if to is not None or direct is None:
            await worker.route(message, to)
        elif not worker.runtime.try_deliver(direct, message):  # `route` for the common case
            await worker.runtime.deliver(direct, message)
        chunk: StreamChunk = message.payload
        return chunk

    def emit_nowait(self, msg: Any, to: Targets = None) -> None:
        """Like `emit` but raise ``asyncio.QueueFull`` instead of waiting.

        Controller budgets are not applied here; use `emit` from controllers.

        Raises:
            asyncio.QueueFull: A target floe is full (nothing was sent).
            ValueError: If ``to`` names a node that is not a successor.
        """
        self._worker.runtime.deliver_nowait(self._worker.targets(to), msg)

    async def fetch(
        self,
        from_: Node | str | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - like flow.fetch (SPEC 2.4)
    ) -> Any:
        """Take the next message from this node's incoming floes (or one predecessor's).

        On a node with ``max_concurrency > 1`` this takes whatever comes next,
        whichever trace it belongs to.

        Raises:
            ValueError: If ``from_`` is not a predecessor.
            FetchTimeout: Nothing arrived within ``timeout`` seconds.
        """
        return await self._take(None if from_ is None else [from_], timeout)

    async def fetch_any(
        self,
        from_: Sequence[Node | str] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - like flow.fetch_any (SPEC 2.4)
    ) -> Any:
        """Take the next message from any of the given predecessors (all when ``None``)."""
        return await self._take(from_, timeout)

    async def _take(
        self,
        sources: Sequence[Node | str] | None,
        timeout: float | None,  # noqa: ASYNC109 - the public fetch's timeout, passed on
    ) -> Any:
        worker = self._worker
        floes: list[Floe] | None = None
        if sources is not None:
            floes = []
            for source in sources:
                match = [
                    f for f in worker.inbox.floes if f.source is source or f.source.name == source
                ]
                if not match:
                    known = [f.source.name for f in worker.inbox.floes]
                    raise ValueError(
                        f"node {worker.node.name!r} has no incoming floe from {source!r} "
                        f"(predecessors: {known})"
                    )
                floes.extend(match)
        check_timeout(timeout)
        try:
            async with asyncio.timeout(timeout):
                item = await worker.inbox.take(floes)
        except TimeoutError:
            raise FetchTimeout(None, timeout) from None
        if isinstance(item, Message):
            # The node now holds it: it no longer counts as queued for its trace.
            worker.runtime.traces.done(item.trace_id)
        return item

    async def call_playbook(
        self,
        builder: PlaybookBuilder,
        parent_msg: Any,
        timeout: float | None = None,  # noqa: ASYNC109 - public API shape from the seed docs
    ) -> Any:
        """Run a subflow for ``parent_msg`` and return its first result's payload.

        See `penguiflow.playbook.call_playbook`.
        """
        return await self._worker.host.run_playbook(builder, parent_msg, timeout=timeout)

    def queue_depth_in(self) -> int:
        """Messages waiting in this node's incoming floes."""
        return self._worker.runtime.depth_in(self._worker.node)

    def queue_depth_out(self) -> int:
        """Messages waiting in this node's outgoing floes."""
        return self._worker.runtime.depth_out(self._worker.node)

    def __repr__(self) -> str:
        return f"Context(owner={self._worker.node.name!r}, trace_id={self.trace_id!r})"
