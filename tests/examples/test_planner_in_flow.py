"""examples/planner_in_flow: a planner node answers tickets, with a playbook as one of its tools."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from penguiflow import Headers, Message
from penguiflow.planner.flows import PlannerOutcome

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "planner_in_flow"


def readme_output() -> str:
    """The block after "Output:" in the example's README."""
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Output:\n\n```\n(.*?)```", readme, re.S)
    assert match, "README lost its Output block"
    return match.group(1)


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("planner_in_flow")


async def test_every_ticket_is_answered_in_its_own_trace_and_tenant(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    replies = await asyncio.wait_for(example.main(), 10)

    assert [(r.headers.tenant, r.payload.customer) for r in replies] == [
        ("acme", "ana"),
        ("initech", "bo"),
        ("initech", "cy"),
    ]
    # The same order id, read from each tenant's own table by the playbook.
    assert replies[0].payload.text == "Order A1 is shipped, arrives in 2 days."
    assert replies[1].payload.text == "Order A1 is packing, arrives in 5 days."
    assert [r.payload.tools for r in replies] == [
        ["order_status"],
        ["order_status"],
        ["support_hours"],
    ]
    assert len({r.trace_id for r in replies}) == 3
    assert capsys.readouterr().out == readme_output()


async def test_the_planner_node_hands_on_an_outcome_and_the_playbook_runs_in_the_trace(
    example: ModuleType,
) -> None:
    seen: list[Message] = []
    real_load = example.load_order

    async def recording_load(query: object, ctx: object) -> object:
        seen.append(ctx.message)  # type: ignore[attr-defined]
        return await real_load(query, ctx)

    example.load_order = recording_load
    outcomes: list[PlannerOutcome] = []
    real_reply = example.reply

    async def recording_reply(msg: Message, ctx: object) -> Message:
        outcomes.append(msg.payload)
        return await real_reply(msg, ctx)  # type: ignore[no-any-return]

    example.reply = recording_reply
    flow = example.build_flow()
    flow.run()
    try:
        ticket = Message(
            payload=example.Ticket(customer="dee", text="status of A1 please"),
            headers=Headers(tenant="initech"),
        )
        await flow.emit(ticket)
        out = await asyncio.wait_for(flow.fetch(), 10)
    finally:
        await flow.stop()

    [outcome] = outcomes
    assert (outcome.status, outcome.reason) == ("finished", "answer_complete")
    assert outcome.metadata["steps"][0]["args"] == {"order": "A1"}
    [inner] = seen
    assert (inner.trace_id, inner.headers.tenant) == (ticket.trace_id, "initech")
    assert out.payload.text == "Order A1 is packing, arrives in 5 days."


async def test_an_unknown_order_becomes_an_observation_not_a_crash(example: ModuleType) -> None:
    flow = example.build_flow()
    flow.run()
    try:
        ticket = Message(
            payload=example.Ticket(customer="eve", text="Where is Z9?"),
            headers=Headers(tenant="acme"),
        )
        await flow.emit(ticket)
        out = await asyncio.wait_for(flow.fetch(), 10)
    finally:
        await flow.stop()
    # The playbook failed; the planner saw the error as its observation and still answered.
    assert out.payload.tools == ["order_status"]
    assert out.payload.text.startswith("Sorry, I could not check that: tool 'order_status'")
    assert "no order Z9" in out.payload.text


def test_runs_as_a_script() -> None:
    proc = subprocess.run(
        [sys.executable, str(FOLDER / "main.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == readme_output()
