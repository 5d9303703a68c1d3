"""examples/fanout_join: three retrievers per question, joined once per trace."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

MAIN = Path(__file__).resolve().parents[2] / "examples" / "fanout_join" / "main.py"


def load(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module_name = "penguiflow_example_fanout_join"
    spec = importlib.util.spec_from_file_location(module_name, MAIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module_name, module)  # pydantic resolves annotations here
    spec.loader.exec_module(module)
    return module


async def run_main(monkeypatch: pytest.MonkeyPatch) -> Any:
    return await asyncio.wait_for(load(monkeypatch).main(), 10)


async def test_fanout_join(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load(monkeypatch)
    results = await asyncio.wait_for(module.main(), 10)

    assert len(results) == 2
    for out, question in zip(results, module.QUESTIONS, strict=True):
        text, _, parts = out.payload.partition(" <- ")
        assert text == question
        assert sorted(parts.split("; ")) == ["graph hit", "keyword hit", "vector hit"]
        assert out.meta == {
            "question": question,
            "vector_hits": 6,
            "keyword_hits": 7,
            "graph_hits": 5,
        }
    assert results[0].trace_id != results[1].trace_id
    assert capsys.readouterr().out.count(" <- ") == 2
