"""penguiflow.pytest_plugin: the flow_factory fixture stops every flow, even when a test fails."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from penguiflow import PenguiFlow

__all__: list[str] = []

pytest_plugins = ["pytester"]


def plugin_args() -> list[str]:
    """``-p`` loading the plugin, unless its pytest11 entry point already loads it.

    pytest refuses to register one module under two names, so a run must not
    add ``-p penguiflow.pytest_plugin`` when the installed entry point is active.
    """
    from importlib.metadata import entry_points

    if any(ep.value == "penguiflow.pytest_plugin" for ep in entry_points(group="pytest11")):
        return []
    return ["-p", "penguiflow.pytest_plugin"]


AUTO_INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

# Inner test module: each test hands its flows to the outer test through the `spy` fixture.
INNER_TESTS = """
import asyncio

import pytest

from penguiflow import Node, NodePolicy, create


def busy_node(spy):
    started = asyncio.Event()

    async def hang(x, ctx):
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            spy.interrupted.append(x)

    return Node(hang, policy=NodePolicy(validate="none")), started


async def test_fails_while_a_flow_is_busy(flow_factory, spy):
    node, started = busy_node(spy)
    flow = flow_factory(node.to())
    spy.flows.append(flow)
    await flow.emit("payload")
    await asyncio.wait_for(started.wait(), 5)
    assert False, "this test fails on purpose while its flow is busy"


async def test_raises_and_adopted_flows_are_stopped_too(flow_factory, spy):
    node, _ = busy_node(spy)
    spy.flows.append(flow_factory.adopt(create(node.to())))
    spy.flows.append(flow_factory(node.to(), run=False))
    raise RuntimeError("unexpected error")


async def test_passes(flow_factory, spy):
    async def echo(x, ctx):
        return x

    flow = flow_factory(Node(echo, policy=NodePolicy(validate="none")).to())
    spy.flows.append(flow)
    await flow.emit(1)
    assert await flow.fetch() == 1
"""


class Spy:
    """Plugin object giving inner tests a `spy` fixture that outlives their run."""

    def __init__(self) -> None:
        self.flows: list[PenguiFlow] = []
        self.interrupted: list[object] = []

    @pytest.fixture
    def spy(self) -> Spy:
        return self


def test_flows_are_stopped_after_failing_and_passing_tests(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(test_inner=INNER_TESTS)
    spy = Spy()

    result = pytester.runpytest_inprocess(*plugin_args(), plugins=[spy])

    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*this test fails on purpose while its flow is busy*"])
    assert len(spy.flows) == 4
    assert not any(flow.running for flow in spy.flows)
    assert spy.interrupted == ["payload"]  # the busy node was cancelled by the stop


def test_without_the_fixture_a_failing_test_leaves_its_flow_running(
    pytester: pytest.Pytester,
) -> None:
    # Control experiment: the same failing test, flow built by hand and never stopped.
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        test_inner="""
        from penguiflow import Node, NodePolicy, create

        async def test_forgets_to_stop(spy):
            async def echo(x, ctx):
                return x

            flow = create(Node(echo, policy=NodePolicy(validate="none")).to())
            flow.run()
            spy.flows.append(flow)
            assert False
        """
    )
    spy = Spy()

    result = pytester.runpytest_inprocess("-W", "ignore", plugins=[spy])

    result.assert_outcomes(failed=1)
    assert [flow.running for flow in spy.flows] == [True]


def test_fixture_works_in_pytest_asyncio_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI.replace("auto", "strict"))
    pytester.makepyfile(
        test_inner="""
        import pytest
        from penguiflow import Node, NodePolicy

        @pytest.mark.asyncio
        async def test_strict(flow_factory, spy):
            async def echo(x, ctx):
                return x

            flow = flow_factory(Node(echo, policy=NodePolicy(validate="none")).to())
            spy.flows.append(flow)
            await flow.emit("s")
            assert await flow.fetch() == "s"
        """
    )
    spy = Spy()

    result = pytester.runpytest_inprocess(*plugin_args(), plugins=[spy])

    result.assert_outcomes(passed=1)
    assert [flow.running for flow in spy.flows] == [False]


def test_adopt_rejects_what_is_not_a_flow() -> None:
    from penguiflow.pytest_plugin import FlowFactory

    with pytest.raises(TypeError, match="expects a PenguiFlow; got str"):
        FlowFactory().adopt("flow")  # type: ignore[arg-type]


def test_import_penguiflow_does_not_import_pytest() -> None:
    probe = "import json, sys, penguiflow; print(json.dumps('pytest' in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) is False
