"""Export FlowEvent metrics to MLflow, or print them when MLflow is not installed.

``FlowMetrics`` is a middleware: for every node attempt that ends
(``node_success``, ``node_error``, ``node_timeout``) it logs the attempt's
latency, the queue depth around the node and the attempt number, plus
running counts of retries and failures, as one step of metrics. Where they go
is a *sink*:

* ``MlflowSink`` calls ``mlflow.log_metrics(metrics, step=...)`` (in a worker
  thread, because MLflow's client does blocking I/O) when ``mlflow`` can be
  imported — metrics land in the active run, or in a new one;
* ``StdoutSink`` prints one line per step otherwise (and keeps the steps).

Run it from the repository root::

    .venv/bin/python examples/mlflow_metrics/main.py
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from penguiflow import Context, FlowEvent, Headers, Message, Node, NodePolicy, create

__all__ = ["FlowMetrics", "MetricSink", "MlflowSink", "StdoutSink", "default_sink", "main"]

ATTEMPT_ENDS = frozenset({"node_success", "node_error", "node_timeout"})


class MetricSink(Protocol):
    """Where a step of metrics goes."""

    name: str

    async def log(self, metrics: dict[str, float], step: int) -> None:
        """Record ``metrics`` at ``step``."""


class MlflowSink:
    """Logs each step with ``mlflow.log_metrics``."""

    name = "mlflow"

    def __init__(self, mlflow: Any) -> None:
        self._mlflow = mlflow

    async def log(self, metrics: dict[str, float], step: int) -> None:
        """Send the step to MLflow without blocking the event loop."""
        await asyncio.to_thread(self._mlflow.log_metrics, metrics, step=step)


class StdoutSink:
    """Prints each step as ``step=N key=value ...`` and keeps it in ``steps``."""

    name = "stdout"

    def __init__(self) -> None:
        self.steps: list[tuple[int, dict[str, float]]] = []

    async def log(self, metrics: dict[str, float], step: int) -> None:
        """Print and keep the step."""
        self.steps.append((step, dict(metrics)))
        fields = " ".join(f"{key}={value:g}" for key, value in sorted(metrics.items()))
        print(f"step={step} {fields}")


def default_sink() -> MetricSink:
    """``MlflowSink`` when ``mlflow`` is importable, else ``StdoutSink``."""
    if importlib.util.find_spec("mlflow") is not None:
        return MlflowSink(importlib.import_module("mlflow"))
    return StdoutSink()


class FlowMetrics:
    """A middleware turning FlowEvents into metric steps for a sink.

    Metric names are ``<node>.<measure>``: ``latency_ms``, ``q_depth_in``,
    ``q_depth_out``, ``attempt`` for the attempt that ended, and the running
    totals ``retries`` and ``failures`` (``node_error`` + ``node_timeout``).
    Metrics carry no trace id, so their number stays bounded.
    """

    def __init__(self, sink: MetricSink) -> None:
        self.sink = sink
        self.step = 0
        self._counts: Counter[tuple[str, str]] = Counter()

    async def __call__(self, event: FlowEvent) -> None:
        """Count the event; log a step when it ends an attempt."""
        node = event.node_name
        if node is None:
            return
        self._counts[node, event.event_type] += 1
        if event.event_type not in ATTEMPT_ENDS:
            return
        samples = event.metric_samples()
        metrics = {
            f"{node}.{key}": samples[key]
            for key in ("latency_ms", "q_depth_in", "q_depth_out", "attempt")
            if key in samples
        }
        metrics[f"{node}.retries"] = float(self._counts[node, "node_retry"])
        metrics[f"{node}.failures"] = float(
            self._counts[node, "node_error"] + self._counts[node, "node_timeout"]
        )
        self.step += 1
        await self.sink.log(metrics, self.step)


@dataclass(frozen=True, slots=True)
class MetricsDemo:
    """What the example produced.

    Attributes:
        sink: The sink that received the metrics.
        answers: Payloads fetched from Rookery, in order.
    """

    sink: MetricSink
    answers: list[str]


async def main(sink: MetricSink | None = None) -> MetricsDemo:
    """Send three questions through ``retrieve -> answer``; ``retrieve`` fails once."""
    sink = sink if sink is not None else default_sink()
    calls = {"retrieve": 0}

    async def retrieve(msg: Message, _ctx: Context) -> Message:
        calls["retrieve"] += 1
        if calls["retrieve"] == 2:
            raise ConnectionError("index briefly unavailable")
        return msg.model_copy(update={"payload": f"docs about {msg.payload}"})

    async def answer(msg: Message, _ctx: Context) -> Message:
        return msg.model_copy(update={"payload": f"answer from {msg.payload}"})

    retry = NodePolicy(validate="none", max_retries=1, backoff_base=0.001)
    first = Node(retrieve, policy=retry)
    second = Node(answer, policy=NodePolicy(validate="none"))
    flow = create(first.to(second), second.to(), middlewares=[FlowMetrics(sink)])
    flow.run()
    answers: list[str] = []
    try:
        for question in ("krill", "ice", "molting"):
            msg = Message(payload=question, headers=Headers(tenant="acme"))
            await flow.emit(msg)
            answers.append((await flow.fetch(trace_id=msg.trace_id)).payload)
        await flow.drain_events()
    finally:
        await flow.stop()
    print(f"sent to {sink.name}; answers: {answers}")
    return MetricsDemo(sink, answers)


if __name__ == "__main__":
    asyncio.run(main())
