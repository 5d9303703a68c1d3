"""penguiflow.otel: spans per node attempt and metrics, checked with the SDK in-memory exporters."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from penguiflow import (
    Context,
    FinalAnswer,
    FlowErrorCode,
    Headers,
    Message,
    Node,
    NodePolicy,
    PenguiFlow,
    create,
    testkit,
)
from penguiflow.otel import (
    DROPPED_EVENTS_COUNTER,
    EVENTS_COUNTER,
    LATENCY_HISTOGRAM,
    QUEUE_DEPTH_HISTOGRAM,
    QUEUED_GAUGE,
    STORE_ERRORS_COUNTER,
    TRACES_GAUGE,
    OpenTelemetryMiddleware,
    otel_trace_id,
)

__all__: list[str] = []

NONE = NodePolicy(validate="none")


@dataclass
class Telemetry:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def middleware(self, **options: Any) -> OpenTelemetryMiddleware:
        return OpenTelemetryMiddleware(self.tracer_provider, self.meter_provider, **options)

    def finished(self, node_name: str | None = None) -> list[ReadableSpan]:
        spans = sorted(self.spans.get_finished_spans(), key=lambda s: s.start_time or 0)
        if node_name is None:
            return spans
        return [
            s for s in spans if s.attributes and s.attributes["penguiflow.node_name"] == node_name
        ]

    def points(self, metric_name: str) -> list[tuple[dict[str, Any], Any]]:
        data = self.metrics.get_metrics_data()
        assert data is not None
        found = []
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == metric_name:
                        found.extend((dict(p.attributes or {}), p) for p in metric.data.data_points)
        return found


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Telemetry(exporter, reader, tracer_provider, meter_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()


def envelope(payload: Any = "x", **kwargs: Any) -> Message:
    return Message(payload=payload, headers=Headers(tenant="acme"), **kwargs)


async def passthrough(msg: Message, _ctx: Context) -> Message:
    return msg


async def run(flow: PenguiFlow, message: Message) -> Any:
    return await testkit.run_one(flow, message, timeout_s=10)


def events_of(span: ReadableSpan) -> list[str]:
    return [event.name for event in span.events]


# -- spans -----------------------------------------------------------------------------
async def test_one_span_per_node_attempt_grouped_by_trace(telemetry: Telemetry) -> None:
    a, b = Node(passthrough, name="a", policy=NONE), Node(passthrough, name="b", policy=NONE)
    middleware = telemetry.middleware()
    message = envelope()
    await run(create(a.to(b), b.to(), middlewares=[middleware]), message)

    spans = telemetry.finished()
    assert [s.name for s in spans] == ["penguiflow a", "penguiflow b"]
    for span, node in zip(spans, (a, b), strict=True):
        assert span.status.status_code is StatusCode.OK
        assert span.attributes is not None
        assert span.attributes["penguiflow.trace_id"] == message.trace_id
        assert span.attributes["penguiflow.node_id"] == node.node_id
        assert span.attributes["penguiflow.attempt"] == 0
        assert span.attributes["penguiflow.outcome"] == "success"
        assert span.attributes["penguiflow.latency_ms"] >= 0
        assert span.end_time is not None and span.start_time is not None
        assert span.end_time >= span.start_time
        # The PenguiFlow trace id (uuid4 hex) is the OpenTelemetry trace id.
        assert span.context is not None and span.context.trace_id == int(message.trace_id, 16)
        assert span.parent is not None and span.parent.is_remote
    assert middleware.open_spans == 0


async def test_separate_traces_when_sharing_is_off(telemetry: Telemetry) -> None:
    a, b = Node(passthrough, name="a", policy=NONE), Node(passthrough, name="b", policy=NONE)
    flow = create(a.to(b), b.to(), middlewares=[telemetry.middleware(share_trace_ids=False)])
    await run(flow, envelope())
    spans = telemetry.finished()
    assert len(spans) == 2
    assert spans[0].parent is None and spans[1].parent is None
    assert spans[0].context is not None and spans[1].context is not None
    assert spans[0].context.trace_id != spans[1].context.trace_id


async def test_a_retry_ends_the_failed_attempt_with_error_and_retry_events(
    telemetry: Telemetry,
) -> None:
    sim = testkit.simulate_error("flaky", FlowErrorCode.NODE_EXCEPTION, fail_times=1)
    node = Node(sim, policy=NodePolicy(validate="none", max_retries=1, backoff_base=0))
    await run(create(node.to(), middlewares=[telemetry.middleware()]), envelope())

    first, second = telemetry.finished("flaky")
    assert first.attributes is not None and second.attributes is not None
    assert first.attributes["penguiflow.attempt"] == 0
    assert first.attributes["penguiflow.outcome"] == "error"
    assert first.status.status_code is StatusCode.ERROR
    assert "simulated NODE_EXCEPTION" in (first.status.description or "")
    assert events_of(first) == ["exception", "retry"]
    exception, retry = first.events
    assert exception.attributes is not None and retry.attributes is not None
    assert exception.attributes["exception.type"] == "SimulatedError"
    assert retry.attributes["penguiflow.next_attempt"] == 1
    assert retry.attributes["penguiflow.delay_s"] == 0.0
    assert second.attributes["penguiflow.attempt"] == 1
    assert second.status.status_code is StatusCode.OK


async def test_a_final_timeout_is_recorded_as_failed(telemetry: Telemetry) -> None:
    sim = testkit.simulate_error("slow", FlowErrorCode.NODE_TIMEOUT, fail_times=1)
    node = Node(sim, policy=NodePolicy(validate="none", timeout_s=0.01))
    flow = create(node.to(), middlewares=[telemetry.middleware()], emit_errors_to_rookery=True)
    await run(flow, envelope())

    (span,) = telemetry.finished("slow")
    assert span.attributes is not None
    assert span.attributes["penguiflow.outcome"] == "timeout"
    assert span.status.status_code is StatusCode.ERROR
    assert events_of(span) == ["exception", "failed"]
    assert span.events[1].attributes == {"penguiflow.error_code": "NODE_TIMEOUT"}


async def test_cancelling_a_trace_ends_its_span_as_cancelled(telemetry: Telemetry) -> None:
    started = asyncio.Event()

    async def hang(msg: Message, _ctx: Context) -> Message:
        started.set()
        await asyncio.Event().wait()
        return msg

    middleware = telemetry.middleware()
    flow = create(Node(hang, policy=NONE).to(), middlewares=[middleware])
    flow.run()
    message = envelope()
    try:
        await flow.emit(message)
        await asyncio.wait_for(started.wait(), 5)
        assert await asyncio.wait_for(flow.cancel(message.trace_id), 5)
        await flow.drain_events()
    finally:
        await flow.stop()
    (span,) = telemetry.finished("hang")
    assert span.attributes is not None
    assert span.attributes["penguiflow.outcome"] == "cancelled"
    assert span.status.status_code is StatusCode.ERROR
    assert events_of(span) == ["cancelled"]
    assert middleware.open_spans == 0


async def test_events_outside_an_attempt_get_an_instant_span(telemetry: Telemetry) -> None:
    node = Node(passthrough, name="late", policy=NONE)
    flow = create(node.to(), middlewares=[telemetry.middleware()])
    out = await run(flow, envelope(deadline_s=1.0))  # expired before `late` could run
    assert isinstance(out.payload, FinalAnswer)
    (span,) = telemetry.finished("late")
    assert span.start_time == span.end_time
    assert span.status.status_code is StatusCode.ERROR
    assert events_of(span) == ["deadline_skip"]


async def test_close_ends_attempts_interrupted_by_stop(telemetry: Telemetry) -> None:
    started = asyncio.Event()

    async def hang(msg: Message, _ctx: Context) -> Message:
        started.set()
        await asyncio.Event().wait()
        return msg

    middleware = telemetry.middleware()
    flow = create(Node(hang, policy=NONE).to(), middlewares=[middleware])
    flow.run()
    try:
        await flow.emit(envelope())
        await asyncio.wait_for(started.wait(), 5)
    finally:
        await flow.stop()
    assert middleware.open_spans == 1
    assert telemetry.finished() == []
    middleware.close()
    (span,) = telemetry.finished()
    assert span.status.status_code is StatusCode.ERROR
    assert events_of(span) == ["abandoned"]
    assert middleware.open_spans == 0


# -- metrics ---------------------------------------------------------------------------
async def test_metrics_count_events_and_record_latency_and_queue_depth(
    telemetry: Telemetry,
) -> None:
    sim = testkit.simulate_error("flaky", FlowErrorCode.NODE_EXCEPTION, fail_times=1)
    flaky = Node(sim, policy=NodePolicy(validate="none", max_retries=1, backoff_base=0))
    after = Node(passthrough, name="after", policy=NONE)
    flow = create(flaky.to(after), after.to(), middlewares=[telemetry.middleware()])
    await run(flow, envelope())

    counts = {
        (attrs["event_type"], attrs["node_name"]): point.value
        for attrs, point in telemetry.points(EVENTS_COUNTER)
    }
    assert counts == {
        ("node_start", "flaky"): 2,
        ("node_error", "flaky"): 1,
        ("node_retry", "flaky"): 1,
        ("node_success", "flaky"): 1,
        ("node_start", "after"): 1,
        ("node_success", "after"): 1,
    }
    latency = {
        (attrs["event_type"], attrs["node_name"]): point.count
        for attrs, point in telemetry.points(LATENCY_HISTOGRAM)
    }
    assert latency == {
        ("node_error", "flaky"): 1,
        ("node_success", "flaky"): 1,
        ("node_success", "after"): 1,
    }
    depth = {
        (attrs["node_name"], attrs["direction"]): point.count
        for attrs, point in telemetry.points(QUEUE_DEPTH_HISTOGRAM)
    }
    assert depth == {
        ("flaky", "in"): 2,
        ("flaky", "out"): 2,
        ("after", "in"): 1,
        ("after", "out"): 1,
    }
    assert all("trace_id" not in attrs for attrs, _ in telemetry.points(EVENTS_COUNTER))


async def test_observed_flows_report_their_statistics(telemetry: Telemetry) -> None:
    gate = asyncio.Event()
    entered = asyncio.Event()

    async def hold(msg: Message, _ctx: Context) -> Message:
        entered.set()
        await gate.wait()
        return msg

    middleware = telemetry.middleware()
    head = Node(hold, name="head", policy=NONE)
    tail = Node(passthrough, name="tail", policy=NONE)
    flow = create(head.to(tail), middlewares=[middleware])
    middleware.observe(flow, name="support")
    flow.run()
    try:
        messages = [envelope(i) for i in range(3)]
        for message in messages:
            await flow.emit(message)
        await asyncio.wait_for(entered.wait(), 5)
        queued = {attrs["node_name"]: p.value for attrs, p in telemetry.points(QUEUED_GAUGE)}
        assert queued == {"head": 2, "tail": 0, "Rookery": 0}
        assert {a["flow"] for a, _ in telemetry.points(QUEUED_GAUGE)} == {"support"}
        [(_, traces)] = telemetry.points(TRACES_GAUGE)
        assert traces.value == 3
        [(_, dropped)] = telemetry.points(DROPPED_EVENTS_COUNTER)
        [(_, store_errors)] = telemetry.points(STORE_ERRORS_COUNTER)
        assert dropped.value == 0 and store_errors.value == 0
        gate.set()
        for message in messages:
            await asyncio.wait_for(flow.fetch(trace_id=message.trace_id), 5)
        [(_, traces)] = telemetry.points(TRACES_GAUGE)
        assert traces.value == 0
    finally:
        await flow.stop()
    with pytest.raises(TypeError, match="needs a flow"):
        middleware.observe(PenguiFlow)  # type: ignore[arg-type]


async def test_default_global_providers_are_no_ops() -> None:
    flow = create(Node(passthrough, policy=NONE).to(), middlewares=[OpenTelemetryMiddleware()])
    out = await run(flow, envelope("fine"))
    assert out.payload == "fine"


# -- ids and packaging -----------------------------------------------------------------
def test_otel_trace_id_mapping() -> None:
    hex_id = "0123456789abcdef0123456789abcdef"
    assert otel_trace_id(hex_id) == int(hex_id, 16)
    assert otel_trace_id("order-42") == otel_trace_id("order-42")
    assert otel_trace_id("order-42") != otel_trace_id("order-43")
    assert 0 < otel_trace_id("0" * 32) < 2**128  # the all-zero id is invalid in OTel
    assert 0 < otel_trace_id("z" * 32) < 2**128


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_missing_opentelemetry_names_the_extra() -> None:
    out = run_python(
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"
        "try:\n"
        "    import penguiflow.otel\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert 'pip install "penguiflow-core[otel]"' in out


def test_import_penguiflow_does_not_import_opentelemetry() -> None:
    out = run_python(
        "import json, sys, penguiflow\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('opentelemetry'))))"
    )
    assert json.loads(out) == []
