"""examples/cli_command: a subcommand plugged into ``penguiflow`` by an installed distribution."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

LoadExample = Callable[[str], ModuleType]

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "cli_command"


async def test_main_loads_each_kind_of_target(
    load_example: LoadExample, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(FOLDER))  # where agents.py and ask_command.py live
    answers = await asyncio.wait_for(load_example("cli_command").main(), 30)
    assert answers == {
        "agents:build_flow": "WHERE IS MY ORDER!",
        "agents:shouting_flow": "WHERE IS MY ORDER!",
        "agents:build_planner": "Your order ships tomorrow.",
    }
    out = capsys.readouterr().out
    assert "a typo: module 'agents' has no attribute 'build_flw'" in out


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example distribution installed into its own folder (its entry point included)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(FOLDER),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert list(target.glob("penguiflow_ask_example-*.dist-info"))
    return target


def penguiflow(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "penguiflow.cli", *args],
        cwd=FOLDER,  # the factory contract imports "agents" from the working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_the_installed_command_is_listed_and_runs(installed: Path) -> None:
    listing = penguiflow(installed, "--help")
    assert listing.returncode == 0, listing.stderr
    commands = listing.stdout.split("not installed:")[0]
    assert "ask" in commands and "worker" in commands

    planner = penguiflow(installed, "ask", "agents:build_planner", "where is my order")
    assert planner.returncode == 0, planner.stderr
    assert planner.stdout.strip() == "Your order ships tomorrow."

    flow = penguiflow(installed, "ask", "agents:build_flow", "hello")
    assert (flow.returncode, flow.stdout.strip()) == (0, "HELLO!")


@pytest.mark.slow
def test_mistakes_are_one_line(installed: Path) -> None:
    typo = penguiflow(installed, "ask", "agents:nope", "hi")
    assert typo.returncode == 1
    assert typo.stderr.strip() == (
        "penguiflow: error: module 'agents' has no attribute 'nope' (for agents:nope)"
    )
    bad = penguiflow(installed, "ask", "agents:build_flow", "hi", "--timeout", "0")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "penguiflow: error: --timeout must be > 0; got 0.0"
