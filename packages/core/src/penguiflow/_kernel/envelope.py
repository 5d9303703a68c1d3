"""Cheap envelope copies for the per-hop path, and the box that keeps a bare result in its trace."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from penguiflow.types import Message

__all__ = ["Traced", "build_model", "rewrap"]

# The slots every pydantic model instance has, set through their descriptors: a
# copy made here skips validation (and `object.__setattr__`'s lookup by name).
_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def build_model(cls: type[Any], fields: dict[str, Any], fields_set: set[str]) -> Any:
    """An instance of the pydantic model ``cls`` holding ``fields``, without validation.

    For the per-hop paths only: every value must already be valid, and the
    model must have no extra fields and no private attributes.
    """
    model = _new(cls)
    _set_dict(model, fields)
    _set_fields_set(model, fields_set)
    _set_extra(model, None)
    _set_private(model, None)
    return model


_ALL_FIELDS: dict[type[Any], set[str]] = {}


def _all_fields(cls: type[Any]) -> set[str]:
    names = _ALL_FIELDS[cls] = set(cls.model_fields)
    return names


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
    _set_dict(new, fields)
    # Every field of the copy holds a value taken from the original, so all count as
    # set; the shared set already names them all, so no assignment can change it.
    _set_fields_set(new, _ALL_FIELDS.get(type(envelope)) or _all_fields(type(envelope)))
    _set_extra(new, envelope.__pydantic_extra__)
    _set_private(new, envelope.__pydantic_private__)
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
