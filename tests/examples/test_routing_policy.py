"""examples/routing_policy: one flow, two configurations, a live update."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

LoadExample = Callable[[str], ModuleType]

EXAMPLE = "routing_policy"


async def run_main(load_example: LoadExample) -> Any:
    return await asyncio.wait_for(load_example(EXAMPLE).main(), 10)


async def test_routing_policy(
    load_example: LoadExample, capsys: pytest.CaptureFixture[str]
) -> None:
    results = await run_main(load_example)

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


async def test_routing_policy_routes_are_deterministic(load_example: LoadExample) -> None:
    assert await run_main(load_example) == await run_main(load_example)
