"""The seed README's FlowTestKit section: its three calls run as written and do what it says.

The README shows call shapes rather than full programs::

    await testkit.run_one(flow, message)
    testkit.assert_node_sequence(trace_id, [...])
    testkit.simulate_error(...)

Each test builds the smallest flow around one of them, keeping the call
itself exactly as printed (with the ``[...]`` / ``...`` filled in).
"""

from __future__ import annotations

import pytest

from penguiflow import (
    FlowErrorCode,
    FlowEvent,
    Headers,
    Message,
    Node,
    NodePolicy,
    PenguiFlow,
    create,
)

__all__: list[str] = []


async def retrieve(message: Message, _ctx: object) -> Message:
    return message.model_copy(update={"payload": f"docs for {message.payload}"})


async def summarize(message: Message, _ctx: object) -> Message:
    return message.model_copy(update={"payload": f"summary of {message.payload}"})


def build_flow() -> tuple[PenguiFlow, Message]:
    policy = NodePolicy(validate="none")
    a, b = Node(retrieve, policy=policy), Node(summarize, policy=policy)
    message = Message(payload="penguins", headers=Headers(tenant="acme"))
    return create(a.to(b), b.to()), message


async def test_run_one_boots_emits_captures_and_returns_the_first_rookery_result() -> None:
    # fmt: off
    from penguiflow import testkit
    flow, message = build_flow()
    result = await testkit.run_one(flow, message)
    # fmt: on

    assert result.payload == "summary of docs for penguins"  # "the first Rookery payload"
    assert result.trace_id == message.trace_id
    captured = testkit.get_recorded_events(message.trace_id)  # "captures runtime events"
    assert all(isinstance(event, FlowEvent) for event in captured)
    assert [e.event_type for e in captured] == ["node_start", "node_success"] * 2
    assert not flow.running  # booted for the run, stopped after it


async def test_assert_node_sequence_asserts_the_order_nodes_ran_in() -> None:
    from penguiflow import testkit

    flow, message = build_flow()
    await testkit.run_one(flow, message)
    trace_id = message.trace_id

    # fmt: off
    testkit.assert_node_sequence(trace_id, ["retrieve", "summarize"])
    # fmt: on

    with pytest.raises(AssertionError):
        testkit.assert_node_sequence(trace_id, ["summarize", "retrieve"])


async def test_simulate_error_builds_a_coroutine_helper_for_retry_scenarios() -> None:
    from penguiflow import testkit

    # fmt: off
    flaky = testkit.simulate_error("retrieve", FlowErrorCode.NODE_EXCEPTION, fail_times=2)
    # fmt: on

    node = Node(flaky, policy=NodePolicy(validate="none", max_retries=2, backoff_base=0))
    message = Message(payload="penguins", headers=Headers(tenant="acme"))
    result = await testkit.run_one(create(node.to()), message)

    assert result is message  # fails twice, then succeeds with the message it got
    assert flaky.calls == 3
    retries = [e for e in testkit.get_recorded_events(message) if e.event_type == "node_retry"]
    assert [e.attempt for e in retries] == [1, 2]
