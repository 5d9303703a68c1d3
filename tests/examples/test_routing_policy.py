"""examples/routing_policy: one flow, two configurations, a live update."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

MAIN = Path(__file__).resolve().parents[2] / "examples" / "routing_policy" / "main.py"


def load(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module_name = "penguiflow_example_routing_policy"
    spec = importlib.util.spec_from_file_location(module_name, MAIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module_name, module)  # pydantic resolves annotations here
    spec.loader.exec_module(module)
    return module


async def run_main(monkeypatch: pytest.MonkeyPatch) -> Any:
    return await asyncio.wait_for(load(monkeypatch).main(), 10)


async def test_routing_policy(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    results = await run_main(monkeypatch)

    assert results == {
        "routes.json": {"tenant-a": ["faiss"], "tenant-b": ["hybrid"], "tenant-c": ["keyword"]},
        "updated live": {
            "tenant-a": ["keyword"],
            "tenant-b": ["keyword"],
            "tenant-c": ["faiss"],
        },
        "second config": {
            "tenant-a": ["hybrid"],
            "tenant-b": ["faiss"],
            "tenant-c": ["faiss", "hybrid"],
        },
    }
    assert "  tenant-c -> faiss, hybrid" in capsys.readouterr().out


async def test_routing_policy_routes_are_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    assert await run_main(monkeypatch) == await run_main(monkeypatch)
