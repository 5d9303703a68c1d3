"""Cold ``import penguiflow`` time over a bare interpreter: ours vs published 2.7.3.

Method. For each interpreter (ours: the one running this script; 2.7.3: its
venv, when present) we launch fresh subprocesses, alternating
``python -c "pass"`` and ``python -c "import penguiflow"`` ``--runs`` times
each (after one untimed warm-up pair that fills the bytecode cache), and take
the difference of the median wall times.

Why wall time as the headline. It is what a user pays, it is exactly what
"over a bare interpreter" means (interpreter start-up and ``.pth`` processing
appear on both sides and cancel out), and it also captures costs that
``-X importtime`` does not attribute to an import — teardown of the imported
modules at exit, and work triggered lazily after the import statement. Its
weakness is noise, which the median over many alternating runs tames.

``-X importtime`` is still run (``--importtime-runs`` times) as a cross-check
and for attribution: we report the median cumulative time of the top-level
``penguiflow`` import, the modules with the largest self time, the number of
modules the import pulls in, and whether any heavy optional dependency
(planner, litellm, fastapi, ...) was imported — which the spec forbids.

Two more rows put the figure in context: the same measurement for the names
a program actually uses (``from penguiflow import ... create``), so lazy
loading cannot make ``import penguiflow`` look cheaper than real use; and
``import asyncio`` plus ``from pydantic import BaseModel, TypeAdapter``, the
least any pydantic-based asyncio library imports. Because absolute times
depend on the machine, ours / 2.7.3 is reported next to the ratio the spec's
figures imply (70 ms / 126 ms = 0.56x).

Target: ≤ 70 ms over bare. Results go to ``benchmarks/results/import_time.json``.

Usage::

    .venv/bin/python benchmarks/import_time.py [--runs 20] [--quick]
"""

from __future__ import annotations

import argparse
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

__all__ = [
    "HEAVY_MODULES",
    "REFERENCE",
    "SPEC_RATIO_TARGET",
    "TARGET_MS",
    "TYPICAL",
    "Subject",
    "main",
    "measure",
    "run",
]

TARGET_MS = 70.0
#: The spec measured 2.7.3 at 126 ms on its reference machine, so the 70 ms
#: target is 0.56x of 2.7.3 there; reported to compare across machines.
SPEC_RATIO_TARGET = TARGET_MS / 126.0
#: What a program using the runtime actually imports (catches lazy loading
#: that would make ``import penguiflow`` alone look cheaper than it is).
TYPICAL = "from penguiflow import Headers, Message, ModelRegistry, Node, NodePolicy, create"
#: The least a pydantic-based asyncio library can import.
REFERENCE = "import asyncio\nfrom pydantic import BaseModel, TypeAdapter"

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


def _wall(python: Path, code: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([str(python), "-c", code], cwd=BENCH_DIR, capture_output=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode(errors="replace").strip().splitlines()[-1])
    return elapsed * 1000.0


def _importtime(python: Path) -> list[tuple[int, str, float, float]]:
    """Return ``(depth, module, self_ms, cumulative_ms)`` rows for the penguiflow import."""
    done = subprocess.run(
        [str(python), "-X", "importtime", "-c", "import penguiflow"],
        cwd=BENCH_DIR,
        capture_output=True,
        text=True,
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
    # Rows before the top-level penguiflow import's subtree belong to start-up
    # (site, encodings); -X importtime prints children before their parent,
    # so the subtree is the run of rows ending at the depth-0 "penguiflow" row.
    end = next((i for i, r in enumerate(rows) if r[0] == 0 and r[1] == "penguiflow"), None)
    if end is None:
        return []
    start = end
    while start > 0 and rows[start - 1][0] > 0:
        start -= 1
    return rows[start : end + 1]


class Subject:
    """One thing to time: ``code`` run by ``python``, against ``pass`` in the same interpreter.

    Args:
        python: Interpreter to launch.
        code: The import statement to time.
        importtime_runs: ``-X importtime`` runs for attribution (0 to skip;
            only meaningful for ``import penguiflow``).
    """

    def __init__(self, python: Path, code: str, importtime_runs: int = 0) -> None:
        self.python = python
        self.code = code
        self.importtime_runs = importtime_runs
        self.bare: list[float] = []
        self.imported: list[float] = []

    def sample(self) -> None:
        """Time one ``pass`` and one import subprocess."""
        self.bare.append(_wall(self.python, "pass"))
        self.imported.append(_wall(self.python, self.code))

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
            "bare_ms": median(self.bare),
            "import_ms": median(self.imported),
            "over_bare_ms": median(self.imported) - median(self.bare),
            "importtime_cumulative_ms": median(cumulative) if cumulative else None,
            "modules_imported": len(rows) if attributed else None,
            "top_self_ms": [[name, round(self_ms, 3)] for _, name, self_ms, _ in top],
            "heavy_modules_imported": sorted(heavy) if attributed else None,
            "runs": len(self.bare),
        }


def measure(subjects: dict[str, Subject], runs: int) -> dict[str, dict[str, Any]]:
    """Time every subject ``runs`` times, interleaved so load drift hits all alike."""
    for subject in subjects.values():  # untimed warm-up: fills the bytecode cache
        subject.sample()
        subject.bare.clear()
        subject.imported.clear()
    for _ in range(runs):
        for subject in subjects.values():
            subject.sample()
    return {key: subject.summary() for key, subject in subjects.items()}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="subprocesses per side (20)")
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
        _wall(Path(sys.executable), "import penguiflow")
    except RuntimeError as exc:
        return f"our penguiflow is not importable here ({exc})"
    return None


def _row(label: str, entry: dict[str, Any], target: bool) -> list[str]:
    over = entry["over_bare_ms"]
    heavy = entry["heavy_modules_imported"]
    return [
        label,
        fmt_us(entry["bare_ms"]),
        fmt_us(entry["import_ms"]),
        fmt_us(over),
        fmt_us(entry["importtime_cumulative_ms"]),
        str(entry["modules_imported"] or "-"),
        "-" if heavy is None else (", ".join(heavy) or "none"),
        f"<= {TARGET_MS:.0f}" if target else "",
        ("PASS" if over <= TARGET_MS else "MISS") if target else "",
    ]


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, write the JSON and return it."""
    args = _parse(argv)
    ours_py = Path(sys.executable)
    # (key, label, interpreter, code, importtime runs)
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
    print(f"penguiflow {PUBLISHED_VERSION}: {pub_note}")
    plan.append(("reference", "asyncio + pydantic (reference)", ours_py, REFERENCE, 0))

    subjects = {key: Subject(py, code, it_runs) for key, _, py, code, it_runs in plan}
    results = measure(subjects, args.runs)
    print()
    print_table(
        [
            "import (ms)",
            "bare",
            "import",
            "over bare",
            "-X importtime",
            "modules",
            "heavy deps",
            "target",
            "",
        ],
        [_row(label, results[key], key == "ours") for key, label, *_ in plan],
    )
    for key in ("ours", "published"):
        if key in results:
            top = ", ".join(f"{n} {ms:.1f}" for n, ms in results[key]["top_self_ms"][:6])
            print(f"  largest self times ({key}, ms): {top}")
    vs_published = None
    if "ours" in results and "published" in results:
        vs_published = results["ours"]["over_bare_ms"] / results["published"]["over_bare_ms"]
        print(
            f"  ours / {PUBLISHED_VERSION} = {vs_published:.2f}x (the spec's target is "
            f"{SPEC_RATIO_TARGET:.2f}x of {PUBLISHED_VERSION} on its reference machine)"
        )
    result = {
        "benchmark": "import_time",
        "environment": environment(),
        "parameters": {"runs": args.runs, "importtime_runs": args.importtime_runs},
        "codes": {"import": "import penguiflow", "typical": TYPICAL, "reference": REFERENCE},
        "target_over_bare_ms": TARGET_MS,
        "status": (
            ("PASS" if results["ours"]["over_bare_ms"] <= TARGET_MS else "MISS")
            if "ours" in results
            else None
        ),
        "ours_vs_published_ratio": vs_published,
        "spec_ratio_target": SPEC_RATIO_TARGET,
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
