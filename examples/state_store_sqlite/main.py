"""Durable history with SQLite: one process runs a flow, a later process reads its history back.

The flow is ``fetch -> summarize``. ``fetch`` fails on its first attempt and
succeeds on its retry, so the history has something to tell. The flow is
created with ``state_store=store``, where ``store`` comes from
``open_store("sqlite:///<path>")``: every event of every trace is written to
that file. Nothing is shared between the two steps but the file.

Run it from the repository root::

    .venv/bin/python examples/state_store_sqlite/main.py write /tmp/flows.db
    .venv/bin/python examples/state_store_sqlite/main.py read /tmp/flows.db TRACE_ID

or, with no arguments, both steps as two separate processes on a temporary file::

    .venv/bin/python examples/state_store_sqlite/main.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from penguiflow import Context, Headers, Message, Node, NodePolicy, create
from penguiflow.state import StoredEvent, open_store

__all__ = ["TENANT", "WriteResult", "main", "read_history", "run_flow"]

TENANT = "acme"


class FlakyFetch:
    """Raises ``ConnectionError`` on its first call, then answers."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, msg: Message, _ctx: Context) -> Message:
        """Fetch the document named by the payload (the first call fails)."""
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("document service unavailable")
        return msg.model_copy(update={"payload": f"document about {msg.payload}"})


async def summarize(msg: Message, _ctx: Context) -> Message:
    """Summarize the fetched document."""
    return msg.model_copy(update={"payload": f"summary of {msg.payload}"})


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What the writing process did.

    Attributes:
        trace_id: The trace that ran.
        answer: The payload that reached Rookery.
        events: Events the store holds for the trace when the process ends.
    """

    trace_id: str
    answer: str
    events: int


async def run_flow(db_path: Path) -> WriteResult:
    """Run one message through the flow with the SQLite store at ``db_path``."""
    store = await open_store(f"sqlite:///{db_path}")
    try:
        policy = NodePolicy(validate="none", max_retries=1, backoff_base=0.01)
        fetch = Node(FlakyFetch(), name="fetch", policy=policy)
        summary = Node(summarize, name="summarize", policy=NodePolicy(validate="none"))
        flow = create(fetch.to(summary), state_store=store)
        flow.run()
        try:
            message = Message(payload="emperor penguins", headers=Headers(tenant=TENANT))
            await flow.emit(message)
            result = await flow.fetch()
            # load_history waits until every event emitted so far reached the store.
            events = await flow.load_history(message.trace_id)
        finally:
            await flow.stop()
    finally:
        await store.close()
    return WriteResult(trace_id=message.trace_id, answer=str(result.payload), events=len(events))


async def read_history(db_path: Path, trace_id: str) -> list[StoredEvent]:
    """Open the SQLite store at ``db_path`` afresh and return the trace's history."""
    store = await open_store(f"sqlite:///{db_path}")
    try:
        return await store.load_history(trace_id, tenant=TENANT)
    finally:
        await store.close()


def _describe(event: StoredEvent) -> str:
    attempt = int(event.payload.get("attempt", 0)) + 1
    error = event.payload.get("extra", {}).get("error")
    line = f"{event.kind:<13} {event.node_name or '-':<10} attempt {attempt}"
    return f"{line}  ({error})" if error else line


async def main(args: list[str]) -> int:
    """``write DB`` runs the flow; ``read DB TRACE_ID`` prints the stored history."""
    if len(args) == 2 and args[0] == "write":
        written = await run_flow(Path(args[1]))
        print(f"trace {written.trace_id}")
        print(f"answer: {written.answer}")
        print(f"saved {written.events} events to {args[1]}")
        return 0
    if len(args) == 3 and args[0] == "read":
        events = await read_history(Path(args[1]), args[2])
        print(f"{len(events)} events for trace {args[2]} (tenant {TENANT}):")
        for event in events:
            print("  " + _describe(event))
        return 0 if events else 1
    print("usage: main.py [write DB | read DB TRACE_ID]", file=sys.stderr)
    return 2


def _both_steps() -> int:
    """Run ``write`` and then ``read`` as two separate processes on a temporary file."""
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "flows.db")
        step = [sys.executable, __file__]
        written = subprocess.run([*step, "write", db], capture_output=True, text=True, check=True)
        print(written.stdout, end="")
        trace_id = written.stdout.split()[1]
        read = subprocess.run(
            [*step, "read", db, trace_id], capture_output=True, text=True, check=True
        )
        print(read.stdout, end="")
    return 0


if __name__ == "__main__":
    arguments = sys.argv[1:]
    raise SystemExit(asyncio.run(main(arguments)) if arguments else _both_steps())
