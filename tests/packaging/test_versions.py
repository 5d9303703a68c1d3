"""Lockstep versions: every package reports VERSION and pins its siblings to it."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

__all__: list[str] = []

DISTRIBUTIONS = (
    "penguiflow-core",
    "penguiflow-planner",
    "penguiflow-a2a",
    "penguiflow-tools",
    "penguiflow-playground",
)
# Extras that bring a third-party driver or exporter and no sibling (not part of [all]).
DRIVER_EXTRAS = {
    "otel": {"opentelemetry-api", "opentelemetry-sdk"},
    "sqlite": {"aiosqlite"},
    "postgres": {"asyncpg"},
    "redis": {"redis"},
    "nats": {"nats-py"},
}


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


def _extra_requirements(extra: str) -> list[Requirement]:
    return [
        r
        for r in _requirements("penguiflow-core")
        if r.marker is not None and r.marker.evaluate({"extra": extra})
    ]


def test_core_offers_exactly_the_documented_extras(
    extra_siblings: dict[str, frozenset[str]],
) -> None:
    offered = metadata.metadata("penguiflow-core").get_all("Provides-Extra") or []
    assert sorted(offered) == sorted({*extra_siblings, *DRIVER_EXTRAS})


def test_core_extras_pull_pinned_siblings(
    core_extra: str, extra_siblings: dict[str, frozenset[str]], shared_version: str
) -> None:
    pins = {
        canonicalize_name(r.name): str(r.specifier)
        for r in _extra_requirements(core_extra)
        if canonicalize_name(r.name).startswith("penguiflow-")
    }
    assert pins == dict.fromkeys(extra_siblings[core_extra], f"=={shared_version}")


@pytest.mark.parametrize(
    ("alias", "extra"), [("a2a-server", "a2a"), ("playground", "cli"), ("all", None)]
)
def test_aliases_and_all_bring_the_same_requirements(alias: str, extra: str | None) -> None:
    names = {canonicalize_name(r.name) for r in _extra_requirements(alias)}
    if extra is not None:
        assert names == {canonicalize_name(r.name) for r in _extra_requirements(extra)}
    else:  # [all] = every feature extra, jinja2 of [cli] included, and no driver.
        features = ("planner", "a2a", "tools", "cli")
        assert names == {
            canonicalize_name(r.name) for f in features for r in _extra_requirements(f)
        }
        assert "jinja2" in names


@pytest.mark.parametrize("extra", sorted(DRIVER_EXTRAS))
def test_driver_extras_bring_their_driver_only(extra: str) -> None:
    names = {canonicalize_name(r.name) for r in _extra_requirements(extra)}
    assert names == DRIVER_EXTRAS[extra]
    assert not names & {canonicalize_name(r.name) for r in _extra_requirements("all")}


def test_core_exposes_the_shared_version(shared_version: str) -> None:
    import penguiflow

    assert penguiflow.__version__ == shared_version
