"""PenguiFlow: typed, async-first orchestration of agent and data pipelines."""

# Other distributions (penguiflow-planner, penguiflow-tools) add subpackages
# to this import name; this must run before anything else imports them.
from pkgutil import extend_path as _extend_path

# In place, so that the import spec sees every portion too (tools such as grimp read it).
__path__[:] = _extend_path(__path__, __name__)

from typing import Any as _Any

from penguiflow import _optional
from penguiflow.catalog import NodeSpec, SideEffect, build_catalog, tool
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
from penguiflow.patterns import join_k, join_pending, map_concurrent, predicate_router, union_router
from penguiflow.playbook import call_playbook
from penguiflow.policies import DictRoutingPolicy, RoutingPolicy, RoutingRequest
from penguiflow.protocols import Flow, FlowState, FlowStatistics, Planner
from penguiflow.registry import ModelRegistry
from penguiflow.streaming import chunk_to_ws_json, emit_stream_events, format_sse_event, stream_flow
from penguiflow.types import WM, FinalAnswer, Headers, Message, PlanStep, StreamChunk, Thought
from penguiflow.viz import flow_to_dot, flow_to_mermaid

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
    # Optional-package names and __version__ are resolved lazily to keep the import cheap.
    return _optional.load_lazy_attribute(name)


def __dir__() -> list[str]:
    return sorted([*__all__, *_optional.OPTIONAL_NAMES])
