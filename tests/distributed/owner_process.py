"""An owning process for the restart test: ``python owner_process.py BUS_URL PREFIX DB_PATH``.

Runs ``worker_flows.build_flow`` with ``work`` remote (served by a
`RemoteWorker` in this process over the real bus) and a SQLite state store,
sends one trace, waits for its result and for its events to reach the file,
prints ``ready <trace_id> <event count>`` and then waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys

from worker_flows import build_flow

from penguiflow import Headers, Message
from penguiflow.bus import open_bus
from penguiflow.distributed import RemoteWorker
from penguiflow.state import open_store


async def main(url: str, prefix: str, db_path: str) -> None:
    option = "prefix" if url.startswith("redis") else "stream_prefix"
    bus = await open_bus(url, **{option: prefix})
    store = await open_store(f"sqlite:///{db_path}")
    flow = build_flow(bus, state_store=store, state_store_policy="block")
    flow.run()
    async with RemoteWorker(build_flow(), "work", bus):
        message = Message(payload={"n": 1}, headers=Headers(tenant="acme"))
        await flow.emit(message)
        await asyncio.wait_for(flow.fetch(), 30)
        await flow.wait_idle(message.trace_id)
        history = await flow.load_history(message.trace_id)
        print(f"ready {message.trace_id} {len(history)}", flush=True)
        await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
