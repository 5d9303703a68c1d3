"""A planner inside a flow, with a flow as one of its tools: a small support desk.

The flow is ``ingest -> planner -> reply``. ``ingest`` tidies each support
ticket, ``planner`` (`planner_node`) runs a `ReactPlanner` for it, and
``reply`` turns the planner's `PlannerOutcome` into the text sent back. Every
ticket keeps its envelope: the same trace id and tenant from OpenSea to
Rookery.

The planner has two tools:

* ``order_status`` is a *flow* (`flow_tool`): the two-node playbook
  ``load_order -> describe_order``. Each call builds it fresh and runs it in
  the ticket's trace, for the ticket's tenant, so it reads that tenant's
  orders only.
* ``support_hours`` is an ordinary ``@tool``; it learns the ticket's tenant
  from `flow_origin`.

The planner's LLM is `ScriptedLLM`, standing in for a model, so the example
runs offline and prints the same thing every time.

Run it from the repository root::

    .venv/bin/python examples/planner_in_flow/main.py
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from pydantic import BaseModel

from penguiflow import (
    Context,
    Headers,
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
from penguiflow.planner.flows import PlannerOutcome, flow_origin, flow_tool, planner_node
from penguiflow.planner.testing import ScriptedLLM

__all__ = ["TICKETS", "Reply", "Ticket", "build_flow", "build_order_playbook", "main"]


# Each tenant has its own orders: the same order id means different things.
ORDERS: dict[str, dict[str, dict[str, Any]]] = {
    "acme": {"A1": {"state": "SHIPPED", "days_left": 2}},
    "initech": {"A1": {"state": "PACKING", "days_left": 5}},
}
HOURS: dict[str, str] = {"acme": "9:00-17:00 CET", "initech": "8:00-20:00 EST"}


class Ticket(BaseModel):
    """What a customer wrote."""

    customer: str
    text: str


class OrderQuery(BaseModel):
    """Arguments of the ``order_status`` tool (the playbook's input)."""

    order: str


class OrderRecord(BaseModel):
    """An order row, between the playbook's two nodes."""

    order: str
    state: str
    days_left: int


class OrderStatus(BaseModel):
    """Result of the ``order_status`` tool (the playbook's output)."""

    order: str
    status: str


class HoursQuery(BaseModel):
    """Arguments of ``support_hours`` (none needed)."""


class Hours(BaseModel):
    """Result of ``support_hours``."""

    tenant: str
    hours: str


class Reply(BaseModel):
    """What the desk sends back for a ticket."""

    customer: str
    question: str
    text: str
    tools: list[str]


# -- the playbook behind the order_status tool ---------------------------------------
async def load_order(query: OrderQuery, ctx: Context) -> OrderRecord:
    """Read the order from the calling tenant's table."""
    assert ctx.message is not None  # typed nodes get the payload; the envelope is on ctx
    row = ORDERS[ctx.message.headers.tenant].get(query.order)
    if row is None:
        raise LookupError(f"no order {query.order}")
    return OrderRecord(order=query.order, **row)


async def describe_order(record: OrderRecord, _ctx: Context) -> OrderStatus:
    """Turn the row into a sentence."""
    state = record.state.lower()
    return OrderStatus(order=record.order, status=f"{state}, arrives in {record.days_left} days")


def build_order_playbook() -> tuple[PenguiFlow, ModelRegistry]:
    """A fresh ``load_order -> describe_order`` flow and its registry."""
    load = Node(load_order, name="load_order")
    describe = Node(describe_order, name="describe_order")
    registry = ModelRegistry()
    registry.register("load_order", OrderQuery, OrderRecord)
    registry.register("describe_order", OrderRecord, OrderStatus)
    return create(load.to(describe), describe.to()), registry


# -- the planner and its tools ---------------------------------------------------------
@tool(desc="Opening hours of the support team")
async def support_hours(args: HoursQuery, ctx: Any) -> Hours:
    origin = flow_origin(ctx)
    tenant = origin.tenant if origin is not None and origin.tenant else "acme"
    return Hours(tenant=tenant, hours=HOURS[tenant])


order_status = flow_tool(
    build_order_playbook,
    name="order_status",
    desc="Where an order is and when it arrives",
    args_model=OrderQuery,
    out_model=OrderStatus,
    timeout_s=5,
)

registry = ModelRegistry()
registry.register("support_hours", HoursQuery, Hours)
CATALOG = [*build_catalog([support_hours], registry), order_status]


def observation(messages: list[dict[str, str]]) -> Any:
    """The tool result the planner showed the LLM last."""
    return json.loads(messages[-1]["content"])["observation"]


def scripted_model(messages: list[dict[str, str]]) -> dict[str, Any]:
    """Stand-in for the LLM: decide the next action from the conversation so far."""
    requests = [m for m in messages if m["role"] == "user"]
    query = json.loads(requests[0]["content"])["query"]
    order = re.search(r"\b([A-Z]\d+)\b", query)
    done = len(requests) > 1  # a tool already answered
    if not done and order:
        return {
            "thought": "Look the order up.",
            "next_node": "order_status",
            "args": {"order": order.group(1)},
        }
    if not done:
        return {"thought": "Check the hours.", "next_node": "support_hours", "args": {}}
    seen = observation(messages)
    if "error" in seen:  # the tool failed: the observation says why
        answer = f"Sorry, I could not check that: {seen['error']}"
    elif "status" in seen:
        answer = f"Order {seen['order']} is {seen['status']}."
    else:
        answer = f"We are open {seen['hours']}."
    return {"thought": "Answer.", "next_node": None, "answer": answer}


def build_planner() -> ReactPlanner:
    """A planner per ticket (its scripted LLM starts fresh each time)."""
    return ReactPlanner(llm_client=ScriptedLLM([scripted_model] * 2), catalog=CATALOG, max_iters=4)


# -- the flow ----------------------------------------------------------------------------
async def ingest(msg: Message, _ctx: Context) -> Message:
    """Tidy the ticket's text and note who asked what in the envelope's meta."""
    ticket: Ticket = msg.payload
    cleaned = ticket.model_copy(update={"text": " ".join(ticket.text.split())})
    msg.meta.update(customer=cleaned.customer, question=cleaned.text)
    return msg.model_copy(update={"payload": cleaned})


async def reply(msg: Message, _ctx: Context) -> Message:
    """Turn the planner's outcome into the reply (the meta came through the planner)."""
    outcome: PlannerOutcome = msg.payload
    tools = [step["node_name"] for step in outcome.metadata["steps"] if step["node_name"]]
    text = outcome.answer if outcome.status == "finished" else f"(waiting: {outcome.reason})"
    answer = Reply(
        customer=msg.meta["customer"], question=msg.meta["question"], text=text, tools=tools
    )
    return msg.model_copy(update={"payload": answer})


def build_flow() -> PenguiFlow:
    """``ingest -> planner -> reply``."""
    untyped = NodePolicy(validate="none")
    ingest_node = Node(ingest, policy=untyped)
    planner = planner_node(
        build_planner,
        query=lambda ticket: ticket.text,
        llm_context=lambda origin: {"customer": origin.payload.customer},
    )
    reply_node = Node(reply, policy=untyped)
    return create(ingest_node.to(planner), planner.to(reply_node), reply_node.to())


TICKETS: list[tuple[str, Ticket]] = [
    ("acme", Ticket(customer="ana", text="  Where is   my order A1? ")),
    ("initech", Ticket(customer="bo", text="Where is my order A1?")),
    ("initech", Ticket(customer="cy", text="When can I call you?")),
]


async def main() -> list[Message]:
    """Send the tickets through the flow; print and return the replies in ticket order."""
    flow = build_flow()
    flow.run()
    try:
        sent = [Message(payload=t, headers=Headers(tenant=tenant)) for tenant, t in TICKETS]
        for message in sent:
            await flow.emit(message)
        # One worker per node and FIFO floes: replies come back in ticket order.
        replies: list[Message] = [await flow.fetch() for _ in sent]
    finally:
        await flow.stop()
    for out in replies:
        print(f"{out.headers.tenant:8} {out.payload.customer}: {out.payload.question}")
        print(f"         tools: {', '.join(out.payload.tools)}")
        print(f"         reply: {out.payload.text}")
    same = all(m.trace_id == o.trace_id for m, o in zip(sent, replies, strict=True))
    print(f"every reply kept its ticket's trace id: {same}")
    return replies


if __name__ == "__main__":
    asyncio.run(main())
