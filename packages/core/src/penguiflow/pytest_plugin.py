"""pytest plugin: a ``flow_factory`` fixture that builds flows and always stops them.

Registered through the ``pytest11`` entry point ``penguiflow`` of
``penguiflow-core``, so installing the package is enough (with plugin
autoloading disabled, pass ``-p penguiflow``). Only pytest imports this
module; ``import penguiflow`` never does.

Example::

    async def test_upper(flow_factory):
        flow = flow_factory(upper.to())
        await flow.emit("hi")
        assert await flow.fetch() == "HI"
        # no try/finally: the fixture stops the flow, even if an assert fails
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from penguiflow.core import PenguiFlow, create
from penguiflow.registry import ModelRegistry

__all__ = ["STOP_TIMEOUT_S", "FlowFactory", "flow_factory"]

STOP_TIMEOUT_S = 15.0
"""Upper bound for stopping one flow at teardown (``stop()`` itself is bounded too)."""


class FlowFactory:
    """Builds flows for one test and stops every one of them at teardown.

    Attributes:
        flows: Every flow built or adopted so far, in order.
    """

    def __init__(self) -> None:
        self.flows: list[PenguiFlow] = []

    def __call__(
        self,
        *adjacencies: Any,
        registry: ModelRegistry | None = None,
        run: bool = True,
        **options: Any,
    ) -> PenguiFlow:
        """Build a flow with `penguiflow.core.create` and (by default) run it.

        Args:
            *adjacencies: ``node.to(...)`` results, as for ``create``.
            registry: Passed to ``flow.run``.
            run: Start the flow now; pass ``False`` to hand it to
                ``testkit.run_one``, which starts it itself.
            **options: Keyword options of ``create`` (``queue_maxsize``,
                ``middlewares``, ``emit_errors_to_rookery``, ...).
        """
        flow = self.adopt(create(*adjacencies, **options))
        if run:
            flow.run(registry)
        return flow

    def adopt(self, flow: PenguiFlow) -> PenguiFlow:
        """Make the fixture stop ``flow`` at teardown too (a flow built elsewhere).

        Raises:
            TypeError: ``flow`` is not a `PenguiFlow`.
        """
        if not isinstance(flow, PenguiFlow):
            raise TypeError(f"flow_factory.adopt expects a PenguiFlow; got {type(flow).__name__}")
        self.flows.append(flow)
        return flow

    async def stop_all(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop every flow (each bounded by ``timeout_s``), newest first.

        Raises:
            RuntimeError: A flow could not be stopped (all others still are).
        """
        failures: list[str] = []
        for flow in reversed(self.flows):
            try:
                await asyncio.wait_for(flow.stop(), timeout_s)
            except Exception as exc:  # keep stopping the others
                failures.append(f"{flow!r}: {type(exc).__name__}: {exc}")
        if failures:
            raise RuntimeError("flow_factory could not stop: " + "; ".join(failures))


def _async_fixture(func: Callable[..., Any]) -> Any:
    # pytest-asyncio runs async fixtures in both of its modes; without it, leave
    # the fixture to whichever async plugin is installed (anyio handles its own tests).
    try:
        import pytest_asyncio
    except ImportError:
        return pytest.fixture(func)
    return pytest_asyncio.fixture(func)


@_async_fixture
async def flow_factory() -> AsyncIterator[FlowFactory]:
    """A `FlowFactory`: ``flow_factory(*adjacencies, registry=None, run=True, **options)``.

    Every flow it builds (or ``adopt``s) is stopped when the test ends,
    whether the test passed, failed or raised.
    """
    factory = FlowFactory()
    try:
        yield factory
    finally:
        await factory.stop_all()
