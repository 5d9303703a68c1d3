"""examples/testkit_demo: the demo runs, and each flow test takes under 10 lines."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import ModuleType

import pytest

from penguiflow import Message, testkit

__all__: list[str] = []


@pytest.fixture
def demo(load_example: Callable[[str], ModuleType]) -> ModuleType:
    """The example's module."""
    return load_example("testkit_demo")


async def test_main_reports_what_it_checked(
    demo: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    report = await asyncio.wait_for(demo.main(), 10)

    assert isinstance(report.linear, Message)
    assert report.linear.payload == "we are on it: 'my printer is on fire'"
    assert report.linear.meta == {"channel": "email", "words": 5}
    assert report.branching == {
        "where is my invoice": "billing will refund you",
        "wifi is down": "tech will call you back",
    }
    assert report.retry_calls == 3
    assert report.retry_events == ["node_start", "node_error", "node_retry"] * 2 + [
        "node_start",
        "node_success",
    ]
    assert capsys.readouterr().out.splitlines()[-1] == (
        "envelope:  'tag' keeps trace id, headers and meta"
    )


# The tests below are what the example's README shows: one flow test, under 10 lines each.
async def test_linear_flow(demo: ModuleType) -> None:
    msg = demo.ticket("Printer   ON FIRE")
    out = await testkit.run_one(demo.build_linear_flow(), msg)
    assert out.payload == "we are on it: 'printer on fire'"
    assert out.meta["words"] == 3
    testkit.assert_node_sequence(msg.trace_id, ["clean", "tag", "reply"])


async def test_branching_flow(demo: ModuleType) -> None:
    msg = demo.ticket("where is my invoice")
    out = await testkit.run_one(demo.build_branching_flow(), msg)
    assert out.payload == "billing will refund you"
    testkit.assert_node_sequence(msg.trace_id, ["triage", "billing"])


async def test_retry_then_success(demo: ModuleType) -> None:
    flow, lookup = demo.build_retry_flow(fail_times=2)
    out = await testkit.run_one(flow, demo.ticket("refund"))
    assert out.payload == "we are on it: 'refund'"
    assert lookup.calls == 3


async def test_retries_exhausted_fail_with_the_reason(demo: ModuleType) -> None:
    flow, _ = demo.build_retry_flow(fail_times=3)
    with pytest.raises(AssertionError, match="'lookup' raised SimulatedError"):
        await testkit.run_one(flow, demo.ticket("refund"))
