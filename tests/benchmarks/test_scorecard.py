"""The benchmark scorecard judges figures against the SPEC §10 targets (``benchmarks/_targets.py``).

The benchmark programs are scripts, not a package: ``_targets.py`` is loaded
from its file, and ``run_all.py`` runs as a subprocess on results files
written here (``--from-results --results-dir``), as ``make bench`` would.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

__all__: list[str] = []

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def targets() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_targets", BENCH_DIR / "_targets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is built.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_targets_are_the_spec_table(targets: ModuleType) -> None:
    limits = {key: (t.limit, t.unit) for key, t in targets.SPEC_TARGETS.items()}
    assert limits == {
        "sequential_hop": (2.0, "x"),
        "pipelined_hop": (2.0, "x"),
        "validated_hop": (2.0, "x"),
        "fanout_join": (2.0, "x"),
        "streaming": (2.5, "x"),
        "import_own_cost": (20.0, "ms"),
        "memory_per_trace": (1.2, "x"),
    }


def test_a_target_passes_up_to_its_limit_and_says_nothing_without_a_figure(
    targets: ModuleType,
) -> None:
    streaming, imports = targets.STREAMING, targets.IMPORT_OWN_COST
    assert [streaming.status(v) for v in (2.5, 2.51, None, math.nan)] == ["PASS", "MISS", "-", "-"]
    assert streaming.label() == "<= 2.5x floor"
    assert targets.VALIDATED_HOP.label() == "<= 2x validated floor"
    assert (imports.label(), imports.status(19.9), imports.status(20.1)) == (
        "<= 20 ms",
        "PASS",
        "MISS",
    )


def _hop(ratio: float, recorded_status: str) -> dict[str, Any]:
    return {
        "description": f"hop {ratio}",
        "floor_us": 1.0,
        "ours_us": ratio,
        "ours_ratio": ratio,
        "published_us": None,
        "published_ratio": None,
        "status": recorded_status,
    }


def _stream(ratio: float, gaps: int) -> dict[str, Any]:
    return {
        "description": f"stream {ratio} {gaps}",
        "floor_chunks_per_cpu_s": 500_000.0,
        "ours_chunks_per_cpu_s": 500_000.0 / ratio,
        "ours_ratio": ratio,
        "gaps": gaps,
        "dupes": 0,
        "published_chunks_per_cpu_s": None,
        "published_ratio": None,
        "rounds": [{"received": 10, "chunks": 10}],
        "status": "PASS",
    }


RESULTS: dict[str, dict[str, Any]] = {
    # The recorded statuses are stale on purpose: the scorecard must judge again.
    "hop_overhead": {
        "workloads": {
            "sequential": _hop(1.5, "MISS"),
            "pipelined": _hop(2.4, "PASS"),
            "envelope_validated": _hop(2.0, "MISS"),
        }
    },
    "import_time": {"results": {"ours": {"own_cpu_ms": 21.0}, "one_model": {"own_cpu_ms": 15.0}}},
    "memory_per_trace": {
        "parameters": {"traces": 10},
        "floor_bytes": 1000.0,
        "ours_bytes": 1250.0,
        "ours_ratio": 1.25,
        "published": {},
        "status": "PASS",
    },
    "streaming_throughput": {
        "workloads": {"fetch": _stream(2.4, 1), "interleaved": _stream(2.4, 0)},
    },
    "fanout_join": {
        "parameters": {"traces": 100},
        "ours": {
            "rate": 1.0,
            "floor_rate": 2.0,
            "cpu_rate": 1.0,
            "floor_cpu_rate": 1.9,
            "ratio": 1.9,
        },
        "published": {},
        "status": "MISS",
    },
}

EXPECTED = {
    "hop 1.5 (us/hop)": "PASS",
    "hop 2.4 (us/hop)": "MISS",
    "hop 2.0 (us/hop)": "PASS",
    "cold import penguiflow, own cost over asyncio + pydantic BaseModel (ms)": "MISS",
    "memory per in-flight trace, 10 traces, 3 nodes (KiB)": "MISS",
    "streaming stream 2.4 1 (chunks per CPU-s; gaps/dupes 1/0)": "MISS",
    "streaming stream 2.4 0 (chunks per CPU-s; gaps/dupes 0/0)": "PASS",
    "fan-out to 8 workers + join_k, 100 envelope traces (traces per CPU-s)": "PASS",
    "node_concurrency": "not run",
}


def test_the_scorecard_judges_recorded_figures_with_todays_targets(tmp_path: Path) -> None:
    for name, data in RESULTS.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")
    command = [sys.executable, str(BENCH_DIR / "run_all.py"), "--from-results"]
    done = subprocess.run(
        [*command, "--results-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for label, status in EXPECTED.items():
        row = next((line for line in lines if line.startswith(label + "  ")), None)
        assert row is not None, f"no scorecard row {label!r} in:\n{done.stdout}"
        assert row.rstrip().endswith("  " + status), row
