"""Cheap envelope copies for the per-hop path, and the box that keeps a bare result in its trace."""

from __future__ import annotations

from typing import Any

from penguiflow.types import Message

__all__ = ["Traced", "rewrap"]

_new = object.__new__
_set = object.__setattr__  # bound once: these run several times per hop


def rewrap(
    envelope: Message,
    payload: Any,
    *,
    copy_meta: bool = False,
    meta: dict[str, Any] | None = None,
) -> Message:
    """Return a new envelope like ``envelope`` but carrying ``payload``.

    The copy skips validation (every field comes from an already valid
    envelope), which keeps it cheap enough for the per-hop path.

    Args:
        envelope: The envelope whose trace id, headers, deadline and meta are kept.
        payload: The new payload.
        copy_meta: Give the new envelope a shallow copy of ``meta`` instead of
            sharing the same dict (used for fan-out branches).
        meta: Give the new envelope this ``meta`` dict instead (a join's merged meta).
    """
    new = _new(type(envelope))
    fields = dict(envelope.__dict__)
    fields["payload"] = payload
    if meta is not None:
        fields["meta"] = meta
    elif copy_meta:
        fields["meta"] = dict(fields["meta"])
    _set(new, "__dict__", fields)
    _set(new, "__pydantic_fields_set__", envelope.__pydantic_fields_set__)
    _set(new, "__pydantic_extra__", envelope.__pydantic_extra__)
    _set(new, "__pydantic_private__", envelope.__pydantic_private__)
    return new


class Traced:
    """A bare value a node sent to Rookery while it processed a trace.

    Users get ``value`` as is (the published behaviour); the box only lets
    Rookery count it for its trace, so ``fetch(trace_id=...)`` finds it and
    cancelling the trace drops it.
    """

    __slots__ = ("trace_id", "value")

    def __init__(self, value: Any, trace_id: str) -> None:
        self.value = value
        self.trace_id = trace_id

    def __repr__(self) -> str:
        return f"Traced({self.value!r}, trace_id={self.trace_id!r})"
