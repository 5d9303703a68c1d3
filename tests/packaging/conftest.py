"""Fixtures shared by the packaging tests: where the monorepo is and what it publishes."""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["package_dirs", "repo_root", "shared_version"]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The monorepo root (the folder holding ``VERSION``)."""
    return Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def shared_version(repo_root: Path) -> str:
    """The single version of every package, as written in ``VERSION``."""
    return (repo_root / "VERSION").read_text(encoding="utf-8").strip()


@pytest.fixture(scope="session")
def package_dirs(repo_root: Path) -> dict[str, Path]:
    """Distribution name -> source folder, for every published package."""
    return {
        "penguiflow-core": repo_root / "packages" / "core",
        "penguiflow-planner": repo_root / "packages" / "planner",
        "penguiflow-a2a": repo_root / "packages" / "a2a",
        "penguiflow-tools": repo_root / "packages" / "tools",
    }
