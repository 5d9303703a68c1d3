"""Watch a flow's load with flow.statistics() and wait for answers with flow.first_result().

A support desk: ``classify`` tags each ticket, ``enrich`` looks the customer up
(held here by a gate, standing in for a slow service), ``answer`` drafts the
reply. While ``enrich`` is busy, a health check reads the flow's statistics;
spam tickets are dropped by ``classify`` (it returns None), and
``first_result`` says so at once instead of waiting for ever.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from penguiflow import (
    Context,
    FlowState,
    FlowStatistics,
    Headers,
    Message,
    Node,
    NodePolicy,
    PenguiFlow,
    TraceEnded,
    create,
)


class Ticket(BaseModel):
    customer: str
    text: str


class Answer(BaseModel):
    customer: str
    reply: str


class Desk:
    """Holds the gate the slow lookup waits on, so the program decides when it finishes."""

    def __init__(self) -> None:
        self.lookup_started = asyncio.Event()
        self.lookup_may_finish = asyncio.Event()

    async def classify(self, message: Message, ctx: Context) -> Message | None:
        ticket: Ticket = message.payload
        if "win a prize" in ticket.text:
            return None  # spam: this trace ends here, without an answer
        return message

    async def enrich(self, message: Message, ctx: Context) -> Message:
        self.lookup_started.set()
        await self.lookup_may_finish.wait()
        return message

    async def answer(self, message: Message, ctx: Context) -> Message:
        ticket: Ticket = message.payload
        reply = Answer(customer=ticket.customer, reply=f"Thanks {ticket.customer}, on it.")
        return message.model_copy(update={"payload": reply})

    def build(self) -> PenguiFlow:
        policy = NodePolicy(validate="none")
        classify = Node(self.classify, name="classify", policy=policy)
        enrich = Node(self.enrich, name="enrich", policy=policy)
        answer = Node(self.answer, name="answer", policy=policy)
        return create(classify.to(enrich), enrich.to(answer), answer.to())


def health_line(stats: FlowStatistics) -> str:
    """What a /health endpoint or a periodic log line could say."""
    waiting = ", ".join(f"{name}={depth}" for name, depth in stats.queued.items())
    return (
        f"{stats.state.value}: {stats.traces_in_flight} traces in flight, queued {waiting}, "
        f"rookery={stats.queued_in_rookery}, dropped events={stats.dropped_events}"
    )


async def main() -> list[str]:
    desk = Desk()
    flow = desk.build()
    assert flow.state is FlowState.CREATED
    flow.run()
    lines: list[str] = []
    try:
        tickets = [
            Message(
                payload=Ticket(customer=name, text="my order is late"),
                headers=Headers(tenant="acme"),
            )
            for name in ("ana", "bo", "cy")
        ]
        spam = Message(
            payload=Ticket(customer="x", text="win a prize"), headers=Headers(tenant="acme")
        )
        for message in (*tickets, spam):
            await flow.emit(message)
        try:
            await flow.first_result(spam.trace_id, timeout=5)
        except TraceEnded:
            lines.append("spam: no answer (classify dropped it)")
        # Floes are FIFO: classify is done with all four, "ana" is inside enrich,
        # "bo" and "cy" wait for it.
        await desk.lookup_started.wait()
        lines.append(health_line(flow.statistics()))
        desk.lookup_may_finish.set()
        for message in tickets:
            result = await flow.first_result(message.trace_id, timeout=5)
            lines.append(f"{result.payload.customer}: {result.payload.reply}")
        lines.append(health_line(flow.statistics()))
    finally:
        await flow.stop()
    lines.append(health_line(flow.statistics()))
    for line in lines:
        print(line)
    return lines


if __name__ == "__main__":
    asyncio.run(main())
