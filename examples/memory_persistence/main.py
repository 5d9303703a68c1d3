"""Short-term memory that outlives the process: a helpdesk chat continued the next day, elsewhere.

``write DB`` serves the first three turns of a session with a planner whose
``state_store`` is the SQLite file ``DB``. The memory is saved to the file
after every turn and every summary, automatically; the example also calls
``memory.persist(store, key.composite())`` itself, as the seed README does,
then exits.

``read DB`` is a new process: it opens the same file, first reads the
session with ``memory.hydrate(store, key.composite())`` into a memory of
its own (no planner involved), then builds a new planner on the file and
serves turn 4. The planner hydrates the session when it first opens it, so
the LLM sees the summary and the recent turns written by the other process.

Both LLMs are `ScriptedLLM`; the planner's replies are computed from the
``conversation_memory`` block of each prompt.

Run it from the repository root::

    .venv/bin/python examples/memory_persistence/main.py write /tmp/helpdesk.db
    .venv/bin/python examples/memory_persistence/main.py read /tmp/helpdesk.db

or, with no arguments, both steps as two child processes on a temporary file::

    .venv/bin/python examples/memory_persistence/main.py
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import (
    DefaultShortTermMemory,
    MemoryBudget,
    MemoryKey,
    PlannerFinish,
    ReactPlanner,
    ShortTermMemoryConfig,
)
from penguiflow.planner.testing import ScriptedLLM
from penguiflow.state import StateStore, open_store

__all__ = [
    "CONFIG",
    "FIRST_DAY",
    "KEY",
    "NEXT_DAY",
    "ReadResult",
    "WriteResult",
    "build_planner",
    "main",
    "read_session",
    "shown_memory",
    "write_session",
]

Messages = list[dict[str, str]]


class Problem(BaseModel):
    device: str
    symptom: str


class Articles(BaseModel):
    fixes: list[str]


KNOWLEDGE_BASE = {
    "wifi drops": [
        "Turn off Wi-Fi power saving: set wifi.powersave = 2 in NetworkManager.",
    ],
    "wifi drops again": [
        "Update the Intel AX211 firmware (linux-firmware 20240610 or later).",
        "Pin the router to a 5 GHz channel below 100 (no DFS radar switching).",
    ],
}


@tool(desc="Search the helpdesk knowledge base for fixes", side_effects="read")
async def search_kb(args: Problem, ctx: Any) -> Articles:
    return Articles(fixes=KNOWLEDGE_BASE.get(args.symptom, []))


registry = ModelRegistry()
registry.register("search_kb", Problem, Articles)

KEY = MemoryKey(tenant_id="acme", user_id="ana", session_id="helpdesk-311")
CONFIG = ShortTermMemoryConfig(
    strategy="rolling_summary",
    budget=MemoryBudget(full_zone_turns=2, summary_max_tokens=200, total_max_tokens=2000),
)
FIRST_DAY = (
    "My laptop is a ThinkPad X1 Carbon Gen 11 running Ubuntu 24.04.",
    "The Wi-Fi drops every few minutes.",
    "That helped, thanks. I'll be back if it happens again.",
)
NEXT_DAY = "It happened again this morning. What else can I try?"

DEVICE = re.compile(r"ThinkPad [\w ]+? Gen \d+")


def shown_memory(messages: Messages) -> dict[str, Any] | None:
    """The ``conversation_memory`` block of the prompt, or ``None`` when there is none."""
    for message in messages:
        if message["role"] == "system" and '"conversation_memory"' in message["content"]:
            content = message["content"]
            block: dict[str, Any] = json.loads(content[content.index("{") :])
            return dict(block["conversation_memory"])
    return None


def remembered_device(messages: Messages) -> str:
    memory = shown_memory(messages)
    found = DEVICE.search(json.dumps(memory)) if memory else None
    if found is None:
        raise LookupError("the conversation memory does not say which laptop this is")
    return found.group(0)


def last_fixes(messages: Messages) -> list[str]:
    fixes: list[str] = json.loads(messages[-1]["content"])["observation"]["fixes"]
    return fixes


# -- the planner's LLM ---------------------------------------------------------------------------


def search_first(messages: Messages) -> dict[str, Any]:
    device = remembered_device(messages)
    return {
        "thought": (
            f"Wi-Fi keeps dropping on the {device} the user told me about. I'll look for "
            "known fixes."
        ),
        "next_node": "search_kb",
        "args": {"device": device, "symptom": "wifi drops"},
    }


def answer_first(messages: Messages) -> dict[str, Any]:
    return {
        "thought": "One known fix: Wi-Fi power saving. I'll suggest it.",
        "next_node": None,
        "answer": f"This is a known issue. {last_fixes(messages)[0]}",
    }


def search_again(messages: Messages) -> dict[str, Any]:
    device = remembered_device(messages)
    memory = shown_memory(messages) or {}
    tried = "power saving" in json.dumps(memory)
    return {
        "thought": (
            f"This continues an earlier conversation: the summary says the laptop is a {device}, "
            f"and the recent turns show the power-saving fix {'was' if tried else 'was not'} "
            "tried and helped only for a while. I'll search for what else fixes it."
        ),
        "next_node": "search_kb",
        "args": {"device": device, "symptom": "wifi drops again"},
    }


def answer_again(messages: Messages) -> dict[str, Any]:
    first, second = last_fixes(messages)
    return {
        "thought": "Two further fixes; I'll give them in order, firmware first.",
        "next_node": None,
        "answer": f"Since power saving was not the whole story: 1. {first} 2. {second}",
    }


FIRST_DAY_SCRIPT: list[Any] = [
    {
        "thought": "The user is describing their laptop; nothing to look up yet.",
        "next_node": None,
        "answer": "Got it: a ThinkPad X1 Carbon Gen 11 on Ubuntu 24.04. What is the problem?",
    },
    search_first,
    answer_first,
    {
        "thought": "The fix worked; I'll close politely.",
        "next_node": None,
        "answer": "Glad it helped! This conversation will be here when you come back.",
    },
]
NEXT_DAY_SCRIPT: list[Any] = [search_again, answer_again]
SUMMARIES = (
    "The user has a ThinkPad X1 Carbon Gen 11 running Ubuntu 24.04 and asked for help.",
    "The user has a ThinkPad X1 Carbon Gen 11 on Ubuntu 24.04 whose Wi-Fi dropped every "
    "few minutes; turning off Wi-Fi power saving was suggested.",
)


def build_planner(llm: ScriptedLLM, summarizer: ScriptedLLM, store: StateStore) -> ReactPlanner:
    """The helpdesk assistant: rolling-summary memory, saved to ``store``."""
    return ReactPlanner(
        llm_client=llm,
        catalog=build_catalog([search_kb], registry),
        short_term_memory=CONFIG,
        summarizer_llm=summarizer,
        state_store=store,
    )


def wrap(text: str, indent: str = "  ") -> str:
    """``text`` wrapped at 88 columns, continuation lines indented."""
    return textwrap.fill(text, 88, subsequent_indent=indent, break_on_hyphens=False)


def describe(memory: dict[str, Any] | None) -> str:
    if memory is None:
        return "nothing"
    recent, pending = len(memory["recent_turns"]), len(memory["pending_turns"])
    summary = "a summary" if memory["summary"] else "no summary"
    return f"{recent} recent turn(s), {pending} pending, {summary}"


async def serve(planner: ReactPlanner, llm: ScriptedLLM, question: str) -> PlannerFinish:
    """One turn: run, then print the question, what memory the LLM saw, and the answer."""
    first_call = len(llm.calls)
    result = await planner.run(question, memory_key=KEY)
    assert isinstance(result, PlannerFinish), result
    print(wrap(f"user: {question}"))
    print(f"  memory shown to the LLM: {describe(shown_memory(llm.calls[first_call].messages))}")
    for step in result.metadata["steps"]:
        if step["node_name"] is not None:
            print(wrap(f"  thought: {step['thought']}", indent="    "))
            print(f"  {step['node_name']} {json.dumps(step['args'])}")
    print(wrap(f"  assistant: {result.payload}", indent="    "))
    return result


# -- the two processes ------------------------------------------------------------------------


@dataclass(slots=True)
class WriteResult:
    """What the writing process did."""

    results: list[PlannerFinish]
    summary: str
    recent: list[str]


@dataclass(slots=True)
class ReadResult:
    """What the reading process found and did."""

    hydrated: bool
    hydrated_summary: str
    hydrated_recent: list[str]
    result: PlannerFinish
    llm: ScriptedLLM


async def write_session(db_path: Path) -> WriteResult:
    """First process: three turns, then save explicitly and exit."""
    print(f"== process 1: session {KEY.composite()}, SQLite store")
    async with await open_store(f"sqlite:///{db_path}") as store:
        llm = ScriptedLLM(FIRST_DAY_SCRIPT)
        planner = build_planner(llm, ScriptedLLM([{"summary": SUMMARIES[0]}]), store)
        results = [await serve(planner, llm, question) for question in FIRST_DAY]
        memory = await planner.memory(KEY)
        await memory.flush()  # the summary of turn 1 lands (and is saved automatically)
        await memory.persist(store, KEY.composite())  # and once more, explicitly
        recent = [turn.user_message for turn in memory.recent_turns]
        print(wrap(f"saved: summary {memory.summary!r} + {len(recent)} recent turn(s)"))
        await planner.aclose()
    return WriteResult(results, memory.summary, recent)


async def read_session(db_path: Path) -> ReadResult:
    """Second process: read the saved session, then continue it with a new planner."""
    print("== process 2: a new planner on the same file")
    async with await open_store(f"sqlite:///{db_path}", create=False) as store:
        summarizer = ScriptedLLM([{"summary": SUMMARIES[1]}])
        # Reading the session without any planner: a memory of its own, hydrated.
        saved = DefaultShortTermMemory(CONFIG, summarizer)
        found = await saved.hydrate(store, KEY.composite())
        recent = [turn.user_message for turn in saved.recent_turns]
        print(f"hydrated: {found}; health {saved.health.value}; recent turns: {len(recent)}")
        print(wrap(f"  summary: {saved.summary}", indent="    "))
        await saved.close()

        llm = ScriptedLLM(NEXT_DAY_SCRIPT)
        planner = build_planner(llm, summarizer, store)
        result = await serve(planner, llm, NEXT_DAY)
        memory = await planner.memory(KEY)
        await planner.aclose()  # lets the summary of turn 2 finish, and saves it
        print(wrap(f"on close, saved the new summary: {memory.summary}"))
    return ReadResult(found, saved.summary, recent, result, llm)


async def main(args: list[str]) -> int:
    """``write DB`` serves the first turns; ``read DB`` continues the session."""
    if len(args) == 2 and args[0] == "write":
        await write_session(Path(args[1]))
        return 0
    if len(args) == 2 and args[0] == "read":
        read = await read_session(Path(args[1]))
        return 0 if read.hydrated else 1
    print("usage: main.py [write DB | read DB]", file=sys.stderr)
    return 2


def _both_steps() -> int:
    """Run ``write`` and then ``read`` as two separate processes on a temporary file."""
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "helpdesk.db")
        for step in ("write", "read"):
            done = subprocess.run(
                [sys.executable, __file__, step, db], capture_output=True, text=True, check=True
            )
            print(done.stdout, end="")
    return 0


if __name__ == "__main__":
    arguments = sys.argv[1:]
    raise SystemExit(asyncio.run(main(arguments)) if arguments else _both_steps())
