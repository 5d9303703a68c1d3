"""The public surface is typed: a node's payload types reach the user's type checker.

Runs mypy (strict) on a small user program and asserts both what it accepts
and what it rejects, so the generics cannot silently decay to ``Any``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api

PROGRAM = """
from typing import Any, assert_type

from pydantic import BaseModel

from penguiflow import (
    Context, Flow, FlowEvent, FlowState, FlowStatistics, Node, PenguiFlow, create,
)


class Question(BaseModel):
    text: str


class Answer(BaseModel):
    text: str


async def triage(q: Question, ctx: Context) -> Answer:
    assert_type(ctx.runtime, Flow)
    return Answer(text=q.text)


node = Node(triage)
assert_type(node, Node[Question, Answer])
assert_type(node.to(), tuple[Node[Question, Answer], tuple[Node, ...]])
untyped: Node = node  # a bare Node means Node[Any, Any]


async def main() -> None:
    flow = create(node.to(), queue_maxsize=8, emit_errors_to_rookery=True)
    assert_type(flow, PenguiFlow)
    assert_type(flow.state, FlowState)
    assert_type(flow.statistics(), FlowStatistics)
    answer = await node.func(Question(text="hi"), None)
    assert_type(answer, Answer)


def on_event(event: FlowEvent) -> None:
    kind = event.event_type
    if kind == "node_succes":  # ERROR: not an event type
        pass


create(node.to(), queue_size=8)  # ERROR: no such option
Node(triage).func("not a question", None)  # ERROR: wrong payload type
"""


@pytest.mark.slow
def test_payload_types_reach_the_type_checker(tmp_path: Path) -> None:
    program = tmp_path / "user_program.py"
    program.write_text(textwrap.dedent(PROGRAM))
    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--config-file",
            "",
            str(program),
        ]
    )
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    lines = program.read_text().splitlines()
    flagged = sorted({int(line.split(":")[1]) for line in errors})
    expected = sorted(i for i, text in enumerate(lines, start=1) if "# ERROR" in text)
    assert flagged == expected, stdout + stderr
    assert status == 1
