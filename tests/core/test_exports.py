"""The curated public surface of penguiflow."""

from __future__ import annotations

import importlib
import sys

import pytest

import penguiflow

MODULES = [
    "penguiflow.context",
    "penguiflow.core",
    "penguiflow.errors",
    "penguiflow.floe",
    "penguiflow.graph",
    "penguiflow.metrics",
    "penguiflow.middlewares",
    "penguiflow.node",
    "penguiflow.playbook",
    "penguiflow.registry",
    "penguiflow.types",
    "penguiflow.streaming",
    "penguiflow.patterns",
    "penguiflow.policies",
    "penguiflow.viz",
    "penguiflow.catalog",
    "penguiflow.testkit",
    "penguiflow.logging",
    "penguiflow.otel",
    "penguiflow.pytest_plugin",
    "penguiflow.state",
    "penguiflow.state.memory",
    "penguiflow.state.sqlite",
    "penguiflow.state.postgres",
    "penguiflow.state.redis",
    "penguiflow.state.opening",
    "penguiflow.state.conformance",
    "penguiflow.admin",
    "penguiflow.bus",
    "penguiflow.bus.memory",
    "penguiflow.bus.redis_streams",
    "penguiflow.bus.nats",
    "penguiflow.bus.opening",
    "penguiflow.bus.conformance",
]


def test_every_exported_name_exists():
    for name in penguiflow.__all__:
        assert getattr(penguiflow, name) is not None, name


@pytest.mark.parametrize("module_name", MODULES)
def test_modules_declare_their_public_names(module_name: str):
    module = importlib.import_module(module_name)
    assert module.__doc__, f"{module_name} needs a docstring"
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.__all__ lists missing {name}"


def test_seed_import_paths():
    from penguiflow.core import DEFAULT_QUEUE_MAXSIZE, Context, CycleError, Floe, PenguiFlow, create
    from penguiflow.node import Node, NodePolicy
    from penguiflow.registry import ModelRegistry
    from penguiflow.types import Headers, Message

    assert all([DEFAULT_QUEUE_MAXSIZE, Context, CycleError, Floe, PenguiFlow, create])
    assert all([Node, NodePolicy, ModelRegistry, Headers, Message])


def test_optional_name_without_its_package_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "penguiflow.planner", None)
    with pytest.raises(ImportError, match=r'pip install "penguiflow-core\[planner\]"'):
        _ = penguiflow.ReactPlanner
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = penguiflow.Nope
