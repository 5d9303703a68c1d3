"""Import hygiene: the planner is optional for core, and litellm is optional for the planner."""

from __future__ import annotations

import subprocess
import sys

import penguiflow.planner


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.strip()


def test_importing_the_planner_does_not_import_litellm() -> None:
    out = _run(
        "import sys, penguiflow.planner, penguiflow.planner.testing;"
        "print('litellm' in sys.modules, 'openai' in sys.modules)"
    )
    assert out == "False False"


def test_importing_penguiflow_does_not_import_the_planner() -> None:
    assert _run("import sys, penguiflow; print('penguiflow.planner' in sys.modules)") == "False"


def test_the_lazy_top_level_name_is_the_planner_class() -> None:
    from penguiflow import ReactPlanner

    assert ReactPlanner is penguiflow.planner.ReactPlanner


def test_every_exported_name_exists() -> None:
    for name in penguiflow.planner.__all__:
        assert getattr(penguiflow.planner, name) is not None, name
    assert sorted(penguiflow.planner.__all__) == penguiflow.planner.__all__
