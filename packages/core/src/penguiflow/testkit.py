"""FlowTestKit: run a flow for one message, then assert on what happened, in a few lines.

Typical test::

    async def test_pipeline():
        flow = create(parse.to(enrich), enrich.to())
        msg = Message(payload="hi", headers=Headers(tenant="acme"))
        out = await testkit.run_one(flow, msg)
        assert out.payload == "HI!"
        testkit.assert_node_sequence(msg.trace_id, ["parse", "enrich"])

Recorded events are kept per trace id in a module-level store holding the
last `MAX_RECORDED_TRACES` traces, so memory stays bounded however many tests
run. `run_one` starts a fresh record for the trace it runs, so tests that
reuse a trace id never see each other's events. Nothing here imports pytest;
failed checks raise plain ``AssertionError``.

`StateStoreConformance` (from `penguiflow.state.conformance`) and
`BusConformance` (from `penguiflow.bus.conformance`) are re-exported here: the
suites a StateStore or MessageBus backend, built in or third-party, must pass.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from penguiflow.bus.conformance import BusConformance
from penguiflow.core import PenguiFlow, create
from penguiflow.errors import FlowErrorCode, PenguiFlowError, TraceEnded
from penguiflow.events import FlowEvent
from penguiflow.node import Node, NodeFunc, NodePolicy
from penguiflow.protocols import FlowStatistics
from penguiflow.registry import ModelRegistry
from penguiflow.state.conformance import StateStoreConformance
from penguiflow.types import Headers, Message

__all__ = [
    "MAX_EVENTS_PER_TRACE",
    "MAX_RECORDED_TRACES",
    "BusConformance",
    "ErrorSimulator",
    "SimulatedError",
    "StateStoreConformance",
    "assert_node_sequence",
    "assert_preserves_message_envelope",
    "clear_recorded_events",
    "get_recorded_events",
    "record_events",
    "run_one",
    "simulate_error",
]

MAX_RECORDED_TRACES = 256
"""Traces whose events are kept; recording a new one forgets the oldest."""

MAX_EVENTS_PER_TRACE = 10_000
"""Events kept per trace; later ones are not recorded (a runaway loop stays bounded)."""


# -- recording ------------------------------------------------------------------
class _EventStore:
    """Events per trace id (``None`` = payload-only messages), oldest trace evicted first."""

    def __init__(self) -> None:
        self._traces: OrderedDict[str | None, list[FlowEvent]] = OrderedDict()

    def start(self, trace_id: str | None) -> None:
        self._traces.pop(trace_id, None)
        self._bucket(trace_id)

    def add(self, event: FlowEvent) -> None:
        bucket = self._traces.get(event.trace_id)
        if bucket is None:
            bucket = self._bucket(event.trace_id)
        if len(bucket) < MAX_EVENTS_PER_TRACE:
            bucket.append(event)

    def get(self, trace_id: str | None) -> list[FlowEvent] | None:
        bucket = self._traces.get(trace_id)
        return None if bucket is None else list(bucket)

    def clear(self) -> None:
        self._traces.clear()

    def _bucket(self, trace_id: str | None) -> list[FlowEvent]:
        bucket: list[FlowEvent] = []
        self._traces[trace_id] = bucket
        while len(self._traces) > MAX_RECORDED_TRACES:
            self._traces.popitem(last=False)
        return bucket


_STORE = _EventStore()
_RECORDED_FLOWS: weakref.WeakSet[PenguiFlow] = weakref.WeakSet()


def _record(event: FlowEvent) -> None:
    _STORE.add(event)


def record_events(flow: PenguiFlow) -> PenguiFlow:
    """Attach the testkit's recorder to ``flow`` (once) and return the flow.

    `run_one` does this itself; call it for flows you drive by hand, then
    ``await flow.drain_events()`` before reading `get_recorded_events`.

    Raises:
        TypeError: ``flow`` is not a `PenguiFlow`.
    """
    if not isinstance(flow, PenguiFlow):
        raise TypeError(f"record_events expects a PenguiFlow; got {type(flow).__name__}")
    if flow not in _RECORDED_FLOWS:
        flow.add_middleware(_record)
        _RECORDED_FLOWS.add(flow)
    return flow


def get_recorded_events(trace_id: str | Message | None) -> list[FlowEvent]:
    """Return the events recorded for a trace, in emission order.

    Args:
        trace_id: A trace id, or the `Message` whose trace to look up.
            ``None`` selects events of payload-only messages (no trace),
            which `run_one` resets at the start of every payload-only run.

    Returns:
        A copy of the recorded events; an empty list if none were recorded
        (or the trace is older than the last `MAX_RECORDED_TRACES`).
    """
    return _STORE.get(_trace_key(trace_id)) or []


def clear_recorded_events() -> None:
    """Forget every recorded event."""
    _STORE.clear()


def _trace_key(trace_id: str | Message | None) -> str | None:
    if isinstance(trace_id, Message):
        return trace_id.trace_id
    if trace_id is not None and not isinstance(trace_id, str):
        raise TypeError(f"trace_id must be a str, a Message or None; got {type(trace_id).__name__}")
    return trace_id


# -- running one message ----------------------------------------------------------
async def run_one(
    flow: PenguiFlow,
    message: Any,
    registry: ModelRegistry | None = None,
    timeout_s: float = 5.0,
) -> Any:
    """Run ``flow``, emit ``message``, return its first Rookery result, stop the flow.

    The flow must not have been run yet: `run_one` attaches the recorder,
    calls ``flow.run(registry)``, and always stops the flow before returning
    or raising. For a `Message`, only a result of its trace is taken (other
    traces' results are ignored); a payload-only message takes the first
    result of any kind.

    Args:
        flow: A flow built with `create` and not started.
        message: The payload or `Message` to emit.
        registry: Passed to ``flow.run``.
        timeout_s: Upper bound for the whole run, in seconds.

    Returns:
        The first result that reached Rookery, as ``flow.fetch`` returns it
        (an envelope when the nodes pass envelopes on; with
        ``emit_errors_to_rookery=True`` possibly a `FlowError`).

    Raises:
        TypeError: ``flow`` is not a `PenguiFlow`.
        ValueError: ``timeout_s`` is not positive.
        RuntimeError: The flow was already run.
        AssertionError: The trace ended without any result (every branch
            failed or returned ``None``); the message lists the failures.
        TimeoutError: No result within ``timeout_s``.
    """
    if not isinstance(flow, PenguiFlow):
        raise TypeError(f"run_one expects a PenguiFlow built with create(); got {flow!r}")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be a positive number of seconds; got {timeout_s!r}")
    if flow.running:
        raise RuntimeError(
            "run_one starts the flow itself: pass a flow that was created but not run yet"
        )
    trace_id = message.trace_id if isinstance(message, Message) else None
    _STORE.start(trace_id)
    record_events(flow)
    flow.run(registry)
    stuck: FlowStatistics | None = None
    ended = False
    try:
        async with asyncio.timeout(timeout_s):
            await flow.emit(message)
            result = await flow.first_result(trace_id)
    except TimeoutError:
        stuck = flow.statistics()  # where the messages sat when time ran out
    except TraceEnded:
        ended = True
    finally:
        await flow.stop()  # also drains the recorder, so failure reports are complete
    if stuck is not None:
        raise TimeoutError(
            f"run_one: no result reached Rookery within {timeout_s}s "
            f"for {_label(trace_id)}. {_queued(stuck)}{_summary(trace_id)}"
        )
    if ended:
        raise AssertionError(
            f"run_one: {_label(trace_id)} finished without a result in Rookery "
            f"(every branch failed or returned None). {_summary(trace_id)}"
        )
    return result


def _queued(stats: FlowStatistics) -> str:
    waiting = {name: depth for name, depth in stats.queued.items() if depth}
    if not waiting:
        return ""
    listed = ", ".join(f"{name}: {depth}" for name, depth in waiting.items())
    return f"Messages still queued: {listed}. "


def _label(trace_id: str | None) -> str:
    return "the payload-only message" if trace_id is None else f"trace {trace_id!r}"


def _summary(trace_id: str | None) -> str:
    events = _STORE.get(trace_id) or []
    started = _first_starts(events)
    parts = [f"Nodes started: {started or 'none'}."]
    for event in events:
        if event.event_type == "node_failed":
            error = event.extra.get("error", {})
            text = error.get("message") if isinstance(error, dict) else None
            parts.append(f"Failure: {text or event.extra.get('code')}.")
        elif event.event_type in ("deadline_skip", "budget_exhausted", "node_cancelled"):
            parts.append(f"{event.event_type} at node {event.node_name!r}.")
    return " ".join(parts)


def _first_starts(events: Sequence[FlowEvent]) -> list[str]:
    seen: dict[str, None] = {}
    for event in events:
        if event.event_type == "node_start" and event.node_name is not None:
            seen.setdefault(event.node_name, None)
    return list(seen)


# -- assertions -------------------------------------------------------------------
def assert_node_sequence(trace_id: str | Message | None, expected: Sequence[str | Node]) -> None:
    """Assert the order in which nodes first started work on a trace.

    The sequence is built from the recorded ``node_start`` events: each node
    appears once, at the position of its first start. Retries and later
    visits (loops, fan-in) do not repeat it; use `get_recorded_events` to
    check those.

    Args:
        trace_id: The trace (or its `Message`); ``None`` for payload-only runs.
        expected: Node names (or nodes) in the expected order.

    Raises:
        AssertionError: Nothing was recorded for the trace, or the order differs.
    """
    key = _trace_key(trace_id)
    names = [item.name if isinstance(item, Node) else item for item in expected]
    events = _STORE.get(key)
    if events is None:
        raise AssertionError(
            f"no events recorded for {_label(key)}: run it with testkit.run_one(...) or "
            f"testkit.record_events(flow) first (the last {MAX_RECORDED_TRACES} traces are kept)"
        )
    actual = _first_starts(events)
    if actual != names:
        trail = [f"{e.event_type}:{e.node_name}" for e in events if e.node_name is not None]
        raise AssertionError(
            f"node sequence for {_label(key)} differs\n"
            f"  expected: {names}\n  actual:   {actual}\n  events:   {trail}"
        )


async def assert_preserves_message_envelope(
    node_or_func: Node | NodeFunc,
    message: Message | None = None,
    *,
    timeout_s: float = 5.0,
) -> Message:
    """Assert that a node hands back the envelope it was given.

    The node runs once (no retries) alone in a one-node flow, without a
    registry, so it receives the envelope itself. Its return value must be a
    `Message` with the same trace id, headers and deadline, and every
    ``meta`` key of the input with the same value (adding keys is fine).

    Args:
        node_or_func: A `Node` or an ``async def fn(message, ctx)``.
        message: The probe envelope; by default one with tenant ``"testkit"``
            and a ``meta`` entry.
        timeout_s: Upper bound for the run, in seconds.

    Returns:
        The envelope the node produced.

    Raises:
        AssertionError: The node raised, timed out, returned nothing, returned
            a bare payload, or changed the trace id, headers, deadline or meta.
        TypeError: ``message`` is not a `Message`.
    """
    if isinstance(node_or_func, Node):
        func, name, policy = node_or_func.func, node_or_func.name, node_or_func.policy
    else:
        func, policy = node_or_func, NodePolicy(validate="none")
        name = getattr(node_or_func, "__name__", None) or "node"
    if message is None:
        message = Message(
            payload={"probe": True},
            headers=Headers(tenant="testkit"),
            meta={"testkit_probe": "meta must survive"},
        )
    elif not isinstance(message, Message):
        raise TypeError(f"message must be a Message envelope; got {type(message).__name__}")
    meta_before = _snapshot(message.meta)
    headers, trace_id, deadline = message.headers, message.trace_id, message.deadline_s
    kind, result = await _call_once(func, name, policy, message, timeout_s)
    where = f"node {name!r}"
    if kind == "raised":
        raise AssertionError(
            f"{where} raised {type(result).__name__} instead of returning an envelope: {result}"
        )
    if result is None:
        raise AssertionError(f"{where} returned None; it must return the envelope it received")
    if not isinstance(result, Message):
        raise AssertionError(
            f"{where} returned a bare {type(result).__name__} instead of a Message; keep the "
            "envelope, e.g. return message.model_copy(update={'payload': new_payload})"
        )
    problems = []
    if result.trace_id != trace_id:
        problems.append(f"trace_id {trace_id!r} became {result.trace_id!r}")
    if result.headers != headers:
        problems.append(f"headers {headers!r} became {result.headers!r}")
    if result.deadline_s != deadline:
        problems.append(f"deadline_s {deadline!r} became {result.deadline_s!r}")
    for key, value in meta_before.items():
        if key not in result.meta:
            problems.append(f"meta key {key!r} was dropped")
        elif result.meta[key] != value:
            problems.append(f"meta[{key!r}] {value!r} became {result.meta[key]!r}")
    if problems:
        raise AssertionError(f"{where} did not preserve the envelope: " + "; ".join(problems))
    return result


async def _call_once(
    func: NodeFunc, name: str, policy: NodePolicy, message: Message, timeout_s: float
) -> tuple[str, Any]:
    """Run ``func`` once on ``message`` inside a one-node flow: ``("returned"|"raised", value)``."""
    outcome: asyncio.Future[tuple[str, Any]] = asyncio.get_running_loop().create_future()

    async def probe(received: Any, ctx: Any) -> Any:
        try:
            result = await func(received, ctx)
        except BaseException as exc:  # timeouts arrive as CancelledError; re-raised below
            if not outcome.done():
                outcome.set_result(("raised", exc))
            raise
        if not outcome.done():
            outcome.set_result(("returned", result))
        return result

    # Retries would only hide the first outcome; errors go to Rookery rather than the log.
    node = Node(probe, name=name, policy=dataclasses.replace(policy, max_retries=0))
    flow = create(node.to(), emit_errors_to_rookery=True)
    flow.run()
    try:
        async with asyncio.timeout(timeout_s):
            await flow.emit(message)
            return await outcome
    except TimeoutError:
        raise AssertionError(f"node {name!r} did not return within {timeout_s}s") from None
    finally:
        await flow.stop()


def _snapshot(meta: dict[str, Any]) -> dict[str, Any]:
    try:
        return copy.deepcopy(meta)
    except Exception:  # values that cannot be copied are compared as they are
        return dict(meta)


# -- failure injection -------------------------------------------------------------
_PASS_THROUGH: Any = object()


class SimulatedError(PenguiFlowError):
    """Raised by a `simulate_error` node while it is still failing.

    Attributes:
        node_name: The simulated node.
        code: The `FlowErrorCode` the failure stands for.
        attempt: Which call failed, from 1.
    """

    def __init__(self, node_name: str, code: FlowErrorCode, attempt: int) -> None:
        super().__init__(f"simulated {code.value} in node {node_name!r} (call {attempt})")
        self.node_name = node_name
        self.code = code
        self.attempt = attempt


class ErrorSimulator:
    """An async node function that fails a given number of times, then succeeds.

    Built by `simulate_error`; usable wherever a node function is.

    Attributes:
        node_name: Name given to nodes built from it (``Node(sim)``).
        code: What each failure simulates.
        fail_times: How many calls fail before the first success.
        calls: Calls made so far.
    """

    def __init__(self, node_name: str, code: FlowErrorCode, fail_times: int, result: Any) -> None:
        self.__name__ = node_name
        self.node_name = node_name
        self.code = code
        self.fail_times = fail_times
        self.calls: int = 0
        self._result = result

    @property
    def failures(self) -> int:
        """Calls that failed so far."""
        return min(self.calls, self.fail_times)

    async def __call__(self, message: Any, ctx: Any) -> Any:
        """Fail (raise or hang) for the first ``fail_times`` calls, then return the result."""
        self.calls += 1
        if self.calls <= self.fail_times:
            if self.code is FlowErrorCode.NODE_TIMEOUT:
                await self._hang(ctx)
            raise SimulatedError(self.node_name, self.code, self.calls)
        return message if self._result is _PASS_THROUGH else self._result

    async def _hang(self, ctx: Any) -> None:
        owner = getattr(ctx, "owner", None)
        policy = getattr(owner, "policy", None)
        if getattr(policy, "timeout_s", None) is None:
            raise RuntimeError(
                f"simulate_error({self.node_name!r}, NODE_TIMEOUT) waits for the node's "
                "timeout to fire, but the node has none: give it NodePolicy(timeout_s=...)"
            )
        await asyncio.Event().wait()  # until the runtime's timeout cancels this attempt

    def __repr__(self) -> str:
        return (
            f"ErrorSimulator({self.node_name!r}, {self.code.value}, "
            f"fail_times={self.fail_times}, calls={self.calls})"
        )


def simulate_error(
    node_name: str,
    code: FlowErrorCode | str,
    fail_times: int = 1,
    result: Any = _PASS_THROUGH,
) -> ErrorSimulator:
    """Build a node function that fails ``fail_times`` times, then returns ``result``.

    With ``FlowErrorCode.NODE_TIMEOUT`` each failing call waits until the
    node's own ``NodePolicy(timeout_s=...)`` fires, so the runtime reports a
    real timeout (``node_timeout`` events, `FlowError` code ``NODE_TIMEOUT``).
    Any other code raises a `SimulatedError` carrying that code, which the
    runtime reports like any exception (``NODE_EXCEPTION``). Pair it with
    ``NodePolicy(max_retries=...)`` to exercise retries.

    Args:
        node_name: Name of the node (``Node(sim)`` picks it up).
        code: The `FlowErrorCode` (or its string value) to simulate.
        fail_times: Failing calls before the first success (``>= 0``).
        result: What successful calls return; by default the message received.

    Returns:
        An `ErrorSimulator`; its ``calls`` attribute counts the calls.

    Raises:
        ValueError: Empty ``node_name``, unknown ``code`` or negative ``fail_times``.

    Example:
        >>> flaky = Node(
        ...     simulate_error("fetch", FlowErrorCode.NODE_EXCEPTION, fail_times=2),
        ...     policy=NodePolicy(validate="none", max_retries=2, backoff_base=0),
        ... )
    """
    name: object = node_name  # checked at run time too: tests pass all sorts of things
    if not isinstance(name, str) or not name:
        raise ValueError(f"node_name must be a non-empty string; got {node_name!r}")
    try:
        resolved = FlowErrorCode(code)
    except ValueError:
        known = ", ".join(c.value for c in FlowErrorCode)
        raise ValueError(f"unknown FlowErrorCode {code!r}; use one of: {known}") from None
    if type(fail_times) is not int or fail_times < 0:
        raise ValueError(f"fail_times must be an int >= 0; got {fail_times!r}")
    return ErrorSimulator(node_name, resolved, fail_times, result)
