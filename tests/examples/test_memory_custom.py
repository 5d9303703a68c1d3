"""examples/memory_custom: keys derived from tool_context fail closed; a custom token estimator."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from penguiflow.planner import MemoryKey, PlannerFinish
from penguiflow.planner.memory import MemoryKeyError, MemoryKeyRequired
from penguiflow.planner.testing import ScriptedLLM

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "memory_custom"


def readme_output() -> str:
    """The block after "Output:" in the example's README."""
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Output:\n\n```\n(.*?)```", readme, re.S)
    assert match, "README lost its Output block"
    return match.group(1)


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("memory_custom")


async def test_derived_keys_isolate_tenants_and_fail_closed(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    run = await asyncio.wait_for(example.main(), 20)

    assert all(isinstance(r, PlannerFinish) for r in run.results)
    assert [r.payload for r in run.results[2:4]] == [
        "You are on the Pro plan.",
        "You are on the Free plan.",
    ]
    # Each ana's prompts hold her own turns only, and no session secret ever.
    calls = run.llm.calls
    acme_recall, globex_recall = calls[2].messages, calls[3].messages
    assert example.shown_turns(acme_recall) == ["My plan is Pro."]
    assert example.shown_turns(globex_recall) == ["My plan is Free."]
    acme_memory = next(m["content"] for m in acme_recall if "conversation_memory" in m["content"])
    globex_memory = next(
        m["content"] for m in globex_recall if "conversation_memory" in m["content"]
    )
    assert "Free" not in acme_memory and "Pro" not in globex_memory
    assert not any("tok-" in m["content"] for call in calls for m in call.messages)
    # The invoice tool found the account from the session in tool_context.
    invoice = run.results[4].metadata["steps"][0]
    assert (invoice["args"], invoice["observation"]) == (
        {"period": "latest"},
        {"period": "latest", "amount_eur": 49},
    )

    # Refused before any LLM call: no session, then a malformed one.
    assert len(calls) == run.calls_before_refusals == 6
    assert isinstance(run.missing, MemoryKeyRequired)
    assert "key_from_tool_context found none" in str(run.missing)
    assert isinstance(run.malformed, MemoryKeyError)
    assert not isinstance(run.malformed, MemoryKeyRequired)
    assert "key_from_tool_context failed" in str(run.malformed)
    assert "session_id must not be empty or blank" in str(run.malformed)
    assert capsys.readouterr().out == readme_output()


async def test_the_budget_counts_with_the_custom_estimator(example: ModuleType) -> None:
    planner = example.build_planner(ScriptedLLM([example.plan_bot, example.plan_bot]))
    context = {"session": example.ACME_ANA}
    await planner.run("My plan is Pro.", tool_context=context)
    await planner.run("Which plan am I on?", tool_context=context)

    memory = await planner.memory(example.session_key(context))
    measured = [
        example.word_pieces(json.dumps(t.to_dict(), ensure_ascii=False, separators=(",", ":")))
        for t in memory.recent_turns
    ]
    assert memory.token_estimate == sum(measured)
    assert example.word_pieces('{"a": "b, c"}') == 11
    await planner.aclose()


async def test_an_explicit_key_wins_over_the_derived_one(example: ModuleType) -> None:
    planner = example.build_planner(ScriptedLLM([example.plan_bot]))
    explicit = MemoryKey(tenant_id="acme", user_id="ana", session_id="phone-2")
    await planner.run(
        "My plan is Team.", tool_context={"session": example.ACME_ANA}, memory_key=explicit
    )

    assert [t.user_message for t in (await planner.memory(explicit)).recent_turns] == [
        "My plan is Team."
    ]
    derived = example.session_key({"session": example.ACME_ANA})
    assert (await planner.memory(derived)).recent_turns == ()
    await planner.aclose()


def test_runs_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, str(FOLDER / "main.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == readme_output()
