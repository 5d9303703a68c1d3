"""`import penguiflow` stays cheap: no optional subpackage, LLM, web or HTTP stack is loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

__all__: list[str] = []

HEAVY = (
    "penguiflow.planner",
    "penguiflow.tools",
    "penguiflow_a2a",
    "fastapi",
    "litellm",
    "fastmcp",
    "httpx",
)

_PROBE = "import penguiflow, json, sys; print(json.dumps(sorted(sys.modules)))"


@pytest.fixture(scope="module")
def modules_loaded_by_import() -> set[str]:
    """Every module in ``sys.modules`` after ``import penguiflow`` in a fresh interpreter."""
    # -I keeps PYTHONPATH and the cwd out, so only the installed penguiflow is seen.
    result = subprocess.run(
        [sys.executable, "-I", "-c", _PROBE], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert "penguiflow" in loaded
    return loaded


@pytest.mark.parametrize("heavy", HEAVY)
def test_import_penguiflow_does_not_load(heavy: str, modules_loaded_by_import: set[str]) -> None:
    assert not {m for m in modules_loaded_by_import if m == heavy or m.startswith(f"{heavy}.")}
