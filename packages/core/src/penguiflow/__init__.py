"""PenguiFlow: typed, async-first orchestration of agent and data pipelines."""

# Other distributions (penguiflow-planner, -tools, -playground) add subpackages
# to this import name; this must run before anything else imports them.
from pkgutil import extend_path as _extend_path

# In place, so that the import spec sees every portion too (tools such as grimp read it).
__path__[:] = _extend_path(__path__, __name__)

from penguiflow._coinstall import warn_if_coinstalled as _warn_if_coinstalled

# The single-package `penguiflow` distribution overwrites these files; say so once.
_warn_if_coinstalled(__path__)

from importlib import import_module as _import_module
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from penguiflow import _optional
from penguiflow.context import Context
from penguiflow.core import DEFAULT_QUEUE_MAXSIZE, PenguiFlow, create
from penguiflow.errors import (
    CycleError,
    FetchTimeout,
    FlowError,
    FlowErrorCode,
    PenguiFlowError,
    TenantMismatch,
    TraceCancelled,
    TraceEnded,
)
from penguiflow.events import FlowEvent, FlowEventType
from penguiflow.floe import Floe
from penguiflow.graph import OPEN_SEA, ROOKERY
from penguiflow.logging import configure_logging
from penguiflow.middlewares import Middleware, log_flow_events
from penguiflow.node import Node, NodePolicy
from penguiflow.playbook import call_playbook
from penguiflow.protocols import Flow, FlowState, FlowStatistics, Planner
from penguiflow.registry import ModelRegistry
from penguiflow.types import WM, FinalAnswer, Headers, Message, PlanStep, StreamChunk, Thought

# Exports that building and running a flow does not need are imported on first
# access (`__getattr__` below): they cost about 5 ms of `import penguiflow`
# (benchmarks/import_time.py). Type checkers and the API docs read them here.
if _TYPE_CHECKING:
    from penguiflow.catalog import NodeSpec, SideEffect, build_catalog, tool
    from penguiflow.patterns import (
        join_k,
        join_pending,
        map_concurrent,
        predicate_router,
        union_router,
    )
    from penguiflow.policies import DictRoutingPolicy, RoutingPolicy, RoutingRequest
    from penguiflow.streaming import (
        chunk_to_ws_json,
        emit_stream_events,
        format_sse_event,
        stream_flow,
    )
    from penguiflow.viz import flow_to_dot, flow_to_mermaid

_LAZY_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("NodeSpec", "SideEffect", "build_catalog", "tool"), "penguiflow.catalog"),
    **dict.fromkeys(
        ("join_k", "join_pending", "map_concurrent", "predicate_router", "union_router"),
        "penguiflow.patterns",
    ),
    **dict.fromkeys(
        ("DictRoutingPolicy", "RoutingPolicy", "RoutingRequest"), "penguiflow.policies"
    ),
    **dict.fromkeys(
        ("chunk_to_ws_json", "emit_stream_events", "format_sse_event", "stream_flow"),
        "penguiflow.streaming",
    ),
    **dict.fromkeys(("flow_to_dot", "flow_to_mermaid"), "penguiflow.viz"),
}

__all__ = [
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
    "TenantMismatch",
    "Thought",
    "TraceCancelled",
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
]


def __getattr__(name: str) -> _Any:
    # Lazy exports, optional-package names and __version__ are resolved on access to
    # keep the import cheap. Nothing is cached in the module: after the first access
    # the submodule is in sys.modules and the lookup is a dict hit.
    module = _LAZY_EXPORTS.get(name)
    if module is not None:
        return getattr(_import_module(module), name)
    return _optional.load_lazy_attribute(name)


def __dir__() -> list[str]:
    return sorted([*__all__, *_optional.OPTIONAL_NAMES])
