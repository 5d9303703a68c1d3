"""examples/routing_predicate: tickets go to one desk, several desks, or nowhere."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

MAIN = Path(__file__).resolve().parents[2] / "examples" / "routing_predicate" / "main.py"


def load(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module_name = "penguiflow_example_routing_predicate"
    spec = importlib.util.spec_from_file_location(module_name, MAIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module_name, module)  # pydantic resolves annotations here
    spec.loader.exec_module(module)
    return module


async def run_main(monkeypatch: pytest.MonkeyPatch) -> Any:
    return await asyncio.wait_for(load(monkeypatch).main(), 10)


async def test_routing_predicate(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handled = await run_main(monkeypatch)

    assert handled == [
        "[billing] I was charged twice, please refund",
        "[billing] Refund me: the app crashed during payment",
        "[engineering] Refund me: the app crashed during payment",
        "[engineering] The export button crashes the app",
        "[support] How do I change my avatar?",
    ]
    output = capsys.readouterr().out
    assert output.startswith("dropped: WIN A FREE CRUISE\n")
    assert "CRUISE" not in "".join(handled)
