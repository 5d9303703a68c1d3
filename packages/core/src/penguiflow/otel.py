"""OpenTelemetry middleware: node attempts become spans, FlowEvents become metrics.

Needs the optional extra: ``pip install "penguiflow-core[otel]"``
(``opentelemetry-api``; add ``opentelemetry-sdk`` or a vendor distro to
export anything). ``import penguiflow`` never imports this module.

Design notes. Middlewares see a node's events in the order they happened,
and a node's worker runs one attempt at a time, so open spans are keyed by
``node_id``: ``node_start`` opens one, ``node_success`` closes it. A failed
attempt (``node_error``/``node_timeout``) stays open until the runtime's
decision arrives right after it (``node_retry`` or ``node_failed``), which is
recorded on the same span. Events that do not belong to an open attempt
(``deadline_skip``, a ``node_failed`` for invalid data, ...) get a
zero-length span. Open spans are bounded (`MAX_OPEN_SPANS`).
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

try:
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.trace import (
        NonRecordingSpan,
        Span,
        SpanContext,
        Status,
        StatusCode,
        TraceFlags,
    )
except ImportError as _missing:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "penguiflow.otel needs OpenTelemetry, which is not installed: "
        'pip install "penguiflow-core[otel]"'
    ) from _missing

from penguiflow.events import FlowEvent
from penguiflow.protocols import Flow, FlowStatistics, is_flow

__all__ = [
    "DROPPED_EVENTS_COUNTER",
    "EVENTS_COUNTER",
    "LATENCY_HISTOGRAM",
    "MAX_OPEN_SPANS",
    "QUEUED_GAUGE",
    "QUEUE_DEPTH_HISTOGRAM",
    "STORE_ERRORS_COUNTER",
    "TRACES_GAUGE",
    "OpenTelemetryMiddleware",
    "otel_trace_id",
]

EVENTS_COUNTER = "penguiflow.events"
"""Counter of FlowEvents, by ``event_type`` and ``node_name``."""
LATENCY_HISTOGRAM = "penguiflow.node.latency"
"""Histogram of attempt latencies in ms, by ``node_name`` and ``event_type`` (the outcome)."""
QUEUE_DEPTH_HISTOGRAM = "penguiflow.queue.depth"
"""Histogram of queue depths seen when a node starts an attempt, by ``node_name`` and
``direction`` (``in``: messages waiting for the node, ``out``: in its outgoing floes)."""
QUEUED_GAUGE = "penguiflow.flow.queued"
"""Gauge of messages waiting per node (``node_name``; Rookery is ``"Rookery"``), by ``flow``."""
TRACES_GAUGE = "penguiflow.flow.traces_in_flight"
"""Gauge of traces with something queued, processing or waiting in Rookery, by ``flow``."""
DROPPED_EVENTS_COUNTER = "penguiflow.flow.dropped_events"
"""Events dropped because a middleware fell behind (monotonic), by ``flow``."""
STORE_ERRORS_COUNTER = "penguiflow.flow.state_store_errors"
"""Events the state store failed to save (monotonic), by ``flow``."""
MAX_OPEN_SPANS = 10_000
"""Spans kept open at most; beyond that the oldest is ended as abandoned."""

_ATTEMPT_END = frozenset({"node_success", "node_error", "node_timeout"})
_NS = 1_000_000_000


def _ns(ts: float) -> int:
    return int(ts * _NS)


class _OpenSpan:
    __slots__ = ("failed", "span")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.failed = False  # ended in error/timeout; waiting for node_retry/node_failed


class OpenTelemetryMiddleware:
    """Turns FlowEvents into OpenTelemetry spans and metrics.

    Spans: one per node attempt, named ``"penguiflow <node_name>"``, from
    ``node_start`` to the attempt's outcome, with attributes
    ``penguiflow.trace_id``, ``penguiflow.node_name``, ``penguiflow.node_id``,
    ``penguiflow.attempt``, ``penguiflow.latency_ms`` and
    ``penguiflow.outcome`` (``success``, ``error``, ``timeout``,
    ``cancelled``). Failures set the status to ERROR and add an
    ``exception`` event; retries, final failures and cancellation are span
    events (``retry``, ``failed``, ``cancelled``). With ``share_trace_ids``
    every span of one PenguiFlow trace gets the same OpenTelemetry trace id
    (derived from the PenguiFlow one), under a synthetic remote parent.

    Metrics: the counter `EVENTS_COUNTER`, and the histograms
    `LATENCY_HISTOGRAM` and `QUEUE_DEPTH_HISTOGRAM`. Flows passed to `observe`
    also report their `penguiflow.protocols.FlowStatistics` whenever metrics
    are collected: `QUEUED_GAUGE`, `TRACES_GAUGE`, `DROPPED_EVENTS_COUNTER` and
    `STORE_ERRORS_COUNTER`. Metric attributes never include the trace id
    (unbounded cardinality).

    Args:
        tracer_provider: Where spans go; the global provider by default.
        meter_provider: Where metrics go; the global provider by default.
        share_trace_ids: Group a trace's spans under one OpenTelemetry trace id.

    Example:
        >>> flow = create(a.to(b), middlewares=[OpenTelemetryMiddleware()])  # doctest: +SKIP
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        *,
        share_trace_ids: bool = True,
    ) -> None:
        version = _library_version()
        tracers = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        meters = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        self._tracer = tracers.get_tracer("penguiflow", version)
        meter = meters.get_meter("penguiflow", version)
        self._events = meter.create_counter(
            EVENTS_COUNTER, unit="{event}", description="FlowEvents emitted by the runtime"
        )
        self._latency = meter.create_histogram(
            LATENCY_HISTOGRAM, unit="ms", description="Duration of node attempts"
        )
        self._depth = meter.create_histogram(
            QUEUE_DEPTH_HISTOGRAM,
            unit="{message}",
            description="Queue depth around a node when it starts an attempt",
        )
        self.share_trace_ids = share_trace_ids
        self._open: OrderedDict[str, _OpenSpan] = OrderedDict()
        # Observed flows are held weakly: a flow that is gone stops reporting.
        self._flows: weakref.WeakKeyDictionary[Flow, str] = weakref.WeakKeyDictionary()
        meter.create_observable_gauge(
            QUEUED_GAUGE,
            callbacks=[self._observe_queued],
            unit="{message}",
            description="Messages waiting in each node's incoming floes (and in Rookery)",
        )
        meter.create_observable_gauge(
            TRACES_GAUGE,
            callbacks=[self._observe_traces],
            unit="{trace}",
            description="Traces with a message queued, processing or waiting in Rookery",
        )
        meter.create_observable_counter(
            DROPPED_EVENTS_COUNTER,
            callbacks=[self._observe_dropped],
            unit="{event}",
            description="Events dropped because a middleware fell behind",
        )
        meter.create_observable_counter(
            STORE_ERRORS_COUNTER,
            callbacks=[self._observe_store_errors],
            unit="{event}",
            description="Events the state store failed to save",
        )

    @property
    def open_spans(self) -> int:
        """Attempts started but not finished yet."""
        return len(self._open)

    def observe(self, flow: Flow, *, name: str | None = None) -> None:
        """Report ``flow``'s statistics with the metrics (queues, traces in flight, losses).

        The values are read from ``flow.statistics()`` when the metric reader
        collects; nothing is computed per event. The flow is held weakly.

        Args:
            flow: The flow to report on (usually the one this middleware is attached to).
            name: Value of the ``flow`` metric attribute; the flow's bus namespace
                (derived from its graph) by default.

        Raises:
            TypeError: ``flow`` is not a flow.
        """
        candidate: object = flow  # checked at run time: callers may not be type-checked
        if not is_flow(candidate):
            raise TypeError(f"observe() needs a flow (a PenguiFlow); got {type(flow).__name__}")
        self._flows[flow] = name if name is not None else flow.bus_namespace

    def _observed(self) -> list[tuple[str, FlowStatistics]]:
        return [(label, flow.statistics()) for flow, label in list(self._flows.items())]

    def _observe_queued(self, _options: CallbackOptions) -> Iterable[Observation]:
        for label, stats in self._observed():
            for node_name, depth in stats.queued.items():
                yield Observation(depth, {"flow": label, "node_name": node_name})
            yield Observation(stats.queued_in_rookery, {"flow": label, "node_name": "Rookery"})

    def _observe_traces(self, _options: CallbackOptions) -> Iterable[Observation]:
        for label, stats in self._observed():
            yield Observation(stats.traces_in_flight, {"flow": label})

    def _observe_dropped(self, _options: CallbackOptions) -> Iterable[Observation]:
        for label, stats in self._observed():
            yield Observation(stats.dropped_events, {"flow": label})

    def _observe_store_errors(self, _options: CallbackOptions) -> Iterable[Observation]:
        for label, stats in self._observed():
            yield Observation(stats.state_store_errors, {"flow": label})

    def __call__(self, event: FlowEvent) -> None:
        """Record one event (the middleware entry point)."""
        self._record_metrics(event)
        kind = event.event_type
        if event.node_id is None:
            return  # flow-level events (trace_cancel_*) are counted only
        if kind == "node_start":
            self._start(event)
        elif kind in _ATTEMPT_END:
            self._end_attempt(event)
        elif kind == "node_retry":
            self._after_failure(event, "retry", {"penguiflow.next_attempt": event.attempt})
        elif kind == "node_failed":
            self._after_failure(event, "failed", {"penguiflow.error_code": _code(event)})
        elif kind == "node_cancelled":
            self._cancelled(event)
        elif kind in ("deadline_skip", "budget_exhausted"):
            self._instant(event, error=kind == "deadline_skip")

    def close(self) -> None:
        """End every span still open (for example after ``flow.stop()`` interrupted a node)."""
        while self._open:
            _, open_span = self._open.popitem(last=False)
            _abandon(open_span, "the flow stopped before the attempt finished")

    # -- spans ------------------------------------------------------------------
    def _start(self, event: FlowEvent) -> None:
        assert event.node_id is not None
        leftover = self._open.pop(event.node_id, None)
        if leftover is not None:
            _abandon(leftover, "a new attempt started before this one reported an outcome")
        span = self._tracer.start_span(
            f"penguiflow {event.node_name}",
            context=self._parent(event.trace_id),
            attributes=self._attributes(event),
            start_time=_ns(event.ts),
        )
        self._open[event.node_id] = _OpenSpan(span)
        while len(self._open) > MAX_OPEN_SPANS:
            _, oldest = self._open.popitem(last=False)
            _abandon(oldest, f"more than {MAX_OPEN_SPANS} attempts were open at once")

    def _end_attempt(self, event: FlowEvent) -> None:
        assert event.node_id is not None
        open_span = self._open.get(event.node_id)
        if open_span is None:
            return
        span = open_span.span
        if event.latency_ms is not None:
            span.set_attribute("penguiflow.latency_ms", event.latency_ms)
        if event.event_type == "node_success":
            del self._open[event.node_id]
            span.set_attribute("penguiflow.outcome", "success")
            span.set_status(Status(StatusCode.OK))
            span.end(_ns(event.ts))
            return
        outcome = "timeout" if event.event_type == "node_timeout" else "error"
        error = str(event.extra.get("error", outcome))
        span.set_attribute("penguiflow.outcome", outcome)
        span.set_status(Status(StatusCode.ERROR, error))
        span.add_event(
            "exception",
            {
                "exception.type": str(event.extra.get("exception_type", "")),
                "exception.message": error,
            },
            timestamp=_ns(event.ts),
        )
        open_span.failed = True

    def _after_failure(self, event: FlowEvent, name: str, attributes: dict[str, Any]) -> None:
        assert event.node_id is not None
        open_span = self._open.get(event.node_id)
        if open_span is None or not open_span.failed:
            if name == "failed":  # e.g. invalid input: no attempt ran
                self._instant(event, error=True, attributes=attributes)
            return
        del self._open[event.node_id]
        if name == "retry":
            attributes = {**attributes, "penguiflow.delay_s": float(event.extra.get("delay_s", 0))}
        open_span.span.add_event(name, attributes, timestamp=_ns(event.ts))
        open_span.span.end(_ns(event.ts))

    def _cancelled(self, event: FlowEvent) -> None:
        assert event.node_id is not None
        open_span = self._open.pop(event.node_id, None)
        if open_span is None:
            self._instant(event, error=True)
            return
        span = open_span.span
        span.set_attribute("penguiflow.outcome", "cancelled")
        span.set_status(Status(StatusCode.ERROR, "trace cancelled"))
        span.add_event("cancelled", timestamp=_ns(event.ts))
        span.end(_ns(event.ts))

    def _instant(
        self, event: FlowEvent, *, error: bool, attributes: dict[str, Any] | None = None
    ) -> None:
        """A zero-length span for a node event outside any attempt."""
        at = _ns(event.ts)
        span = self._tracer.start_span(
            f"penguiflow {event.node_name}",
            context=self._parent(event.trace_id),
            attributes=self._attributes(event),
            start_time=at,
        )
        details = dict(attributes or {})
        if "code" in event.extra:
            details["penguiflow.error_code"] = str(event.extra["code"])
        span.add_event(event.event_type, details, timestamp=at)
        if error:
            span.set_status(Status(StatusCode.ERROR, event.event_type))
        span.end(at)

    def _attributes(self, event: FlowEvent) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "penguiflow.node_name": event.node_name or "",
            "penguiflow.node_id": event.node_id or "",
            "penguiflow.attempt": event.attempt,
        }
        if event.trace_id is not None:
            attributes["penguiflow.trace_id"] = event.trace_id
        return attributes

    def _parent(self, trace_id: str | None) -> Any:
        if not self.share_trace_ids or trace_id is None:
            return None
        parent = SpanContext(
            trace_id=otel_trace_id(trace_id),
            span_id=_digest(f"parent:{trace_id}", 8),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        return trace.set_span_in_context(NonRecordingSpan(parent))

    # -- metrics ----------------------------------------------------------------
    def _record_metrics(self, event: FlowEvent) -> None:
        labels: dict[str, str] = {"event_type": event.event_type}
        if event.node_name is not None:
            labels["node_name"] = event.node_name
        self._events.add(1, labels)
        if event.latency_ms is not None:
            self._latency.record(event.latency_ms, labels)
        if event.event_type == "node_start" and event.node_name is not None:
            self._depth.record(event.q_depth_in, {"node_name": event.node_name, "direction": "in"})
            self._depth.record(
                event.q_depth_out, {"node_name": event.node_name, "direction": "out"}
            )


def otel_trace_id(trace_id: str) -> int:
    """Map a PenguiFlow trace id to a 128-bit OpenTelemetry trace id.

    A 32-character hex id (what `Message` generates) is used as is, so the
    two ids read the same; any other string is hashed.
    """
    if len(trace_id) == 32:
        try:
            value = int(trace_id, 16)
        except ValueError:
            pass
        else:
            if value:
                return value
    return _digest(trace_id, 16)


def _digest(text: str, size: int) -> int:
    value = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=size).digest(), "big")
    return value or 1


def _code(event: FlowEvent) -> str:
    return str(event.extra.get("code", ""))


def _abandon(open_span: _OpenSpan, reason: str) -> None:
    span = open_span.span
    if not open_span.failed:
        span.set_status(Status(StatusCode.ERROR, reason))
    span.add_event("abandoned", {"penguiflow.reason": reason})
    span.end()


def _library_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("penguiflow-core")
    except PackageNotFoundError:
        return "0+unknown"
