"""ReactPlanner, pause and resume: a refund waits for a human's approval, then finishes elsewhere.

A support agent plans ``lookup_order`` -> ``request_approval`` ->
``issue_refund``. Refunds above the auto-approval limit need a person:
``request_approval`` calls ``await ctx.pause(...)``, and ``planner.run``
returns a `PlannerPause` with a resume token instead of an answer.

The paused run is saved in a SQLite state store. A *second* planner, built
later on a fresh ``open_store`` of the same file (as another process would),
resumes it with the approver's decision: the approval step observes that
input, and the LLM carries on from there. The trajectory, the LLM cost and
the run's clock all continue; ``tool_context`` (Python objects such as the
payments client) is never saved, so the resuming side passes its own.

`PlanningHints` guide the plan: the usual tool order and the refund limit
are shown to the LLM, ``issue_refund`` may never run inside a parallel step,
and ``delete_order`` is removed from the catalog the LLM sees.

Run it from the repository root::

    .venv/bin/python examples/react_pause_resume/main.py

or as two processes sharing only the database file::

    .venv/bin/python examples/react_pause_resume/main.py start /tmp/refunds.db
    .venv/bin/python examples/react_pause_resume/main.py resume /tmp/refunds.db TOKEN
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, ReactPlanner, build_catalog, tool
from penguiflow.planner import PlannerFinish, PlannerPause, PlanningHints, ResumeError
from penguiflow.planner.pause import saved_pause
from penguiflow.planner.testing import ScriptedLLM
from penguiflow.state import open_store

__all__ = [
    "APPROVAL",
    "HINTS",
    "LLM_CONTEXT",
    "QUERY",
    "Payments",
    "build_planner",
    "finish_refund",
    "main",
    "start_refund",
]


class OrderRef(BaseModel):
    order_id: str


class Order(BaseModel):
    order_id: str
    customer: str
    amount_usd: float
    status: str


class ApprovalRequest(BaseModel):
    order_id: str
    amount_usd: float
    reason: str


class Approval(BaseModel):
    approved: bool
    approver: str


class RefundArgs(BaseModel):
    order_id: str
    amount_usd: float


class Receipt(BaseModel):
    refund_id: str
    order_id: str
    amount_usd: float


ORDERS = {
    "A-1042": Order(order_id="A-1042", customer="ana", amount_usd=129.9, status="damaged"),
}


@dataclass(slots=True)
class Payments:
    """The payment provider's client: lives in ``tool_context``, never sent or saved."""

    refunds: list[Receipt] = field(default_factory=list)

    async def refund(self, order_id: str, amount_usd: float) -> Receipt:
        """Refund ``amount_usd`` on ``order_id``."""
        receipt = Receipt(
            refund_id=f"rf-{len(self.refunds) + 1:04d}", order_id=order_id, amount_usd=amount_usd
        )
        self.refunds.append(receipt)
        return receipt


@tool(desc="Look up an order by id", side_effects="read")
async def lookup_order(args: OrderRef, ctx: Any) -> Order:
    return ORDERS[args.order_id]


@tool(
    desc="Approve a refund: automatic up to the limit, else a person decides", side_effects="write"
)
async def request_approval(args: ApprovalRequest, ctx: Any) -> Approval:
    if args.amount_usd <= ctx.llm_context["auto_approve_limit_usd"]:
        return Approval(approved=True, approver="auto")
    await ctx.pause(
        "refund above the auto-approval limit",
        {"order_id": args.order_id, "amount_usd": args.amount_usd, "reason": args.reason},
    )


@tool(desc="Refund an order through the payment provider", side_effects="external")
async def issue_refund(args: RefundArgs, ctx: Any) -> Receipt:
    payments: Payments = ctx.tool_context["payments"]
    return await payments.refund(args.order_id, args.amount_usd)


@tool(desc="Delete an order and its history", side_effects="write")
async def delete_order(args: OrderRef, ctx: Any) -> Order:
    return ORDERS.pop(args.order_id)


registry = ModelRegistry()
registry.register("lookup_order", OrderRef, Order)
registry.register("request_approval", ApprovalRequest, Approval)
registry.register("issue_refund", RefundArgs, Receipt)
registry.register("delete_order", OrderRef, Order)

HINTS = PlanningHints(
    ordering_hints=("lookup_order", "request_approval", "issue_refund"),
    sequential_only={"issue_refund"},
    disallowed_nodes={"delete_order"},
    budget_hints={"refunds": "never refund more than the order amount"},
)

QUERY = "Order A-1042 arrived damaged. Please refund it."
LLM_CONTEXT = {"channel": "support-chat", "auto_approve_limit_usd": 50}
APPROVAL = {"approved": True, "approver": "maria@support"}
COST_PER_CALL = 0.0021  # what the scripted model reports per call, in USD

# What a real model answered before the pause...
BEFORE_PAUSE: list[dict[str, Any]] = [
    {
        "thought": (
            "The customer wants a refund for order A-1042. I'll look the order up first to "
            "confirm its amount and state."
        ),
        "next_node": "lookup_order",
        "args": {"order_id": "A-1042"},
    },
    {
        "thought": (
            "The order is 129.90 USD and marked damaged. That is above the 50 USD "
            "auto-approval limit, so the refund needs approval before I can issue it."
        ),
        "next_node": "request_approval",
        "args": {"order_id": "A-1042", "amount_usd": 129.9, "reason": "arrived damaged"},
    },
]
# ...and after it, once the approver's decision came back.
AFTER_RESUME: list[dict[str, Any]] = [
    {
        "thought": ("maria@support approved the refund. I'll issue it for the full order amount."),
        "next_node": "issue_refund",
        "args": {"order_id": "A-1042", "amount_usd": 129.9},
    },
    {
        "thought": "The refund went through with id rf-0001. I'll confirm it to the customer.",
        "next_node": None,
        "answer": (
            "Your refund of 129.90 USD for order A-1042 was approved and issued (refund "
            "rf-0001). It should reach your card within 5 business days."
        ),
    },
]


def build_planner(llm: ScriptedLLM, store: Any) -> ReactPlanner:
    """The agent: every tool in the catalog, hints applied, paused runs kept in ``store``."""
    return ReactPlanner(
        llm_client=llm,
        catalog=build_catalog(
            [lookup_order, request_approval, issue_refund, delete_order], registry
        ),
        planning_hints=HINTS,
        state_store=store,
    )


def _url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"


async def start_refund(db_path: Path) -> PlannerPause | PlannerFinish:
    """First planner: run the request until it pauses for approval (saved in ``db_path``)."""
    async with await open_store(_url(db_path)) as store:
        planner = build_planner(ScriptedLLM(BEFORE_PAUSE, cost_per_call=COST_PER_CALL), store)
        print(f"tools the LLM may use: {planner.tools}")
        print(f"query: {QUERY}")
        return await planner.run(
            QUERY, llm_context=LLM_CONTEXT, tool_context={"payments": Payments()}
        )


async def finish_refund(
    db_path: Path, token: str, payments: Payments
) -> PlannerPause | PlannerFinish:
    """Second planner, on a fresh store object: resume the paused run with the approval."""
    async with await open_store(_url(db_path), create=False) as store:
        planner = build_planner(ScriptedLLM(AFTER_RESUME, cost_per_call=COST_PER_CALL), store)
        return await planner.resume(token, APPROVAL, tool_context={"payments": payments})


def wrap(text: str, indent: str = "  ") -> str:
    """``text`` wrapped at 88 columns, continuation lines indented."""
    return textwrap.fill(text, 88, subsequent_indent=indent, break_on_hyphens=False)


def show_pause(paused: PlannerPause | PlannerFinish) -> None:
    """Print what the person asked to approve sees."""
    assert isinstance(paused, PlannerPause), paused
    print(f"paused: {paused.reason}")
    print(f"  payload: {json.dumps(paused.payload)}")


def show_finish(result: PlannerPause | PlannerFinish, payments: Payments) -> None:
    """Print the whole trajectory (both planners' steps) and the answer."""
    assert isinstance(result, PlannerFinish), result
    for number, step in enumerate(result.metadata["steps"], start=1):
        print(f"step {number}: {step['node_name'] or 'finish'}")
        print(wrap(f"  thought: {step['thought']}", indent="    "))
        if step["node_name"] is not None:
            print(f"  observation: {json.dumps(step['observation'])}")
    cost = result.metadata["cost"]
    print(
        f"finished: {result.reason} ({cost['main_llm_calls']} LLM calls, "
        f"${cost['total_cost_usd']:.4f})"
    )
    print(f"refunds issued: {[r.refund_id for r in payments.refunds]}")
    print(wrap(f"answer: {result.payload}"))


@dataclass(slots=True)
class PauseResumeRun:
    """What `main` returns."""

    paused: PlannerPause | PlannerFinish
    result: PlannerPause | PlannerFinish
    payments: Payments
    saved_state: dict[str, Any] | None
    reused: str


async def main() -> PauseResumeRun:
    """Pause with one planner, resume with another on the same SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "refunds.db"
        print(wrap(f"planning hints shown to the LLM: {HINTS.render()}"))
        paused = await start_refund(db_path)
        show_pause(paused)
        assert isinstance(paused, PlannerPause)
        async with await open_store(_url(db_path), create=False) as store:
            saved = await saved_pause(store, paused.resume_token)
        print(f"saved in refunds.db: {len(saved['trajectory']['steps']) if saved else 0} step(s)")

        print(f"--- a second planner resumes with {json.dumps(APPROVAL)}")
        payments = Payments()
        result = await finish_refund(db_path, paused.resume_token, payments)
        show_finish(result, payments)

        # A resume token works once: the state left the store when it was resumed.
        async with await open_store(_url(db_path), create=False) as store:
            try:
                await build_planner(ScriptedLLM([]), store).resume(paused.resume_token)
            except ResumeError as exc:
                reused = type(exc).__name__
            else:
                reused = "resumed twice"
        print(f"resuming the same token again: {reused}")
    return PauseResumeRun(
        paused=paused, result=result, payments=payments, saved_state=saved, reused=reused
    )


async def _cli(args: list[str]) -> int:
    if len(args) == 2 and args[0] == "start":
        paused = await start_refund(Path(args[1]))
        show_pause(paused)
        assert isinstance(paused, PlannerPause)
        print(f"resume token: {paused.resume_token}")
        return 0
    if len(args) == 3 and args[0] == "resume":
        payments = Payments()
        try:
            result = await finish_refund(Path(args[1]), args[2], payments)
        except ResumeError as exc:
            print(f"cannot resume: {exc}", file=sys.stderr)
            return 1
        show_finish(result, payments)
        return 0
    print("usage: main.py [start DB | resume DB TOKEN]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments:
        raise SystemExit(asyncio.run(_cli(arguments)))
    asyncio.run(main())
