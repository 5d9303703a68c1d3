"""The curated public surface: ``__all__`` is pinned, and every public attribute is in it.

Pinned: the packages users and sibling distributions import from (`penguiflow`,
``.state``, ``.bus``, ``.cli``, ``.planner``); every other module of core and
the planner must at least say what it is and declare ``__all__``.

Two ways, as in httpx's exported-members test: a name added to a package
without a decision (a helper leaking out, ``Any`` imported at top level) and
a name dropped from ``__all__`` both fail here.
"""

from __future__ import annotations
import __future__

import importlib
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

import penguiflow
import penguiflow.admin
import penguiflow.cli.admin
import penguiflow.planner

PINNED: dict[str, list[str]] = {
    "penguiflow": [
        "DEFAULT_QUEUE_MAXSIZE",
        "OPEN_SEA",
        "ROOKERY",
        "WM",
        "Context",
        "CycleError",
        "DictRoutingPolicy",
        "FetchTimeout",
        "FinalAnswer",
        "Floe",
        "Flow",
        "FlowError",
        "FlowErrorCode",
        "FlowEvent",
        "FlowEventType",
        "FlowState",
        "FlowStatistics",
        "Headers",
        "Message",
        "Middleware",
        "ModelRegistry",
        "Node",
        "NodePolicy",
        "NodeSpec",
        "PenguiFlow",
        "PenguiFlowError",
        "PlanStep",
        "Planner",
        "RoutingPolicy",
        "RoutingRequest",
        "SideEffect",
        "StreamChunk",
        "Thought",
        "TraceCancelled",
        "TenantMismatch",
        "TraceEnded",
        "__version__",
        "build_catalog",
        "call_playbook",
        "chunk_to_ws_json",
        "configure_logging",
        "create",
        "emit_stream_events",
        "flow_to_dot",
        "flow_to_mermaid",
        "format_sse_event",
        "join_k",
        "join_pending",
        "log_flow_events",
        "map_concurrent",
        "predicate_router",
        "stream_flow",
        "tool",
        "union_router",
    ],
    "penguiflow.state": [
        "InMemoryStateStore",
        "Record",
        "RecordConflict",
        "RecordOrder",
        "RecordPage",
        "RecordStore",
        "RemoteBinding",
        "SUPPORTED_SCHEMES",
        "StateStore",
        "StateStoreError",
        "StoredEvent",
        "open_store",
    ],
    "penguiflow.bus": [
        "BusEnvelope",
        "BusError",
        "Delivery",
        "InMemoryBus",
        "MessageBus",
        "SUPPORTED_BUS_SCHEMES",
        "Subscription",
        "open_bus",
    ],
    "penguiflow.cli": [
        "CliError",
        "Command",
        "FactoryError",
        "FactoryErrorCode",
        "LoadedTarget",
        "TargetKind",
        "load_object",
        "load_target",
        "main",
    ],
    "penguiflow.planner": [
        "ActionError",
        "ConversationTurn",
        "CostTracker",
        "Critique",
        "DefaultShortTermMemory",
        "FinishReason",
        "FlowOrigin",
        "FlowToolError",
        "JSONLLMClient",
        "JoinCall",
        "LLMError",
        "LLMReply",
        "LiteLLMClient",
        "MemoryBudget",
        "MemoryHealth",
        "MemoryKey",
        "ParallelCall",
        "PlannerAction",
        "PlannerError",
        "PlannerEvent",
        "PlannerFinish",
        "PlannerOutcome",
        "PlannerPause",
        "PlannerResume",
        "PlanningHints",
        "ReactPlanner",
        "ReflectionConfig",
        "ReflectionCriteria",
        "ResumeError",
        "ShortTermMemory",
        "ShortTermMemoryConfig",
        "Step",
        "ToolContext",
        "ToolPolicy",
        "Trajectory",
        "flow_origin",
        "flow_tool",
        "planner_node",
    ],
}

# Names a package resolves lazily through its module __getattr__ (not in vars()).
LAZY = {
    "penguiflow": {
        "__version__",
        # Not needed to build and run a flow; imported on first access (import cost).
        "DictRoutingPolicy",
        "NodeSpec",
        "RoutingPolicy",
        "RoutingRequest",
        "SideEffect",
        "build_catalog",
        "chunk_to_ws_json",
        "emit_stream_events",
        "flow_to_dot",
        "flow_to_mermaid",
        "format_sse_event",
        "join_k",
        "join_pending",
        "map_concurrent",
        "predicate_router",
        "stream_flow",
        "tool",
        "union_router",
    }
}


def public_attributes(module: ModuleType) -> set[str]:
    """Names a user sees on ``module``: not private, not a submodule, not a __future__ flag."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and not isinstance(value, __future__._Feature)
    }


@pytest.mark.parametrize("package", sorted(PINNED))
def test_all_is_the_pinned_list(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(PINNED[package])
    assert len(set(module.__all__)) == len(module.__all__), "duplicates in __all__"


@pytest.mark.parametrize("package", sorted(PINNED))
def test_every_public_attribute_is_in_all(package: str) -> None:
    module = importlib.import_module(package)
    exported = set(module.__all__) - LAZY.get(package, set())
    assert public_attributes(module) == exported
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def _library_modules() -> list[str]:
    """Every module of penguiflow-core and penguiflow-planner."""
    core = next(p for p in penguiflow.__path__ if Path(p).parts[-3:-1] == ("core", "src"))
    names = ["penguiflow", "penguiflow.planner"]
    for folder, prefix in (
        (core, "penguiflow."),
        (penguiflow.planner.__path__[0], "penguiflow.planner."),
    ):
        for info in pkgutil.walk_packages([folder], prefix=prefix):
            if not info.name.endswith("__main__"):
                names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", _library_modules())
def test_every_module_says_what_it_is_and_declares_its_public_names(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__doc__ and module.__doc__.strip(), f"{module_name} needs a docstring"
    assert hasattr(module, "__all__"), f"{module_name} needs __all__"
    for name in getattr(module, "__all__", ()):
        assert hasattr(module, name) or name in LAZY.get(module_name, ()), (
            f"{module_name}.__all__ lists missing {name}"
        )


def test_seed_import_paths() -> None:
    from penguiflow.core import DEFAULT_QUEUE_MAXSIZE, Context, CycleError, Floe, PenguiFlow, create
    from penguiflow.node import Node, NodePolicy
    from penguiflow.registry import ModelRegistry
    from penguiflow.types import Headers, Message

    assert all([DEFAULT_QUEUE_MAXSIZE, Context, CycleError, Floe, PenguiFlow, create])
    assert all([Node, NodePolicy, ModelRegistry, Headers, Message])


def test_public_paths_re_export_the_kernel_objects() -> None:
    from penguiflow._kernel.context import Context as KernelContext
    from penguiflow._kernel.floe import Floe as KernelFloe
    from penguiflow.context import Context
    from penguiflow.events import FlowEvent
    from penguiflow.floe import Floe
    from penguiflow.metrics import FlowEvent as PublishedFlowEvent

    assert Context is KernelContext and Floe is KernelFloe
    assert PublishedFlowEvent is FlowEvent


def test_the_documented_admin_path_is_the_same_program() -> None:
    assert penguiflow.admin.__all__ == penguiflow.cli.admin.__all__
    for name in penguiflow.admin.__all__:
        assert getattr(penguiflow.admin, name) is getattr(penguiflow.cli.admin, name)


def test_optional_name_without_its_package_names_the_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "penguiflow.planner", None)
    with pytest.raises(ImportError, match=r'pip install "penguiflow-core\[planner\]"'):
        _ = penguiflow.ReactPlanner
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = penguiflow.Nope
