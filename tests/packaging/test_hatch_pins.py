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


def test_update_leaves_unconfigured_fields_alone(hook_module: ModuleType) -> None:
    hook = hook_module.SiblingPinsHook("/nonexistent", {"dependencies": ["penguiflow-core"]})
    project: dict[str, Any] = {"name": "penguiflow-planner", "version": "0.1.0"}
    hook.update(project)
    assert project == {
        "name": "penguiflow-planner",
        "version": "0.1.0",
        "dependencies": ["penguiflow-core==0.1.0"],
    }
