"""Middleware overhead: per-hop cost with 0, 1 and 3 no-op middlewares, and the cost per event.

Workload: the hop benchmark's *sequential* shape — a chain of ``--length``
pass-through nodes (``NodePolicy(validate="none")``, ``queue_maxsize=64``),
emit one ``int``, fetch it from Rookery, repeat — on a fresh flow per
measurement, after a warm-up. With middlewares attached, the timed region
ends with ``await flow.drain_events()``, so the middlewares' own work (every
event delivered and handled) is inside the measurement.

Per round, in alternating order:

* ``floor`` — the hand-written ``asyncio.Queue`` chain (``_workloads.measure_floor``);
* ``hop_benchmark`` — the hop benchmark's own sequential workload
  (``_workloads.measure_impl``), to confirm that a flow without middlewares
  costs what ``hop_overhead.py`` reports (events cost nothing when nobody listens);
* ``mw0`` / ``mw1`` / ``mw3`` — the chain with 0, 1 and 3 sync no-op middlewares.

Derived figures (medians over rounds of per-round values):

* per event, one middleware = (mw1 - mw0) / events per hop. It includes
  building the ``FlowEvent``, queueing it, the middleware task waking up and
  calling the no-op, and the worker's switch to its instrumented path;
* per event per extra middleware = (mw3 - mw1) / (2 * events per hop).

No 2.7.3 figures: its driver (``_published_driver.py``) has no middleware
workload. Results go to ``benchmarks/results/middleware_overhead.json``.

Usage::

    .venv/bin/python benchmarks/middleware_overhead.py [--rounds 7] [--messages 2000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RESULTS_DIR,
    add_output_flags,
    environment,
    fmt_ratio,
    fmt_us,
    median,
    print_table,
    write_results,
)
from _workloads import HopParams, measure_floor, measure_impl

__all__ = ["TARGETS", "main", "run"]

#: Budgets (no SPEC target exists for middlewares; these are ours):
#: * ``mw0_ratio`` — the hop benchmark's sequential target (SPEC §10): with nobody
#:   listening, a flow must cost what it costs without events at all;
#: * ``mw1_ratio`` — one listening middleware must keep a hop cheaper than 2.7.3's
#:   hop with *no* middleware (5.6x floor in SPEC §10; it builds events regardless);
#: * ``mw3_ratio`` — three middlewares: 8x floor;
#: * ``per_event_floor_hops`` — handling one event for one middleware must cost
#:   less than moving a message one hop through the asyncio floor.
TARGETS: dict[str, float] = {
    "mw0_ratio": 2.0,
    "mw1_ratio": 5.6,
    "mw3_ratio": 8.0,
    "per_event_floor_hops": 1.0,
}
MIDDLEWARE_COUNTS = (0, 1, 3)


def _noop(event: Any) -> None:
    return None


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, event: Any) -> None:
        self.count += 1


async def _pass_through(value: Any, ctx: Any) -> Any:
    return value


def _chain(pf: Any, params: HopParams, middlewares: list[Any]) -> Any:
    policy = pf.NodePolicy(validate="none")
    nodes = [pf.Node(_pass_through, name=f"n{i}", policy=policy) for i in range(params.length)]
    edges = [nodes[i].to(nodes[i + 1]) for i in range(params.length - 1)]
    return pf.create(*edges, queue_maxsize=params.maxsize, middlewares=middlewares)


async def _measure_chain(pf: Any, params: HopParams, middlewares: list[Any]) -> float:
    """Microseconds per hop for the sequential workload with ``middlewares`` attached."""
    flow = _chain(pf, params, middlewares)
    flow.run()
    try:
        for item in range(params.warmup):
            await flow.emit(item)
            await flow.fetch()
        await flow.drain_events()
        gc.collect()
        last: Any = None
        start = time.perf_counter()
        for item in range(params.messages):
            await flow.emit(item)
            last = await flow.fetch()
        await flow.drain_events()
        elapsed = time.perf_counter() - start
    finally:
        await flow.stop()
    if last != params.messages - 1:
        raise AssertionError(f"chain returned {last!r}, expected {params.messages - 1}")
    if flow.dropped_events:
        raise AssertionError(f"{flow.dropped_events} events were dropped; results are invalid")
    return elapsed / (params.messages * params.length) * 1e6


async def _events_per_hop(pf: Any, params: HopParams) -> float:
    counter = _Counter()
    flow = _chain(pf, params, [counter])
    flow.run()
    try:
        for item in range(100):
            await flow.emit(item)
            await flow.fetch()
        await flow.drain_events()
    finally:
        await flow.stop()
    return counter.count / (100 * params.length)


async def _round(pf: Any, params: HopParams, reverse: bool) -> dict[str, float]:
    steps: list[tuple[str, Any]] = [
        ("floor", lambda: measure_floor(params, "sequential")),
        ("hop_benchmark", lambda: measure_impl(pf, params, "sequential", envelope_model=None)),
    ]
    for count in MIDDLEWARE_COUNTS:
        steps.append((f"mw{count}", lambda n=count: _measure_chain(pf, params, [_noop] * n)))
    if reverse:
        steps.reverse()
    return {name: await make() for name, make in steps}


def _summarise(rounds: list[dict[str, float]], events_per_hop: float) -> dict[str, Any]:
    summary: dict[str, Any] = {"events_per_hop": events_per_hop}
    for name in ("floor", "hop_benchmark", *(f"mw{n}" for n in MIDDLEWARE_COUNTS)):
        summary[f"{name}_us"] = median(r[name] for r in rounds)
        if name != "floor":
            summary[f"{name}_ratio"] = median(r[name] / r["floor"] for r in rounds)
    summary["per_event_us"] = median((r["mw1"] - r["mw0"]) / events_per_hop for r in rounds)
    summary["per_event_floor_hops"] = median(
        (r["mw1"] - r["mw0"]) / events_per_hop / r["floor"] for r in rounds
    )
    summary["per_event_per_extra_middleware_us"] = median(
        (r["mw3"] - r["mw1"]) / (2 * events_per_hop) for r in rounds
    )
    summary["mw0_vs_hop_benchmark"] = median(r["mw0"] / r["hop_benchmark"] for r in rounds)
    return summary


def _recorded_hop_figures() -> dict[str, Any] | None:
    path = RESULTS_DIR / "hop_overhead.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    entry = data.get("workloads", {}).get("sequential")
    if not entry:
        return None
    return {
        "timestamp": data["environment"]["timestamp"],
        "ours_us": entry["ours_us"],
        "ours_ratio": entry["ours_ratio"],
    }


def _status(value: float, target: float) -> str:
    return "PASS" if value <= target else "MISS"


def scorecard_rows(summary: dict[str, Any], length: int) -> list[list[str]]:
    """The scorecard rows of this benchmark (8 cells each, like ``run_all.HEADERS``)."""
    per_event = summary["per_event_floor_hops"]
    rows = [
        [
            "middleware cost per event, 1 no-op middleware (us/event)",
            fmt_us(summary["floor_us"]),
            fmt_us(summary["per_event_us"]),
            fmt_ratio(per_event),
            "-",
            "-",
            f"<= {TARGETS['per_event_floor_hops']:g}x floor hop",
            _status(per_event, TARGETS["per_event_floor_hops"]),
        ]
    ]
    for count in MIDDLEWARE_COUNTS:
        target = TARGETS[f"mw{count}_ratio"]
        ratio = summary[f"mw{count}_ratio"]
        rows.append(
            [
                f"sequential hop, {length}-node chain, {count} no-op middlewares (us/hop)",
                fmt_us(summary["floor_us"]),
                fmt_us(summary[f"mw{count}_us"]),
                fmt_ratio(ratio),
                "-",
                "-",
                f"<= {target:g}x floor",
                _status(ratio, target),
            ]
        )
    return rows


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds (7)")
    parser.add_argument("--messages", type=int, default=2000, help="messages per measurement")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up messages per fresh flow")
    parser.add_argument("--maxsize", type=int, default=64, help="queue_maxsize for every floe")
    parser.add_argument("--length", type=int, default=10, help="nodes in the chain")
    parser.add_argument("--quick", action="store_true", help="3 rounds, 500 messages")
    add_output_flags(parser)  # --no-published/--no-build are accepted and ignored
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = min(args.rounds, 3)
        args.messages = min(args.messages, 500)
    return args


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, write the JSON and return it."""
    import penguiflow as pf

    args = _parse(argv)
    params = HopParams(
        messages=args.messages,
        pipelined=args.messages,
        warmup=args.warmup,
        maxsize=args.maxsize,
        length=args.length,
    )
    events_per_hop = asyncio.run(_events_per_hop(pf, params))
    rounds = []
    for index in range(args.rounds):
        rounds.append(asyncio.run(_round(pf, params, reverse=index % 2 == 1)))
        print(f"round {index + 1}/{args.rounds} done", file=sys.stderr)
    summary = _summarise(rounds, events_per_hop)
    rows = scorecard_rows(summary, params.length)
    print()
    print_table(["benchmark", "floor", "ours", "ratio", "2.7.3", "ratio", "target", ""], rows)
    recorded = _recorded_hop_figures()
    print(
        f"\n{events_per_hop:g} events per hop with a middleware attached; "
        f"+{summary['per_event_per_extra_middleware_us']:.2f} us per event per extra middleware."
    )
    print(
        f"No middleware vs the hop benchmark's own workload, same run: "
        f"{summary['mw0_us']:.2f} vs {summary['hop_benchmark_us']:.2f} us/hop "
        f"(ratio {summary['mw0_vs_hop_benchmark']:.2f})."
    )
    if recorded is not None:
        print(
            f"Recorded hop_overhead.json ({recorded['timestamp']}): sequential "
            f"{recorded['ours_us']:.2f} us/hop, {recorded['ours_ratio']:.2f}x floor; "
            f"here without middleware: {summary['mw0_ratio']:.2f}x floor."
        )
    result = {
        "benchmark": "middleware_overhead",
        "environment": environment(),
        "parameters": {"rounds": args.rounds, **params.as_dict()},
        "targets": TARGETS,
        "summary": summary,
        "recorded_hop_overhead": recorded,
        "rounds": rounds,
        "scorecard_rows": rows,
    }
    if not args.no_write:
        write_results("middleware_overhead", result, args.out_dir)
    return result


def main() -> None:
    """Command-line entry point."""
    run()


if __name__ == "__main__":
    main()
