"""Fixtures for the docs tests: the repository root and a loader for its scripts."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

__all__ = ["load_script", "repo_root"]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The monorepo's root folder."""
    return ROOT


@pytest.fixture(scope="session")
def load_script() -> Callable[[str], ModuleType]:
    """``load_script("scripts/x.py")``: import a script by path, as mkdocs and make run it.

    Scripts are not an importable package; like ``mkdocs`` (for hooks) this loads
    them from their file, once per session.
    """
    loaded: dict[str, ModuleType] = {}

    def load(relative_path: str) -> ModuleType:
        if relative_path not in loaded:
            path = ROOT / relative_path
            spec = importlib.util.spec_from_file_location(f"docs_script_{path.stem}", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            # dataclasses look their module up in sys.modules while the class is built.
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            loaded[relative_path] = module
        return loaded[relative_path]

    return load
