"""Deadlines and controller budgets (hops, tokens) enforced by the runtime."""

from __future__ import annotations

from typing import Any

from penguiflow._kernel.envelope import rewrap
from penguiflow.errors import FlowErrorCode
from penguiflow.types import WM, FinalAnswer, Message

__all__ = ["ControllerOutcome", "advance_controller", "deadline_text"]


class ControllerOutcome:
    """What to do with a controller's output.

    Attributes:
        item: The message (or payload) to route.
        to_rookery: Send it to Rookery instead of the successors.
        exhausted: The budget that ran out, if the runtime ended the loop.
    """

    __slots__ = ("exhausted", "item", "to_rookery")

    def __init__(self, item: Any, to_rookery: bool, exhausted: FlowErrorCode | None = None) -> None:
        self.item = item
        self.to_rookery = to_rookery
        self.exhausted = exhausted


def advance_controller(result: Any, node_name: str) -> ControllerOutcome:
    """Apply loop rules to what a controller node returned or emitted.

    A ``FinalAnswer`` goes to Rookery. A ``WM`` gets ``hops + 1``; when that
    reaches ``budget_hops``, or ``tokens_used`` has reached ``budget_tokens``,
    a ``FinalAnswer`` explaining which budget ran out goes to Rookery instead.
    Anything else is routed normally.
    """
    envelope = result if isinstance(result, Message) else None
    payload = envelope.payload if envelope is not None else result
    if isinstance(payload, FinalAnswer):
        return ControllerOutcome(result, to_rookery=True)
    if not isinstance(payload, WM):
        return ControllerOutcome(result, to_rookery=False)
    hops = payload.hops + 1
    code: FlowErrorCode | None = None
    if payload.budget_tokens is not None and payload.tokens_used >= payload.budget_tokens:
        code = FlowErrorCode.TOKEN_BUDGET_EXHAUSTED
        text = (
            f"Token budget exhausted: {payload.tokens_used} tokens used of "
            f"{payload.budget_tokens} allowed (controller {node_name!r}, query {payload.query!r})."
        )
    elif payload.budget_hops is not None and hops >= payload.budget_hops:
        code = FlowErrorCode.HOP_BUDGET_EXHAUSTED
        text = (
            f"Hop budget exhausted: {hops} hops of {payload.budget_hops} allowed "
            f"(controller {node_name!r}, query {payload.query!r})."
        )
    if code is not None:
        answer = FinalAnswer(text=text)
        item: Any = rewrap(envelope, answer) if envelope is not None else answer
        return ControllerOutcome(item, to_rookery=True, exhausted=code)
    advanced = payload.model_copy(update={"hops": hops})
    item = rewrap(envelope, advanced) if envelope is not None else advanced
    return ControllerOutcome(item, to_rookery=False)


def deadline_text(node_name: str, deadline_s: float, now: float) -> str:
    """Explain a deadline skip in one sentence."""
    late = now - deadline_s
    return (
        f"Deadline exceeded: the message reached node {node_name!r} {late:.3f}s after its "
        f"deadline (deadline_s={deadline_s:.3f}), so it was not processed."
    )
