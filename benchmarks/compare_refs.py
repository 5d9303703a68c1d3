"""Compare the hop overhead of the working tree with an earlier commit, in one run.

A refactoring should not slow the runtime; this measures it. The earlier
commit is checked out into a temporary git worktree, and `hop_overhead.py`
(this tree's copy, so both sides run the same workload code) is run
alternately against each side's `penguiflow-core` sources, ``--runs`` times
each, base and head swapping who goes first. Each side's figure is the
median over its runs of the per-run medians, both in µs per hop and as the
ratio to the floor measured in the same process (which absorbs drift of the
machine's speed). Only core's sources are swapped (``PYTHONPATH``), so the
base must be importable with this venv's dependencies.

Usage::

    .venv/bin/python benchmarks/compare_refs.py --base 6cd8997 [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, environment, median, print_table, write_results

ROOT = BENCH_DIR.parent
WORKLOADS = ("sequential", "pipelined", "envelope_validated")


def _run_hops(core_src: Path | None, out_dir: Path) -> dict[str, Any]:
    env = dict(os.environ)
    if core_src is not None:
        env["PYTHONPATH"] = str(core_src)  # ahead of the editable install's .pth entry
    program = str(BENCH_DIR / "hop_overhead.py")
    subprocess.run(
        [sys.executable, program, "--no-published", "--out-dir", str(out_dir)],
        env=env,
        check=True,
        capture_output=True,
    )
    data: dict[str, Any] = json.loads((out_dir / "hop_overhead.json").read_text())
    return data["workloads"]


def compare(base: str, runs: int) -> dict[str, Any]:
    """Run both sides ``runs`` times, alternating; return per-run figures and the medians."""
    samples: dict[str, list[dict[str, Any]]] = {"base": [], "head": []}
    with tempfile.TemporaryDirectory(prefix="penguiflow-compare-") as scratch:
        tree = Path(scratch) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(tree), base],
            check=True,
        )
        try:
            sides = {"base": tree / "packages" / "core" / "src", "head": None}
            for index in range(runs):
                order = ("base", "head") if index % 2 == 0 else ("head", "base")
                for label in order:
                    out = Path(scratch) / f"{label}-{index}"
                    samples[label].append(_run_hops(sides[label], out))
                    print(f"run {index + 1}/{runs} {label} done", flush=True)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True
            )
    summary: dict[str, Any] = {}
    for workload in WORKLOADS:
        figures = {
            label: {
                "us": median(run[workload]["ours_us"] for run in samples[label]),
                "ratio": median(run[workload]["ours_ratio"] for run in samples[label]),
            }
            for label in samples
        }
        figures["change"] = {
            "us": figures["head"]["us"] / figures["base"]["us"] - 1,
            "ratio": figures["head"]["ratio"] / figures["base"]["ratio"] - 1,
        }
        summary[workload] = figures
    return {"base": base, "runs": runs, "workloads": summary, "samples": samples}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the earlier commit (any git ref)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each side (5)")
    parser.add_argument("--out-dir", type=Path, default=None, help="results folder (results/)")
    args = parser.parse_args()
    result = compare(args.base, args.runs)
    rows = []
    for workload, figures in result["workloads"].items():
        rows.append(
            [
                workload,
                f"{figures['base']['us']:.2f} ({figures['base']['ratio']:.2f}x)",
                f"{figures['head']['us']:.2f} ({figures['head']['ratio']:.2f}x)",
                f"{figures['change']['us']:+.1%}",
                f"{figures['change']['ratio']:+.1%}",
            ]
        )
    print()
    print_table(["workload (us/hop)", f"base {args.base}", "head", "us", "ratio"], rows)
    write_results(
        f"compare_refs_{args.base}",
        {"benchmark": "compare_refs", "environment": environment(), **result},
        args.out_dir,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
