"""FlowTestKit demo: test a linear flow, a branching flow and a retry in a few lines each.

The flows are ordinary support-desk pipelines. ``main()`` runs the same
checks a test would (see ``tests/examples/test_testkit_demo.py``), using
``penguiflow.testkit``:

* ``run_one`` boots a flow, emits one message, returns its first Rookery
  result and stops the flow;
* ``assert_node_sequence`` checks the order in which nodes first ran;
* ``simulate_error`` builds a node that fails a number of times first;
* ``assert_preserves_message_envelope`` checks a node keeps trace id,
  headers and meta.

Run it from the repository root::

    .venv/bin/python examples/testkit_demo/main.py
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from penguiflow import (
    Context,
    FlowErrorCode,
    Headers,
    Message,
    Node,
    NodePolicy,
    PenguiFlow,
    create,
    testkit,
)

__all__ = [
    "DemoReport",
    "build_branching_flow",
    "build_linear_flow",
    "build_retry_flow",
    "main",
    "ticket",
]

NO_VALIDATION = NodePolicy(validate="none")


def ticket(text: str) -> Message:
    """A support ticket envelope for tenant ``acme``."""
    return Message(payload=text, headers=Headers(tenant="acme"), meta={"channel": "email"})


async def clean(msg: Message, _ctx: Context) -> Message:
    """Normalise whitespace and case."""
    return msg.model_copy(update={"payload": " ".join(msg.payload.split()).lower()})


async def tag(msg: Message, _ctx: Context) -> Message:
    """Record the ticket's word count in ``meta``."""
    msg.meta["words"] = len(msg.payload.split())
    return msg


async def reply(msg: Message, _ctx: Context) -> Message:
    """Write the answer."""
    return msg.model_copy(update={"payload": f"we are on it: {msg.payload!r}"})


async def triage(msg: Message, ctx: Context) -> None:
    """Send invoices to billing and everything else to tech support."""
    await ctx.emit(msg, to="billing" if "invoice" in msg.payload else "tech")


async def billing(msg: Message, _ctx: Context) -> Message:
    """Billing's answer."""
    return msg.model_copy(update={"payload": "billing will refund you"})


async def tech(msg: Message, _ctx: Context) -> Message:
    """Tech support's answer."""
    return msg.model_copy(update={"payload": "tech will call you back"})


def build_linear_flow() -> PenguiFlow:
    """``clean -> tag -> reply``."""
    a, b, c = (Node(f, policy=NO_VALIDATION) for f in (clean, tag, reply))
    return create(a.to(b), b.to(c), c.to())


def build_branching_flow() -> PenguiFlow:
    """``triage -> billing | tech``."""
    t, b, s = (Node(f, policy=NO_VALIDATION) for f in (triage, billing, tech))
    return create(t.to(b, s), b.to(), s.to())


def build_retry_flow(fail_times: int) -> tuple[PenguiFlow, testkit.ErrorSimulator]:
    """A ``lookup`` node that fails ``fail_times`` times, retried twice, then ``reply``."""
    lookup = testkit.simulate_error("lookup", FlowErrorCode.NODE_EXCEPTION, fail_times)
    flaky = Node(lookup, policy=NodePolicy(validate="none", max_retries=2, backoff_base=0.001))
    answer = Node(reply, policy=NO_VALIDATION)
    return create(flaky.to(answer), answer.to()), lookup


@dataclass(frozen=True, slots=True)
class DemoReport:
    """What ``main`` checked.

    Attributes:
        linear: The linear flow's answer.
        branching: Answers of the branching flow, per ticket text.
        retry_calls: Calls made to the flaky ``lookup`` node.
        retry_events: Event types recorded for the retried trace.
    """

    linear: Message
    branching: dict[str, str]
    retry_calls: int
    retry_events: list[str]


async def main() -> DemoReport:
    """Run the three scenarios with the testkit and print what was checked."""
    msg = ticket("  My   PRINTER is on fire ")
    linear = await testkit.run_one(build_linear_flow(), msg)
    testkit.assert_node_sequence(msg.trace_id, ["clean", "tag", "reply"])
    print(f"linear:    {linear.payload}  meta={linear.meta}")

    branching: dict[str, str] = {}
    for text, path in (("where is my invoice", "billing"), ("wifi is down", "tech")):
        msg = ticket(text)
        branching[text] = (await testkit.run_one(build_branching_flow(), msg)).payload
        testkit.assert_node_sequence(msg.trace_id, ["triage", path])
        print(f"branching: {text!r} -> {path}: {branching[text]}")

    flow, lookup = build_retry_flow(fail_times=2)
    msg = ticket("refund please")
    await testkit.run_one(flow, msg)
    events = [e.event_type for e in testkit.get_recorded_events(msg) if e.node_name == "lookup"]
    print(f"retry:     lookup called {lookup.calls} times: {' '.join(events)}")

    await testkit.assert_preserves_message_envelope(tag, ticket("keep my meta"))
    print("envelope:  'tag' keeps trace id, headers and meta")
    return DemoReport(linear, branching, lookup.calls, events)


if __name__ == "__main__":
    asyncio.run(main())
