"""Streaming helpers: follow a trace's chunks (`stream_flow`), ship them as SSE/WebSocket text."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Any, Generic, TypeVar

from pydantic_core import PydanticSerializationError, to_json

from penguiflow.errors import FetchTimeout, FlowError, FlowErrorCode, TraceEnded
from penguiflow.node import Targets
from penguiflow.protocols import Flow, is_flow
from penguiflow.types import Message, StreamChunk

__all__ = [
    "TraceStream",
    "chunk_to_ws_json",
    "emit_stream_events",
    "format_sse_event",
    "stream_flow",
]


# -- Presentation: SSE and WebSocket text ---------------------------------------


def format_sse_event(
    chunk: StreamChunk | Message,
    *,
    event: str | None = "chunk",
    id: str | int | None = None,
) -> str:
    """Render a chunk as one Server-Sent Events event.

    The event is ``event:`` and ``id:`` lines (when given), then the chunk as
    JSON (``stream_id``, ``seq``, ``text``, ``done``, ``meta``) on ``data:``
    lines, then the blank line that ends an event. Text containing newlines
    is safe: JSON escapes them, so the data never breaks the framing.

    Args:
        chunk: A `StreamChunk`, or a `Message` carrying one (as fetched from
            Rookery); the envelope itself is not rendered.
        event: The SSE event name (``None`` omits the line, and clients see a
            plain ``message`` event).
        id: Optional SSE event id (a client sends the last one back as
            ``Last-Event-ID`` when it reconnects).

    Returns:
        The event text, ending with a blank line.

    Raises:
        TypeError: ``chunk`` is neither a `StreamChunk` nor a `Message` carrying
            one, or its ``meta`` is not JSON-serialisable.
        ValueError: ``event`` or ``id`` is empty or contains a line break.

    Example:
        >>> from penguiflow import StreamChunk
        >>> print(format_sse_event(StreamChunk(stream_id="s", seq=0, text="Hi")), end="")
        event: chunk
        data: {"stream_id":"s","seq":0,"text":"Hi","done":false,"meta":{}}
        <BLANKLINE>
    """
    head = _sse_head(event, id)
    source = _chunk_of(chunk, "format_sse_event")
    return head + _sse_data(_chunk_json(source, "format_sse_event"))


def chunk_to_ws_json(chunk: StreamChunk | Message) -> str:
    """Render a chunk as the JSON text of one WebSocket frame.

    The object has the same fields as the ``data`` of `format_sse_event`:
    ``stream_id``, ``seq``, ``text``, ``done`` and ``meta``.

    Args:
        chunk: A `StreamChunk`, or a `Message` carrying one.

    Raises:
        TypeError: ``chunk`` is neither a `StreamChunk` nor a `Message` carrying
            one, or its ``meta`` is not JSON-serialisable.

    Example:
        >>> from penguiflow import StreamChunk
        >>> chunk_to_ws_json(StreamChunk(stream_id="s", seq=3, text="!", done=True))
        '{"stream_id":"s","seq":3,"text":"!","done":true,"meta":{}}'
    """
    return _chunk_json(_chunk_of(chunk, "chunk_to_ws_json"), "chunk_to_ws_json")


def _chunk_of(value: Any, caller: str) -> StreamChunk:
    if isinstance(value, StreamChunk):
        return value
    if isinstance(value, Message):
        payload = value.payload
        if isinstance(payload, StreamChunk):
            return payload
        raise TypeError(
            f"{caller} needs a StreamChunk or a Message carrying one; "
            f"got a Message carrying {type(payload).__name__}"
        )
    raise TypeError(
        f"{caller} needs a StreamChunk or a Message carrying one; got {type(value).__name__}"
    )


def _chunk_json(chunk: StreamChunk, caller: str) -> str:
    try:
        return chunk.model_dump_json()
    except PydanticSerializationError as exc:
        raise TypeError(
            f"{caller}: chunk {chunk.seq} of stream {chunk.stream_id!r} has a meta value "
            f"that is not JSON-serialisable ({exc})"
        ) from exc


def _sse_head(event: str | None, ident: str | int | None) -> str:
    head = ""
    if event is not None:
        if type(event) is not str or not event or _has_break(event):
            raise ValueError(f"SSE event name must be a non-empty one-line str; got {event!r}")
        head = f"event: {event}\n"
    if ident is not None:
        if type(ident) is int:
            ident = str(ident)
        if type(ident) is not str or not ident or _has_break(ident) or "\0" in ident:
            raise ValueError(
                f"SSE id must be an int or a non-empty one-line str without NUL; got {ident!r}"
            )
        head += f"id: {ident}\n"
    return head


def _has_break(text: str) -> bool:
    return "\n" in text or "\r" in text


def _sse_data(data: str) -> str:
    # SSE ends a line at CRLF, LF or CR; each line of the data gets its own field.
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "".join(f"data: {line}\n" for line in lines) + "\n"


# -- Following one trace: stream_flow -------------------------------------------
#
# Design notes. The stream reads Rookery with `flow.fetch(trace_id=...)` in the
# consumer's own task, so there is no per-chunk task and no watcher: the fetch
# itself raises `TraceEnded` once nothing of the trace is left (every branch
# returned None, or it was cancelled elsewhere), and its ``timeout`` carries
# what is left of the stream's budget.

_T_co = TypeVar("_T_co", covariant=True)


class TraceStream(Generic[_T_co]):
    """An async iterator over one trace's output, also usable as ``async with``.

    Returned by `stream_flow` and `emit_stream_events`; not built directly.
    Iterating starts the stream (the message is emitted on the first step).
    Leaving ``async with``, calling `aclose`, or cancelling the consuming task
    before the stream ended cancels the trace. A plain ``async for`` left with
    ``break`` is cleaned up when the iterator is garbage-collected (asyncio
    finalises abandoned async generators); use ``async with`` or `aclose` to
    make that happen at once.

    Attributes:
        trace_id: The trace being followed.
    """

    __slots__ = ("_agen", "trace_id")

    def __init__(self, agen: AsyncGenerator[_T_co, None], trace_id: str) -> None:
        self._agen = agen
        self.trace_id: str = trace_id

    def __aiter__(self) -> AsyncIterator[_T_co]:
        return self._agen

    def __anext__(self) -> Awaitable[_T_co]:
        return self._agen.__anext__()

    async def aclose(self) -> None:
        """Stop following the trace; cancel it if it had not finished. Idempotent."""
        await self._agen.aclose()

    async def __aenter__(self) -> TraceStream[_T_co]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"TraceStream(trace_id={self.trace_id!r})"


def stream_flow(
    flow: Flow,
    message: Message,
    *,
    to: Targets = None,
    timeout_s: float | None = None,
) -> TraceStream[Any]:
    """Emit ``message`` and iterate over what its trace delivers to Rookery.

    Yields the `StreamChunk` of every chunk envelope of the trace that reaches
    Rookery, in arrival order, then the first result that is not a chunk,
    exactly as `PenguiFlow.fetch` returns it (usually a `Message`; a
    `FlowError` when the flow delivers errors to Rookery), and stops. It also
    stops, without a final result, when nothing of the trace is left in the
    flow (every branch returned ``None``, or someone cancelled it). Route the
    chunks and the final result through the same egress node to keep them in
    order: results from different egress nodes may interleave.

    Stopping early cancels the trace (``flow.cancel``), so the producer stops
    instead of blocking on a full floe: leaving ``async with``, `aclose`, a
    cancelled consumer, a timeout, or the garbage collection of an abandoned
    iterator. A trace that ended by itself is not cancelled.

    Args:
        flow: A running flow.
        message: The envelope to emit; its ``trace_id`` is the trace followed.
        to: Ingress node(s) to emit to (all when ``None``).
        timeout_s: Budget in seconds for the whole stream, counted from the
            first iteration step; ``None`` waits as long as the trace runs.

    Returns:
        A `TraceStream`: ``async for`` over it, or use it with ``async with``.

    Raises:
        TypeError: ``flow`` is not a `PenguiFlow` or ``message`` not a `Message`.
        RuntimeError: The flow is not running.
        ValueError: ``timeout_s`` is not a positive number.

    Iteration raises ``TimeoutError`` when ``timeout_s`` runs out (after
    cancelling the trace), ``RuntimeError`` if the flow stops, and whatever
    `PenguiFlow.emit` raises for the message.

    Example:
        >>> async with stream_flow(flow, msg, timeout_s=30) as items:  # doctest: +SKIP
        ...     async for item in items:
        ...         if isinstance(item, StreamChunk):
        ...             print(item.text, end="")
        ...         else:
        ...             answer = item
    """
    _check_stream_args("stream_flow", flow, message, timeout_s)
    return TraceStream(_follow_trace(flow, message, to, timeout_s), message.trace_id)


def emit_stream_events(
    flow: Flow,
    message: Message,
    *,
    to: Targets = None,
    timeout_s: float | None = None,
) -> TraceStream[str]:
    """Like `stream_flow`, but yield ready-to-send Server-Sent Events text.

    Made for web frameworks: write each string to a ``text/event-stream``
    response as it comes. The events, in order:

    * ``chunk`` for every chunk (data: the chunk as JSON, see `format_sse_event`);
    * ``final`` with the final result's payload as JSON (a `Message` is
      unwrapped; pydantic models, dataclasses and plain JSON values work), or
      ``error`` with `FlowError.to_payload` when the final result is a
      `FlowError`, or ``error`` with code ``DEADLINE_EXCEEDED`` when
      ``timeout_s`` runs out;
    * ``end`` (data: ``{"trace_id": ...}``), always last, so a client knows
      to close instead of reconnecting.

    Args:
        flow: A running flow.
        message: The envelope to emit.
        to: Ingress node(s) to emit to (all when ``None``).
        timeout_s: Budget in seconds for the whole stream (see `stream_flow`).

    Returns:
        A `TraceStream` of strings; cleanup and cancellation work as for
        `stream_flow`.

    Raises:
        TypeError: As for `stream_flow`; while iterating, also when a chunk's
            ``meta`` or the final result is not JSON-serialisable.
        RuntimeError: The flow is not running.
        ValueError: ``timeout_s`` is not a positive number.

    Example:
        >>> async def sse_body(flow, msg):  # doctest: +SKIP
        ...     async with emit_stream_events(flow, msg) as events:
        ...         async for text in events:
        ...             yield text.encode()
    """
    _check_stream_args("emit_stream_events", flow, message, timeout_s)
    stream = TraceStream(_follow_trace(flow, message, to, timeout_s), message.trace_id)
    return TraceStream(_sse_events(stream), message.trace_id)


def _check_stream_args(caller: str, flow: Any, message: Any, timeout_s: Any) -> None:
    if not is_flow(flow):
        raise TypeError(f"{caller} needs a flow (a PenguiFlow); got {type(flow).__name__}")
    if not isinstance(message, Message):
        raise TypeError(
            f"{caller} needs a Message (its trace_id is the trace to follow); "
            f"got {type(message).__name__}"
        )
    if not flow.running:
        raise RuntimeError(
            f"{caller}: the flow is not running; call flow.run() first (and not after stop())"
        )
    if timeout_s is not None and (
        type(timeout_s) not in (int, float) or not timeout_s > 0 or math.isnan(timeout_s)
    ):
        raise ValueError(f"{caller} timeout_s must be a number > 0 or None; got {timeout_s!r}")


async def _follow_trace(
    flow: Flow, message: Message, to: Targets, timeout_s: float | None
) -> AsyncGenerator[Any, None]:
    loop = asyncio.get_running_loop()
    trace_id = message.trace_id
    deadline = None if timeout_s is None else loop.time() + timeout_s
    settled = False  # the trace ended by itself: nothing to cancel
    try:
        try:
            async with asyncio.timeout_at(deadline):
                await flow.emit(message, to=to)
        except TimeoutError:
            raise _stream_timeout(trace_id, timeout_s) from None
        fetch = flow.fetch
        while True:
            remaining = None if deadline is None else max(deadline - loop.time(), 1e-6)
            try:
                item = await fetch(trace_id=trace_id, timeout=remaining)
            except TraceEnded:
                settled = True  # nothing of the trace is left in the flow
                return
            except FetchTimeout:
                raise _stream_timeout(trace_id, timeout_s) from None
            if isinstance(item, Message):
                payload = item.payload
                if isinstance(payload, StreamChunk):
                    yield payload
                    continue
            settled = True
            yield item
            return
    finally:
        if not settled:
            await flow.cancel(trace_id)


def _stream_timeout(trace_id: str, timeout_s: float | None) -> TimeoutError:
    return TimeoutError(
        f"stream_flow: trace {trace_id!r} did not finish within {timeout_s}s and was cancelled"
    )


async def _sse_events(stream: TraceStream[Any]) -> AsyncGenerator[str, None]:
    async with stream:
        try:
            async for item in stream:
                if isinstance(item, StreamChunk):
                    yield format_sse_event(item)
                elif isinstance(item, FlowError):
                    yield _sse_head("error", None) + _sse_data(_result_json(item.to_payload()))
                else:
                    value = item.payload if isinstance(item, Message) else item
                    yield _sse_head("final", None) + _sse_data(_result_json(value))
        except TimeoutError as exc:
            error = {
                "code": FlowErrorCode.DEADLINE_EXCEEDED.value,
                "message": str(exc),
                "trace_id": stream.trace_id,
            }
            yield _sse_head("error", None) + _sse_data(_result_json(error))
    yield _sse_head("end", None) + _sse_data(_result_json({"trace_id": stream.trace_id}))


def _result_json(value: Any) -> str:
    try:
        return to_json(value).decode()
    except PydanticSerializationError as exc:
        raise TypeError(
            f"emit_stream_events: the final result ({type(value).__name__}) is not "
            f"JSON-serialisable ({exc})"
        ) from exc
