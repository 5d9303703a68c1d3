"""JSON encoding and argument checks shared by the built-in state stores.

Every built-in store keeps payloads and state documents as JSON text, even
the in-memory one: what a caller saves is validated the same way everywhere
(a payload that only the in-memory store would accept is a trap), and what
it loads back is always a fresh copy that it may mutate freely.
"""

from __future__ import annotations

import math
from typing import Any

from penguiflow.state.base import RemoteBinding, StoredEvent

__all__ = [
    "check_binding",
    "check_event",
    "check_key",
    "decode_document",
    "encode_document",
]


def encode_document(value: object, *, what: str) -> str:
    """Return ``value`` as compact JSON text.

    Args:
        value: A JSON-safe dict (nested dicts, lists, str, int, float, bool, None).
        what: Names the value in the error message (``"payload of event ..."``).

    Raises:
        TypeError: ``value`` is not a dict, holds something JSON cannot
            represent, or holds NaN/infinity (which no JSON database accepts).
    """
    import json  # on use: json is ~1.3 ms of `import penguiflow`

    if not isinstance(value, dict):
        raise TypeError(f"{what} must be a dict, got {type(value).__name__}")
    try:
        # ensure_ascii keeps lone surrogates and other odd code points storable everywhere.
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} is not JSON-serialisable: {exc}") from None


def decode_document(text: str) -> dict[str, Any]:
    """Inverse of `encode_document`."""
    import json  # on use: json is ~1.3 ms of `import penguiflow`

    value = json.loads(text)
    if not isinstance(value, dict):  # only a foreign writer could have stored this
        raise ValueError(f"stored document is a {type(value).__name__}, not a JSON object")
    return value


def check_event(event: object) -> StoredEvent:
    """Return ``event`` if it is a well-formed `StoredEvent` (else `TypeError`/`ValueError`)."""
    if not isinstance(event, StoredEvent):
        raise TypeError(f"save_event() takes a StoredEvent, got {type(event).__name__}")
    # Dataclasses do not check their field types at run time; a database would.
    event_id: object = event.event_id
    trace_id: object = event.trace_id
    kind: object = event.kind
    ts: object = event.ts
    where = f"event {event_id!r} (trace {trace_id!r})"
    if not isinstance(event_id, str) or not event_id:
        raise ValueError(f"{where}: event_id must be a non-empty string")
    if trace_id is not None and not isinstance(trace_id, str):
        raise TypeError(f"{where}: trace_id must be a string or None")
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"{where}: kind must be a non-empty string")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise ValueError(f"{where}: ts must be a finite number of epoch seconds, got {ts!r}")
    return event


def check_binding(binding: object) -> RemoteBinding:
    """Return ``binding`` if it is a `RemoteBinding`, else raise `TypeError`."""
    if not isinstance(binding, RemoteBinding):
        raise TypeError(
            f"save_remote_binding() takes a RemoteBinding, got {type(binding).__name__}"
        )
    return binding


def check_key(name: str, value: object) -> str:
    """Return ``value`` if it is a non-empty string, else raise (``name`` labels the argument)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value
