"""Stream sequencing: gap-free ``seq`` numbers per stream and the chunk envelopes carrying them."""

from __future__ import annotations

from typing import Any

from penguiflow._kernel.envelope import build_model, rewrap
from penguiflow.types import Message, StreamChunk

__all__ = ["StreamSequencer"]


class StreamSequencer:
    """Hands out gap-free ``seq`` numbers per ``stream_id`` for one flow.

    A stream's counter starts at 0, follows an explicit ``seq`` when one is
    given, and is forgotten after a ``done=True`` chunk (so the id can be
    reused) or when the trace it belongs to ends (it went idle or was
    cancelled), so streams that never said ``done`` do not accumulate. A
    stream opened from outside the flow (``flow.emit_chunk``, ``external``)
    outlives its trace going idle between two chunks, since its producer is
    not in the flow; it ends with ``done`` or a cancel. Each trace indexes its
    own open streams, so forgetting a trace costs the number of *its*
    streams, not the number open in the flow.
    """

    __slots__ = ("_by_trace", "_external", "_next", "_owner")

    def __init__(self) -> None:
        self._next: dict[str, int] = {}
        self._owner: dict[str, str] = {}  # stream id -> trace that opened it
        self._by_trace: dict[str, set[str]] = {}  # trace -> its open stream ids
        self._external: set[str] = set()  # streams opened from outside the flow

    def __len__(self) -> int:
        return len(self._next)

    def build(
        self,
        parent: Message,
        text: str,
        *,
        stream_id: str | None,
        seq: int | None,
        done: bool,
        meta: dict[str, Any] | None,
        external: bool = False,
    ) -> Message:
        """Return the envelope of the next chunk of the stream.

        ``external``: the chunk comes from outside the flow (see the class docstring).

        Raises:
            TypeError: ``parent`` is not a Message or a field has the wrong type.
            ValueError: ``seq`` is negative.
        """
        if not isinstance(parent, Message):
            raise TypeError(
                "emit_chunk needs parent=<Message>: streaming inherits the parent's trace id, "
                "headers and meta, so payload-only messages cannot stream "
                f"(got {type(parent).__name__})"
            )
        if type(text) is not str:
            raise TypeError(f"emit_chunk text must be a str; got {type(text).__name__}")
        if stream_id is None:
            key = parent.trace_id
        elif type(stream_id) is str:
            key = stream_id
        else:
            raise TypeError(f"emit_chunk stream_id must be a str; got {type(stream_id).__name__}")
        counters = self._next
        current = counters.get(key)
        if seq is None:
            seq = 0 if current is None else current
        elif type(seq) is not int or seq < 0:
            raise ValueError(f"emit_chunk seq must be an int >= 0; got {seq!r}")
        if done:
            if current is not None:
                del counters[key]
                self._close(key)
        else:
            counters[key] = seq + 1
            if current is None:
                self._open(key, parent.trace_id)
                if external:
                    self._external.add(key)
        chunk = _chunk(key, seq, text, bool(done), {} if meta is None else dict(meta))
        return rewrap(parent, chunk, copy_meta=True)

    def _open(self, key: str, trace_id: str) -> None:
        self._owner[key] = trace_id
        streams = self._by_trace.get(trace_id)
        if streams is None:
            self._by_trace[trace_id] = {key}
        else:
            streams.add(key)

    def _close(self, key: str) -> None:
        if self._external:
            self._external.discard(key)
        trace_id = self._owner.pop(key)
        streams = self._by_trace[trace_id]
        streams.discard(key)
        if not streams:
            del self._by_trace[trace_id]

    def forget_trace(self, trace_id: str, *, keep_external: bool = False) -> None:
        """Drop the counters of the open streams of ``trace_id`` (it ended or was cancelled).

        ``keep_external`` keeps the streams opened from outside the flow (the
        trace only went idle between two of their chunks).
        """
        if not self._by_trace:
            return
        streams = self._by_trace.pop(trace_id, None)
        if streams is None:
            return
        kept: set[str] = set()
        for key in streams:
            if keep_external and key in self._external:
                kept.add(key)
                continue
            del self._owner[key]
            self._next.pop(key, None)
            self._external.discard(key)
        if kept:
            self._by_trace[trace_id] = kept


_CHUNK_FIELDS = {"stream_id", "seq", "text", "done", "meta"}
"""Shared by every chunk built here: all fields are set, so nothing can add to it."""


def _chunk(stream_id: str, seq: int, text: str, done: bool, meta: dict[str, Any]) -> StreamChunk:
    # Every field is checked above, so skip pydantic's validation on this hot path.
    chunk: StreamChunk = build_model(
        StreamChunk,
        {"stream_id": stream_id, "seq": seq, "text": text, "done": done, "meta": meta},
        _CHUNK_FIELDS,
    )
    return chunk
