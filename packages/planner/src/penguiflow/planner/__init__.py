"""ReactPlanner for PenguiFlow: an LLM picks tools from a typed catalog and orchestrates them.

``import penguiflow.planner`` does not import litellm: the litellm client is
loaded only when a planner is built with a model name.
"""

from __future__ import annotations

from penguiflow.planner.actions import ActionError, JoinCall, ParallelCall, PlannerAction
from penguiflow.planner.context import ToolContext
from penguiflow.planner.cost import CostTracker
from penguiflow.planner.errors import PlannerError
from penguiflow.planner.events import PlannerEvent
from penguiflow.planner.flows import (
    FlowOrigin,
    FlowToolError,
    PlannerOutcome,
    PlannerResume,
    flow_origin,
    flow_tool,
    planner_node,
)
from penguiflow.planner.litellm_client import LiteLLMClient
from penguiflow.planner.llm import JSONLLMClient, LLMError, LLMReply
from penguiflow.planner.memory import (
    ConversationTurn,
    DefaultShortTermMemory,
    MemoryBudget,
    MemoryHealth,
    MemoryKey,
    ShortTermMemory,
    ShortTermMemoryConfig,
)
from penguiflow.planner.pause import ResumeError
from penguiflow.planner.policy import PlanningHints, ToolPolicy
from penguiflow.planner.react import ReactPlanner
from penguiflow.planner.reflection import Critique, ReflectionConfig, ReflectionCriteria
from penguiflow.planner.trajectory import (
    FinishReason,
    PlannerFinish,
    PlannerPause,
    Step,
    Trajectory,
)

__all__ = [
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
]
