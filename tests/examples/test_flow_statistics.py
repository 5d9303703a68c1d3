"""examples/flow_statistics: statistics while a node is busy, first_result for ended traces."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

LoadExample = Callable[[str], ModuleType]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flow_statistics" / "main.py"


async def test_flow_statistics(
    load_example: LoadExample, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = await asyncio.wait_for(load_example("flow_statistics").main(), 10)

    # The spam trace is reported as ended, not waited on until the timeout.
    assert lines[0] == "spam: no answer (classify dropped it)"
    # Three tickets in flight: one inside the gated lookup, two queued for it.
    busy = lines[1]
    assert busy.startswith("running: 3 traces in flight")
    assert "enrich=2" in busy and "classify=0" in busy and "answer=0" in busy
    # Every ticket is answered, in the order it was emitted.
    assert [line.split(":")[0] for line in lines[2:5]] == ["ana", "bo", "cy"]
    assert lines[5].startswith("running: 0 traces in flight")
    assert lines[6].startswith("stopped: 0 traces in flight")
    assert capsys.readouterr().out.splitlines() == lines


def test_flow_statistics_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "enrich=2" in done.stdout.splitlines()[1]
