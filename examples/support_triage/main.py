"""A support-ticket service: triage, parallel enrichment, a planner that answers, streamed.

The flow, per ticket (one trace each)::

    classify -> history ---\\
             \\-> knowledge -> join -> brief -> answer (planner, 8 at once) -> Rookery

* ``classify`` tags the ticket (billing, shipping or other) and its urgency
  in the envelope's ``meta``;
* ``history`` and ``knowledge`` enrich it in parallel (a CRM read and a
  knowledge-base search, both I/O) and ``join`` (`join_k`) puts the two
  halves back together;
* ``brief`` turns the pair into the planner's query and context;
* ``answer`` is a `planner_node` with ``NodePolicy(max_concurrency=8)``: up
  to eight tickets are answered at once, while each ticket's messages stay
  in order. Its planner calls the ``order_status`` tool (half a second of
  I/O, streaming a progress line) and streams the answer it writes
  (``stream_final_response=True``); ``stream_chunks=True`` forwards both into
  the ticket's trace, so the caller reads them with `stream_flow` as they come.

Three tickets arrive at once: two urgent ones and one that is withdrawn while
being answered (``flow.cancel``), which stops only that ticket's planner run.
Every event is kept in a SQLite history file (``state_store=``). The LLM is
`ScriptedLLM`, so the example runs offline and prints the same thing every
time.

Run it from the repository root::

    .venv/bin/python examples/support_triage/main.py
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from pathlib import Path
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
    StreamChunk,
    build_catalog,
    create,
    join_k,
    tool,
)
from penguiflow.planner import ReactPlanner
from penguiflow.planner.flows import PlannerOutcome, planner_node
from penguiflow.planner.testing import ScriptedLLM
from penguiflow.state import StateStore, open_store
from penguiflow.streaming import stream_flow

__all__ = ["TICKETS", "Ticket", "build_flow", "main"]

NONE = NodePolicy(validate="none")
TOOL_LATENCY_S = 0.5
"""How long the order system takes to answer (awaited I/O)."""


class Ticket(BaseModel):
    """What a customer wrote."""

    customer: str
    text: str


class OrderQuery(BaseModel):
    """Arguments of ``order_status``."""

    order: str


class OrderStatus(BaseModel):
    """Result of ``order_status``."""

    order: str
    status: str


TICKETS = [
    Ticket(customer="ada", text="URGENT: where is my order B7? It was due yesterday."),
    Ticket(customer="grace", text="Urgent - order C3 has not arrived, please check."),
    Ticket(customer="linus", text="Is order D9 shipped yet? No rush."),
]
ORDERS = {"B7": "out for delivery today", "C3": "delayed at the depot, arrives Friday"}
CRM = {"ada": "gold customer since 2019", "grace": "2 open tickets", "linus": "new customer"}


class ToolGauge:
    """Counts ``order_status`` calls in flight to show the planner node's concurrency."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def __enter__(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        self.now -= 1


GAUGE = ToolGauge()
WITHDRAWN = asyncio.Event()  # set once linus's order lookup has started (see main)


# -- triage and enrichment ----------------------------------------------------------
async def classify(msg: Message, _ctx: Context) -> Message:
    ticket: Ticket = msg.payload
    text = ticket.text.lower()
    msg.meta["category"] = "shipping" if "order" in text else "other"
    msg.meta["urgent"] = "urgent" in text
    return msg


async def history(msg: Message, _ctx: Context) -> Message:
    await asyncio.sleep(0.05)  # a CRM read
    return msg.model_copy(update={"payload": {"crm": CRM[msg.payload.customer]}})


async def knowledge(msg: Message, _ctx: Context) -> Message:
    await asyncio.sleep(0.05)  # a knowledge-base search
    hint = "late orders: apologise and give the new date"
    return msg.model_copy(update={"payload": {"kb": hint, "ticket": msg.payload}})


async def brief(msg: Message, _ctx: Context) -> Message:
    """Turn the joined halves into the planner's query and context."""
    merged: dict[str, Any] = {}
    for part in msg.payload:
        merged.update(part)
    ticket: Ticket = merged["ticket"]
    request = {
        "query": ticket.text,
        "llm_context": {"customer": ticket.customer, "crm": merged["crm"], "kb": merged["kb"]},
    }
    return msg.model_copy(update={"payload": request})


# -- the planner ----------------------------------------------------------------------
@tool(desc="Where an order is")
async def order_status(args: OrderQuery, ctx: Any) -> OrderStatus:
    await ctx.emit_chunk("lookup", 0, f"checking order {args.order}...", done=True)
    if args.order == "D9":
        WITHDRAWN.set()
    with GAUGE:
        await asyncio.sleep(TOOL_LATENCY_S)  # the order system's round trip
    return OrderStatus(order=args.order, status=ORDERS.get(args.order, "unknown"))


_registry = ModelRegistry()
_registry.register("order_status", OrderQuery, OrderStatus)
CATALOG = build_catalog([order_status], _registry)


def scripted_model(messages: list[dict[str, str]]) -> Any:
    """Stand-in for the LLM: look the order up, answer, then write the answer out."""
    last = json.loads(messages[-1]["content"]) if messages[-1]["role"] == "user" else {}
    if "draft_answer" in last:  # the final, streamed call: write the answer for the user
        return f"Hello! {last['draft_answer']} Sorry for the wait."
    request = json.loads(next(m for m in messages if m["role"] == "user")["content"])
    if "observation" not in last:
        order = re.search(r"\b([A-Z]\d+)\b", request["query"])
        return {"thought": "Look it up.", "next_node": "order_status", "args": {"order": order[1]}}
    seen = last["observation"]
    return {
        "thought": "Answer.",
        "next_node": None,
        "answer": f"Order {seen['order']} is {seen['status']}.",
    }


def build_planner() -> ReactPlanner:
    """A planner per ticket (planner_node calls this for every message)."""
    return ReactPlanner(
        llm_client=ScriptedLLM([scripted_model] * 3),
        catalog=CATALOG,
        stream_final_response=True,
        max_iters=4,
    )


# -- the flow ----------------------------------------------------------------------------
def build_flow(store: StateStore) -> PenguiFlow:
    """The ticket flow, keeping its events in ``store``."""
    triage = Node(classify, policy=NONE)
    crm = Node(history, policy=NONE)
    kb = Node(knowledge, policy=NONE)
    join = join_k("join", 2)
    prepare = Node(brief, policy=NONE)
    answer = planner_node(
        build_planner,
        name="answer",
        policy=NodePolicy(validate="none", max_concurrency=8),
        stream_chunks=True,
    )
    return create(
        triage.to(crm, kb),
        crm.to(join),
        kb.to(join),
        join.to(prepare),
        prepare.to(answer),
        answer.to(),
        state_store=store,
    )


async def follow(flow: PenguiFlow, message: Message) -> str:
    """Stream one ticket's answer to the console; return how the ticket ended."""
    who = message.payload.customer
    async with stream_flow(flow, message, timeout_s=30) as items:
        async for item in items:
            if isinstance(item, StreamChunk):
                kind = item.meta["kind"]
                if kind == "tool" and item.text:
                    print(f"[{who}] {item.text}")
                elif kind == "answer" and item.done:
                    print(f"[{who}] answer streamed in {item.seq + 1} chunks")
                continue
            outcome: PlannerOutcome = item.payload
            return f"{who}: {outcome.answer}"
    return f"{who}: withdrawn, nothing more was sent"  # the trace ended without an answer


async def main() -> None:
    GAUGE.peak = 0
    WITHDRAWN.clear()
    with tempfile.TemporaryDirectory() as folder:
        store = await open_store(f"sqlite:///{Path(folder) / 'history.db'}")
        flow = build_flow(store)
        flow.run()
        try:
            headers = Headers(tenant="helpdesk")
            messages = [Message(payload=ticket, headers=headers) for ticket in TICKETS]
            followers = [asyncio.ensure_future(follow(flow, m)) for m in messages]
            # linus withdraws his ticket while its order lookup runs.
            await asyncio.wait_for(WITHDRAWN.wait(), 30)
            await flow.cancel(messages[2].trace_id)
            for line in await asyncio.wait_for(asyncio.gather(*followers), 60):
                print(line)
            print(f"order lookups in flight at once: {GAUGE.peak}")
            events = await flow.load_history(messages[0].trace_id)
            nodes = sorted({e.node_name for e in events if e.node_name})
            print(f"history of ada's ticket kept in SQLite, nodes {nodes}")
        finally:
            await flow.stop()
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
