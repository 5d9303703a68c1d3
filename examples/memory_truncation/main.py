"""Short-term memory by truncation: the last N turns only, and what a budget does when it is full.

Part 1 is a support chat with ``strategy="truncation"`` and
``full_zone_turns=2``: the LLM sees the last two turns and nothing older.
The order number given in turn 1 is used in turns 2 and 3; by turn 4 that
turn has dropped out, and the assistant has to ask for the number again.
No summariser is involved, so truncation costs no extra LLM calls and is
fully deterministic.

Part 2 shows the token budget. ``total_max_tokens`` caps what a session
holds (estimated tokens of the stored turns). When a long pasted log would
take the memory over it:

* ``overflow_policy="truncate_oldest"`` drops the oldest turns until it fits;
* ``overflow_policy="error"`` refuses the turn: ``planner.run`` raises
  `MemoryBudgetExceeded` (the finished run is on the error as ``result``),
  and the memory is left as it was.

The planner's LLM is a `ScriptedLLM`; in part 1 its replies are computed
from the ``conversation_memory`` block of each prompt.

Run it from the repository root::

    .venv/bin/python examples/memory_truncation/main.py
"""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import (
    MemoryBudget,
    MemoryKey,
    PlannerFinish,
    ReactPlanner,
    ShortTermMemoryConfig,
)
from penguiflow.planner.memory import MemoryBudgetExceeded, OverflowPolicy
from penguiflow.planner.testing import ScriptedLLM

__all__ = [
    "BUDGET_TURNS",
    "KEY",
    "QUESTIONS",
    "BudgetRun",
    "TruncationRun",
    "budget_demo",
    "chat_demo",
    "main",
    "shown_memory",
    "support_script",
]

Messages = list[dict[str, str]]


class OrderRef(BaseModel):
    order_id: str


class Order(BaseModel):
    order_id: str
    item: str
    delivered: str
    returnable: bool


class Replacement(BaseModel):
    replacement_id: str
    ships: str


@tool(desc="Look up an order by its number", side_effects="read")
async def lookup_order(args: OrderRef, ctx: Any) -> Order:
    return Order(order_id=args.order_id, item="tablet", delivered="3 May", returnable=True)


@tool(desc="Send a replacement for an order", side_effects="write")
async def request_replacement(args: OrderRef, ctx: Any) -> Replacement:
    return Replacement(replacement_id="R-77", ships="tomorrow")


registry = ModelRegistry()
registry.register("lookup_order", OrderRef, Order)
registry.register("request_replacement", OrderRef, Replacement)
CATALOG = build_catalog([lookup_order, request_replacement], registry)

KEY = MemoryKey(tenant_id="shop", user_id="ana", session_id="support-9")
QUESTIONS = (
    "My order number is A-1042.",
    "It arrived with a cracked screen.",
    "Can I get a replacement instead of a refund?",
    "What was my order number again?",
)

ORDER_NUMBER = re.compile(r"\b[A-Z]-\d{4}\b")


def shown_memory(messages: Messages) -> dict[str, Any] | None:
    """The ``conversation_memory`` block of the prompt, or ``None`` when there is none."""
    for message in messages:
        if message["role"] == "system" and '"conversation_memory"' in message["content"]:
            content = message["content"]
            block: dict[str, Any] = json.loads(content[content.index("{") :])
            return dict(block["conversation_memory"])
    return None


def remembered_order(messages: Messages) -> str | None:
    """The order number, if the conversation memory in the prompt still has it."""
    memory = shown_memory(messages)
    found = ORDER_NUMBER.search(json.dumps(memory)) if memory else None
    return found.group(0) if found else None


def last_observation(messages: Messages) -> Any:
    return json.loads(messages[-1]["content"])["observation"]


# -- part 1: the support chat ---------------------------------------------------------------


def check_order(messages: Messages) -> dict[str, Any]:
    order = remembered_order(messages)
    return {
        "thought": (
            f"A damaged delivery. The order number, {order}, is in the previous turn; "
            "I'll check the order before offering anything."
        ),
        "next_node": "lookup_order",
        "args": {"order_id": order},
    }


def offer_options(messages: Messages) -> dict[str, Any]:
    order = last_observation(messages)
    return {
        "thought": "It was delivered recently and can be returned, so both options are open.",
        "next_node": None,
        "answer": (
            f"Sorry about that! Your {order['item']} was delivered on {order['delivered']}, "
            "so it can still be returned. I can refund it or send a replacement."
        ),
    }


def replace(messages: Messages) -> dict[str, Any]:
    order = remembered_order(messages)
    return {
        "thought": f"The user prefers a replacement; memory has order {order}. I'll request one.",
        "next_node": "request_replacement",
        "args": {"order_id": order},
    }


def confirm_replacement(messages: Messages) -> dict[str, Any]:
    sent = last_observation(messages)
    return {
        "thought": "The replacement is booked; I'll confirm it.",
        "next_node": None,
        "answer": f"Done: replacement {sent['replacement_id']} ships {sent['ships']}.",
    }


def recall_order(messages: Messages) -> dict[str, Any]:
    order = remembered_order(messages)
    if order is not None:
        return {"thought": "Memory has it.", "next_node": None, "answer": f"It is {order}."}
    return {
        "thought": (
            "The memory shows only the last two turns, and neither mentions the order "
            "number. I must not guess it, so I'll ask."
        ),
        "next_node": None,
        "answer": "That was earlier than I can still see. Could you tell me the number again?",
    }


def support_script() -> list[Any]:
    """The main LLM's replies for the four turns of part 1, in call order."""
    acknowledge = {
        "thought": "The user gave an order number and nothing else yet; I'll acknowledge it.",
        "next_node": None,
        "answer": "Thanks, I have order A-1042. How can I help with it?",
    }
    return [acknowledge, check_order, offer_options, replace, confirm_replacement, recall_order]


@dataclass(slots=True)
class TruncationRun:
    """What `chat_demo` returns."""

    results: list[PlannerFinish]
    llm: ScriptedLLM
    kept: list[list[int]]


def wrap(text: str, indent: str = "  ") -> str:
    """``text`` wrapped at 88 columns, continuation lines indented."""
    return textwrap.fill(text, 88, subsequent_indent=indent, break_on_hyphens=False)


def numbers(users: list[str], questions: tuple[str, ...]) -> list[int]:
    """1-based turn numbers of the turns whose questions are ``users``."""
    return [questions.index(user) + 1 for user in users]


async def chat_demo() -> TruncationRun:
    """Part 1: four turns with ``full_zone_turns=2``."""
    llm = ScriptedLLM(support_script())
    planner = ReactPlanner(
        llm_client=llm,
        catalog=CATALOG,
        short_term_memory=ShortTermMemoryConfig(
            strategy="truncation", budget=MemoryBudget(full_zone_turns=2)
        ),
    )
    print("== part 1: strategy='truncation', full_zone_turns=2")
    results: list[PlannerFinish] = []
    kept: list[list[int]] = []
    for number, question in enumerate(QUESTIONS, start=1):
        first_call = len(llm.calls)
        result = await planner.run(question, memory_key=KEY)
        assert isinstance(result, PlannerFinish), result
        results.append(result)
        memory = shown_memory(llm.calls[first_call].messages)
        seen = numbers([t["user"] for t in memory["recent_turns"]], QUESTIONS) if memory else []
        print(f"turn {number} (LLM saw turns {seen}): {question}")
        tools = [s["node_name"] for s in result.metadata["steps"] if s["node_name"]]
        if tools:
            print(f"  tools: {', '.join(tools)}")
        print(wrap(f"  assistant: {result.payload}", indent="    "))
        stored = (await planner.memory(KEY)).recent_turns
        kept.append(numbers([t.user_message for t in stored], QUESTIONS))
        print(f"  memory keeps turns {kept[-1]}")
    return TruncationRun(results, llm, kept)


# -- part 2: the token budget -------------------------------------------------------------

LOG = (
    "Traceback (most recent call last): File 'sync.py', line 88, in push_orders; "
    "File 'client.py', line 214, in post; ConnectionResetError: [Errno 104] Connection "
    "reset by peer while sending 412 KB to https://api.example.com/v2/orders; retrying "
    "in 30 s (attempt 3 of 5); last response: 502 Bad Gateway from the edge proxy."
)
BUDGET_TURNS = (
    ("Hi, the nightly order sync keeps failing.", "Sorry to hear that. What does it log?"),
    ("It started after Monday's deploy.", "Thanks, that narrows it down."),
    (f"Here is the log: {LOG}", "The edge proxy drops large uploads; send smaller batches."),
)
BUDGET = MemoryBudget(full_zone_turns=5, total_max_tokens=150)


@dataclass(slots=True)
class BudgetRun:
    """What `budget_demo` returns."""

    policy: str
    kept: list[int]
    tokens: int
    error: MemoryBudgetExceeded | None


async def budget_demo(policy: OverflowPolicy) -> BudgetRun:
    """Part 2: three turns, the last one a long log, under ``total_max_tokens=150``."""
    budget = MemoryBudget(
        full_zone_turns=BUDGET.full_zone_turns,
        total_max_tokens=BUDGET.total_max_tokens,
        overflow_policy=policy,
    )
    replies = [
        {"thought": "Answer briefly.", "next_node": None, "answer": answer}
        for _, answer in BUDGET_TURNS
    ]
    planner = ReactPlanner(
        llm_client=ScriptedLLM(replies),
        catalog=CATALOG,
        short_term_memory=ShortTermMemoryConfig(strategy="truncation", budget=budget),
    )
    questions = tuple(question for question, _ in BUDGET_TURNS)
    error: MemoryBudgetExceeded | None = None
    print(f"overflow_policy={policy!r}:")
    for question in questions:
        try:
            await planner.run(question, memory_key=KEY)
        except MemoryBudgetExceeded as exc:
            error = exc
            print(f"  turn {questions.index(question) + 1} refused: MemoryBudgetExceeded")
            # The answer is not lost: the finished run travels on the error.
            print(f"    the run itself finished: {exc.result.payload!r}")
    memory = await planner.memory(KEY)
    kept = numbers([t.user_message for t in memory.recent_turns], questions)
    tokens = memory.token_estimate
    limit = budget.total_max_tokens
    print(f"  memory keeps turns {kept}, within {limit} tokens: {tokens <= limit}")
    return BudgetRun(policy, kept, tokens, error)


async def main() -> tuple[TruncationRun, list[BudgetRun]]:
    """Both parts."""
    chat = await chat_demo()
    print(f"== part 2: total_max_tokens={BUDGET.total_max_tokens}, a long log arrives in turn 3")
    budgets = [await budget_demo("truncate_oldest"), await budget_demo("error")]
    return chat, budgets


if __name__ == "__main__":
    asyncio.run(main())
