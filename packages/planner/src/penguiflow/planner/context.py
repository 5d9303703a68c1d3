"""`ToolContext`: what a tool receives next to its arguments when the planner calls it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, NoReturn

__all__ = ["PauseRequested", "ToolContext", "check_llm_context"]

ChunkSink = Callable[[str, int, str, bool, dict[str, Any]], Awaitable[None]]


class PauseRequested(Exception):
    """Raised by `ToolContext.pause`; the planner turns it into a `PlannerPause`.

    A control-flow signal, deliberately not a `penguiflow.planner.errors.PlannerError`:
    error handlers in tools must let a pause through.
    """

    def __init__(self, reason: str, payload: dict[str, Any]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.payload = payload


def check_llm_context(llm_context: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a copy of ``llm_context`` if it is JSON-serialisable.

    Raises:
        TypeError: It is not a mapping, or a value is not JSON (the message names it).
    """
    if llm_context is None:
        return {}
    if not isinstance(llm_context, Mapping):
        raise TypeError(f"llm_context must be a mapping; got {type(llm_context).__name__}")
    for key, value in llm_context.items():
        try:
            json.dumps({key: value})
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"llm_context[{key!r}] is not JSON-serialisable ({exc}); llm_context is sent "
                "to the LLM — put Python objects in tool_context instead"
            ) from None
    return json.loads(json.dumps(dict(llm_context)))  # type: ignore[no-any-return]


class ToolContext:
    """Handed to every tool the planner calls.

    Attributes:
        llm_context: JSON data the LLM also sees (read-only).
        tool_context: Python objects for the tools only (clients, handles); never sent.
        meta: Scratch space shared by the tools of one run.
        trace_id: The run's id.
    """

    def __init__(
        self,
        *,
        llm_context: Mapping[str, Any],
        tool_context: dict[str, Any],
        meta: dict[str, Any],
        trace_id: str,
        node_name: str,
        chunk_sink: ChunkSink,
    ) -> None:
        self.llm_context: Mapping[str, Any] = MappingProxyType(dict(llm_context))
        self.tool_context = tool_context
        self.meta = meta
        self.trace_id = trace_id
        self.node_name = node_name
        self._chunk_sink = chunk_sink

    async def emit_chunk(
        self,
        stream_id: str,
        seq: int,
        text: str,
        *,
        done: bool = False,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        """Report a piece of streamed output (a ``stream_chunk`` event, kept on the trajectory).

        Raises:
            TypeError: ``stream_id`` or ``text`` is not a string, ``seq`` not an int.
            ValueError: ``seq`` is negative.
        """
        if type(stream_id) is not str or type(text) is not str:
            raise TypeError("emit_chunk(stream_id, seq, text): stream_id and text must be str")
        if type(seq) is not int:
            raise TypeError(f"emit_chunk: seq must be an int; got {seq!r}")
        if seq < 0:
            raise ValueError(f"emit_chunk: seq must be >= 0; got {seq}")
        await self._chunk_sink(stream_id, seq, text, bool(done), dict(meta or {}))

    async def pause(self, reason: str, payload: Mapping[str, Any] | None = None) -> NoReturn:
        """Stop the run here and hand control back to the caller.

        ``planner.run`` returns a `PlannerPause` carrying ``reason``, ``payload`` and
        a resume token; ``planner.resume(token, user_input)`` continues the run,
        giving this tool's step the user's input as its observation.

        Raises:
            TypeError: ``payload`` is not JSON-serialisable.
        """
        data = dict(payload or {})
        try:
            json.dumps(data)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"pause payload must be JSON-serialisable: {exc}") from None
        raise PauseRequested(str(reason), data)

    def __repr__(self) -> str:
        return f"ToolContext(node={self.node_name!r}, trace_id={self.trace_id!r})"
