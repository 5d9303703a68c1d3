"""Driver run inside the published-2.7.3 venv: measures one workload, prints one JSON line.

Usage (from the benchmark programs, never by hand)::

    <venv>/bin/python benchmarks/_published_driver.py hop --messages 2000 ... [--impl-first]
    <venv>/bin/python benchmarks/_published_driver.py memory --traces 10000 [--breakdown 10]

It drives the published package only through its public API, with the same
workload code (``_workloads.py``) and floor (``_floor.py``) as our side, and
measures the floor in this process too so that 2.7.3's ratio compares numbers
taken by the same interpreter and the same pydantic build.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from importlib import metadata

from _workloads import HopParams, hop_round, memory_floor, memory_impl

import penguiflow

__all__ = ["main"]


def main() -> None:
    """Parse arguments, run the requested workload and print its JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    hop = sub.add_parser("hop")
    hop.add_argument("--messages", type=int, required=True)
    hop.add_argument("--pipelined", type=int, required=True)
    hop.add_argument("--warmup", type=int, required=True)
    hop.add_argument("--maxsize", type=int, required=True)
    hop.add_argument("--length", type=int, required=True)
    hop.add_argument("--impl-first", action="store_true")
    mem = sub.add_parser("memory")
    mem.add_argument("--traces", type=int, required=True)
    mem.add_argument("--breakdown", type=int, default=0)
    args = parser.parse_args()

    result: dict[str, object] = {"version": metadata.version("penguiflow")}
    if args.command == "hop":
        params = HopParams.from_args(args)
        # 2.7.3 hands every node the envelope itself, so the registry model
        # for the envelope workload is its Message.
        result["round"] = asyncio.run(
            hop_round(
                penguiflow, params, envelope_model=penguiflow.Message, impl_first=args.impl_first
            )
        )
    else:
        result["floor_bytes"], _ = asyncio.run(memory_floor(args.traces))
        result["impl_bytes"], _ = asyncio.run(memory_impl(penguiflow, args.traces))
        if args.breakdown:
            _, result["impl_sites"] = asyncio.run(
                memory_impl(penguiflow, args.traces, args.breakdown)
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
