"""What a planner node passes on from each run: its events and its streamed chunks.

`NodeEventCallback` is the type of ``planner_node(event_callback=...)``: it
gets every `PlannerEvent` of every run with the run's `FlowOrigin`, since one
node serves many traces.

A `planner_node` built with ``stream_chunks=True`` gives each run a
`ChunkForwarder` as an extra event callback. The forwarder turns the two
kinds of streamed output the planner reports as events into flow
`penguiflow.StreamChunk` envelopes of the message's trace, sent with
``ctx.emit_chunk`` where the node's results go:

* **answer** (``llm_stream_chunk`` events, with ``stream_final_response=True``):
  the final answer as the LLM writes it, one stream per run;
* **tool** (``stream_chunk`` events): what a tool sends with
  ``ToolContext.emit_chunk``, one flow stream per tool stream.

Every chunk's ``meta`` says which: ``{"kind": "answer", "node": ...}`` or
``{"kind": "tool", "node": ..., "tool": ..., "tool_stream_id": ...,
"tool_seq": ..., "tool_meta": ...}``. The flow numbers each stream itself, so
``seq`` has no gaps even when a tool's own numbers do (they stay in
``tool_seq``).

Design notes. The planner awaits its event callback, so each chunk is in the
flow before the planner goes on: chunks keep their order, arrive before the
node's result, and a full floe slows the planner down (backpressure) instead
of piling chunks up. Every stream is closed with ``done=True``: a tool stream
when its tool's call ends (``step_complete``, ``branch_complete``,
``tool_error``, or ``parallel_complete`` for a join), and whatever is still
open (a paused tool's stream, say) when the node calls
`ChunkForwarder.close`; a closing chunk the forwarder adds has empty text and
``tool_seq=None``. Once the trace is cancelled the forwarder goes quiet
instead of failing every later event.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Literal, cast

from penguiflow.context import Context
from penguiflow.errors import TraceCancelled
from penguiflow.planner.events import PlannerEvent
from penguiflow.planner.stream_answer import STREAM_EVENT
from penguiflow.types import Message

__all__ = ["ChunkForwarder", "NodeEventCallback", "StreamKind", "check_event_callback"]

StreamKind = Literal["answer", "tool"]
"""``meta["kind"]`` of a forwarded chunk."""

NodeEventCallback = Callable[[PlannerEvent, Any], Awaitable[None] | None]
"""``(event, origin) -> None`` or an awaitable: a planner node's event callback.

``origin`` is the run's `penguiflow.planner.flows.FlowOrigin` (typed ``Any``
here because `penguiflow.planner.flows` imports this module).
"""

_TOOL_CHUNK = "stream_chunk"
_TOOL_CALL_ENDS = frozenset({"step_complete", "branch_complete", "tool_error"})
_STEP_ENDS = frozenset({"parallel_complete"})  # also ends the join tool's call


class ChunkForwarder:
    """Sends one planner run's answer and tool chunks into the flow, in the message's trace.

    Give `on_event` to the run as an event callback, and call `close` when
    the run returns (see the module docstring for the streams and their ``meta``).

    Args:
        ctx: The planner node's context (chunks go where its results go).
        message: The envelope the run works for; chunks inherit its trace id,
            headers and meta.
        node_name: The planner node's name (``meta["node"]``, part of stream ids).

    Raises:
        RuntimeError: ``message`` is ``None``: a payload-only flow has no trace to stream in.
    """

    __slots__ = ("_ctx", "_message", "_node", "_open", "_quiet")

    def __init__(self, ctx: Context, message: Message | None, node_name: str) -> None:
        if message is None:
            raise RuntimeError(
                f"planner node {node_name!r}: stream_chunks=True streams in the message's "
                "trace, but this flow sends bare payloads (no envelope, no trace); emit "
                "Message envelopes, or build the node without stream_chunks"
            )
        self._ctx = ctx
        self._message = message
        self._node = node_name
        self._open: dict[str, dict[str, Any]] = {}  # stream id -> meta of its closing chunk
        self._quiet = False

    @property
    def answer_stream_id(self) -> str:
        """The stream id of the run's answer: ``"<trace id>:<node>:answer"``."""
        return f"{self._message.trace_id}:{self._node}:answer"

    def tool_stream_id(self, tool: str, stream_id: str) -> str:
        """The flow stream id of a tool stream: ``"<trace id>:<node>:tool:<tool>:<stream id>"``."""
        return f"{self._message.trace_id}:{self._node}:tool:{tool}:{stream_id}"

    async def on_event(self, event: PlannerEvent) -> None:
        """Forward the chunk ``event`` carries, or close the streams it ends; ignore the rest."""
        kind = event.event_type
        if kind == STREAM_EVENT:
            meta: dict[str, Any] = {"kind": "answer", "node": self._node}
            if event.error is not None:
                meta["error"] = event.error
            extra = event.extra
            await self._send(self.answer_stream_id, str(extra["text"]), bool(extra["done"]), meta)
        elif kind == _TOOL_CHUNK and event.node_name is not None:
            await self._tool_chunk(event.node_name, event.extra)
        elif kind in _TOOL_CALL_ENDS and event.node_name is not None:
            await self._close(lambda meta: meta.get("tool") == event.node_name)
        elif kind in _STEP_ENDS:
            await self._close(lambda meta: meta["kind"] == "tool")

    async def close(self) -> None:
        """Send ``done=True`` on every stream still open (the run is over)."""
        await self._close(lambda meta: True)

    async def _tool_chunk(self, tool: str, extra: dict[str, Any]) -> None:
        source = str(extra["stream_id"])
        meta = {
            "kind": "tool",
            "node": self._node,
            "tool": tool,
            "tool_stream_id": source,
            "tool_seq": extra["seq"],
            "tool_meta": extra.get("meta") or {},
        }
        stream_id = self.tool_stream_id(tool, source)
        await self._send(stream_id, str(extra["text"]), bool(extra["done"]), meta)

    async def _close(self, which: Callable[[dict[str, Any]], bool]) -> None:
        for stream_id, meta in list(self._open.items()):
            if which(meta):
                await self._send(stream_id, "", True, meta)

    async def _send(self, stream_id: str, text: str, done: bool, meta: dict[str, Any]) -> None:
        if self._quiet:
            return
        try:
            await self._ctx.emit_chunk(
                self._message, text, stream_id=stream_id, done=done, meta=meta
            )
        except TraceCancelled:
            # The trace is gone (its streams' counters too): nothing more to say in it.
            self._quiet = True
            self._open.clear()
            return
        if done:
            self._open.pop(stream_id, None)
        else:
            self._open[stream_id] = _closing_meta(meta)


def _closing_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The ``meta`` of the ``done`` chunk the forwarder adds to close a stream."""
    if meta["kind"] == "tool":
        return {**meta, "tool_seq": None, "tool_meta": {}}
    return {key: value for key, value in meta.items() if key != "error"}


def check_event_callback(value: Any, node_name: str) -> NodeEventCallback | None:
    """Return ``value`` if it can be a `NodeEventCallback` (or is ``None``).

    Raises:
        TypeError: ``value`` is not a function, or cannot take ``(event, origin)``.
    """
    if value is None:
        return None
    if isinstance(value, type) or not callable(value):
        raise TypeError(
            f"planner_node {node_name!r}: event_callback must be a function; got {value!r:.80}"
        )
    try:
        inspect.signature(value).bind(None, None)
    except TypeError:
        raise TypeError(
            f"planner_node {node_name!r}: event_callback is called as callback(event, origin); "
            f"{value!r:.80} does not take two arguments"
        ) from None
    except ValueError:
        pass  # no signature to check (some builtins): trust it
    return cast(NodeEventCallback, value)
