"""Distributed flows against real brokers: worker processes killed, connections cut.

Workers here are real ``penguiflow worker`` processes (or, for the
connection tests, in-process `RemoteWorker` s on their own bus connection);
the brokers are the Redis and NATS servers of this machine.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from penguiflow import FlowError, Headers, Message
from penguiflow.bus import MessageBus, open_bus
from penguiflow.distributed import RemoteWorker

HERE = Path(__file__).resolve().parent
ACK_WAIT_S = 2.0


def _flows() -> ModuleType:
    spec = importlib.util.spec_from_file_location("worker_flows", HERE / "worker_flows.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


flows = _flows()


@dataclass
class Broker:
    """A real broker, with a fresh namespace (key or stream prefix) for one test."""

    name: str
    url: str
    options: dict[str, Any]
    buses: list[Any] = field(default_factory=list)

    async def bus(self, url: str | None = None) -> MessageBus:
        bus = await open_bus(url or self.url, **self.options)
        self.buses.append(bus)
        return bus

    def cli_options(self) -> list[str]:
        return [arg for key, value in self.options.items() for arg in ("-o", f"{key}={value}")]


@pytest.fixture(params=["redis", "nats"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    url = request.getfixturevalue(f"{request.param}_url")
    token = uuid.uuid4().hex[:10]
    options: dict[str, Any] = (
        {"prefix": f"pftest-{token}"}
        if request.param == "redis"
        else {"stream_prefix": f"PFTEST_{token}"}
    )
    found = Broker(request.param, url, options)
    yield found
    for bus in found.buses:
        await bus.close()
    cleaner = await open_bus(url, **options)
    await cleaner.destroy()  # type: ignore[attr-defined]


@dataclass
class Workers:
    """``await workers.start(broker, name)`` runs a ``penguiflow worker`` serving ``work``;
    ``workers.lines`` receives what they print on stderr once serving."""

    hold_dir: Path
    lines: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    started: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def start(self, broker: Broker, name: str) -> asyncio.subprocess.Process:
        env = {**os.environ, "HOLD_DIR": str(self.hold_dir)}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "penguiflow.cli",
            "worker",
            "worker_flows:build_flow",
            "--node",
            "work",
            "--bus",
            broker.url,
            *broker.cli_options(),
            "--ack-wait",
            str(ACK_WAIT_S),
            "--consumer",
            name,
            cwd=HERE,
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        self.started.append(process)
        assert process.stderr is not None
        stderr = process.stderr

        async def serving() -> None:
            while line := await stderr.readline():
                if b"serves node" in line:
                    return
            raise AssertionError(f"{name} exited ({await process.wait()}) before serving")

        await asyncio.wait_for(serving(), 30)
        # Keep reading, so a chatty worker never blocks on a full pipe.
        asyncio.get_running_loop().create_task(self._read(stderr))
        return process

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.put_nowait(line.decode(errors="replace").strip())


@pytest.fixture
async def workers(tmp_path: Path) -> AsyncIterator[Workers]:
    found = Workers(tmp_path)
    yield found
    for process in found.started:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


def _message(i: int, **extra: Any) -> Message:
    return Message(payload={"n": i, **extra}, headers=Headers(tenant="acme"))


async def _collect(flow: Any, count: int, within_s: float) -> list[Any]:
    async def take() -> list[Any]:
        return [await flow.fetch() for _ in range(count)]

    return await asyncio.wait_for(take(), within_s)


async def test_a_message_held_by_a_killed_worker_is_redelivered_and_answered_once(
    broker: Broker, workers: Workers
) -> None:
    processes = [await workers.start(broker, f"w{i}") for i in range(2)]
    flow = flows.build_flow(await broker.bus(), emit_errors_to_rookery=True)
    flow.run()
    try:
        sent = [_message(i) for i in range(30)]
        held = _message(99, hold=True)
        sent.insert(15, held)
        for message in sent:
            await flow.emit(message)

        async def holder() -> int:
            while True:
                words = (await workers.lines.get()).split()
                if words[:2] == ["holding", held.trace_id]:
                    return int(words[2])

        killed = await asyncio.wait_for(holder(), 30)
        assert killed in {p.pid for p in processes}
        os.kill(killed, signal.SIGKILL)

        results = await _collect(flow, len(sent), 60)
        errors = [r for r in results if isinstance(r, FlowError)]
        assert errors == []
        # Every message once, none twice: the redelivered one included.
        assert sorted(r.trace_id for r in results) == sorted(m.trace_id for m in sent)
        answer = next(r for r in results if r.trace_id == held.trace_id)
        assert answer.payload["worker_pid"] != killed
        for message in sent:
            await asyncio.wait_for(flow.wait_idle(message.trace_id), 10)
        assert flow._runtime.rookery.qsize() == 0
    finally:
        await flow.stop()


async def test_a_cut_connection_mid_run_loses_nothing(
    broker: Broker, tcp_proxy: Any, running: Callable[..., Awaitable[Any]]
) -> None:
    proxy = await tcp_proxy(broker.url)
    flow = await running(flows.build_flow(await broker.bus(proxy.url)))
    worker_bus = await broker.bus(proxy.url)
    await running(RemoteWorker(flows.build_flow(), "work", worker_bus, ack_wait_s=ACK_WAIT_S))
    sent = [_message(i) for i in range(200)]

    async def emit_all() -> None:
        for message in sent:
            await flow.emit(message)

    emitting = asyncio.get_running_loop().create_task(emit_all())
    first = await _collect(flow, 50, 30)
    await proxy.cut()
    await asyncio.sleep(0.5)  # the outage itself, not a synchronisation
    await proxy.restore()
    rest = await _collect(flow, len(sent) - 50, 90)
    await asyncio.wait_for(emitting, 10)
    results = first + rest
    assert [r for r in results if isinstance(r, FlowError)] == []
    assert sorted(r.trace_id for r in results) == sorted(m.trace_id for m in sent)
    for message in sent:
        await asyncio.wait_for(flow.wait_idle(message.trace_id), 10)
    assert flow._runtime.rookery.qsize() == 0


async def test_history_of_a_distributed_flow_survives_killing_the_owner(
    broker: Broker, tmp_path: Path
) -> None:
    from penguiflow.state import open_store

    db = tmp_path / "owner.db"
    traces: dict[str, int] = {}
    for _ in range(2):  # the owner is killed, then restarted on the same file
        owner = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "owner_process.py"),
            broker.url,
            next(iter(broker.options.values())),
            str(db),
            cwd=HERE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert owner.stdout is not None
        line = await asyncio.wait_for(owner.stdout.readline(), 60)
        word, trace_id, count = line.decode().split()
        assert word == "ready"
        traces[trace_id] = int(count)
        owner.kill()
        await owner.wait()

    async with await open_store(f"sqlite:///{db}", create=False) as store:
        for trace_id, count in traces.items():
            history = await store.load_history(trace_id)
            assert len(history) == count
            kinds = [(e.node_name, e.kind) for e in history]
            # The worker node's events, recorded by the worker, are in the owner's history.
            assert ("work", "remote_dispatch") in kinds
            assert ("work", "node_success") in kinds
            assert ("done", "node_success") in kinds
            assert {e.tenant for e in history} == {"acme"}
