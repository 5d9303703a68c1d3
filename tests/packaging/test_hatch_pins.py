"""The shared hatch metadata hook turns bare sibling names into exact pins."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

__all__: list[str] = []


@pytest.fixture(scope="module")
def hook_module(repo_root: Path) -> ModuleType:
    # Hatchling loads the hook from its path too; the script is not an importable package.
    path = repo_root / "scripts" / "hatch_pins.py"
    spec = importlib.util.spec_from_file_location("hatch_pins", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bare_siblings_are_pinned_and_third_party_is_kept(hook_module: ModuleType) -> None:
    pinned = hook_module.pin_requirements(
        ["pydantic>=2.6", "penguiflow-core", "Penguiflow_Tools[extra]"], "1.2.3", where="deps"
    )
    assert pinned == ["pydantic>=2.6", "penguiflow-core==1.2.3", "Penguiflow_Tools[extra]==1.2.3"]


@pytest.mark.parametrize(
    "requirement",
    ["penguiflow-core>=0.1", "penguiflow-core==0.1.0", "penguiflow-core; python_version>'3'"],
)
def test_hand_written_sibling_constraints_are_rejected(
    hook_module: ModuleType, requirement: str
) -> None:
    with pytest.raises(ValueError, match="bare name"):
        hook_module.pin_requirements([requirement], "1.2.3", where="deps")


def test_invalid_requirement_names_the_config_key(hook_module: ModuleType) -> None:
    with pytest.raises(ValueError, match=r"optional-dependencies\.planner"):
        hook_module.pin_requirements(
            ["not a requirement!"], "1.0", where="optional-dependencies.planner"
        )


@pytest.fixture
def shared_version_file(
    hook_module: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The hook's VERSION file, pointed at a temporary one holding 2.0.0rc1."""
    path = tmp_path / "VERSION"
    path.write_text("2.0.0rc1\n", encoding="utf-8")
    monkeypatch.setattr(hook_module, "VERSION_FILE", path)
    return path


@pytest.mark.usefixtures("shared_version_file")
def test_update_fills_dependencies_and_extras(hook_module: ModuleType) -> None:
    config: dict[str, Any] = {
        "dependencies": ["pydantic>=2.6"],
        "optional-dependencies": {"planner": ["penguiflow-planner"]},
    }
    hook = hook_module.SiblingPinsHook("/nonexistent", config)
    project: dict[str, Any] = {"name": "penguiflow-core", "version": "2.0.0rc1"}
    hook.update(project)
    assert project["dependencies"] == ["pydantic>=2.6"]
    assert project["optional-dependencies"] == {"planner": ["penguiflow-planner==2.0.0rc1"]}


@pytest.mark.usefixtures("shared_version_file")
def test_update_leaves_unconfigured_fields_alone(hook_module: ModuleType) -> None:
    hook = hook_module.SiblingPinsHook("/nonexistent", {"dependencies": ["penguiflow-core"]})
    project: dict[str, Any] = {"name": "penguiflow-planner", "version": "2.0.0rc1"}
    hook.update(project)
    assert project == {
        "name": "penguiflow-planner",
        "version": "2.0.0rc1",
        "dependencies": ["penguiflow-core==2.0.0rc1"],
    }


def test_update_refuses_a_version_other_than_the_shared_one(
    hook_module: ModuleType, shared_version_file: Path
) -> None:
    hook = hook_module.SiblingPinsHook("/nonexistent", {"dependencies": ["penguiflow-core"]})
    project: dict[str, Any] = {"name": "penguiflow-tools", "version": "2.0.0"}
    with pytest.raises(ValueError) as caught:
        hook.update(project)
    assert str(caught.value).startswith(
        f"penguiflow-tools would be built as version 2.0.0, but the shared version file "
        f"{shared_version_file} says 2.0.0rc1."
    )
    assert "make bump VERSION=X.Y.Z" in str(caught.value)
    assert "dependencies" not in project


def test_equal_versions_spelled_differently_are_the_same(
    hook_module: ModuleType, tmp_path: Path
) -> None:
    version_file = tmp_path / "VERSION"
    version_file.write_text("1.0\n", encoding="utf-8")
    hook_module.check_version("penguiflow-core", "1.0.0", version_file)


def test_a_missing_version_file_is_named(hook_module: ModuleType, tmp_path: Path) -> None:
    missing = tmp_path / "VERSION"
    with pytest.raises(ValueError, match=f"cannot read the shared version file {missing}"):
        hook_module.check_version("penguiflow-core", "1.0.0", missing)


def test_the_hook_knows_every_sibling(
    hook_module: ModuleType, package_dirs: dict[str, Path]
) -> None:
    assert set(package_dirs) == hook_module.SIBLINGS
