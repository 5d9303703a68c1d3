"""penguiflow.protocols: what counts as a flow or a planner for features and sibling packages."""

from __future__ import annotations

from typing import Any

from penguiflow import Node, NodePolicy, PenguiFlow, create
from penguiflow.protocols import Flow, Planner, is_flow, is_planner


async def _echo(msg: Any, _ctx: Any) -> Any:
    return msg


class _Agent:
    async def run(self, query: str, **_: Any) -> str:
        return query

    async def resume(self, token: str, user_input: Any = None) -> str:
        return token


def test_a_flow_instance_is_a_flow_and_its_class_is_not() -> None:
    flow = create(Node(_echo, policy=NodePolicy(validate="none")).to())
    # The trap is_flow exists for: a class has every member a protocol names.
    assert isinstance(PenguiFlow, Flow)
    assert is_flow(flow) and not is_flow(PenguiFlow)
    assert is_flow(create(Node(_echo, policy=NodePolicy(validate="none")).to()))  # known type
    assert not is_flow(PenguiFlow)  # still refused once its instances are known
    assert not is_flow(object()) and not is_flow("flow") and not is_flow(_Agent())


def test_a_planner_instance_is_a_planner_and_its_class_is_not() -> None:
    assert isinstance(_Agent, Planner)
    assert is_planner(_Agent()) and not is_planner(_Agent)
    assert is_planner(_Agent()) and not is_planner(_Agent)
    flow = create(Node(_echo, policy=NodePolicy(validate="none")).to())
    assert not is_planner(flow) and not is_planner(None)
