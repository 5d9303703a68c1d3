"""penguiflow.cli.worker: `penguiflow worker` mistakes give one line and an exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FLOWS = HERE.parent / "distributed"


def penguiflow(*args: str, cwd: Path = FLOWS) -> subprocess.CompletedProcess[str]:
    """Run ``python -m penguiflow.cli ARGS`` in ``cwd``, where the test flows are importable."""
    return subprocess.run(
        [sys.executable, "-m", "penguiflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int, *parts: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("penguiflow: error: ")
    for part in parts:
        assert part in errors[0], (part, errors[0])


@pytest.mark.parametrize(
    ("args", "code", "parts"),
    [
        (["worker", "worker_flows:build_flow", "--bus", "memory://"], 2, ["--node"]),
        (
            ["worker", "not a spec", "--node", "work", "--bus", "memory://"],
            2,
            ["expected module:attribute", "'not a spec'"],
        ),
        (
            ["worker", "no_such_module_xyz:f", "--node", "work", "--bus", "memory://"],
            1,
            ["cannot import module 'no_such_module_xyz'"],
        ),
        (
            ["worker", "worker_flows:nope", "--node", "work", "--bus", "memory://"],
            1,
            ["has no attribute 'nope'"],
        ),
        (
            ["worker", "worker_flows:__name__", "--node", "work", "--bus", "memory://"],
            1,
            ["worker_flows:__name__ is str", "expected a flow"],
        ),
        (
            ["worker", "os:getcwd", "--node", "work", "--bus", "memory://"],
            1,
            ["os:getcwd() returned str", "expected a flow"],
        ),
        (
            ["worker", "worker_flows:build_flow", "--node", "nope", "--bus", "memory://"],
            2,
            ["no node 'nope'", "'work'"],
        ),
        (
            ["worker", "worker_flows:build_flow", "--node", "work", "--bus", "kafka://x:1"],
            2,
            ["kafka", "redis://"],
        ),
        (
            [
                "worker",
                "worker_flows:build_flow",
                "--node",
                "work",
                "--bus",
                "memory://",
                "-o",
                "x",
            ],
            2,
            ["--bus-option takes KEY=VALUE"],
        ),
        (
            [
                "worker",
                "worker_flows:build_flow",
                "--node",
                "work",
                "--bus",
                "redis://127.0.0.1:1/0",
            ],
            1,
            ["127.0.0.1:1"],
        ),
        (
            [
                "worker",
                "worker_flows:build_flow",
                "--node",
                "work",
                "--bus",
                "memory://",
                "--concurrency",
                "0",
            ],
            2,
            ["concurrency"],
        ),
    ],
)
def test_mistakes_are_one_line(args: list[str], code: int, parts: list[str]) -> None:
    assert_one_line_error(penguiflow(*args), code, *parts)


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "penguiflow"
    done = subprocess.run(
        [str(script), "worker", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "--node" in done.stdout and "--bus" in done.stdout


def test_the_worker_takes_flows_only() -> None:
    done = penguiflow(
        "worker", "factory_targets:planner", "--node", "echo", "--bus", "memory://", cwd=HERE
    )
    assert_one_line_error(
        done, 1, "factory_targets:planner is a planner (EchoPlanner); expected a flow"
    )


@pytest.mark.parametrize("target", ["factory_targets:PAIR", "factory_targets:build_flow_async"])
def test_the_worker_loads_pairs_and_async_factories(target: str) -> None:
    # The flow loaded: the worker got as far as looking the node up in it.
    done = penguiflow("worker", target, "--node", "nope", "--bus", "memory://", cwd=HERE)
    assert_one_line_error(done, 2, "no node 'nope'", "'echo'")
