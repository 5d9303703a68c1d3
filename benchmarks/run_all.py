"""Run every benchmark program and print one combined scorecard.

Each program runs in its own subprocess with this interpreter (so the memory
and import measurements are not disturbed by the others) and writes its JSON
to ``benchmarks/results/``; the scorecard is built from those files.
``--update-readme`` writes the scorecard as Markdown between the
``scorecard`` markers of ``benchmarks/README.md`` and the root ``README.md``,
so the READMEs' figures always come from a real run.

Usage::

    .venv/bin/python benchmarks/run_all.py [--no-published] [--update-readme]
    .venv/bin/python benchmarks/run_all.py --quick          # smoke run; results/ untouched
    .venv/bin/python benchmarks/run_all.py --from-results   # re-render the last run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_DIR,
    PUBLISHED_VERSION,
    RESULTS_DIR,
    fmt_ratio,
    fmt_us,
    print_table,
)

__all__ = ["PROGRAMS", "main", "scorecard_rows"]

PROGRAMS = ("hop_overhead", "import_time", "memory_per_trace")
# Programs whose results carry ready-made "scorecard_rows" (8 cells each, like HEADERS).
ROW_PROGRAMS: tuple[str, ...] = (
    "streaming_throughput",
    "fanout_join",
    "middleware_overhead",
    "state_store_writes",
    "distributed_throughput",
)
_START = "<!-- scorecard:start -->"
_END = "<!-- scorecard:end -->"
HEADERS = ["benchmark", "floor", "ours", "ratio", PUBLISHED_VERSION, "ratio", "target", "status"]


def _load(name: str, results_dir: Path = RESULTS_DIR) -> dict[str, Any] | None:
    path = results_dir / f"{name}.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _hop_rows(data: dict[str, Any]) -> list[list[str]]:
    rows = []
    workloads = data["workloads"]
    order = ["sequential", "pipelined", "envelope_validated"]
    for entry in [workloads[k] for k in order if k in workloads]:
        rows.append(
            [
                f"{entry['description']} (us/hop)",
                fmt_us(entry["floor_us"]),
                fmt_us(entry["ours_us"]),
                fmt_ratio(entry["ours_ratio"]),
                fmt_us(entry["published_us"]),
                fmt_ratio(entry["published_ratio"]),
                f"<= {entry['target_ratio']:.0f}x floor",
                entry["status"],
            ]
        )
    return rows


def _import_rows(data: dict[str, Any]) -> list[list[str]]:
    results = data["results"]
    ours = results.get("ours")
    pub = results.get("published")
    ref = results.get("reference")
    return [
        [
            "cold import penguiflow, over bare interpreter (ms)",
            f"asyncio+pydantic {fmt_us(ref['over_bare_ms'])}" if ref else "-",
            fmt_us(ours["over_bare_ms"]) if ours else "-",
            "-",
            fmt_us(pub["over_bare_ms"]) if pub else "-",
            "-",
            f"<= {data['target_over_bare_ms']:.0f} ms",
            data["status"] or "-",
        ]
    ]


def _memory_rows(data: dict[str, Any]) -> list[list[str]]:
    def kib(value: float | None) -> str:
        return "-" if value is None else f"{value / 1024:.2f}"

    pub = data["published"]
    pub_ratio = (
        pub["bytes"] / pub["floor_bytes"] if pub.get("bytes") and pub.get("floor_bytes") else None
    )
    return [
        [
            f"memory per in-flight trace, {data['parameters']['traces']} traces, 3 nodes (KiB)",
            kib(data["floor_bytes"]),
            kib(data["ours_bytes"]),
            fmt_ratio(data["ours_ratio"]),
            kib(pub.get("bytes")),
            fmt_ratio(pub_ratio),
            f"<= {data['target_bytes'] / 1024:.0f} KiB",
            data["status"] or "-",
        ]
    ]


def scorecard_rows(results_dir: Path = RESULTS_DIR) -> list[list[str]]:
    """Build the scorecard rows from the JSON files in ``results_dir``."""
    rows: list[list[str]] = []
    for name, builder in (
        ("hop_overhead", _hop_rows),
        ("import_time", _import_rows),
        ("memory_per_trace", _memory_rows),
    ):
        data = _load(name, results_dir)
        if data is None:
            rows.append([name, "-", "-", "-", "-", "-", "-", "not run"])
        else:
            rows.extend(builder(data))
    for name in ROW_PROGRAMS:
        data = _load(name, results_dir)
        if data is None:
            rows.append([name, "-", "-", "-", "-", "-", "-", "not run"])
        else:
            rows.extend([str(cell) for cell in row] for row in data["scorecard_rows"])
    return rows


def _markdown(rows: list[list[str]]) -> str:
    found = (_load(name) for name in PROGRAMS)
    env: dict[str, Any] = next((d["environment"] for d in found if d is not None), {})
    lines = [
        "| " + " | ".join(HEADERS) + " |",
        "| " + " | ".join("---" for _ in HEADERS) + " |",
    ]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    if env:
        lines.append("")
        lines.append(
            f"Measured {env.get('timestamp', '?')} on Python {env.get('python', '?')}, "
            f"{env.get('cpu_count', '?')} cores, pydantic {env.get('pydantic', '?')}, "
            f"penguiflow {env.get('penguiflow_ours', '?')}. Ratios are medians of per-round "
            f"ratios against the floor measured in the same process."
        )
    return "\n".join(lines)


def _update_readme(markdown: str) -> None:
    for readme in (BENCH_DIR / "README.md", BENCH_DIR.parent / "README.md"):
        text = readme.read_text(encoding="utf-8")
        if _START not in text or _END not in text:
            raise SystemExit(f"{readme.name} has no {_START} ... {_END} section")
        head, rest = text.split(_START, 1)
        _, tail = rest.split(_END, 1)
        readme.write_text(f"{head}{_START}\n{markdown}\n{_END}{tail}", encoding="utf-8")
        print(f"updated the scorecard in {readme.relative_to(BENCH_DIR.parent)}")


def _run_programs(flags: list[str], out_dir: Path) -> list[str]:
    failed: list[str] = []
    for name in (*PROGRAMS, *ROW_PROGRAMS):
        print(f"\n##### {name} #####", flush=True)
        cmd = [sys.executable, str(BENCH_DIR / f"{name}.py"), *flags, "--out-dir", str(out_dir)]
        if subprocess.run(cmd).returncode != 0:
            failed.append(name)
    return failed


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs; results/ untouched")
    parser.add_argument("--no-published", action="store_true", help="skip penguiflow 2.7.3")
    parser.add_argument("--no-build", action="store_true", help="use the 2.7.3 venv if present")
    parser.add_argument("--from-results", action="store_true", help="only re-render results/")
    parser.add_argument("--update-readme", action="store_true", help="scorecard -> README.md")
    args = parser.parse_args()
    if args.quick and args.update_readme:
        parser.error("--update-readme needs a full run (quick results are not baselines)")
    flags = [
        flag
        for flag in ("--quick", "--no-published", "--no-build")
        if getattr(args, flag[2:].replace("-", "_"))
    ]
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="penguiflow-bench-") as scratch:
        # Quick runs are smoke runs: they must not overwrite the recorded baselines.
        results_dir = Path(scratch) if args.quick else RESULTS_DIR
        if not args.from_results:
            failed = _run_programs(flags, results_dir)
        rows = scorecard_rows(results_dir)
    print("\n##### scorecard #####")
    print_table(HEADERS, rows)
    if args.update_readme:
        _update_readme(_markdown(rows))
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
