"""Per-hop overhead of a 10-node pass-through chain: ours vs the asyncio floor vs 2.7.3.

Workloads (each on a fresh flow, after a warm-up):

* ``sequential`` — emit one payload, fetch it from Rookery, repeat; every node
  ``NodePolicy(validate="none")``. Latency of one message crossing the chain.
* ``pipelined`` — a producer emits N payloads while a consumer fetches N
  concurrently; per hop = wall time / (N * 10). Throughput with backpressure.
* ``envelope_validated`` — sequential, with ``Message(payload=Item(...),
  headers=Headers(tenant="t"))`` and every node registered in a
  ``ModelRegistry`` with ``Item`` in/out and ``validate="both"``.

The floor is a hand-written chain of ``asyncio.Queue``s (same maxsize, one
task per node awaiting an ``async def`` pass-through); the "validated floor"
also validates with a cached ``TypeAdapter`` on input and output of every
node. The published ``penguiflow==2.7.3`` runs the same workload code in its
own venv (``benchmarks/.venv-penguiflow-2.7.3``, built on first use) through
``_published_driver.py``; its nodes always receive the envelope, so its
registry entries are ``Message`` in/out.

Each round measures every implementation once (alternating which goes first)
and computes ratios against the floor measured in the same process and round;
the reported figures are medians over rounds. Results go to
``benchmarks/results/hop_overhead.json``.

Usage::

    .venv/bin/python benchmarks/hop_overhead.py [--rounds 7] [--messages 2000] [--quick]
    .venv/bin/python benchmarks/hop_overhead.py --profile   # where our time goes
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PUBLISHED_VERSION,
    add_output_flags,
    environment,
    fmt_ratio,
    fmt_us,
    median,
    print_table,
    published_python,
    run_published_driver,
    write_results,
)
from _floor import Item
from _targets import PIPELINED_HOP, SEQUENTIAL_HOP, VALIDATED_HOP, Target
from _workloads import HopParams, hop_round, measure_impl

__all__ = ["TARGETS", "main", "run"]

#: Workload -> (description, SPEC §10 target of its ratio over the floor).
TARGETS: dict[str, tuple[str, Target]] = {
    "sequential": ("sequential hop, payload-only, validate=none", SEQUENTIAL_HOP),
    "pipelined": ("pipelined hop, payload-only, validate=none", PIPELINED_HOP),
    "envelope_validated": ("sequential hop, envelope + validation in/out", VALIDATED_HOP),
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds per implementation (7)")
    parser.add_argument("--messages", type=int, default=2000, help="messages per sequential run")
    parser.add_argument("--pipelined", type=int, default=None, help="messages per pipelined run")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up messages per fresh flow")
    parser.add_argument("--maxsize", type=int, default=64, help="queue_maxsize for every floe")
    parser.add_argument("--length", type=int, default=10, help="nodes in the chain")
    parser.add_argument("--quick", action="store_true", help="3 rounds, 500 messages")
    parser.add_argument("--profile", action="store_true", help="cProfile our sequential workloads")
    add_output_flags(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = min(args.rounds, 3)
        args.messages = min(args.messages, 500)
    if args.pipelined is None:
        args.pipelined = args.messages * 5 // 2
    return args


def _import_ours() -> tuple[Any, str]:
    try:
        import penguiflow
    except ImportError as exc:
        return None, f"our penguiflow is not importable ({exc}); measuring the floor only"
    return penguiflow, "ok"


def _published_round(python: Path, params: HopParams, impl_first: bool) -> dict[str, Any]:
    args = ["hop"]
    for key, value in params.as_dict().items():
        args += [f"--{key}", str(value)]
    if impl_first:
        args.append("--impl-first")
    return run_published_driver(python, args)


def _summarise(
    ours_rounds: list[dict[str, dict[str, float]]],
    pub_rounds: list[dict[str, dict[str, float]]],
) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for workload, (description, target) in TARGETS.items():
        ours = [r[workload] for r in ours_rounds]
        pub = [r[workload] for r in pub_rounds]
        ours_ratio = median(r["impl"] / r["floor"] for r in ours if "impl" in r)
        entry: dict[str, Any] = {
            "description": description,
            "target_ratio": target.limit,
            "floor_us": median(r["floor"] for r in ours),
            "ours_us": median(r["impl"] for r in ours if "impl" in r),
            "ours_ratio": ours_ratio,
            "status": target.status(ours_ratio),
            "published_floor_us": median(r["floor"] for r in pub),
            "published_us": median(r["impl"] for r in pub),
            "published_ratio": median(r["impl"] / r["floor"] for r in pub),
            "rounds": {"ours": ours, "published": pub},
        }
        summary[workload] = {k: (None if v != v else v) for k, v in entry.items()}  # nan -> null
    return summary


def print_summary(summary: dict[str, dict[str, Any]]) -> None:
    """Print the hop-overhead table from a summary (as stored in the JSON)."""
    rows = []
    for workload, entry in summary.items():
        rows.append(
            [
                workload,
                fmt_us(entry["floor_us"]),
                fmt_us(entry["ours_us"]),
                fmt_ratio(entry["ours_ratio"]),
                fmt_us(entry["published_us"]),
                fmt_ratio(entry["published_ratio"]),
                TARGETS[workload][1].label(),
                entry["status"],
            ]
        )
    print_table(
        ["workload (us/hop)", "floor", "ours", "ratio", PUBLISHED_VERSION, "ratio", "target", ""],
        rows,
    )
    print(
        "(ratios are medians of per-round ratios; "
        f"{PUBLISHED_VERSION}'s ratio is against the floor measured in its own process; "
        "the envelope floor validates with a cached TypeAdapter)"
    )


def _profile(pf: Any, params: HopParams) -> None:
    for workload in ("sequential", "envelope_validated"):
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(measure_impl(pf, params, workload, envelope_model=Item))
        profiler.disable()
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer).strip_dirs().sort_stats("tottime")
        stats.print_stats(25)
        print(f"\n=== cProfile of our {workload} workload, sorted by tottime ===")
        print(buffer.getvalue())


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, write the JSON and return it."""
    args = _parse(argv)
    params = HopParams.from_args(args)
    ours, note = _import_ours()
    if ours is None:
        print(note)
    if args.profile:
        if ours is None:
            raise SystemExit("--profile needs our penguiflow")
        _profile(ours, params)
        return {}
    python: Path | None = None
    if args.no_published:
        pub_note = "skipped (--no-published)"
    else:
        python, pub_note = published_python(build=not args.no_build)
    print(f"penguiflow {PUBLISHED_VERSION}: {pub_note}")

    ours_rounds: list[dict[str, dict[str, float]]] = []
    pub_rounds: list[dict[str, dict[str, float]]] = []
    for index in range(args.rounds):
        impl_first = index % 2 == 1
        ours_rounds.append(
            asyncio.run(hop_round(ours, params, envelope_model=Item, impl_first=impl_first))
        )
        if python is not None:
            try:
                pub_rounds.append(_published_round(python, params, impl_first)["round"])
            except (RuntimeError, OSError) as exc:
                print(f"penguiflow {PUBLISHED_VERSION} round failed: {exc}")
                python, pub_note = None, str(exc)
        print(f"round {index + 1}/{args.rounds} done", file=sys.stderr)

    summary = _summarise(ours_rounds, pub_rounds)
    print()
    print_summary(summary)
    result = {
        "benchmark": "hop_overhead",
        "environment": environment(),
        "parameters": {"rounds": args.rounds, **params.as_dict()},
        "published": {"version": PUBLISHED_VERSION, "measured": bool(pub_rounds), "note": pub_note},
        "ours_note": note,
        "workloads": summary,
    }
    if not args.no_write:
        write_results("hop_overhead", result, args.out_dir)
    return result


def main() -> None:
    """Command-line entry point."""
    run()


if __name__ == "__main__":
    main()
