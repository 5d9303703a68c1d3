"""Stream sequencing: gap-free ``seq`` numbers per stream and the chunk envelopes carrying them."""

from __future__ import annotations

from typing import Any

from penguiflow._kernel.envelope import rewrap
from penguiflow.types import Message, StreamChunk

__all__ = ["StreamSequencer"]


class StreamSequencer:
    """Hands out gap-free ``seq`` numbers per ``stream_id`` for one flow.

    A stream's counter starts at 0, follows an explicit ``seq`` when one is
    given, and is forgotten after a ``done=True`` chunk (so the id can be
    reused) or when the trace it belongs to is cancelled (so abandoned
    streams do not accumulate).
    """

    __slots__ = ("_next", "_owner")

    def __init__(self) -> None:
        self._next: dict[str, int] = {}
        self._owner: dict[str, str] = {}

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
    ) -> Message:
        """Return the envelope of the next chunk of the stream.

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
        key = parent.trace_id if stream_id is None else stream_id
        if type(key) is not str:
            raise TypeError(f"emit_chunk stream_id must be a str; got {type(key).__name__}")
        counters = self._next
        if seq is None:
            seq = counters.get(key, 0)
        elif type(seq) is not int or seq < 0:
            raise ValueError(f"emit_chunk seq must be an int >= 0; got {seq!r}")
        if done:
            counters.pop(key, None)
            self._owner.pop(key, None)
        else:
            counters[key] = seq + 1
            self._owner[key] = parent.trace_id
        chunk = _chunk(key, seq, text, bool(done), {} if meta is None else dict(meta))
        return rewrap(parent, chunk, copy_meta=True)

    def forget_trace(self, trace_id: str) -> None:
        """Drop the counters of every open stream of ``trace_id`` (it was cancelled)."""
        for key in [k for k, owner in self._owner.items() if owner == trace_id]:
            del self._owner[key]
            self._next.pop(key, None)


_CHUNK_FIELDS = frozenset({"stream_id", "seq", "text", "done", "meta"})


def _chunk(stream_id: str, seq: int, text: str, done: bool, meta: dict[str, Any]) -> StreamChunk:
    # Every field is checked above, so skip pydantic's validation on this hot path.
    chunk = object.__new__(StreamChunk)
    object.__setattr__(
        chunk,
        "__dict__",
        {"stream_id": stream_id, "seq": seq, "text": text, "done": done, "meta": meta},
    )
    object.__setattr__(chunk, "__pydantic_fields_set__", set(_CHUNK_FIELDS))
    object.__setattr__(chunk, "__pydantic_extra__", None)
    object.__setattr__(chunk, "__pydantic_private__", None)
    return chunk
