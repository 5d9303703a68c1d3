"""Lockstep versions: every package reports VERSION and pins its siblings to it."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

__all__: list[str] = []

DISTRIBUTIONS = ("penguiflow-core", "penguiflow-planner", "penguiflow-a2a", "penguiflow-tools")


def _requirements(dist: str) -> list[Requirement]:
    return [Requirement(line) for line in metadata.requires(dist) or []]


def test_package_dirs_cover_every_distribution(package_dirs: dict[str, Path]) -> None:
    assert sorted(package_dirs) == sorted(DISTRIBUTIONS)
    for dist, folder in package_dirs.items():
        assert (folder / "pyproject.toml").is_file(), dist


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_installed_version_is_the_shared_version(dist: str, shared_version: str) -> None:
    # A mismatch here usually means VERSION was bumped without `make venv`.
    assert metadata.version(dist) == shared_version


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_sibling_requirements_are_pinned_to_the_shared_version(
    dist: str, shared_version: str
) -> None:
    siblings = [r for r in _requirements(dist) if canonicalize_name(r.name) in DISTRIBUTIONS]
    for requirement in siblings:
        assert str(requirement.specifier) == f"=={shared_version}", str(requirement)
    if dist != "penguiflow-core":
        assert [canonicalize_name(r.name) for r in siblings] == ["penguiflow-core"]
        assert siblings[0].marker is None


def test_core_depends_on_pydantic_only() -> None:
    base = [r for r in _requirements("penguiflow-core") if r.marker is None]
    assert [canonicalize_name(r.name) for r in base] == ["pydantic"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("planner", {"penguiflow-planner"}),
        ("a2a", {"penguiflow-a2a"}),
        ("tools", {"penguiflow-tools"}),
        ("all", {"penguiflow-planner", "penguiflow-a2a", "penguiflow-tools"}),
    ],
)
def test_core_extras_pull_pinned_siblings(
    extra: str, expected: set[str], shared_version: str
) -> None:
    assert extra in (metadata.metadata("penguiflow-core").get_all("Provides-Extra") or [])
    selected = [
        r
        for r in _requirements("penguiflow-core")
        if r.marker is not None and r.marker.evaluate({"extra": extra})
    ]
    siblings = {canonicalize_name(r.name): str(r.specifier) for r in selected}
    assert siblings == dict.fromkeys(expected, f"=={shared_version}")


def test_core_exposes_the_shared_version(shared_version: str) -> None:
    import penguiflow

    assert penguiflow.__version__ == shared_version
