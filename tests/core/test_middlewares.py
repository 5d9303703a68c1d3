"""penguiflow.middlewares: the Middleware protocol and log_flow_events."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from penguiflow import (
    FlowEvent,
    Headers,
    Message,
    Middleware,
    Node,
    NodePolicy,
    create,
    log_flow_events,
)
from penguiflow.middlewares import FAILURE_EVENTS

__all__: list[str] = []


def event(event_type: str, **fields: Any) -> FlowEvent:
    base: dict[str, Any] = {
        "ts": time.time(),
        "node_name": "n",
        "node_id": "n#1",
        "trace_id": "t1",
    }
    base.update(fields)
    return FlowEvent(event_type=event_type, **base)


async def deliver(middleware: Middleware, ev: FlowEvent) -> None:
    outcome = middleware(ev)
    if outcome is not None:
        await outcome


def records(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == name]


async def test_every_event_is_logged_with_its_payload_as_extra(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="penguiflow.flow")
    middleware = log_flow_events()
    await deliver(middleware, event("node_success", latency_ms=2.5, extra={"note": "ok"}))

    (record,) = records(caplog, "penguiflow.flow")
    assert record.levelno == logging.INFO
    assert record.getMessage() == "node_success"
    fields = record.__dict__
    assert fields["event"] == "node_success"
    assert fields["node_name"] == "n"
    assert fields["trace_id"] == "t1"
    assert fields["latency_ms"] == 2.5
    assert fields["extra"] == {"note": "ok"}


@pytest.mark.parametrize("event_type", sorted(FAILURE_EVENTS))
async def test_failures_use_the_error_level(
    event_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("penguiflow.tests.mw")
    caplog.set_level(logging.DEBUG, logger=logger.name)
    middleware = log_flow_events(logger, level="DEBUG", error_level=logging.WARNING)
    await deliver(middleware, event("node_start"))
    await deliver(middleware, event(event_type))
    assert [r.levelno for r in records(caplog, logger.name)] == [logging.DEBUG, logging.WARNING]


async def test_disabled_levels_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("penguiflow.tests.quiet")
    caplog.set_level(logging.ERROR, logger=logger.name)
    middleware = log_flow_events(logger)
    await deliver(middleware, event("node_start"))
    assert records(caplog, logger.name) == []


async def test_secrets_in_event_fields_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="penguiflow.flow")
    secret_extra = {"api_key": "sk-123", "error": {"metadata": {"password": "pw", "n": 1}}}
    await deliver(log_flow_events(), event("node_failed", extra=secret_extra))
    await deliver(log_flow_events(redact_keys=()), event("node_failed", extra=secret_extra))

    redacted, raw = records(caplog, "penguiflow.flow")
    assert redacted.__dict__["extra"] == {
        "api_key": "[REDACTED]",
        "error": {"metadata": {"password": "[REDACTED]", "n": 1}},
    }
    assert raw.__dict__["extra"] == secret_extra


async def test_latency_callback_sees_every_timed_event() -> None:
    seen: list[tuple[str, float, str]] = []
    middleware = log_flow_events(
        latency_callback=lambda node, ms, ev: seen.append((node, ms, ev.event_type))
    )
    await deliver(middleware, event("node_start"))
    await deliver(middleware, event("node_success", latency_ms=4.0))
    await deliver(middleware, event("node_timeout", latency_ms=9.0))
    assert seen == [("n", 4.0, "node_success"), ("n", 9.0, "node_timeout")]


async def test_a_failing_latency_callback_is_logged_and_the_flow_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(node: str, ms: float, ev: FlowEvent) -> None:
        raise RuntimeError("histogram down")

    async def work(msg: Message, _ctx: object) -> Message:
        return msg

    flow = create(
        Node(work, policy=NodePolicy(validate="none")).to(),
        middlewares=[log_flow_events(latency_callback=broken)],
    )
    flow.run()
    try:
        for i in range(3):
            message = Message(payload=i, headers=Headers(tenant="acme"))
            await flow.emit(message)
            assert (await flow.fetch()).payload == i
        await flow.drain_events()
    finally:
        await flow.stop()
    failures = [r for r in caplog.records if "latency_callback failed" in r.getMessage()]
    assert len(failures) == 3
    assert failures[0].exc_info is not None
    assert "histogram down" in caplog.text


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        log_flow_events(level="chatty")
    with pytest.raises(TypeError, match="latency_callback must be callable"):
        log_flow_events(latency_callback="nope")  # type: ignore[arg-type]


def test_log_flow_events_is_a_middleware() -> None:
    assert isinstance(log_flow_events(), Middleware)
    assert isinstance(lambda event: None, Middleware)
    assert not isinstance("text", Middleware)
