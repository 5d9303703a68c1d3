"""penguiflow.testkit: run_one, node sequences, recorded events, simulated errors, envelopes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest

from penguiflow import (
    Context,
    FlowError,
    FlowErrorCode,
    Headers,
    Message,
    Node,
    NodePolicy,
    create,
    testkit,
)

__all__: list[str] = []

NONE = NodePolicy(validate="none")


def msg(payload: Any = "hi", **kwargs: Any) -> Message:
    return Message(payload=payload, headers=Headers(tenant="acme"), **kwargs)


async def upper(message: Message, _ctx: Context) -> Message:
    return message.model_copy(update={"payload": message.payload.upper()})


async def shout(message: Message, _ctx: Context) -> Message:
    return message.model_copy(update={"payload": message.payload + "!"})


def chain() -> Any:
    a, b = Node(upper, policy=NONE), Node(shout, policy=NONE)
    return create(a.to(b), b.to())


# -- run_one ---------------------------------------------------------------------------
async def test_linear_flow_in_a_few_lines() -> None:
    message = msg()
    out = await testkit.run_one(chain(), message)
    assert out.payload == "HI!"
    testkit.assert_node_sequence(message.trace_id, ["upper", "shout"])


async def test_branching_flow_follows_the_chosen_branch() -> None:
    async def triage(m: Message, ctx: Context) -> None:
        await ctx.emit(m, to="billing" if "invoice" in m.payload else "support")

    async def billing(m: Message, _ctx: Context) -> Message:
        return m.model_copy(update={"payload": "billing team"})

    async def support(m: Message, _ctx: Context) -> Message:
        return m.model_copy(update={"payload": "support team"})

    t, b, s = (Node(f, policy=NONE) for f in (triage, billing, support))
    message = msg("where is my invoice")
    out = await testkit.run_one(create(t.to(b, s), b.to(), s.to()), message)
    assert out.payload == "billing team"
    testkit.assert_node_sequence(message, [t, b])


async def test_run_one_stops_the_flow_and_returns_the_rookery_item() -> None:
    flow = chain()
    out = await testkit.run_one(flow, msg(meta={"request_id": "r1"}))
    assert isinstance(out, Message)
    assert out.meta == {"request_id": "r1"}
    assert not flow.running
    with pytest.raises(RuntimeError, match="stopped"):
        await flow.emit(msg())


async def test_run_one_takes_only_a_result_of_the_emitted_trace() -> None:
    other = msg("other trace")

    async def noisy(m: Message, ctx: Context) -> Message:
        await ctx.emit(other)  # lands in Rookery first
        return m

    message = msg("mine")
    out = await testkit.run_one(create(Node(noisy, policy=NONE).to()), message)
    assert out.payload == "mine"
    assert out.trace_id == message.trace_id


async def test_run_one_with_a_bare_payload() -> None:
    async def double(x: int, _ctx: Context) -> int:
        return x * 2

    assert await testkit.run_one(create(Node(double, policy=NONE).to()), 21) == 42
    testkit.assert_node_sequence(None, ["double"])
    types = [e.event_type for e in testkit.get_recorded_events(None)]
    assert types == ["node_start", "node_success"]


async def test_a_trace_that_ends_without_a_result_fails_fast_with_the_reason() -> None:
    async def broken(m: Message, _ctx: Context) -> Message:
        raise ValueError("no database")

    flow = create(Node(broken, policy=NONE).to())
    with pytest.raises(AssertionError) as info:
        # The timeout is generous: the failure is reported as soon as the trace is idle.
        await testkit.run_one(flow, msg(), timeout_s=30)
    text = str(info.value)
    assert "finished without a result" in text
    assert "['broken']" in text
    assert "raised ValueError: no database" in text
    assert not flow.running


async def test_a_node_returning_none_ends_the_trace_without_result() -> None:
    async def sink(m: Message, _ctx: Context) -> None:
        return None

    with pytest.raises(AssertionError, match="returned None"):
        await testkit.run_one(create(Node(sink, policy=NONE).to()), msg(), timeout_s=30)


async def test_timeout_stops_the_flow_and_interrupts_the_node() -> None:
    interrupted = asyncio.Event()

    async def hang(x: Any, _ctx: Context) -> Any:
        try:
            await asyncio.Event().wait()
        finally:
            interrupted.set()

    flow = create(Node(hang, policy=NONE).to())
    # A payload-only message has no trace to watch, so only the timeout can end the wait.
    with pytest.raises(TimeoutError, match=r"within 0.05s .*Nodes started: \['hang'\]"):
        await testkit.run_one(flow, "x", timeout_s=0.05)
    assert interrupted.is_set()
    assert not flow.running


async def test_a_timeout_says_where_the_messages_were_stuck() -> None:
    async def hang(x: Any, _ctx: Context) -> Any:
        await asyncio.Event().wait()

    async def fan(x: Any, ctx: Context) -> None:
        for i in range(3):  # the first is taken by "hang", two stay queued for it
            await ctx.emit(Message(payload=i, headers=x.headers, trace_id=x.trace_id))

    source = Node(fan, name="fan", policy=NONE)
    stuck = Node(hang, name="hang", policy=NONE)
    flow = create(source.to(stuck), stuck.to())
    with pytest.raises(TimeoutError, match=r"Messages still queued: hang: 2\."):
        await testkit.run_one(flow, msg(), timeout_s=1.0)


async def test_errors_in_rookery_are_returned_not_raised() -> None:
    async def broken(m: Message, _ctx: Context) -> Message:
        raise ValueError("nope")

    flow = create(Node(broken, policy=NONE).to(), emit_errors_to_rookery=True)
    out = await testkit.run_one(flow, msg())
    assert isinstance(out, FlowError)
    assert out.code is FlowErrorCode.NODE_EXCEPTION


async def test_run_one_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="expects a PenguiFlow"):
        await testkit.run_one("not a flow", msg())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout_s"):
        await testkit.run_one(chain(), msg(), timeout_s=0)
    flow = chain()
    flow.run()
    try:
        with pytest.raises(RuntimeError, match="not run yet"):
            await testkit.run_one(flow, msg())
    finally:
        await flow.stop()


# -- recorded events --------------------------------------------------------------------
async def test_reusing_a_trace_id_starts_a_fresh_record() -> None:
    first = msg(trace_id="fixed-trace")
    await testkit.run_one(chain(), first)

    async def only(m: Message, _ctx: Context) -> Message:
        return m

    await testkit.run_one(create(Node(only, policy=NONE).to()), msg(trace_id="fixed-trace"))
    assert {e.node_name for e in testkit.get_recorded_events("fixed-trace")} == {"only"}


async def test_record_events_on_a_hand_driven_flow_keeps_traces_apart() -> None:
    flow = testkit.record_events(chain())
    assert testkit.record_events(flow) is flow  # attaching twice records once
    flow.run()
    try:
        one, two = msg("a"), msg("b")
        await flow.emit(one)
        await flow.emit(two)
        await flow.fetch(trace_id=one.trace_id)
        await flow.fetch(trace_id=two.trace_id)
        await flow.drain_events()
    finally:
        await flow.stop()
    for message in (one, two):
        events = testkit.get_recorded_events(message)
        assert [e.event_type for e in events] == ["node_start", "node_success"] * 2
        assert {e.trace_id for e in events} == {message.trace_id}


async def test_recording_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testkit, "MAX_RECORDED_TRACES", 3)
    monkeypatch.setattr(testkit, "MAX_EVENTS_PER_TRACE", 3)
    testkit.clear_recorded_events()
    flow = testkit.record_events(chain())
    flow.run()
    try:
        messages = [msg(str(i)) for i in range(5)]
        for message in messages:
            await flow.emit(message)
            await flow.fetch(trace_id=message.trace_id)
        await flow.drain_events()
    finally:
        await flow.stop()
    assert [len(testkit.get_recorded_events(m)) for m in messages] == [0, 0, 3, 3, 3]


def test_get_recorded_events_of_an_unknown_trace_is_empty() -> None:
    assert testkit.get_recorded_events("never-seen") == []
    with pytest.raises(TypeError, match="trace_id must be"):
        testkit.get_recorded_events(42)  # type: ignore[arg-type]


async def test_assert_node_sequence_reports_the_difference() -> None:
    message = msg()
    await testkit.run_one(chain(), message)
    with pytest.raises(AssertionError) as info:
        testkit.assert_node_sequence(message.trace_id, ["shout", "upper"])
    text = str(info.value)
    assert "expected: ['shout', 'upper']" in text
    assert "actual:   ['upper', 'shout']" in text
    assert "node_start:upper" in text
    with pytest.raises(AssertionError, match="no events recorded for trace 'nope'"):
        testkit.assert_node_sequence("nope", ["upper"])


async def test_node_sequence_lists_each_node_once_despite_retries() -> None:
    flaky = Node(
        testkit.simulate_error("flaky", FlowErrorCode.NODE_EXCEPTION, fail_times=1),
        policy=NodePolicy(validate="none", max_retries=1, backoff_base=0),
    )
    after = Node(shout, policy=NONE)
    message = msg()
    await testkit.run_one(create(flaky.to(after), after.to()), message)
    testkit.assert_node_sequence(message, ["flaky", "shout"])


# -- simulate_error ------------------------------------------------------------------------
async def test_simulated_exceptions_then_success_exercise_retries() -> None:
    sim = testkit.simulate_error("fetch", FlowErrorCode.NODE_EXCEPTION, fail_times=2)
    node = Node(sim, policy=NodePolicy(validate="none", max_retries=2, backoff_base=0))
    assert node.name == "fetch"
    message = msg()
    out = await testkit.run_one(create(node.to()), message)
    assert out is message  # default result: the message received
    assert sim.calls == 3
    assert sim.failures == 2
    events = testkit.get_recorded_events(message)
    assert [(e.event_type, e.attempt) for e in events] == [
        ("node_start", 0),
        ("node_error", 0),
        ("node_retry", 1),
        ("node_start", 1),
        ("node_error", 1),
        ("node_retry", 2),
        ("node_start", 2),
        ("node_success", 2),
    ]
    assert events[1].extra["exception_type"] == "SimulatedError"
    assert "simulated NODE_EXCEPTION in node 'fetch' (call 1)" in events[1].extra["error"]


async def test_simulated_failure_carries_its_code_to_the_flow_error() -> None:
    sim = testkit.simulate_error("pay", "REMOTE_ERROR", fail_times=5)
    node = Node(sim, policy=NodePolicy(validate="none", max_retries=1, backoff_base=0))
    out = await testkit.run_one(create(node.to(), emit_errors_to_rookery=True), msg())
    assert isinstance(out, FlowError)
    assert out.code is FlowErrorCode.NODE_EXCEPTION  # the runtime's code for any exception
    assert isinstance(out.original_exc, testkit.SimulatedError)
    assert out.original_exc.code is FlowErrorCode.REMOTE_ERROR
    assert out.original_exc.attempt == 2
    assert sim.calls == 2


async def test_simulated_timeout_is_a_real_node_timeout() -> None:
    message = msg()
    done = message.model_copy(update={"payload": "done"})
    sim = testkit.simulate_error("slow", FlowErrorCode.NODE_TIMEOUT, fail_times=1, result=done)
    node = Node(
        sim, policy=NodePolicy(validate="none", timeout_s=0.01, max_retries=1, backoff_base=0)
    )
    assert await testkit.run_one(create(node.to()), message) is done
    types = [e.event_type for e in testkit.get_recorded_events(message)]
    assert types == ["node_start", "node_timeout", "node_retry", "node_start", "node_success"]

    sim = testkit.simulate_error("slow", FlowErrorCode.NODE_TIMEOUT, fail_times=1)
    node = Node(sim, policy=NodePolicy(validate="none", timeout_s=0.01))
    out = await testkit.run_one(create(node.to(), emit_errors_to_rookery=True), msg())
    assert isinstance(out, FlowError)
    assert out.code is FlowErrorCode.NODE_TIMEOUT


async def test_simulated_timeout_without_a_node_timeout_explains_itself() -> None:
    sim = testkit.simulate_error("slow", FlowErrorCode.NODE_TIMEOUT)
    flow = create(Node(sim, policy=NONE).to(), emit_errors_to_rookery=True)
    out = await testkit.run_one(flow, msg())
    assert isinstance(out, FlowError)
    assert "give it NodePolicy(timeout_s=...)" in out.message


def test_simulate_error_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="unknown FlowErrorCode 'BOOM'"):
        testkit.simulate_error("n", "BOOM")
    with pytest.raises(ValueError, match="fail_times"):
        testkit.simulate_error("n", FlowErrorCode.NODE_EXCEPTION, fail_times=-1)
    with pytest.raises(ValueError, match="node_name"):
        testkit.simulate_error("", FlowErrorCode.NODE_EXCEPTION)
    sim = testkit.simulate_error("n", "NODE_EXCEPTION", fail_times=0, result=7)
    assert repr(sim) == "ErrorSimulator('n', NODE_EXCEPTION, fail_times=0, calls=0)"


# -- assert_preserves_message_envelope ----------------------------------------------------
async def test_a_node_that_keeps_the_envelope_passes() -> None:
    async def annotate(m: Message, _ctx: Context) -> Message:
        m.meta["seen"] = True  # adding meta is fine
        return m.model_copy(update={"payload": {"ok": 1}})

    out = await testkit.assert_preserves_message_envelope(annotate)
    assert out.meta["seen"] is True
    probe = msg("text", meta={"k": [1, 2]}, deadline_s=4_000_000_000.0)
    out = await testkit.assert_preserves_message_envelope(Node(upper, policy=NONE), probe)
    assert out.payload == "TEXT"


async def returns_bare(m: Message, _ctx: Context) -> Any:
    return {"bare": True}


async def new_trace(m: Message, _ctx: Context) -> Message:
    return Message(payload=1, headers=m.headers)


async def new_headers(m: Message, _ctx: Context) -> Message:
    return m.model_copy(update={"headers": Headers(tenant="other")})


async def drops_meta(m: Message, _ctx: Context) -> Message:
    m.meta.clear()
    return m


async def edits_meta(m: Message, _ctx: Context) -> Message:
    m.meta["testkit_probe"] = "x"
    return m


async def returns_nothing(m: Message, _ctx: Context) -> None:
    return None


async def raises(m: Message, _ctx: Context) -> Message:
    raise RuntimeError("kaput")


@pytest.mark.parametrize(
    ("node", "complaint"),
    [
        (returns_bare, "returned a bare dict instead of a Message"),
        (new_trace, "trace_id '[0-9a-f]+' became"),
        (new_headers, "headers .* became Headers\\(tenant='other'"),
        (drops_meta, "meta key 'testkit_probe' was dropped"),
        (edits_meta, "meta\\['testkit_probe'\\] 'meta must survive' became 'x'"),
        (returns_nothing, "returned None"),
        (raises, "raised RuntimeError instead of returning an envelope: kaput"),
    ],
)
async def test_envelope_violations_are_reported(node: Any, complaint: str) -> None:
    with pytest.raises(AssertionError, match=complaint):
        await testkit.assert_preserves_message_envelope(node)


async def test_a_node_that_never_returns_is_reported() -> None:
    async def stuck(m: Message, _ctx: Context) -> Message:
        await asyncio.Event().wait()
        return m

    with pytest.raises(AssertionError, match=r"'stuck' did not return within 0\.05s"):
        await testkit.assert_preserves_message_envelope(stuck, timeout_s=0.05)


async def test_assert_preserves_message_envelope_needs_an_envelope() -> None:
    with pytest.raises(TypeError, match="must be a Message"):
        await testkit.assert_preserves_message_envelope(upper, "bare")  # type: ignore[arg-type]


# -- import hygiene ------------------------------------------------------------------------
def test_testkit_does_not_import_pytest() -> None:
    probe = (
        "import json, sys, penguiflow; before = 'pytest' in sys.modules; "
        "import penguiflow.testkit; print(json.dumps([before, 'pytest' in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [False, False]
