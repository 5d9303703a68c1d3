"""Distributed throughput: traces/s of ``a -> b -> c`` with ``b`` in-process or on bus workers.

Workload. The flow of ``_distributed_flow.py``: ``a`` turns the emitted
number into a short string, ``b`` hashes it 50 times with sha256 (a small,
fixed amount of CPU work), ``c`` keeps 16 hex digits; every node
``NodePolicy(validate="none")``, default ``queue_maxsize`` (64, which also
caps the requests a worker node has out at once). A producer emits
``--traces`` ``Message``s (one trace each, built before timing) while a
consumer fetches the results; every result is checked against the
expected digest and every trace must come back exactly once.

Configurations:

* *in-process* — no bus, ``b`` runs in this process;
* *Redis Streams* (``$PENGUIFLOW_TEST_REDIS_URL``, default
  ``redis://127.0.0.1:6379/0``) and *NATS JetStream*
  (``$PENGUIFLOW_TEST_NATS_URL``, default ``nats://127.0.0.1:4222``), each
  with ``b`` served by 1 and by 2 ``penguiflow worker`` subprocesses
  (``--concurrency 1``), and by 1 worker with ``--concurrency 8``.

Each bus configuration gets a fresh key / stream prefix and fresh worker
processes (started before the flow runs, ready once they log "serves
node"); afterwards the flow is stopped, the workers get SIGTERM (SIGKILL if
they do not exit) and the bus is destroyed (its streams deleted). A warm-up
round of ``--warmup`` traces is run first and not timed. Figures are medians
over ``--rounds`` rounds; a backend whose server is unreachable (or whose
driver is missing) is skipped with the reason printed.

There is no floor or 2.7.3 comparison (2.7.3 has no worker nodes), so the
scorecard rows are reported figures. Results go to
``benchmarks/results/distributed_throughput.json``.

Usage::

    .venv/bin/python benchmarks/distributed_throughput.py [--rounds 3] [--traces 2000] [--quick]
    .venv/bin/python benchmarks/distributed_throughput.py --backends redis
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR, add_output_flags, environment, median, print_table, write_results
from _distributed_flow import REMOTE_NODE, build_flow, expected

__all__ = ["BACKENDS", "SETUPS", "Setup", "main", "run", "scorecard_rows"]

BACKENDS = ("redis", "nats")
_LABELS = {"redis": "Redis Streams", "nats": "NATS JetStream"}
#: Where the brokers live (the same variables the test fixtures read).
_SERVICES = {
    "redis": ("PENGUIFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "nats": ("PENGUIFLOW_TEST_NATS_URL", "nats://127.0.0.1:4222"),
}
#: The ``open_bus`` option that namespaces everything a run creates.
_PREFIX_OPTION = {"redis": "prefix", "nats": "stream_prefix"}
_FACTORY = "_distributed_flow:build_flow"
_OPEN_TIMEOUT_S = 10.0
_READY_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0
_FETCH_TIMEOUT_S = 60.0
"""No result for this long means a worker is stuck or gone: fail rather than hang."""
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Setup:
    """How ``b`` is served over a bus: by ``workers`` processes, ``concurrency`` each."""

    workers: int
    concurrency: int = 1

    @property
    def key(self) -> str:
        """Name of the setup in the results JSON (``workers_2``, ``workers_1_concurrency_8``)."""
        base = f"workers_{self.workers}"
        return base if self.concurrency == 1 else f"{base}_concurrency_{self.concurrency}"

    @property
    def label(self) -> str:
        """Short human-readable name (``2 workers``, ``1 worker x8``)."""
        base = f"{self.workers} worker{'s' if self.workers > 1 else ''}"
        return base if self.concurrency == 1 else f"{base} x{self.concurrency}"


SETUPS = (Setup(1), Setup(2), Setup(1, concurrency=8))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per configuration")
    parser.add_argument("--traces", type=int, default=2000, help="traces per round")
    parser.add_argument("--warmup", type=int, default=200, help="untimed traces first")
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help=f"comma-separated subset of {BACKENDS}"
    )
    parser.add_argument("--quick", action="store_true", help="1 round of 200 traces, no JSON")
    add_output_flags(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.traces, args.warmup, args.no_write = 1, 200, 20, True
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backends {unknown}; choose from {list(BACKENDS)}")
    if args.traces < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--traces and --rounds must be >= 1, --warmup >= 0")
    return args


# -- measuring ------------------------------------------------------------------


async def _round(flow: Any, first: int, traces: int) -> float:
    """Emit ``traces`` numbers from ``first`` on while fetching; check the results; traces/s."""
    from penguiflow import Headers, Message

    headers = Headers(tenant="bench")
    messages = [Message(payload=n, headers=headers) for n in range(first, first + traces)]
    sent = {message.trace_id: message.payload for message in messages}

    async def produce() -> None:
        for message in messages:
            await flow.emit(message)

    async def consume() -> list[Any]:
        return [await asyncio.wait_for(flow.fetch(), _FETCH_TIMEOUT_S) for _ in range(traces)]

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:  # a failed fetch cancels the producer too
        group.create_task(produce())
        fetching = group.create_task(consume())
    elapsed = time.perf_counter() - started
    results = fetching.result()
    wrong = [out for out in results if out.payload != expected(sent.get(out.trace_id, -1))]
    if wrong:
        raise RuntimeError(f"{len(wrong)} of {traces} results are wrong, e.g. {wrong[0]!r}")
    if len({out.trace_id for out in results}) != traces:
        raise RuntimeError("a trace came back twice or not at all")
    return traces / elapsed


async def _measure(flow: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Run the warm-up and the timed rounds on a running ``flow``."""
    if args.warmup:
        await _round(flow, -args.warmup, args.warmup)
    rounds = [await _round(flow, i * args.traces, args.traces) for i in range(args.rounds)]
    return {"traces_per_s": median(rounds), "rounds": rounds}


async def _in_process(args: argparse.Namespace) -> dict[str, Any]:
    flow, registry = build_flow()
    flow.run(registry)
    try:
        return await _measure(flow, args)
    finally:
        await flow.stop()


# -- worker processes -------------------------------------------------------------


class _Worker:
    """One ``penguiflow worker`` subprocess serving ``b``; keeps the tail of its stderr."""

    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self.process = process
        self.name = name
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self._ready = asyncio.Event()
        # Reading stderr to the end also keeps a chatty worker from blocking on a full pipe.
        self._reader = asyncio.get_running_loop().create_task(self._read_stderr())

    @classmethod
    async def spawn(cls, url: str, option: str, setup: Setup, name: str) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "penguiflow.cli",
            "worker",
            _FACTORY,
            "--node",
            REMOTE_NODE,
            "--bus",
            url,
            "--bus-option",
            option,
            "--concurrency",
            str(setup.concurrency),
            "--consumer",
            name,
            cwd=BENCH_DIR,  # the factory module is imported from the working directory
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process, name)

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self.tail.append(text)
            if "serves node" in text:
                self._ready.set()

    async def ready(self) -> None:
        """Wait until the worker serves ``b``.

        Raises:
            RuntimeError: It exited first or did not get there in time (its stderr attached).
        """
        exited = asyncio.get_running_loop().create_task(self.process.wait())
        ready = asyncio.get_running_loop().create_task(self._ready.wait())
        try:
            await asyncio.wait(
                {exited, ready}, timeout=_READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            exited.cancel()
            ready.cancel()
        if not self._ready.is_set():
            await asyncio.sleep(0.1)  # let the reader collect the last lines
            why = "exited" if self.process.returncode is not None else "is not serving"
            raise RuntimeError(f"worker {self.name} {why}: " + " | ".join(self.tail))

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within a few seconds."""
        try:
            if self.process.returncode is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(self.process.wait(), _STOP_TIMEOUT_S)
                except TimeoutError:
                    print(f"worker {self.name} ignored SIGTERM; killing it", file=sys.stderr)
                    self.process.kill()
                    await self.process.wait()
        finally:
            self._reader.cancel()


async def _watched(measuring: Coroutine[Any, Any, _T], workers: list[_Worker]) -> _T:
    """Await ``measuring``, failing at once (not at the fetch timeout) if a worker exits."""
    loop = asyncio.get_running_loop()
    task = loop.create_task(measuring)
    exits = [loop.create_task(worker.process.wait()) for worker in workers]
    try:
        await asyncio.wait({task, *exits}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
    finally:
        for waiting in exits:
            waiting.cancel()
        if not task.done():  # a worker died, or we are cancelled (SIGTERM)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    dead = next(worker for worker in workers if worker.process.returncode is not None)
    await asyncio.sleep(0.1)  # let the reader collect the last lines
    raise RuntimeError(
        f"worker {dead.name} exited with status {dead.process.returncode} during the run: "
        + " | ".join(dead.tail)
    )


async def _over_bus(
    backend: str, url: str, setup: Setup, args: argparse.Namespace
) -> dict[str, Any]:
    """Measure one setup on a fresh prefix, with fresh workers; clean everything up."""
    from penguiflow.bus import open_bus

    tag = uuid.uuid4().hex[:8]
    prefix = f"bench-{tag}" if backend == "redis" else f"BENCH_{tag}"
    option = _PREFIX_OPTION[backend]
    bus = await asyncio.wait_for(open_bus(url, **{option: prefix}), _OPEN_TIMEOUT_S)
    workers: list[_Worker] = []
    try:
        for i in range(setup.workers):
            workers.append(await _Worker.spawn(url, f"{option}={prefix}", setup, f"bench-{i}"))
        await asyncio.gather(*(worker.ready() for worker in workers))
        flow, registry = build_flow(message_bus=bus)
        flow.run(registry)
        try:
            return await _watched(_measure(flow, args), workers)
        finally:
            await flow.stop()
    finally:
        for worker in workers:
            await worker.stop()
        # Both broker backends have destroy() (not part of the MessageBus protocol).
        destroy = getattr(bus, "destroy", None)
        await (destroy() if destroy is not None else bus.close())


async def _reason_unavailable(backend: str, url: str) -> str | None:
    """Why ``backend`` cannot be benchmarked here, or ``None`` when it can."""
    from penguiflow.bus import BusError, open_bus

    variable, default = _SERVICES[backend]
    try:
        probe = await asyncio.wait_for(
            open_bus(url, **{_PREFIX_OPTION[backend]: "bench-probe"}), _OPEN_TIMEOUT_S
        )
    except ImportError as exc:
        return str(exc).strip().splitlines()[0]
    except (BusError, OSError, TimeoutError) as exc:
        print(f"{backend}: {type(exc).__name__}: {exc}", file=sys.stderr)
        # The reason ends up in the results JSON: name the variable, not a URL with credentials.
        return f"{backend} is not reachable at ${variable} (default {default})"
    await probe.close()
    return None


# -- reporting ----------------------------------------------------------------------


def _rate(entry: dict[str, Any] | None) -> str:
    return "-" if entry is None else f"{entry['traces_per_s']:,.0f}"


def _row(label: str, ours: str) -> list[str]:
    return [label, "-", ours, "-", "-", "-", "reported", "-"]


def scorecard_rows(results: dict[str, Any]) -> list[list[str]]:
    """8-cell rows (benchmark, floor, ours, ratio, 2.7.3, ratio, target, status)."""
    rows = [_row("distributed a -> b -> c, in-process (traces/s)", _rate(results["in_process"]))]
    setups = " / ".join(setup.label for setup in SETUPS)
    for backend in BACKENDS:
        entry = results.get(backend)
        if entry is None:
            continue
        label = f"distributed a -> b -> c, b on {_LABELS[backend]} (traces/s, {setups})"
        if "skipped" in entry:
            rows.append(_row(label, "skipped"))
        else:
            rows.append(_row(label, " / ".join(_rate(entry.get(s.key)) for s in SETUPS)))
    return rows


def _detail_rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per configuration: median, every round, and the share of in-process speed."""
    local = results["in_process"]["traces_per_s"]

    def row(name: str, entry: dict[str, Any]) -> list[str]:
        rounds = ", ".join(f"{value:,.0f}" for value in entry["rounds"])
        share = entry["traces_per_s"] / local
        return [name, _rate(entry), rounds, f"{share:.1%}"]

    rows = [row("in-process", results["in_process"])]
    for backend in BACKENDS:
        entry = results.get(backend)
        if entry is None:
            continue
        if "skipped" in entry:
            rows.append([f"{_LABELS[backend]}: skipped", "-", entry["skipped"], "-"])
            continue
        rows.extend(row(f"{_LABELS[backend]}, {s.label}", entry[s.key]) for s in SETUPS)
    return rows


async def _run_all(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"in_process": await _in_process(args)}
    print(f"in-process: {_rate(results['in_process'])} traces/s", file=sys.stderr)
    for backend in args.backends:
        variable, default = _SERVICES[backend]
        url = os.environ.get(variable, default)
        reason = await _reason_unavailable(backend, url)
        if reason is not None:
            print(f"{backend}: skipped - {reason}")
            results[backend] = {"skipped": reason}
            continue
        entry: dict[str, Any] = {"where": backend}
        for setup in SETUPS:
            entry[setup.key] = await _over_bus(backend, url, setup, args)
            print(f"{backend}, {setup.label}: {_rate(entry[setup.key])} traces/s", file=sys.stderr)
        results[backend] = entry
    return results


async def _run_until_terminated(args: argparse.Namespace) -> dict[str, Any]:
    """`_run_all`, cancelled by SIGTERM so the workers are stopped and the streams deleted."""
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    return await _run_all(args)


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, write the JSON and return it."""
    args = _parse(argv)
    try:
        results = asyncio.run(_run_until_terminated(args))
    except asyncio.CancelledError:
        raise SystemExit("terminated (workers stopped, bus streams deleted)") from None
    rows = scorecard_rows(results)
    print()
    print_table(["configuration", "traces/s", "rounds", "of in-process"], _detail_rows(results))
    print()
    print_table(["benchmark", "floor", "ours", "ratio", "2.7.3", "ratio", "target", ""], rows)
    result = {
        "benchmark": "distributed_throughput",
        "environment": environment(),
        "parameters": {
            "rounds": args.rounds,
            "traces": args.traces,
            "warmup": args.warmup,
            "backends": args.backends,
            "setups": [
                {"key": s.key, "workers": s.workers, "concurrency": s.concurrency} for s in SETUPS
            ],
        },
        "results": results,
        "scorecard_rows": rows,
    }
    if not args.no_write:
        write_results("distributed_throughput", result, args.out_dir)
    return result


def main() -> None:
    """Command-line entry point."""
    run()


if __name__ == "__main__":
    main()
