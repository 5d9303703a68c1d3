"""examples/map_concurrent: a batch enriched with at most three calls in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

LoadExample = Callable[[str], ModuleType]

EXAMPLE = "map_concurrent"


async def run_main(load_example: LoadExample) -> Any:
    return await asyncio.wait_for(load_example(EXAMPLE).main(), 10)


async def test_map_concurrent(
    load_example: LoadExample, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_example(EXAMPLE)
    out, service = await asyncio.wait_for(module.main(), 10)

    assert out.payload == [f"{doc}: summary" for doc in module.DOCS]
    assert service.peak == 3
    assert sorted(service.finished) == sorted(module.DOCS)
    assert service.finished != module.DOCS  # calls finished out of order
    assert "peak concurrent calls: 3" in capsys.readouterr().out
