"""examples/support_triage: concurrent planner calls whose answers stream to the caller."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "support_triage"


def readme_output() -> list[str]:
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Output \(.*?\):\n\n```\n(.*?)```", readme, re.S)
    assert match, "README lost its Output block"
    return match.group(1).splitlines()


async def test_tickets_are_answered_together_streamed_and_one_is_withdrawn(
    load_example: Callable[[str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    example = load_example("support_triage")
    await asyncio.wait_for(example.main(), 30)
    lines = capsys.readouterr().out.splitlines()

    # The README shows what a run prints; only the order of concurrent tickets may differ.
    assert sorted(lines) == sorted(readme_output())
    # The three order lookups ran at the same time (max_concurrency=8 on the planner node).
    assert "order lookups in flight at once: 3" in lines
    # Each answered ticket got its tool chunk and its streamed answer before its outcome.
    for who in ("ada", "grace"):
        mine = [line for line in lines if line.startswith((f"[{who}]", f"{who}:"))]
        assert mine[0].startswith(f"[{who}] checking order")
        assert re.fullmatch(rf"\[{who}\] answer streamed in \d+ chunks", mine[1])
        assert mine[2].startswith(f"{who}: Hello! Order")
    # The withdrawn ticket stopped after its lookup started: no answer chunks, no outcome.
    linus = [line for line in lines if "linus" in line]
    assert linus == ["[linus] checking order D9...", "linus: withdrawn, nothing more was sent"]
