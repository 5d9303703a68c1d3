"""Cheap envelope copies for the per-hop path."""

from __future__ import annotations

from typing import Any

from penguiflow.types import Message

__all__ = ["rewrap"]


def rewrap(envelope: Message, payload: Any, *, copy_meta: bool = False) -> Message:
    """Return a new envelope like ``envelope`` but carrying ``payload``.

    The copy skips validation (every field comes from an already valid
    envelope), which keeps it cheap enough for the per-hop path.

    Args:
        envelope: The envelope whose trace id, headers, deadline and meta are kept.
        payload: The new payload.
        copy_meta: Give the new envelope a shallow copy of ``meta`` instead of
            sharing the same dict (used for fan-out branches).
    """
    new = object.__new__(type(envelope))
    fields = dict(envelope.__dict__)
    fields["payload"] = payload
    if copy_meta:
        fields["meta"] = dict(fields["meta"])
    object.__setattr__(new, "__dict__", fields)
    object.__setattr__(new, "__pydantic_fields_set__", envelope.__pydantic_fields_set__)
    object.__setattr__(new, "__pydantic_extra__", envelope.__pydantic_extra__)
    object.__setattr__(new, "__pydantic_private__", envelope.__pydantic_private__)
    return new
