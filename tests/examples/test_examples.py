"""Every example under ``examples/`` runs and does what its README says."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from penguiflow import WM, FinalAnswer, FlowError, FlowErrorCode, Headers, Message

__all__: list[str] = []

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


LoadExample = Callable[[str], ModuleType]


async def run_main(name: str, load_example: LoadExample) -> Any:
    return await asyncio.wait_for(load_example(name).main(), 10)


def test_every_example_has_main_and_readme() -> None:
    folders = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir() and p.name[0] not in "._")
    assert folders, "no examples found"
    for folder in folders:
        assert (EXAMPLES / folder / "main.py").is_file(), folder
        assert (EXAMPLES / folder / "README.md").is_file(), folder


async def test_quickstart(load_example: LoadExample, capsys: pytest.CaptureFixture[str]) -> None:
    out = await run_main("quickstart", load_example)

    assert isinstance(out, Message)
    assert out.prompt == "[metrics] summarize 2 docs"
    assert type(out.payload).__name__ == "PackOut"
    assert out.headers.tenant == "acme"
    assert capsys.readouterr().out == "[metrics] summarize 2 docs\n"


def test_quickstart_as_a_script() -> None:
    # What `make demo` runs: the file itself, in a fresh interpreter.
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart" / "main.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[metrics] summarize 2 docs\n"
    assert proc.stderr == ""


async def test_controller_multihop(load_example: LoadExample) -> None:
    module = load_example("controller_multihop")
    finished, exhausted = await asyncio.wait_for(module.main(), 10)

    # Enough budget: the controller answers itself after gathering FACTS_NEEDED facts,
    # and the runtime incremented hops once per pass.
    assert isinstance(finished.answer, FinalAnswer)
    assert finished.hops_seen == [0, 1, 2, 3]
    assert finished.answer.text.startswith("Emperor penguins are the tallest penguins.")
    assert len(finished.answer.citations) == module.FACTS_NEEDED
    assert finished.answer.citations[0] == "kb://emperor/size"
    assert finished.tokens_used > 0

    # budget_hops=2: the runtime ends the loop after two passes with its own FinalAnswer.
    assert exhausted.hops_seen == [0, 1]
    assert exhausted.answer.text.startswith("Hop budget exhausted: 2 hops of 2 allowed")
    assert "'emperor penguins'" in exhausted.answer.text
    assert exhausted.tokens_used < finished.tokens_used


async def test_controller_multihop_wm_state(load_example: LoadExample) -> None:
    # The controller's own step, without a flow: it adds one fact, one thought and tokens.
    module = load_example("controller_multihop")

    class FakeCtx:
        async def call_playbook(self, builder: Any, msg: Message) -> Any:
            return "Penguins cannot fly."

    msg = Message(payload=WM(query="emperor penguins"), headers=Headers(tenant="acme"))
    out = await module.controller(msg, FakeCtx())

    assert out.trace_id == msg.trace_id
    assert out.payload.facts == ["Penguins cannot fly."]
    assert out.payload.tokens_used == 3
    assert [step.kind for step in out.payload.thoughts[0].steps] == ["lookup"]


async def test_reliability_middleware(load_example: LoadExample) -> None:
    result = await run_main("reliability_middleware", load_example)

    def sequence(node: str) -> list[tuple[str, int]]:
        return [(e.event_type, e.attempt) for e in result.events if e.node_name == node]

    assert sequence("flaky") == [
        ("node_start", 0),
        ("node_error", 0),
        ("node_retry", 1),
        ("node_start", 1),
        ("node_error", 1),
        ("node_retry", 2),
        ("node_start", 2),
        ("node_success", 2),
    ]
    assert sequence("stuck") == [
        ("node_start", 0),
        ("node_timeout", 0),
        ("node_retry", 1),
        ("node_start", 1),
        ("node_timeout", 1),
        ("node_failed", 1),
    ]
    retries = [e.extra["delay_s"] for e in result.events if e.event_type == "node_retry"]
    assert retries == [0.001, 0.002, 0.001]  # backoff_base * backoff_mult**n
    assert result.flaky_result.payload == "fetched 'report.csv' on call 3"
    assert isinstance(result.stuck_error, FlowError)
    assert result.stuck_error.code is FlowErrorCode.NODE_TIMEOUT
    assert result.stuck_error.node_name == "stuck"


async def test_playbook_retrieval(load_example: LoadExample) -> None:
    out = await run_main("playbook_retrieval", load_example)

    assert isinstance(out, Message)
    assert type(out.payload).__name__ == "Compressed"
    assert out.payload.sources == ["doc-1", "doc-3"]
    assert out.payload.summary.startswith("Penguins keep warm with dense feathers")
    # The parent's meta survives and the playbook's keys were merged into it.
    assert out.meta == {
        "request_id": "req-42",
        "retrieved": 4,
        "reranked": ["doc-1", "doc-3"],
        "compressed_chars": len(out.payload.summary),
    }


async def test_trace_cancel(load_example: LoadExample) -> None:
    result = await run_main("trace_cancel", load_example)

    assert result.cancelled is True
    assert result.cancelled_again is False  # the trace is gone entirely
    assert len(result.playbook_cancelled) == 1  # the subflow's node was interrupted
    assert result.other_result == "answer to 'penguin diet'"
    assert result.leftover_tasks == 0


async def test_metadata_propagation(load_example: LoadExample) -> None:
    by_branch = await run_main("metadata_propagation", load_example)

    assert sorted(by_branch) == ["classify", "summarize"]
    summary, label = by_branch["summarize"], by_branch["classify"]
    assert summary.trace_id == label.trace_id
    assert summary.payload == "where is my invoice ..."
    assert label.payload == "billing"
    shared = {"request_id": "req-7", "channel": "email", "words": 6}
    assert summary.meta == {
        **shared,
        "trail": ["tag", "enrich", "summarize"],
        "branch": "summarize",
    }
    assert label.meta == {
        **shared,
        "trail": ["tag", "enrich", "classify"],
        "branch": "classify",
        "label": "billing",
    }
    assert summary.meta is not label.meta


async def test_traceable_errors(load_example: LoadExample) -> None:
    result = await run_main("traceable_errors", load_example)

    err = result.error
    assert isinstance(err, FlowError)
    assert err.code is FlowErrorCode.NODE_EXCEPTION
    assert err.node_name == "charge"
    assert err.trace_id == result.failing_trace
    payload = err.to_payload()
    assert payload["code"] == "NODE_EXCEPTION"
    assert payload["metadata"] == {"attempts": 2}
    assert payload["original_exc"] == {
        "type": "ValueError",
        "message": "card ending 0000 was declined",
    }
    failed, succeeded = result.responses
    assert failed == {"ok": False, "trace_id": result.failing_trace, "error": payload}
    assert succeeded["ok"] is True
    assert succeeded["data"] == {"card": "4242-4242", "status": "charged"}
