"""Memory per in-flight trace: 10k envelope traces held in a 3-node flow.

Shape: ``first -> middle -> last``, every node ``validate="none"``. Each
trace is one ``Message(payload=Item(id, text), headers=Headers(tenant="t"))``
with its own trace id. The last node waits on an ``asyncio.Event``, so after
``traces`` emits the first message sits inside ``last`` and every other one
waits in the floe in front of it — all of them in flight at once, with
whatever per-trace bookkeeping the runtime keeps. ``queue_maxsize`` is
``traces + 16`` so emit never blocks.

Measurement: ``tracemalloc`` current traced memory after the emits (and a
``gc.collect()``) minus the value before them, divided by ``traces``. Message
and payload construction is included: it is part of what a trace costs. The
floor is the same shape built from three tasks and ``asyncio.Queue``s
carrying an equivalent pydantic envelope (same fields as ``Message``). The
published 2.7.3 runs the same code in its venv, when present.

Target (SPEC §10, ``_targets.MEMORY_PER_TRACE``): ≤ 1.2x the floor's bytes
per trace. ``--breakdown N`` also lists our N largest allocation sites (per
trace). Results go to ``benchmarks/results/memory_per_trace.json``.

Usage::

    .venv/bin/python benchmarks/memory_per_trace.py [--traces 10000] [--quick] [--breakdown 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PUBLISHED_VERSION,
    add_output_flags,
    environment,
    fmt_ratio,
    median,
    print_table,
    published_python,
    run_published_driver,
    write_results,
)
from _targets import MEMORY_PER_TRACE
from _workloads import memory_floor, memory_impl

__all__ = ["main", "run"]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=10_000, help="traces held in flight (10000)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat and take medians (1)")
    parser.add_argument("--breakdown", type=int, default=0, help="list N top allocation sites")
    parser.add_argument("--quick", action="store_true", help="2000 traces")
    add_output_flags(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.traces = min(args.traces, 2000)
    return args


def _kib(value: float | None) -> str:
    return "-" if value is None else f"{value / 1024:.2f}"


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, write the JSON and return it."""
    args = _parse(argv)
    ours: Any = None
    try:
        import penguiflow

        ours = penguiflow
    except ImportError as exc:
        print(f"our penguiflow is not importable ({exc}); measuring the floor only")
    python: Path | None = None
    pub_note = "skipped (--no-published)"
    if not args.no_published:
        python, pub_note = published_python(build=not args.no_build)
    print(f"penguiflow {PUBLISHED_VERSION}: {pub_note}")

    floor: list[float] = []
    mine: list[float] = []
    pub: list[float] = []
    pub_floor: list[float] = []
    for _ in range(args.rounds):
        floor.append(asyncio.run(memory_floor(args.traces))[0])
        if ours is not None:
            mine.append(asyncio.run(memory_impl(ours, args.traces))[0])
        if python is not None:
            try:
                out = run_published_driver(python, ["memory", "--traces", str(args.traces)])
            except (RuntimeError, OSError) as exc:
                print(f"penguiflow {PUBLISHED_VERSION} run failed: {exc}")
                python, pub_note = None, str(exc)
            else:
                pub.append(out["impl_bytes"])
                pub_floor.append(out["floor_bytes"])
    sites: list[list[Any]] = []
    if ours is not None and args.breakdown:
        sites = asyncio.run(memory_impl(ours, args.traces, args.breakdown))[1]

    floor_b = median(floor)
    ours_b = median(mine) if mine else None
    pub_b = median(pub) if pub else None
    ours_ratio = None if ours_b is None else ours_b / floor_b
    status = None if ours_ratio is None else MEMORY_PER_TRACE.status(ours_ratio)
    print()
    print_table(
        [
            "bytes per in-flight trace (KiB)",
            "floor",
            "ours",
            "ratio",
            PUBLISHED_VERSION,
            "ratio",
            "target",
            "",
        ],
        [
            [
                f"{args.traces} traces, 3 nodes",
                _kib(floor_b),
                _kib(ours_b),
                fmt_ratio(ours_ratio),
                _kib(pub_b),
                fmt_ratio(None if pub_b is None else pub_b / median(pub_floor)),
                MEMORY_PER_TRACE.label(),
                status or "-",
            ]
        ],
    )
    if sites:
        print("\nour largest allocation sites (bytes / blocks per trace):")
        for site, size, count in sites:
            print(f"  {size:8.1f} B  {count:5.2f}  {site}")
    result = {
        "benchmark": "memory_per_trace",
        "environment": environment(),
        "parameters": {"traces": args.traces, "rounds": args.rounds, "nodes": 3},
        "target_ratio": MEMORY_PER_TRACE.limit,
        "status": status,
        "floor_bytes": floor_b,
        "ours_bytes": ours_b,
        "ours_ratio": ours_ratio,
        "ours_top_sites": sites,
        "published": {
            "version": PUBLISHED_VERSION,
            "note": pub_note,
            "bytes": pub_b,
            "floor_bytes": median(pub_floor) if pub_floor else None,
        },
    }
    if not args.no_write:
        write_results("memory_per_trace", result, args.out_dir)
    return result


def main() -> None:
    """Command-line entry point."""
    run()


if __name__ == "__main__":
    main()
