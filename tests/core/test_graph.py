"""Adjacency parsing and graph shape (penguiflow.graph)."""

from __future__ import annotations

from typing import Any

import pytest

from penguiflow import Node, NodePolicy, create
from penguiflow.graph import build_graph


async def _identity(msg: Any, _ctx: Any) -> Any:
    return msg


def node(name: str) -> Node:
    return Node(_identity, name=name, policy=NodePolicy(validate="none"))


@pytest.mark.parametrize("bad", [5, "b", None, (node("x"),)])
def test_hand_built_adjacency_with_a_non_node_successor_is_a_type_error(bad: Any):
    # Before: AttributeError "'int' object has no attribute 'name'" from deep inside.
    a = node("a")
    with pytest.raises(TypeError, match=r"adjacency #0 \('a'\): successor #1 must be a Node"):
        create((a, (node("b"), bad)))


def test_hand_built_adjacency_of_nodes_is_accepted():
    a, b = node("a"), node("b")
    graph = build_graph([(a, (b,))])
    assert graph.nodes == (a, b)
    assert graph.successors[a] == (b,) and graph.ingress == (a,) and graph.egress == (b,)
