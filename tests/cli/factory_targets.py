"""Targets for the factory-contract tests: flows, planners, factories, and common mistakes.

Loaded by name (``factory_targets:attr``) through `penguiflow.cli.load_target`,
the way ``penguiflow worker`` and the sibling commands load user code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from pydantic import BaseModel

from penguiflow import ModelRegistry, Node, NodePolicy, PenguiFlow, build_catalog, create, tool
from penguiflow.planner import ReactPlanner
from penguiflow.planner.testing import ScriptedLLM


async def echo(message: Any, ctx: Any) -> Any:
    return message


def build_flow() -> PenguiFlow:
    return create(Node(echo, name="echo", policy=NodePolicy(validate="none")).to())


class EchoPlanner:
    """A planner in the protocol's shape: answers the query back, resumes with the input."""

    async def run(
        self,
        query: str,
        *,
        llm_context: Mapping[str, Any] | None = None,
        tool_context: Mapping[str, Any] | None = None,
    ) -> object:
        return f"echo: {query}"

    async def resume(self, token: str, user_input: Any = None) -> object:
        return f"resumed {token}: {user_input}"


# -- what the contract accepts -------------------------------------------------------

flow = build_flow()
planner = EchoPlanner()
registry = ModelRegistry()


async def build_flow_async() -> PenguiFlow:
    return build_flow()


def build_pair() -> tuple[PenguiFlow, ModelRegistry]:
    return build_flow(), registry


def build_flow_with_defaults(queue_maxsize: int = 8, **options: Any) -> PenguiFlow:
    return create(
        Node(echo, name="echo", policy=NodePolicy(validate="none")).to(),
        queue_maxsize=queue_maxsize,
        **options,
    )


async def build_planner() -> EchoPlanner:
    return EchoPlanner()


class Question(BaseModel):
    text: str


@tool(desc="Look the answer up", side_effects="pure")
async def look_up(args: Question, ctx: Any) -> Question:
    return args


def build_react_planner() -> ReactPlanner:
    tools = ModelRegistry()
    tools.register("look_up", Question, Question)
    llm = ScriptedLLM([{"thought": "nothing to look up", "next_node": None, "answer": "42"}])
    return ReactPlanner(llm_client=llm, catalog=build_catalog([look_up], tools))


class Builders:
    """Factories reached through a dotted attribute."""

    main = staticmethod(build_flow)
    planner = EchoPlanner()


PAIR = (flow, registry)

# -- mistakes ------------------------------------------------------------------------

TEXT = "not a target"
PAIR_WITH_TEXT = (flow, "not a registry")


def needs_arguments(name: str, size: int = 1, *, tenant: str) -> PenguiFlow:
    raise AssertionError("never called: it needs arguments")


def broken() -> PenguiFlow:
    raise RuntimeError("config file missing")


async def broken_async() -> PenguiFlow:
    raise ValueError("no such model")


def returns_text() -> str:
    return "a flow, honestly"


async def returns_text_async() -> str:
    return "a flow, honestly"


def returns_none() -> None:
    return None


def returns_flow_class() -> type[PenguiFlow]:
    return PenguiFlow


async def yields_flow() -> AsyncIterator[PenguiFlow]:
    yield build_flow()
