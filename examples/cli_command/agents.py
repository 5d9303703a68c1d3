"""The user's code: a flow and a planner that ``penguiflow ask`` can load by name."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from penguiflow import (
    Context,
    Message,
    ModelRegistry,
    Node,
    NodePolicy,
    PenguiFlow,
    build_catalog,
    create,
    tool,
)
from penguiflow.planner import ReactPlanner
from penguiflow.planner.testing import ScriptedLLM

__all__ = ["build_flow", "build_planner", "shouting_flow"]


async def shout(message: Message, ctx: Context) -> Message:
    return message.model_copy(update={"payload": f"{message.payload.upper()}!"})


def build_flow() -> PenguiFlow:
    """A zero-argument factory returning a flow ("agents:build_flow")."""
    return create(Node(shout, policy=NodePolicy(validate="none")).to())


shouting_flow = build_flow()
"""A flow instance ("agents:shouting_flow"): used as it is."""


class OrderQuery(BaseModel):
    text: str


class Shipment(BaseModel):
    status: str


@tool(desc="Look up the shipment of the customer's latest order", side_effects="read")
async def track_order(args: OrderQuery, ctx: Any) -> Shipment:
    return Shipment(status="ships tomorrow")


async def build_planner() -> ReactPlanner:
    """An async factory returning a planner ("agents:build_planner"), offline with a script."""
    registry = ModelRegistry()
    registry.register("track_order", OrderQuery, Shipment)
    script: list[dict[str, Any]] = [
        {"next_node": "track_order", "args": {"text": "latest order"}},
        {"next_node": None, "answer": "Your order ships tomorrow."},
    ]
    return ReactPlanner(
        llm_client=ScriptedLLM(script), catalog=build_catalog([track_order], registry)
    )
