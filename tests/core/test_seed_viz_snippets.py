"""The README's Visualization snippet runs as written and prints both diagrams.

The snippet is kept verbatim between ``# fmt: off`` / ``# fmt: on``; the test
only defines the ``flow`` it assumes.
"""

from __future__ import annotations

import pytest

from penguiflow import Context, Message, Node, create

__all__: list[str] = []


async def _step(msg: Message, _ctx: Context) -> Message:
    return msg


def test_visualization_snippet(capsys: pytest.CaptureFixture[str]) -> None:
    controller = Node(_step, name="controller", allow_cycle=True)
    summarize = Node(_step, name="summarize")
    flow = create(controller.to(controller, summarize), summarize.to())

    # fmt: off
    from penguiflow import flow_to_dot, flow_to_mermaid

    print(flow_to_mermaid(flow, direction="LR"))
    print(flow_to_dot(flow, rankdir="LR"))
    # fmt: on

    out = capsys.readouterr().out
    mermaid, dot = out.split("\n\n", 1)
    assert mermaid.startswith("flowchart LR\n")
    assert '    OpenSea(["OpenSea"])' in mermaid and '    Rookery(["Rookery"])' in mermaid
    # The controller loop and the OpenSea/Rookery boundaries are annotated in both.
    assert '    n0_controller{{"controller<br/>(controller)"}}' in mermaid
    assert '    n0_controller -.->|"loop"| n0_controller' in mermaid
    assert "    OpenSea --> n0_controller" in mermaid
    assert "    n1_summarize --> Rookery" in mermaid
    assert dot.startswith("digraph penguiflow {\n    rankdir=LR;\n")
    assert '"n0_controller" -> "n0_controller" [label="loop", style=dashed' in dot
    assert '"OpenSea" -> "n0_controller";' in dot
    assert '"n1_summarize" -> "Rookery";' in dot
    assert dot.endswith("}\n\n")
