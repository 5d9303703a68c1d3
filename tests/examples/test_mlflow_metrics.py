"""examples/mlflow_metrics: FlowEvent metrics go to MLflow if importable, else to stdout."""

from __future__ import annotations

import asyncio
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

__all__: list[str] = []


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    """The example's module."""
    return load_example("mlflow_metrics")


async def test_stdout_fallback_without_mlflow(
    example: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    result = await asyncio.wait_for(example.main(), 10)

    assert isinstance(result.sink, example.StdoutSink)
    assert result.answers == [
        "answer from docs about krill",
        "answer from docs about ice",
        "answer from docs about molting",
    ]
    steps = result.sink.steps
    # Attempts that ended, in order: retrieve, answer, retrieve (fails), retrieve (retry), ...
    assert [step for step, _ in steps] == list(range(1, 8))
    nodes = [next(iter(metrics)).split(".")[0] for _, metrics in steps]
    assert nodes == ["retrieve", "answer", "retrieve", "retrieve", "answer", "retrieve", "answer"]
    failed_attempt, retried = steps[2][1], steps[3][1]
    assert failed_attempt["retrieve.failures"] == 1.0
    assert failed_attempt["retrieve.retries"] == 0.0
    assert (retried["retrieve.attempt"], retried["retrieve.retries"]) == (1.0, 1.0)
    for _, metrics in steps:
        node = next(iter(metrics)).split(".")[0]
        assert set(metrics) == {
            f"{node}.{key}"
            for key in ("latency_ms", "q_depth_in", "q_depth_out", "attempt", "retries", "failures")
        }
        assert metrics[f"{node}.latency_ms"] >= 0

    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 8
    assert printed[2].startswith("step=3 retrieve.attempt=0 retrieve.failures=1 ")
    assert printed[-1].startswith("sent to stdout; answers: ['answer from docs about krill'")


class FakeMlflow:
    """Stands in for the mlflow module: records `log_metrics(metrics, step=...)` calls."""

    def __init__(self) -> None:
        self.logged: list[tuple[dict[str, float], int]] = []

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        assert step is not None
        self.logged.append((metrics, step))


async def test_mlflow_sink_logs_every_step(example: ModuleType) -> None:
    fake = FakeMlflow()
    result = await asyncio.wait_for(example.main(example.MlflowSink(fake)), 10)

    assert result.sink.name == "mlflow"
    assert [step for _, step in fake.logged] == list(range(1, 8))
    assert fake.logged[3][0]["retrieve.retries"] == 1.0


def test_default_sink_prefers_mlflow_when_importable(
    example: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    module: Any = ModuleType("mlflow")
    module.__spec__ = importlib.machinery.ModuleSpec("mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow", module)
    assert isinstance(example.default_sink(), example.MlflowSink)
    monkeypatch.setitem(sys.modules, "mlflow", None)
    assert isinstance(example.default_sink(), example.StdoutSink)
