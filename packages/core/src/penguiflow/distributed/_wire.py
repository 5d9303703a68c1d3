"""How flow traffic crosses process boundaries: messages, payloads and errors as JSON.

Design notes. A worker node and its owning flow run the same flow code, so
pydantic models travel *by name*: a model instance is written as
``{"__pf_model__": "module:QualName", "data": {...}}`` and rebuilt on the
other side by validating ``data`` with that class. The class is looked up
among modules the receiving process has *already imported* (the flow's own
modules) and among the models registered for the flow; a message can never
make a process import code. Plain JSON values (``None``, ``bool``, ``int``,
``float``, ``str``, lists, dicts with string keys) travel as they are;
anything else is refused when sending, naming the node and the type, so a
payload that cannot cross is reported where it is produced.

An item on the wire is one of::

    {"kind": "message", "message": {headers, trace_id, ts, deadline_s, meta}, "payload": value}
    {"kind": "error", "error": FlowError.to_payload()}
    {"kind": "payload", "payload": value}

A worker answers a request on the owner's reply topic with zero or more
*parts*, published while the node runs, then one *final* reply::

    {"request": id, "part": true, "first": n, "outputs": [output, ...], "worker": name}
    {"request": id, "first": n, "outputs": [output, ...], "events": [...], "worker": name}

where ``first`` is the position of the message's first output among all
outputs of the request (so a receiver skips the ones it already has), and an
output is ``{"to": target, "item": item}``, plus ``"chunk": "auto"`` or
``"chunk": "explicit"`` on a chunk the node made with ``ctx.emit_chunk``
(with an automatic or an explicit ``seq``): the receiver passes it through
its own stream sequencer (see ``penguiflow.distributed._reply_stream``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from penguiflow._kernel.envelope import Traced
from penguiflow.errors import FlowError, FlowErrorCode, PenguiFlowError
from penguiflow.node import Node
from penguiflow.types import Headers, Message

__all__ = [
    "EMITTED_CHUNK",
    "REPLY_PART",
    "ROOKERY_TARGET",
    "RUNTIME_TARGET",
    "WireError",
    "decode_item",
    "encode_item",
    "model_name",
    "remote_error",
]

ROOKERY_TARGET = "@rookery"
"""Reply output target: the node's floe to Rookery."""
RUNTIME_TARGET = "@runtime"
"""Reply output target: runtime-made results (FlowErrors, deadline answers)."""
REPLY_PART = "part"
"""Reply body flag: a part sent while the node runs (the request is not answered yet)."""
EMITTED_CHUNK = "chunk"
"""Reply output key: how ``ctx.emit_chunk`` numbered the chunk, ``"auto"`` or ``"explicit"``."""

_MODEL_KEY = "__pf_model__"


class WireError(PenguiFlowError, ValueError):
    """A value cannot be sent to, or read back from, another process."""


def model_name(cls: type[BaseModel]) -> str:
    """Return the ``module:QualName`` a model class travels under."""
    module = cls.__module__
    if module == "__main__":
        # `python -m pkg.mod` runs pkg.mod as __main__; the worker imports it as pkg.mod.
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        if spec is not None and spec.name:
            module = spec.name
    return f"{module}:{cls.__qualname__}"


def encode_item(item: Any, where: str) -> dict[str, Any]:
    """Return the JSON-safe wire form of a flow item (``where`` names the sender in errors).

    Raises:
        WireError: Something in it is neither JSON nor a pydantic model.
    """
    if isinstance(item, Message):
        return {
            "kind": "message",
            "message": {
                "headers": item.headers.model_dump(mode="json"),
                "trace_id": item.trace_id,
                "ts": item.ts,
                "deadline_s": item.deadline_s,
                "meta": _encode(item.meta, where, "meta"),
            },
            "payload": _encode(item.payload, where, "payload"),
        }
    if isinstance(item, FlowError):
        return {"kind": "error", "error": item.to_payload()}
    if type(item) is Traced:  # a bare result that belongs to a trace (see Traced)
        return {
            "kind": "traced",
            "trace_id": item.trace_id,
            "payload": _encode(item.value, where, "payload"),
        }
    return {"kind": "payload", "payload": _encode(item, where, "payload")}


def decode_item(data: Any, models: Iterable[type[BaseModel]] = ()) -> Any:
    """Rebuild a flow item from `encode_item`'s output.

    Args:
        data: The wire form.
        models: Model classes to resolve by name besides the loaded modules'
            (the flow's registered models).

    Raises:
        WireError: The data is malformed or names a model this process does not know.
    """
    if not isinstance(data, dict):
        raise WireError(f"a wire item must be an object, got {type(data).__name__}")
    known = {model_name(cls): cls for cls in models}
    kind = data.get("kind")
    if kind == "message":
        fields = data.get("message")
        if not isinstance(fields, dict):
            raise WireError("a wire message has no 'message' object")
        try:
            return Message(
                payload=_decode(data.get("payload"), known),
                headers=Headers.model_validate(fields.get("headers")),
                trace_id=fields["trace_id"],
                ts=fields["ts"],
                deadline_s=fields.get("deadline_s"),
                meta=_decode(fields.get("meta") or {}, known),
            )
        except (KeyError, ValidationError) as exc:
            raise WireError(f"malformed wire message: {exc}") from None
    if kind == "error":
        return _decode_error(data.get("error"))
    if kind == "payload":
        return _decode(data.get("payload"), known)
    if kind == "traced":
        trace_id = data.get("trace_id")
        if not isinstance(trace_id, str):
            raise WireError("a traced wire item has no 'trace_id' string")
        return Traced(_decode(data.get("payload"), known), trace_id)
    raise WireError(f"unknown wire item kind {kind!r}")


def _encode(value: Any, where: str, path: str) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise WireError(f"{where}: {path} is {value!r}, which JSON cannot carry")
        return value
    if isinstance(value, BaseModel):
        return {_MODEL_KEY: model_name(type(value)), "data": value.model_dump(mode="json")}
    if isinstance(value, list | tuple):
        return [_encode(v, where, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise WireError(f"{where}: {path} has a non-string key {key!r}")
            if key == _MODEL_KEY:
                raise WireError(f"{where}: {path} uses the reserved key {_MODEL_KEY!r}")
            out[key] = _encode(v, where, f"{path}[{key!r}]")
        return out
    raise WireError(
        f"{where}: {path} is a {type(value).__qualname__}, which cannot be sent to another "
        "process; use a pydantic model or JSON data (str, int, float, bool, None, list, dict)"
    )


def _decode(value: Any, known: dict[str, type[BaseModel]]) -> Any:
    if isinstance(value, list):
        return [_decode(v, known) for v in value]
    if not isinstance(value, dict):
        return value
    name = value.get(_MODEL_KEY)
    if name is None:
        return {k: _decode(v, known) for k, v in value.items()}
    cls = known.get(name) if isinstance(name, str) else None
    if cls is None:
        cls = _loaded_model(name)
    try:
        return cls.model_validate(value.get("data"))
    except ValidationError as exc:
        raise WireError(f"received data does not fit model {name}: {exc}") from None


def _loaded_model(name: Any) -> type[BaseModel]:
    if not isinstance(name, str) or ":" not in name:
        raise WireError(f"malformed model name {name!r} on the wire")
    module_name, _, qualname = name.partition(":")
    target: Any = sys.modules.get(module_name)
    if target is None and module_name == _main_name():
        target = sys.modules.get("__main__")
    if target is None:
        raise WireError(
            f"model {name} is not loaded in this process: import module {module_name!r} in "
            "the flow factory's module (or register the model in the ModelRegistry)"
        )
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if not (isinstance(target, type) and issubclass(target, BaseModel)):
        raise WireError(f"{name} is not a pydantic model in this process")
    return target


def _main_name() -> str | None:
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return spec.name if spec is not None else None


def _decode_error(data: Any) -> FlowError:
    if not isinstance(data, dict):
        raise WireError("a wire error has no 'error' object")
    try:
        code = FlowErrorCode(str(data.get("code")))
    except ValueError:
        code = FlowErrorCode.REMOTE_ERROR
    metadata = dict(data.get("metadata") or {})
    original = data.get("original_exc")
    if isinstance(original, dict):
        metadata.setdefault("original_exc", original)
    return FlowError(
        trace_id=data.get("trace_id"),
        node_name=data.get("node_name"),
        node_id=data.get("node_id"),
        code=code,
        message=str(data.get("message", "")),
        metadata=metadata,
    )


def remote_error(node: Node, trace_id: str | None, text: str) -> FlowError:
    """A ``REMOTE_ERROR`` FlowError of ``node`` for ``trace_id``."""
    return FlowError(
        trace_id=trace_id,
        node_name=node.name,
        node_id=node.node_id,
        code=FlowErrorCode.REMOTE_ERROR,
        message=f"node {node.name!r} (worker node): {text}",
    )
