"""Node concurrency: traces/s through one I/O-bound node for ``NodePolicy(max_concurrency=N)``.

Shape: ``io`` -> Rookery, one node whose function awaits 20 ms of simulated
I/O (``await asyncio.sleep(0.02)``) and returns the envelope. ``--traces``
envelopes (200), each with its own trace id, are emitted by a producer while
a consumer fetches the results, so backpressure applies
(``queue_maxsize=64``). That runs for ``max_concurrency`` = 1, 4, 16 and 64
on a fresh, warmed-up flow each time.

With N invocations in flight, ``traces`` messages need ``ceil(traces / N)``
waves of 20 ms, so the ideal rate is ``traces / (ceil(traces / N) * 0.02)``
(N / 0.02 until N reaches ``traces``). The floor is the same work written by
hand: N tasks taking envelopes from one ``asyncio.Queue``, sleeping 20 ms and
putting them on another — what the event loop's timers and queues allow on
this machine. Ratios are floor rate / our rate (1.00x = as fast as the hand-
written pool). CPU milliseconds per trace (``time.process_time``) show what
the concurrency machinery itself costs.

Checked for every run: each trace comes back exactly once, no two
invocations of one trace overlap (the policy allows at most one per trace),
and the node never has more than N invocations in flight. The peak reached
is reported: it should be ``min(N, traces)``.

There is no SPEC §10 target: the figures are reported, like the state-store
and bus figures. No 2.7.3 figures (it has no ``max_concurrency``). Results go
to ``benchmarks/results/node_concurrency.json``.

Usage::

    .venv/bin/python benchmarks/node_concurrency.py [--rounds 3] [--traces 200] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_output_flags, environment, fmt_ratio, median, print_table, write_results

__all__ = ["CONCURRENCY", "IO_DELAY_S", "ideal_rate", "main", "run", "scorecard_rows"]

CONCURRENCY = (1, 4, 16, 64)
"""The ``max_concurrency`` values measured."""
IO_DELAY_S = 0.02
"""Simulated I/O per node invocation, in seconds."""
_MAXSIZE = 64
_WARMUP = 8


def ideal_rate(concurrency: int, traces: int, delay: float = IO_DELAY_S) -> float:
    """Traces/s if ``concurrency`` invocations always overlap perfectly and cost nothing."""
    return traces / (math.ceil(traces / concurrency) * delay)


class _InFlight:
    """Counts the node's invocations in flight and checks them against the policy."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.now = 0
        self.peak = 0
        self.active_traces: set[str] = set()
        self.errors: list[str] = []

    def enter(self, trace_id: str) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        if self.now > self.limit:
            self.errors.append(f"{self.now} invocations in flight, limit {self.limit}")
        if trace_id in self.active_traces:
            self.errors.append(f"two invocations of trace {trace_id} at once")
        self.active_traces.add(trace_id)

    def leave(self, trace_id: str) -> None:
        self.now -= 1
        self.active_traces.discard(trace_id)


async def _drive(emit: Any, fetch: Any, messages: list[Any]) -> tuple[float, float, list[Any]]:
    async def produce() -> None:
        for message in messages:
            await emit(message)

    async def consume() -> list[Any]:
        return [await fetch() for _ in messages]

    cpu_started, started = time.process_time(), time.perf_counter()
    _, results = await asyncio.gather(produce(), consume())
    return time.perf_counter() - started, time.process_time() - cpu_started, results


def _check(results: list[Any], messages: list[Any], tracker: _InFlight, label: str) -> None:
    got = sorted(out.trace_id for out in results)
    if got != sorted(m.trace_id for m in messages):
        raise RuntimeError(f"{label}: a trace came back twice or not at all")
    if tracker.errors:
        raise RuntimeError(f"{label}: {tracker.errors[0]}")


async def measure_ours(pf: Any, concurrency: int, traces: int) -> dict[str, float]:
    """Run ``traces`` envelopes through the one-node flow; return rates and the peak."""
    tracker = _InFlight(concurrency)

    async def io(msg: Any, _ctx: Any) -> Any:
        trace_id = msg.trace_id
        tracker.enter(trace_id)
        try:
            await asyncio.sleep(IO_DELAY_S)
        finally:
            tracker.leave(trace_id)
        return msg

    policy = pf.NodePolicy(validate="none", max_concurrency=concurrency)
    flow = pf.create(pf.Node(io, name="io", policy=policy).to(), queue_maxsize=_MAXSIZE)
    flow.run()
    headers = pf.Headers(tenant="bench")
    try:
        warm = [pf.Message(payload=i, headers=headers) for i in range(_WARMUP)]
        await _drive(flow.emit, flow.fetch, warm)
        tracker.peak = 0
        messages = [pf.Message(payload=i, headers=headers) for i in range(traces)]
        elapsed, cpu, results = await _drive(flow.emit, flow.fetch, messages)
    finally:
        await flow.stop()
    _check(results, messages, tracker, f"max_concurrency={concurrency}")
    return {"rate": traces / elapsed, "cpu_ms_per_trace": cpu / traces * 1e3, "peak": tracker.peak}


async def measure_floor(concurrency: int, traces: int) -> dict[str, float]:
    """The same work by ``concurrency`` hand-written tasks sharing two ``asyncio.Queue``s."""
    from _floor import FloorEnvelope, FloorHeaders

    inbox: asyncio.Queue[Any] = asyncio.Queue(_MAXSIZE)
    outbox: asyncio.Queue[Any] = asyncio.Queue(_MAXSIZE)
    tracker = _InFlight(concurrency)

    async def lane() -> None:
        while True:
            env = await inbox.get()
            tracker.enter(env.trace_id)
            await asyncio.sleep(IO_DELAY_S)
            tracker.leave(env.trace_id)
            await outbox.put(env)

    lanes = [asyncio.create_task(lane()) for _ in range(concurrency)]
    headers = FloorHeaders(tenant="bench")
    try:
        warm = [FloorEnvelope(payload=i, headers=headers) for i in range(_WARMUP)]
        await _drive(inbox.put, outbox.get, warm)
        tracker.peak = 0
        messages = [FloorEnvelope(payload=i, headers=headers) for i in range(traces)]
        elapsed, cpu, results = await _drive(inbox.put, outbox.get, messages)
    finally:
        for task in lanes:
            task.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)
    _check(results, messages, tracker, f"floor, {concurrency} tasks")
    return {"rate": traces / elapsed, "cpu_ms_per_trace": cpu / traces * 1e3, "peak": tracker.peak}


async def _round(pf: Any, traces: int, ours_first: bool) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for concurrency in CONCURRENCY:
        if ours_first:
            ours = await measure_ours(pf, concurrency, traces)
            floor = await measure_floor(concurrency, traces)
        else:
            floor = await measure_floor(concurrency, traces)
            ours = await measure_ours(pf, concurrency, traces)
        out[str(concurrency)] = {"ours": ours, "floor": floor}
    return out


def _summarise(rounds: list[dict[str, dict[str, Any]]], traces: int) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for concurrency in CONCURRENCY:
        runs = [r[str(concurrency)] for r in rounds]
        ideal = ideal_rate(concurrency, traces)
        rate = median(run["ours"]["rate"] for run in runs)
        summary[str(concurrency)] = {
            "max_concurrency": concurrency,
            "ideal_traces_per_s": ideal,
            "floor_traces_per_s": median(run["floor"]["rate"] for run in runs),
            "ours_traces_per_s": rate,
            # Per-round ratio against the floor measured in the same process and round.
            "ours_ratio": median(run["floor"]["rate"] / run["ours"]["rate"] for run in runs),
            "ours_vs_ideal": rate / ideal,
            "ours_cpu_ms_per_trace": median(run["ours"]["cpu_ms_per_trace"] for run in runs),
            "floor_cpu_ms_per_trace": median(run["floor"]["cpu_ms_per_trace"] for run in runs),
            "ours_peak_in_flight": max(run["ours"]["peak"] for run in runs),
            "rounds": runs,
        }
    return summary


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def scorecard_rows(result: dict[str, Any]) -> list[list[str]]:
    """One 8-cell scorecard row per ``max_concurrency`` (floor = the hand-written task pool)."""
    params = result["parameters"]
    delay_ms = params["io_delay_s"] * 1e3
    rows = []
    for entry in result["summary"].values():
        rows.append(
            [
                f"one node awaiting {delay_ms:g} ms I/O, max_concurrency="
                f"{entry['max_concurrency']}, {params['traces']} traces (traces/s)",
                _rate(entry["floor_traces_per_s"]),
                _rate(entry["ours_traces_per_s"]),
                fmt_ratio(entry["ours_ratio"]),
                "-",
                "-",
                f"reported (ideal {_rate(entry['ideal_traces_per_s'])})",
                "-",
            ]
        )
    return rows


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3; ~11 s each)")
    parser.add_argument("--traces", type=int, default=200, help="traces per run (200)")
    parser.add_argument("--quick", action="store_true", help="1 round of 64 traces")
    add_output_flags(parser)  # --no-published/--no-build are accepted and ignored
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.traces = 1, min(args.traces, 64)
    return args


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, write the JSON and return it."""
    args = _parse(argv)
    import penguiflow as pf

    rounds = []
    for index in range(args.rounds):
        rounds.append(asyncio.run(_round(pf, args.traces, ours_first=index % 2 == 1)))
        print(f"round {index + 1}/{args.rounds} done", file=sys.stderr)
    result: dict[str, Any] = {
        "benchmark": "node_concurrency",
        "environment": environment(),
        "parameters": {
            "rounds": args.rounds,
            "traces": args.traces,
            "io_delay_s": IO_DELAY_S,
            "concurrency": list(CONCURRENCY),
            "queue_maxsize": _MAXSIZE,
        },
        "summary": _summarise(rounds, args.traces),
    }
    rows = scorecard_rows(result)
    result["scorecard_rows"] = rows
    print()
    print_table(["benchmark", "floor", "ours", "ratio", "2.7.3", "ratio", "target", ""], rows)
    print("\nmax_concurrency  ours/ideal  peak in flight  CPU ms/trace (ours / floor)")
    for entry in result["summary"].values():
        print(
            f"{entry['max_concurrency']:>15}  {entry['ours_vs_ideal']:>10.2f}  "
            f"{entry['ours_peak_in_flight']:>14}  "
            f"{entry['ours_cpu_ms_per_trace']:.3f} / {entry['floor_cpu_ms_per_trace']:.3f}"
        )
    if not args.no_write:
        write_results("node_concurrency", result, args.out_dir)
    return result


def main() -> None:
    """Command-line entry point."""
    run()


if __name__ == "__main__":
    main()
