"""examples/map_concurrent: a batch enriched with at most three calls in flight."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

MAIN = Path(__file__).resolve().parents[2] / "examples" / "map_concurrent" / "main.py"


def load(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module_name = "penguiflow_example_map_concurrent"
    spec = importlib.util.spec_from_file_location(module_name, MAIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module_name, module)  # pydantic resolves annotations here
    spec.loader.exec_module(module)
    return module


async def run_main(monkeypatch: pytest.MonkeyPatch) -> Any:
    return await asyncio.wait_for(load(monkeypatch).main(), 10)


async def test_map_concurrent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load(monkeypatch)
    out, service = await asyncio.wait_for(module.main(), 10)

    assert out.payload == [f"{doc}: summary" for doc in module.DOCS]
    assert service.peak == 3
    assert sorted(service.finished) == sorted(module.DOCS)
    assert service.finished != module.DOCS  # calls finished out of order
    assert "peak concurrent calls: 3" in capsys.readouterr().out
