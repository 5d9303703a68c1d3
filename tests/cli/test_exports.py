"""penguiflow.cli's curated surface: what sibling packages and generated projects import."""

from __future__ import annotations
import __future__

import importlib
import pkgutil
from types import ModuleType

import pytest

import penguiflow.admin
import penguiflow.cli
import penguiflow.cli.admin

PINNED = [
    "CliError",
    "Command",
    "FactoryError",
    "FactoryErrorCode",
    "LoadedTarget",
    "TargetKind",
    "load_object",
    "load_target",
    "main",
]


def test_all_is_the_pinned_list() -> None:
    assert sorted(penguiflow.cli.__all__) == PINNED


def test_every_public_attribute_is_in_all() -> None:
    public = {
        name
        for name, value in vars(penguiflow.cli).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and not isinstance(value, __future__._Feature)
    }
    assert public == set(penguiflow.cli.__all__)


@pytest.mark.parametrize(
    "module_name",
    [info.name for info in pkgutil.walk_packages(penguiflow.cli.__path__, "penguiflow.cli.")],
)
def test_every_module_says_what_it_is(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__doc__ and module.__doc__.strip(), module_name
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.__all__ lists missing {name}"


def test_the_documented_admin_path_is_the_same_program() -> None:
    assert penguiflow.admin.__all__ == penguiflow.cli.admin.__all__
    for name in penguiflow.admin.__all__:
        assert getattr(penguiflow.admin, name) is getattr(penguiflow.cli.admin, name)
