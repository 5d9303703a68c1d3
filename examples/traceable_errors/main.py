"""Traceable errors: a failing node's ``FlowError`` comes out of Rookery like any result.

With ``emit_errors_to_rookery=True`` a node that fails for good (here after
one retry) produces a ``FlowError`` that ``flow.fetch()`` returns. It keeps
the trace id, the node and a stable ``code``; ``to_payload()`` gives a
JSON-safe dict, which ``to_response`` turns into an API-style response.

Run it from the repository root::

    .venv/bin/python examples/traceable_errors/main.py
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from penguiflow import Context, FlowError, Headers, Message, Node, NodePolicy, create

__all__ = ["ErrorDemo", "charge", "main", "to_response"]


@dataclass(frozen=True, slots=True)
class ErrorDemo:
    """What the example observed.

    Attributes:
        error: The ``FlowError`` fetched for the failing trace.
        failing_trace: Trace id of the message that failed.
        responses: Response dicts for the failing and the successful trace.
    """

    error: FlowError
    failing_trace: str
    responses: list[dict[str, Any]]


async def charge(msg: Message, _ctx: Context) -> Message:
    """Charge a card; declined cards raise ``ValueError``."""
    card: str = msg.payload["card"]
    if card.endswith("0000"):
        raise ValueError(f"card ending {card[-4:]} was declined")
    return msg.model_copy(update={"payload": {"card": card, "status": "charged"}})


def to_response(result: Any) -> dict[str, Any]:
    """Turn a Rookery result (envelope or ``FlowError``) into a response dict."""
    if isinstance(result, FlowError):
        return {"ok": False, "trace_id": result.trace_id, "error": result.to_payload()}
    return {"ok": True, "trace_id": result.trace_id, "data": result.payload}


async def main() -> ErrorDemo:
    """Send one declined and one valid card; print what comes back for each."""
    node = Node(
        charge,
        name="charge",
        policy=NodePolicy(validate="none", max_retries=1, backoff_base=0.001),
    )
    flow = create(node.to(), emit_errors_to_rookery=True)
    flow.run()
    try:
        declined = Message(payload={"card": "4000-0000"}, headers=Headers(tenant="acme"))
        valid = Message(payload={"card": "4242-4242"}, headers=Headers(tenant="acme"))
        await flow.emit(declined)
        await flow.emit(valid)
        err = await flow.fetch(trace_id=declined.trace_id)
        ok = await flow.fetch(trace_id=valid.trace_id)
    finally:
        await flow.stop()

    if not isinstance(err, FlowError):
        raise RuntimeError(f"expected a FlowError for the declined card, got {err!r}")
    print(f"err.code      = {err.code}")
    print(f"err.node_name = {err.node_name}")
    print(f"err.trace_id  = {err.trace_id}")
    print(f"same trace as the declined message: {err.trace_id == declined.trace_id}")
    print("err.to_payload() =")
    print(json.dumps(err.to_payload(), indent=2))
    responses = [to_response(err), to_response(ok)]
    print(f"response for the valid card: {responses[1]}")
    return ErrorDemo(error=err, failing_trace=declined.trace_id, responses=responses)


if __name__ == "__main__":
    asyncio.run(main())
