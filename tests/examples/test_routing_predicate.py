"""examples/routing_predicate: tickets go to one desk, several desks, or nowhere."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

LoadExample = Callable[[str], ModuleType]

EXAMPLE = "routing_predicate"


async def run_main(load_example: LoadExample) -> Any:
    return await asyncio.wait_for(load_example(EXAMPLE).main(), 10)


async def test_routing_predicate(
    load_example: LoadExample, capsys: pytest.CaptureFixture[str]
) -> None:
    handled = await run_main(load_example)

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
