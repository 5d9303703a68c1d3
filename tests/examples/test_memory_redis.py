"""examples/memory_redis: one process serves turns 1-2 from Redis memory, another serves turn 3."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType

import pytest

from penguiflow.planner import PlannerFinish
from penguiflow.state import StateStoreError, open_store

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "memory_redis"


def readme_output() -> str:
    """The block after "Output:" in the example's README."""
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Output:\n\n```\n(.*?)```", readme, re.S)
    assert match, "README lost its Output block"
    return match.group(1)


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(FOLDER / "main.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("memory_redis")


@pytest.fixture
async def prefix(redis_url: str, example: ModuleType) -> AsyncIterator[str]:
    """A fresh key prefix, with every key under it deleted afterwards."""
    fresh = f"pf-memory-example-{uuid.uuid4().hex[:12]}"
    yield fresh
    await example.destroy(redis_url, fresh)


async def test_a_second_process_continues_the_session(
    redis_url: str, prefix: str, example: ModuleType
) -> None:
    written = run_script("--url", redis_url, "write", prefix)
    assert written.returncode == 0, written.stderr
    assert written.stdout.endswith("Redis holds 2 turn(s) of shop:kim:chat-88\n")

    key = example.KEY.composite()
    async with await open_store(redis_url, prefix=prefix, create=False) as store:
        saved = await store.load_memory_state(key)
    assert saved is not None
    assert (saved["strategy"], saved["summary"], saved["pending"]) == ("truncation", "", [])
    assert [t["user"] for t in saved["turns"]] == list(example.TURNS[:2])
    assert saved["turns"][1]["trajectory_digest"] == {"tools": ["check_colours"]}

    read = run_script("--url", redis_url, "read", prefix)
    assert read.returncode == 0, read.stderr
    assert "reloaded from Redis: True, 2 turn(s)" in read.stdout
    assert 'place_order {"sku": "RS-210", "size": 42, "colour": "blue"}' in read.stdout

    async with await open_store(redis_url, prefix=prefix, create=False) as store:
        after = await store.load_memory_state(key)
    assert after is not None
    assert [t["user"] for t in after["turns"]] == list(example.TURNS)


async def test_turn_three_is_planned_from_the_stored_turns(
    redis_url: str, prefix: str, example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = await example.write_session(redis_url, prefix)
    assert first.metadata["steps"][0]["node_name"] == "search_products"
    assert second.metadata["steps"][0]["args"] == {"skus": ["RS-210", "RS-340"]}
    read = await example.read_session(redis_url, prefix)

    assert read.reloaded is True
    shown = example.shown_memory(read.llm.calls[0].messages)
    assert shown is not None
    assert [t["user"] for t in shown["recent_turns"]] == list(example.TURNS[:2])
    result = read.result
    assert isinstance(result, PlannerFinish)
    order = result.metadata["steps"][0]
    assert order["node_name"] == "place_order"
    assert order["args"] == {"sku": "RS-210", "size": 42, "colour": "blue"}
    assert order["observation"]["order_id"] == "SO-5521"
    assert read.llm.remaining == 0
    capsys.readouterr()


async def test_reading_a_prefix_without_a_store_fails(redis_url: str, prefix: str) -> None:
    read = run_script("--url", redis_url, "read", prefix)
    assert read.returncode != 0
    assert "StateStoreError" in read.stderr
    with pytest.raises(StateStoreError):
        await open_store(redis_url, prefix=prefix, create=False)


def test_without_a_step_it_runs_both_processes_and_cleans_up(redis_url: str) -> None:
    done = run_script("--url", redis_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == readme_output()
    bad = run_script("--url", redis_url, "read")
    assert bad.returncode == 2 and "read needs a PREFIX" in bad.stderr
