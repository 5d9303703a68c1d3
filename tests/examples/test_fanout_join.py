"""examples/fanout_join: three retrievers per question, joined once per trace."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

LoadExample = Callable[[str], ModuleType]

EXAMPLE = "fanout_join"


async def run_main(load_example: LoadExample) -> Any:
    return await asyncio.wait_for(load_example(EXAMPLE).main(), 10)


async def test_fanout_join(load_example: LoadExample, capsys: pytest.CaptureFixture[str]) -> None:
    module = load_example(EXAMPLE)
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
