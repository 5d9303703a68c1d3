"""Fixtures for the example tests: import ``examples/<name>/main.py`` without touching sys.path."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

LoadExample = Callable[[str], ModuleType]


@pytest.fixture
def load_example(monkeypatch: pytest.MonkeyPatch) -> LoadExample:
    """Return a loader: ``load_example("quickstart")`` is that example's ``main`` module.

    Each call imports a fresh module under a unique name, registered in ``sys.modules``
    for the test's duration only (pydantic resolves the module's annotations there).
    """

    def load(name: str) -> ModuleType:
        module_name = f"penguiflow_example_{name}"
        spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / name / "main.py")
        assert spec is not None and spec.loader is not None, name
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, module_name, module)
        spec.loader.exec_module(module)
        return module

    return load
