"""examples/routing_union: each variant of the union reaches its typed node."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

LoadExample = Callable[[str], ModuleType]

EXAMPLE = "routing_union"


async def run_main(load_example: LoadExample) -> Any:
    return await asyncio.wait_for(load_example(EXAMPLE).main(), 10)


async def test_routing_union(load_example: LoadExample, capsys: pytest.CaptureFixture[str]) -> None:
    answers = await run_main(load_example)

    assert answers == [
        "search 'emperor penguin diet' (top 3)",
        "summary: Penguins are flightless birds ...",
    ]
    assert capsys.readouterr().out.splitlines() == answers
