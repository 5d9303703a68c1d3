"""Per-trace cancellation: cancel one trace while a playbook runs inside it; the other finishes.

The ``research`` node calls a playbook for every message. For the ``"stuck"``
question the playbook's node waits on an ``asyncio.Event`` that is never set,
so that trace would run forever. A second trace waits in the queue behind
it. ``flow.cancel(trace_id)`` interrupts the ``research`` node, which stops
the playbook's subflow too; the second trace then completes, and once the
flow is stopped no task is left behind.

Run it from the repository root::

    .venv/bin/python examples/trace_cancel/main.py
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field

from penguiflow import Context, Headers, Message, Node, NodePolicy, PenguiFlow, create

__all__ = ["CancelResult", "PlaybookProbe", "build_lookup_playbook", "main"]


@dataclass(slots=True)
class PlaybookProbe:
    """Lets the example see inside the playbooks it starts.

    Attributes:
        started: Set when a playbook node begins waiting on ``never``.
        never: Never set: a playbook waiting on it only ends by cancellation.
        cancelled: Trace ids whose playbook node saw ``CancelledError``.
    """

    started: asyncio.Event = field(default_factory=asyncio.Event)
    never: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CancelResult:
    """What the example observed.

    Attributes:
        cancelled: ``flow.cancel`` on the stuck trace (``True``: it was in flight).
        cancelled_again: ``flow.cancel`` once more (``False``: nothing left of it).
        playbook_cancelled: Traces whose playbook was interrupted.
        other_result: Payload of the trace that was not cancelled.
        leftover_tasks: Tasks started by the example still alive after ``stop()``.
    """

    cancelled: bool
    cancelled_again: bool
    playbook_cancelled: list[str]
    other_result: str
    leftover_tasks: int


async def _lookup(probe: PlaybookProbe, msg: Message, ctx: Context) -> Message:
    if msg.payload == "stuck":
        probe.started.set()
        try:
            await probe.never.wait()
        except asyncio.CancelledError:
            probe.cancelled.append(msg.trace_id)
            raise
    return msg.model_copy(update={"payload": f"answer to {msg.payload!r}"})


def build_lookup_playbook(probe: PlaybookProbe) -> PenguiFlow:
    """Build the one-node playbook; bind ``probe`` with ``functools.partial``."""
    func = functools.partial(_lookup, probe)
    return create(Node(func, name="lookup", policy=NodePolicy(validate="none")).to())


async def main() -> CancelResult:
    """Start two traces, cancel the stuck one, and check what is left."""
    tasks_before = asyncio.all_tasks()
    probe = PlaybookProbe()
    builder = functools.partial(build_lookup_playbook, probe)

    async def research(msg: Message, ctx: Context) -> Message:
        result = await ctx.call_playbook(builder, msg)
        return msg.model_copy(update={"payload": result})

    flow = create(Node(research, name="research", policy=NodePolicy(validate="none")).to())
    flow.run()
    try:
        stuck = Message(payload="stuck", headers=Headers(tenant="acme"))
        other = Message(payload="penguin diet", headers=Headers(tenant="acme"))
        await flow.emit(stuck)
        await probe.started.wait()  # the stuck trace is now inside its playbook
        await flow.emit(other)  # queued behind it

        cancelled = await flow.cancel(stuck.trace_id)
        cancelled_again = await flow.cancel(stuck.trace_id)
        out = await flow.fetch(trace_id=other.trace_id)
    finally:
        await flow.stop()

    leftover = asyncio.all_tasks() - tasks_before - {asyncio.current_task()}
    print(f"cancel(stuck)       -> {cancelled}")
    print(f"cancel(stuck) again -> {cancelled_again}")
    print(f"playbook interrupted for the stuck trace: {probe.cancelled == [stuck.trace_id]}")
    print(f"other trace result: {out.payload}")
    print(f"tasks left after stop(): {len(leftover)}")
    return CancelResult(
        cancelled=cancelled,
        cancelled_again=cancelled_again,
        playbook_cancelled=list(probe.cancelled),
        other_result=out.payload,
        leftover_tasks=len(leftover),
    )


if __name__ == "__main__":
    asyncio.run(main())
