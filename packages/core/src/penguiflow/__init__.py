"""PenguiFlow: typed, async-first orchestration of agent and data pipelines."""

# Other distributions (penguiflow-planner, penguiflow-tools) add subpackages
# to this import name; this must run before anything else imports them.
from pkgutil import extend_path as _extend_path

__path__ = _extend_path(__path__, __name__)

from typing import Any

from penguiflow._optional import OPTIONAL_NAMES, load_lazy_attribute
from penguiflow.context import Context
from penguiflow.core import DEFAULT_QUEUE_MAXSIZE, PenguiFlow, create
from penguiflow.errors import CycleError, FlowError, FlowErrorCode, TraceCancelled
from penguiflow.floe import Floe
from penguiflow.graph import OPEN_SEA, ROOKERY
from penguiflow.metrics import FlowEvent
from penguiflow.middlewares import Middleware, log_flow_events
from penguiflow.node import Node, NodePolicy
from penguiflow.playbook import call_playbook
from penguiflow.registry import ModelRegistry
from penguiflow.types import WM, FinalAnswer, Headers, Message, PlanStep, StreamChunk, Thought

__all__ = [
    "DEFAULT_QUEUE_MAXSIZE",
    "OPEN_SEA",
    "ROOKERY",
    "WM",
    "Context",
    "CycleError",
    "FinalAnswer",
    "Floe",
    "FlowError",
    "FlowErrorCode",
    "FlowEvent",
    "Headers",
    "Message",
    "Middleware",
    "ModelRegistry",
    "Node",
    "NodePolicy",
    "PenguiFlow",
    "PlanStep",
    "StreamChunk",
    "Thought",
    "TraceCancelled",
    "__version__",
    "call_playbook",
    "create",
    "log_flow_events",
]


def __getattr__(name: str) -> Any:
    # Optional-package names and __version__ are resolved lazily to keep the import cheap.
    return load_lazy_attribute(name)


def __dir__() -> list[str]:
    return sorted([*__all__, *OPTIONAL_NAMES])
