"""Controller loop: a controller node gathers facts over several hops, then answers.

The controller is a node with ``allow_cycle=True`` wired to itself. It passes a
``WM`` (working memory) payload around the loop inside a ``Message`` envelope.
Each hop it asks a one-node lookup playbook for the next fact, records a
``Thought`` and counts tokens; once it has enough facts it returns a
``FinalAnswer``. The runtime counts the hops and, when ``budget_hops`` runs
out first, ends the loop with its own ``FinalAnswer``.

Run it from the repository root::

    .venv/bin/python examples/controller_multihop/main.py
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from penguiflow import (
    WM,
    Context,
    FinalAnswer,
    Headers,
    Message,
    Node,
    NodePolicy,
    PenguiFlow,
    PlanStep,
    Thought,
    create,
)

__all__ = ["FACTS_NEEDED", "LoopResult", "build_lookup_playbook", "controller", "main"]

FACTS_NEEDED = 3
"""The controller answers once it has gathered this many facts."""

_KNOWLEDGE: list[tuple[str, str]] = [
    ("Emperor penguins are the tallest penguins.", "kb://emperor/size"),
    ("They breed during the Antarctic winter.", "kb://emperor/breeding"),
    ("Males keep the egg warm on their feet.", "kb://emperor/eggs"),
]


@dataclass(frozen=True, slots=True)
class LoopResult:
    """What one controller run produced.

    Attributes:
        answer: The ``FinalAnswer`` that reached Rookery.
        hops_seen: The ``WM.hops`` value the controller saw on each pass.
        tokens_used: Tokens the controller had spent when the loop ended.
    """

    answer: FinalAnswer
    hops_seen: list[int]
    tokens_used: int


async def lookup(msg: Message, _ctx: Context) -> Message:
    """Playbook node: return the next fact about the query and note its source in ``meta``."""
    wm: WM = msg.payload
    fact, source = _KNOWLEDGE[len(wm.facts)]
    # Replace the list instead of appending to it: the playbook's meta is a shallow copy.
    msg.meta["sources"] = [*msg.meta.get("sources", []), source]
    return msg.model_copy(update={"payload": fact})


def build_lookup_playbook() -> PenguiFlow:
    """Build the one-node subflow the controller calls on every hop."""
    return create(Node(lookup, name="lookup", policy=NodePolicy(validate="none")).to())


async def controller(msg: Message, ctx: Context) -> Message:
    """One pass of the loop: answer if enough is known, else learn one more fact."""
    wm: WM = msg.payload
    msg.meta["hops_seen"] = [*msg.meta.get("hops_seen", []), wm.hops]
    if len(wm.facts) >= FACTS_NEEDED:
        answer = FinalAnswer(text=" ".join(wm.facts), citations=msg.meta["sources"])
        return msg.model_copy(update={"payload": answer})

    # The playbook's result is its payload; the sources it noted are merged into msg.meta.
    fact: str = await ctx.call_playbook(build_lookup_playbook, msg)
    thought = Thought(
        steps=[PlanStep(kind="lookup", args={"query": wm.query})],
        rationale=f"{len(wm.facts)} of {FACTS_NEEDED} facts known",
    )
    tokens_used = wm.tokens_used + len(fact.split())
    msg.meta["tokens_used"] = tokens_used
    new_wm = wm.model_copy(
        update={
            "facts": [*wm.facts, fact],
            "tokens_used": tokens_used,
            "thoughts": [*wm.thoughts, thought],
        }
    )
    return msg.model_copy(update={"payload": new_wm})


async def _run_loop(flow: PenguiFlow, wm: WM) -> LoopResult:
    message = Message(payload=wm, headers=Headers(tenant="acme"))
    await flow.emit(message)
    out = await flow.fetch(trace_id=message.trace_id)
    return LoopResult(
        answer=out.payload,
        hops_seen=out.meta["hops_seen"],
        tokens_used=out.meta.get("tokens_used", 0),
    )


async def main() -> tuple[LoopResult, LoopResult]:
    """Run the loop twice: once with room to finish, once with a two-hop budget.

    Returns:
        The result of the finished run and of the run the hop budget ended.
    """
    node = Node(controller, name="controller", allow_cycle=True, policy=NodePolicy(validate="none"))
    flow = create(node.to(node))
    flow.run()
    try:
        finished = await _run_loop(flow, WM(query="emperor penguins", budget_hops=8))
        exhausted = await _run_loop(flow, WM(query="emperor penguins", budget_hops=2))
    finally:
        await flow.stop()

    for title, result in (("budget_hops=8", finished), ("budget_hops=2", exhausted)):
        print(f"run with {title}")
        print(f"  hops seen by the controller: {result.hops_seen}")
        print(f"  tokens used: {result.tokens_used}")
        print(f"  answer: {result.answer.text}")
        print(f"  citations: {result.answer.citations}")
    return finished, exhausted


if __name__ == "__main__":
    asyncio.run(main())
