"""Cold ``import penguiflow``: our own cost over ``import asyncio; from pydantic import BaseModel``.

What is measured (SPEC §10). Every sample is a fresh interpreter that first
runs the baseline ``import asyncio`` / ``from pydantic import BaseModel``
and then the import under test; the child times that import statement alone
(``time.process_time`` and ``time.perf_counter``) and prints the figures.
The headline *own cost* is the median over ``--runs`` children of that CPU
time: what ``import penguiflow`` adds to a program that already has asyncio
and pydantic. Timing inside the child leaves out the interpreter's start-up
and the baseline, whose run-to-run noise (tens of ms on a shared machine) is
larger than the figure itself; CPU time leaves out waiting for a busy core.

Cross-check. The same children are also timed from outside (wall time of
the whole process), alternating with children that run the baseline only;
the difference of the medians is reported next to the headline. It also
contains what the in-child figure cannot see (module teardown at exit), and
its noise.

Bytecode cache. A cold import here means a fresh process with the ``.pyc``
files in place, as for any installed program. ``PYTHONDONTWRITEBYTECODE`` is
removed from the children's environment (an untimed warm-up run per subject
writes the cache); with it set, every child would compile our sources again
and measure the compiler.

Context rows:

* the names a program really uses (``from penguiflow import ... create``),
  so lazily loaded exports cannot make ``import penguiflow`` look cheaper
  than real use;
* one pydantic model (``class M(BaseModel)`` with ``defer_build=True``)
  after the baseline: defining any model makes pydantic import its field and
  type machinery (``pydantic.fields``, ``pydantic.types``,
  ``annotated_types``), which ``from pydantic import BaseModel`` leaves out.
  Every pydantic-based library pays this once; it is part of our own cost;
* the baseline itself over a bare interpreter (``python -c pass``).

``-X importtime`` runs (``--importtime-runs``) attribute the cost: the
largest self times in the ``penguiflow`` subtree, the number of modules it
pulls in, and whether a heavy optional dependency (planner, litellm,
fastapi, ...) was imported — which the spec forbids.

Target (SPEC §10, ``_targets.IMPORT_OWN_COST``): ≤ 20 ms. Results go to
``benchmarks/results/import_time.json``.

Usage::

    .venv/bin/python benchmarks/import_time.py [--runs 20] [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_DIR,
    PUBLISHED_VERSION,
    add_output_flags,
    environment,
    fmt_us,
    median,
    print_table,
    published_python,
    write_results,
)
from _targets import IMPORT_OWN_COST

__all__ = [
    "BASELINE",
    "HEAVY_MODULES",
    "ONE_MODEL",
    "TYPICAL",
    "Subject",
    "main",
    "measure",
    "run",
]

#: What the own cost is measured over (SPEC §10).
BASELINE = "import asyncio\nfrom pydantic import BaseModel"
#: What a program using the runtime actually imports (catches lazy loading
#: that would make ``import penguiflow`` alone look cheaper than it is).
TYPICAL = "from penguiflow import Headers, Message, ModelRegistry, Node, NodePolicy, create"
#: The least a library that defines one pydantic model pays after the baseline.
ONE_MODEL = (
    "from pydantic import ConfigDict\n"
    "class M(BaseModel):\n"
    "    model_config = ConfigDict(defer_build=True)\n"
    "    x: int"
)

#: Top-level modules that ``import penguiflow`` must not pull in (spec §1).
HEAVY_MODULES = (
    "penguiflow.planner",
    "penguiflow.tools",
    "penguiflow_a2a",
    "litellm",
    "fastapi",
    "starlette",
    "uvicorn",
    "fastmcp",
    "mcp",
    "httpx",
    "aiohttp",
    "asyncpg",
    "redis",
    "nats",
    "opentelemetry",
    "tenacity",
    "yaml",
)

_TIMED = """{baseline}
import time as _time
_cpu, _wall = _time.process_time(), _time.perf_counter()
{code}
_cpu, _wall = _time.process_time() - _cpu, _time.perf_counter() - _wall
print(_cpu * 1000.0, _wall * 1000.0)
"""


def _child_env() -> dict[str, str]:
    # Cold import = fresh process with the bytecode cache in place (see the docstring).
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(python: Path, code: str) -> tuple[float, str]:
    """Run ``python -c code``; return its wall time in ms and its stdout."""
    start = time.perf_counter()
    done = subprocess.run(
        [str(python), "-c", code], cwd=BENCH_DIR, capture_output=True, text=True, env=_child_env()
    )
    elapsed = (time.perf_counter() - start) * 1000.0
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    return elapsed, done.stdout


def _importtime(python: Path) -> list[tuple[int, str, float, float]]:
    """Return ``(depth, module, self_ms, cumulative_ms)`` rows of ``import penguiflow``.

    The import runs after the baseline, so modules the baseline already
    loaded are not counted.
    """
    done = subprocess.run(
        [str(python), "-X", "importtime", "-c", f"{BASELINE}\nimport penguiflow"],
        cwd=BENCH_DIR,
        capture_output=True,
        text=True,
        env=_child_env(),
    )
    rows: list[tuple[int, str, float, float]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, cumulative_us, raw = line[len("import time:") :].split("|", 2)
        if not self_us.strip().isdigit():
            continue  # the header line
        raw = raw[1:]
        name = raw.strip()
        depth = (len(raw) - len(raw.lstrip())) // 2
        rows.append((depth, name, int(self_us) / 1000.0, int(cumulative_us) / 1000.0))
    # -X importtime prints children before their parent, so the subtree is the
    # run of deeper rows ending at the depth-0 "penguiflow" row.
    end = next((i for i, r in enumerate(rows) if r[0] == 0 and r[1] == "penguiflow"), None)
    if end is None:
        return []
    start = end
    while start > 0 and rows[start - 1][0] > 0:
        start -= 1
    return rows[start : end + 1]


class Subject:
    """One import to time, in fresh ``python`` processes after the baseline.

    Args:
        python: Interpreter to launch.
        code: The import statement(s) to time.
        importtime_runs: ``-X importtime`` runs for attribution (0 to skip;
            only meaningful for ``import penguiflow``).
    """

    def __init__(self, python: Path, code: str, importtime_runs: int = 0) -> None:
        self.python = python
        self.code = code
        self.importtime_runs = importtime_runs
        self.baseline_wall: list[float] = []
        self.process_wall: list[float] = []
        self.own_cpu: list[float] = []
        self.own_wall: list[float] = []

    def sample(self) -> None:
        """Time one baseline-only process and one process that also runs ``code``."""
        self.baseline_wall.append(_run(self.python, BASELINE)[0])
        wall, out = _run(self.python, _TIMED.format(baseline=BASELINE, code=self.code))
        cpu_ms, wall_ms = (float(v) for v in out.split()[-2:])
        self.process_wall.append(wall)
        self.own_cpu.append(cpu_ms)
        self.own_wall.append(wall_ms)

    def clear(self) -> None:
        """Forget the samples (after the warm-up that fills the bytecode cache)."""
        for samples in (self.baseline_wall, self.process_wall, self.own_cpu, self.own_wall):
            samples.clear()

    def summary(self) -> dict[str, Any]:
        """Return the medians and the ``-X importtime`` attribution."""
        cumulative: list[float] = []
        rows: list[tuple[int, str, float, float]] = []
        for _ in range(self.importtime_runs):
            rows = _importtime(self.python)
            if rows:
                cumulative.append(rows[-1][3])
        names = {r[1] for r in rows}
        heavy = [h for h in HEAVY_MODULES if any(n == h or n.startswith(h + ".") for n in names)]
        top = sorted(rows, key=lambda r: r[2], reverse=True)[:12]
        attributed = self.importtime_runs > 0
        return {
            "code": self.code,
            "own_cpu_ms": median(self.own_cpu),
            "own_wall_ms": median(self.own_wall),
            "baseline_process_ms": median(self.baseline_wall),
            "process_ms": median(self.process_wall),
            "over_baseline_wall_ms": median(self.process_wall) - median(self.baseline_wall),
            "importtime_cumulative_ms": median(cumulative) if cumulative else None,
            "modules_imported": len(rows) if attributed else None,
            "top_self_ms": [[name, round(self_ms, 3)] for _, name, self_ms, _ in top],
            "heavy_modules_imported": sorted(heavy) if attributed else None,
            "runs": len(self.own_cpu),
        }


def measure(subjects: dict[str, Subject], runs: int) -> dict[str, dict[str, Any]]:
    """Time every subject ``runs`` times, interleaved so load drift hits all alike."""
    for subject in subjects.values():  # untimed warm-up: fills the bytecode cache
        subject.sample()
        subject.clear()
    for _ in range(runs):
        for subject in subjects.values():
            subject.sample()
    return {key: subject.summary() for key, subject in subjects.items()}


def _bare_over(python: Path, runs: int) -> float:
    """Median wall ms of the baseline over ``python -c pass`` (context only)."""
    bare, base = [], []
    for _ in range(runs):
        bare.append(_run(python, "pass")[0])
        base.append(_run(python, BASELINE)[0])
    return median(base) - median(bare)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="processes per subject (20)")
    parser.add_argument("--importtime-runs", type=int, default=5, help="-X importtime runs (5)")
    parser.add_argument("--quick", action="store_true", help="8 runs, 3 importtime runs")
    add_output_flags(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = min(args.runs, 8)
        args.importtime_runs = min(args.importtime_runs, 3)
    return args


def _ours_importable() -> str | None:
    try:
        _run(Path(sys.executable), "import penguiflow")
    except RuntimeError as exc:
        return f"our penguiflow is not importable here ({exc})"
    return None


def _row(label: str, entry: dict[str, Any], judged: bool) -> list[str]:
    heavy = entry["heavy_modules_imported"]
    return [
        label,
        fmt_us(entry["own_cpu_ms"]),
        fmt_us(entry["own_wall_ms"]),
        fmt_us(entry["over_baseline_wall_ms"]),
        fmt_us(entry["importtime_cumulative_ms"]),
        str(entry["modules_imported"] or "-"),
        "-" if heavy is None else (", ".join(heavy) or "none"),
        IMPORT_OWN_COST.label() if judged else "",
        IMPORT_OWN_COST.status(entry["own_cpu_ms"]) if judged else "",
    ]


def _plan(args: argparse.Namespace) -> tuple[list[tuple[str, str, Path, str, int]], str]:
    """``(key, label, interpreter, code, importtime runs)`` per subject, and the 2.7.3 note."""
    ours_py = Path(sys.executable)
    plan: list[tuple[str, str, Path, str, int]] = []
    problem = _ours_importable()
    if problem is None:
        plan.append(("ours", "ours", ours_py, "import penguiflow", args.importtime_runs))
        plan.append(("ours_typical", "ours, typical names", ours_py, TYPICAL, 0))
    else:
        print(problem)
    pub_note = "skipped (--no-published)"
    if not args.no_published:
        python, pub_note = published_python(build=not args.no_build)
        if python is not None:
            it_runs = args.importtime_runs
            plan.append(("published", PUBLISHED_VERSION, python, "import penguiflow", it_runs))
            label = f"{PUBLISHED_VERSION}, typical names"
            plan.append(("published_typical", label, python, TYPICAL, 0))
    plan.append(("one_model", "one pydantic model (context)", ours_py, ONE_MODEL, 0))
    return plan, pub_note


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, write the JSON and return it."""
    args = _parse(argv)
    plan, pub_note = _plan(args)
    print(f"penguiflow {PUBLISHED_VERSION}: {pub_note}")
    subjects = {key: Subject(py, code, it_runs) for key, _, py, code, it_runs in plan}
    results = measure(subjects, args.runs)
    baseline_over_bare = _bare_over(Path(sys.executable), args.runs)
    print()
    print_table(
        [
            "own cost after the baseline (ms)",
            "CPU",
            "wall",
            "process diff",
            "-X importtime",
            "modules",
            "heavy deps",
            "target",
            "",
        ],
        [_row(label, results[key], key == "ours") for key, label, *_ in plan],
    )
    print(
        "  (CPU, wall: the import timed inside the child, medians; process diff: median "
        "process wall time minus the baseline-only process's)"
    )
    print(f"  the baseline itself costs {baseline_over_bare:.1f} ms over `python -c pass` (wall)")
    for key in ("ours", "published"):
        if key in results:
            top = ", ".join(f"{n} {ms:.1f}" for n, ms in results[key]["top_self_ms"][:6])
            print(f"  largest self times ({key}, ms): {top}")
    ours = results.get("ours")
    result = {
        "benchmark": "import_time",
        "environment": environment(),
        "parameters": {"runs": args.runs, "importtime_runs": args.importtime_runs},
        "codes": {"baseline": BASELINE, "typical": TYPICAL, "one_model": ONE_MODEL},
        "target_ms": IMPORT_OWN_COST.limit,
        "status": IMPORT_OWN_COST.status(ours["own_cpu_ms"]) if ours else None,
        "baseline_over_bare_ms": baseline_over_bare,
        "published": {"version": PUBLISHED_VERSION, "note": pub_note},
        "results": results,
    }
    if not args.no_write:
        write_results("import_time", result, args.out_dir)
    return result


def main() -> None:
    """Command-line entry point."""
    run()


if __name__ == "__main__":
    main()
