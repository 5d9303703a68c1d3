"""Distributed workers: the heavy ``embed`` node runs in two worker processes over Redis Streams.

This process owns the flow (``tokenize -> embed -> rank``, see ``flow.py``)
and starts two workers with the ``penguiflow worker`` command, each serving
``embed`` from the same consumer group. Every request goes to one of them;
the results come back here and reach Rookery once each.

Run it from the repository root (Redis on 127.0.0.1:6379)::

    .venv/bin/python examples/distributed_workers/main.py [--bus redis://HOST:6379/0] [--docs N]

Everything it creates lives under a fresh Redis key prefix that is deleted
at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import uuid
from collections import Counter
from pathlib import Path

from flow import Doc, Ranked, build_flow

from penguiflow import FlowEvent, Headers, Message
from penguiflow.bus.redis_streams import RedisStreamsBus

__all__ = ["main", "run"]

HERE = Path(__file__).resolve().parent
WORKERS = ("worker-1", "worker-2")
READY_TIMEOUT_S = 30.0


async def start_worker(name: str, url: str, prefix: str) -> asyncio.subprocess.Process:
    """Start ``penguiflow worker`` for ``embed`` and wait until it serves."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "penguiflow.cli",
        "worker",
        "flow:build_flow",
        "--node",
        "embed",
        "--bus",
        url,
        "--bus-option",
        f"prefix={prefix}",
        "--consumer",
        name,
        cwd=HERE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None

    async def serving() -> None:
        while line := await process.stderr.readline():  # type: ignore[union-attr]
            if b"serves node" in line:
                return
        raise RuntimeError(f"{name} exited with {await process.wait()} before serving")

    await asyncio.wait_for(serving(), READY_TIMEOUT_S)
    return process


async def stop_worker(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.wait(), 15)


async def run(url: str, count: int) -> tuple[list[Ranked], Counter[str]]:
    """Embed ``count`` documents with two workers; return the results and who embedded what."""
    prefix = f"pfdemo-{uuid.uuid4().hex[:8]}"
    bus = await RedisStreamsBus.open(url, prefix=prefix)
    workers: list[asyncio.subprocess.Process] = []
    by_worker: Counter[str] = Counter()

    def tally(event: FlowEvent) -> None:
        if event.node_name == "embed" and event.event_type == "node_success":
            by_worker[str(event.extra.get("worker"))] += 1

    try:
        for name in WORKERS:
            workers.append(await start_worker(name, url, prefix))
        flow, registry = build_flow(message_bus=bus, middlewares=[tally])
        flow.run(registry)
        try:
            for i in range(count):
                doc = Doc(id=f"doc-{i:02d}", text=f"emperor penguins dive {i} metres deep")
                await flow.emit(Message(payload=doc, headers=Headers(tenant="acme")))
            results = [(await asyncio.wait_for(flow.fetch(), 30)).payload for _ in range(count)]
            await flow.drain_events()
        finally:
            await flow.stop()
    finally:
        for process in workers:
            await stop_worker(process)
        await bus.destroy()
    return sorted(results, key=lambda r: r.id), by_worker


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bus", default=os.environ.get("PENGUIFLOW_BUS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--docs", type=int, default=20)
    args = parser.parse_args(argv)
    results, by_worker = asyncio.run(run(args.bus, args.docs))
    print(f"{len(results)} documents embedded by {len(by_worker)} worker processes")
    for name in sorted(by_worker):
        print(f"  {name}: {by_worker[name]} documents")
    for result in results[:3]:
        print(f"  {result.id}: norm {result.norm}, top dimension {result.top_dimension}")


if __name__ == "__main__":
    main()
