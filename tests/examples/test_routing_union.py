"""examples/routing_union: each variant of the union reaches its typed node."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

MAIN = Path(__file__).resolve().parents[2] / "examples" / "routing_union" / "main.py"


def load(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module_name = "penguiflow_example_routing_union"
    spec = importlib.util.spec_from_file_location(module_name, MAIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module_name, module)  # pydantic resolves annotations here
    spec.loader.exec_module(module)
    return module


async def run_main(monkeypatch: pytest.MonkeyPatch) -> Any:
    return await asyncio.wait_for(load(monkeypatch).main(), 10)


async def test_routing_union(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = await run_main(monkeypatch)

    assert answers == [
        "search 'emperor penguin diet' (top 3)",
        "summary: Penguins are flightless birds ...",
    ]
    assert capsys.readouterr().out.splitlines() == answers
