"""Shared helpers for the benchmark programs: environment facts, stats, the 2.7.3 venv.

The benchmark programs in this folder compare our runtime against two
references measured in the same run: a hand-written ``asyncio.Queue`` floor
(``_floor.py``) and the published ``penguiflow==2.7.3``, which lives in its
own virtual environment next to this file and is driven in a subprocess by
``_published_driver.py``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "BENCH_DIR",
    "PUBLISHED_VERSION",
    "RESULTS_DIR",
    "add_output_flags",
    "environment",
    "fmt_ratio",
    "fmt_us",
    "median",
    "our_penguiflow_version",
    "print_table",
    "published_python",
    "run_published_driver",
    "write_results",
]

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
PUBLISHED_VERSION = "2.7.3"
_VENV_NAME = f".venv-penguiflow-{PUBLISHED_VERSION}"
_VENV_DIR = BENCH_DIR / _VENV_NAME


def median(values: Iterable[float]) -> float:
    """Return the median of ``values`` (``nan`` when empty)."""
    data = list(values)
    return statistics.median(data) if data else float("nan")


def fmt_us(value: float | None) -> str:
    """Format microseconds for a table cell."""
    if value is None or value != value:
        return "-"
    return f"{value:.2f}"


def fmt_ratio(value: float | None) -> str:
    """Format a ratio such as ``2.31x`` for a table cell."""
    if value is None or value != value:
        return "-"
    return f"{value:.2f}x"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a plain-text table with columns padded to their widest cell."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """Add the flags every benchmark program shares (2.7.3 comparison and output)."""
    parser.add_argument("--no-published", action="store_true", help="skip penguiflow 2.7.3")
    parser.add_argument(
        "--no-build", action="store_true", help="use the 2.7.3 venv only if present"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write results JSON")
    parser.add_argument("--out-dir", type=Path, default=None, help="results folder (results/)")


def _package_version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def our_penguiflow_version() -> str | None:
    """Return the version of the ``penguiflow`` importable here, if any."""
    for dist in ("penguiflow-core", "penguiflow"):
        version = _package_version(dist)
        if version is not None:
            return version
    return None


def environment() -> dict[str, Any]:
    """Describe the machine and interpreter; contains no filesystem paths."""
    return {
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": platform.system(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "pydantic": _package_version("pydantic"),
        "penguiflow_ours": our_penguiflow_version(),
    }


def write_results(name: str, data: dict[str, Any], out_dir: Path | None = None) -> Path:
    """Write ``data`` as ``<out_dir>/<name>.json`` (default ``results/``) and return the path."""
    out_dir = RESULTS_DIR if out_dir is None else out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":  # pragma: no cover - benchmarks run on POSIX
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _has_published(python: Path) -> bool:
    check = (
        "from importlib.metadata import version; "
        f"raise SystemExit(version('penguiflow') != {PUBLISHED_VERSION!r})"
    )
    try:
        done = subprocess.run([str(python), "-c", check], capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def published_python(*, build: bool = True) -> tuple[Path | None, str]:
    """Return the 2.7.3 venv's interpreter, creating the venv when needed.

    Args:
        build: Create the venv and ``pip install penguiflow==2.7.3`` when it is
            missing. When False, only an existing venv is used.

    Returns:
        ``(python, note)``: the interpreter path (``None`` when unavailable) and
        a short human-readable note saying what happened or why it failed.
    """
    python = _venv_python(_VENV_DIR)
    if python.exists() and _has_published(python):
        return python, f"reused benchmarks/{_VENV_NAME}"
    if not build:
        return None, f"benchmarks/{_VENV_NAME} not present (build skipped)"
    # sys.executable -m venv gives the venv the same base interpreter as ours,
    # so both implementations run on the same Python version.
    steps = [
        [sys.executable, "-m", "venv", str(_VENV_DIR)],
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"penguiflow=={PUBLISHED_VERSION}",
        ],
    ]
    for cmd in steps:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"could not build the {PUBLISHED_VERSION} venv: {exc}"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, f"could not build the {PUBLISHED_VERSION} venv: " + " | ".join(tail)
    if not _has_published(python):
        return None, f"penguiflow {PUBLISHED_VERSION} not importable after install"
    return python, f"built benchmarks/{_VENV_NAME}"


def run_published_driver(python: Path, args: Sequence[str], timeout: float = 600) -> dict[str, Any]:
    """Run ``_published_driver.py`` under ``python`` and return its JSON output.

    Raises:
        RuntimeError: If the driver fails or prints something that is not JSON.
    """
    cmd = [str(python), str(BENCH_DIR / "_published_driver.py"), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        raise RuntimeError("published driver failed: " + " | ".join(tail))
    try:
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        raise RuntimeError(f"published driver printed no JSON: {done.stdout[-200:]!r}") from exc
    return result
