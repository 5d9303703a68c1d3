"""Short-term memory, customised: keys derived from the request, and your own token estimator.

A multi-tenant support bot sits behind a web layer that authenticates each
request and puts a ``WebSession`` (tenant, user, conversation, auth token)
into the planner's ``tool_context``, which the LLM never sees. Instead of
passing ``memory_key=`` on every call, the configuration derives it:

* ``key_from_tool_context=session_key`` turns the ``WebSession`` into a
  `MemoryKey`; it returns ``None`` when there is no session.
* ``require_explicit_key=True`` (the default) fails closed: a run whose
  ``tool_context`` has no session raises `MemoryKeyRequired` before any LLM
  call, instead of silently running without memory or with someone else's.
  A session whose ids are malformed raises `MemoryKeyError`.
* ``token_estimator=word_pieces`` counts tokens the way you choose (here
  words and punctuation marks, a rough stand-in for a model's tokenizer);
  budgets and ``token_estimate`` use it.

Two users named ``ana``, at two different tenants, talk to the bot in
interleaved turns; each one's memory is her own. The planner's LLM is a
`ScriptedLLM` whose replies are computed from the request and the
``conversation_memory`` block of the prompt.

Run it from the repository root::

    .venv/bin/python examples/memory_custom/main.py
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
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
from penguiflow.planner.memory import MemoryKeyError, MemoryKeyRequired
from penguiflow.planner.testing import ScriptedLLM

__all__ = [
    "CONFIG",
    "CONVERSATION",
    "CustomRun",
    "WebSession",
    "build_planner",
    "main",
    "plan_bot",
    "session_key",
    "shown_turns",
    "word_pieces",
]

Messages = list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class WebSession:
    """What the web layer knows about an authenticated request."""

    tenant: str
    user: str
    conversation: str
    auth_token: str


def session_key(tool_context: Mapping[str, Any]) -> MemoryKey | None:
    """The memory key of a request: its tenant, user and conversation (``None``: no session)."""
    session = tool_context.get("session")
    if session is None:
        return None
    return MemoryKey(
        tenant_id=session.tenant, user_id=session.user, session_id=session.conversation
    )


WORD_PIECE = re.compile(r"\w+|[^\w\s]")


def word_pieces(text: str) -> int:
    """Estimated tokens: one per word and one per punctuation mark."""
    return len(WORD_PIECE.findall(text))


CONFIG = ShortTermMemoryConfig(
    strategy="truncation",
    budget=MemoryBudget(full_zone_turns=4, total_max_tokens=400),
    require_explicit_key=True,
    key_from_tool_context=session_key,
    token_estimator=word_pieces,
)


class InvoiceQuery(BaseModel):
    period: str


class Invoice(BaseModel):
    period: str
    amount_eur: int


INVOICES = {("acme", "ana"): 49, ("globex", "ana"): 0}


@tool(desc="The signed-in user's invoice for a period ('latest' or YYYY-MM)", side_effects="read")
async def invoice(args: InvoiceQuery, ctx: Any) -> Invoice:
    # Whose invoice comes from the authenticated session, never from the LLM.
    session: WebSession = ctx.tool_context["session"]
    return Invoice(period=args.period, amount_eur=INVOICES[(session.tenant, session.user)])


registry = ModelRegistry()
registry.register("invoice", InvoiceQuery, Invoice)

STATED = re.compile(r"My plan is (\w+)")


def plan_bot(messages: Messages) -> dict[str, Any]:
    """The bot's LLM: acknowledges a plan, or recalls it from the conversation memory."""
    query = json.loads(next(m for m in messages if m["role"] == "user")["content"])["query"]
    if "invoice" in query:
        if messages[-1]["role"] != "user" or "observation" not in messages[-1]["content"]:
            return {
                "thought": "The user asks about their latest invoice; I'll fetch it.",
                "next_node": "invoice",
                "args": {"period": "latest"},
            }
        seen = json.loads(messages[-1]["content"])["observation"]
        return {
            "thought": "I have the invoice.",
            "next_node": None,
            "answer": f"Your latest invoice is {seen['amount_eur']} EUR.",
        }
    stated = STATED.search(query)
    if stated is not None:
        return {
            "thought": "The user tells me their plan; I'll confirm it.",
            "next_node": None,
            "answer": f"Got it: you are on the {stated.group(1)} plan.",
        }
    memory = next((m["content"] for m in messages if '"conversation_memory"' in m["content"]), "")
    recalled = STATED.search(memory)
    if recalled is None:
        return {
            "thought": "Nothing in this conversation says which plan the user is on.",
            "next_node": None,
            "answer": "I don't know your plan yet. Which one are you on?",
        }
    return {
        "thought": "The user said which plan they are on earlier in this conversation.",
        "next_node": None,
        "answer": f"You are on the {recalled.group(1)} plan.",
    }


ACME_ANA = WebSession("acme", "ana", "web-1", auth_token="tok-acme-7f3a")
GLOBEX_ANA = WebSession("globex", "ana", "web-1", auth_token="tok-globex-91c2")
CONVERSATION = (
    (ACME_ANA, "My plan is Pro."),
    (GLOBEX_ANA, "My plan is Free."),
    (ACME_ANA, "Which plan am I on?"),
    (GLOBEX_ANA, "Which plan am I on?"),
    (ACME_ANA, "How much was my latest invoice?"),
)


def shown_turns(messages: Messages) -> list[str]:
    """The questions of the turns in the prompt's ``conversation_memory`` block."""
    for message in messages:
        if message["role"] == "system" and '"conversation_memory"' in message["content"]:
            content = message["content"]
            memory = json.loads(content[content.index("{") :])["conversation_memory"]
            return [turn["user"] for turn in memory["recent_turns"]]
    return []


def build_planner(llm: ScriptedLLM) -> ReactPlanner:
    """The support bot, with keys derived from ``tool_context``."""
    return ReactPlanner(
        llm_client=llm,
        catalog=build_catalog([invoice], registry),
        short_term_memory=CONFIG,
    )


@dataclass(slots=True)
class CustomRun:
    """What `main` returns."""

    results: list[PlannerFinish]
    llm: ScriptedLLM
    missing: MemoryKeyRequired
    malformed: MemoryKeyError
    calls_before_refusals: int
    token_estimates: dict[str, int]


async def main() -> CustomRun:
    """Interleaved sessions, two refused requests, then the token estimates."""
    llm = ScriptedLLM([plan_bot] * (len(CONVERSATION) + 1))  # the invoice takes two calls
    planner = build_planner(llm)
    results: list[PlannerFinish] = []
    for session, question in CONVERSATION:
        # No memory_key=: the key comes from the session in tool_context.
        first_call = len(llm.calls)
        result = await planner.run(question, tool_context={"session": session})
        assert isinstance(result, PlannerFinish), result
        results.append(result)
        print(f"{session.tenant}/{session.user}: {question}")
        print(f"  turns in the LLM's memory block: {shown_turns(llm.calls[first_call].messages)}")
        print(f"  assistant: {result.payload}")

    calls = len(llm.calls)
    try:
        await planner.run("Which plan am I on?", tool_context={})
    except MemoryKeyRequired as exc:
        missing = exc
        print(f"no session in tool_context: {type(exc).__name__}")
    broken = WebSession("acme", "ana", " ", auth_token="tok-acme-7f3a")
    try:
        await planner.run("Which plan am I on?", tool_context={"session": broken})
    except MemoryKeyError as exc:
        malformed = exc
        print(f"a session with a blank conversation id: {type(exc).__name__}")
    print(f"LLM calls made by the two refused requests: {len(llm.calls) - calls}")

    estimates: dict[str, int] = {}
    for session in (ACME_ANA, GLOBEX_ANA):
        key = session_key({"session": session})
        assert key is not None
        memory = await planner.memory(key)
        estimates[key.composite()] = memory.token_estimate
        print(
            f"{key.composite()}: {len(memory.recent_turns)} turns, "
            f"{memory.token_estimate} word pieces of {CONFIG.budget.total_max_tokens}"
        )
    await planner.aclose()
    return CustomRun(results, llm, missing, malformed, calls, estimates)


if __name__ == "__main__":
    asyncio.run(main())
