"""Graph building: adjacencies to nodes and edges, OpenSea/Rookery endpoints, cycle checks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

from penguiflow.errors import CycleError
from penguiflow.node import Node

__all__ = ["OPEN_SEA", "ROOKERY", "Adjacency", "Endpoint", "FlowGraph", "build_graph"]

Adjacency: TypeAlias = tuple[Node, tuple[Node, ...]]
"""What `Node.to` returns: a node and its successors."""


class Endpoint:
    """One of the two synthetic ends of a flow: OpenSea (ingress) or Rookery (egress)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name: str = name

    def __repr__(self) -> str:
        return self.name


OPEN_SEA = Endpoint("OpenSea")
"""Ingress: the source of the floes that feed the flow's first nodes."""
ROOKERY = Endpoint("Rookery")
"""Egress: the target of the floes that `flow.fetch()` reads."""


@dataclass(frozen=True, slots=True)
class FlowGraph:
    """The static shape of a flow.

    Attributes:
        nodes: Every node, in the order first seen in the adjacencies.
        successors: Declared successors of each node.
        predecessors: Nodes that feed each node.
        ingress: Nodes fed by OpenSea (no predecessor other than themselves).
        egress: Nodes that feed Rookery: no successor other than themselves,
            plus every controller (``allow_cycle``) node, whose ``FinalAnswer``
            goes to Rookery directly.
        cycles: Each cycle found, as the list of its nodes (self-loops included).
    """

    nodes: tuple[Node, ...]
    successors: dict[Node, tuple[Node, ...]]
    predecessors: dict[Node, tuple[Node, ...]]
    ingress: tuple[Node, ...]
    egress: tuple[Node, ...]
    cycles: tuple[tuple[Node, ...], ...]

    def node_named(self, name: str) -> Node | None:
        """Return the node called ``name``, or ``None``."""
        for node in self.nodes:
            if node.name == name:
                return node
        return None


def build_graph(adjacencies: Iterable[Any], *, allow_cycles: bool = False) -> FlowGraph:
    """Validate adjacencies (``node.to(...)`` results) and build the graph.

    Raises:
        TypeError: If an adjacency is not ``node.to(...)`` (or a bare node), or
            a successor in a hand-built ``(node, successors)`` tuple is not a node.
        ValueError: If the flow is empty or two different nodes share a name.
        CycleError: If a cycle has no ``allow_cycle`` node and ``allow_cycles`` is false.
    """
    order: list[Node] = []
    successors: dict[Node, list[Node]] = {}

    def add(node: Node) -> None:
        if node not in successors:
            order.append(node)
            successors[node] = []

    for index, adjacency in enumerate(adjacencies):
        if isinstance(adjacency, Node):
            add(adjacency)
            continue
        if not (
            isinstance(adjacency, tuple)
            and len(adjacency) == 2
            and isinstance(adjacency[0], Node)
            and isinstance(adjacency[1], tuple)
        ):
            raise TypeError(
                f"adjacency #{index} must be the result of node.to(...); got {adjacency!r}"
            )
        node, targets = adjacency
        for position, target in enumerate(targets):
            if not isinstance(target, Node):
                raise TypeError(
                    f"adjacency #{index} ({node.name!r}): successor #{position} must be a Node; "
                    f"got {target!r} ({type(target).__name__}). Build adjacencies with "
                    "node.to(successor, ...)"
                )
        add(node)
        for target in targets:
            add(target)
            if target not in successors[node]:
                successors[node].append(target)
    if not order:
        raise ValueError("a flow needs at least one node: create(node.to(...), ...)")
    names: dict[str, Node] = {}
    for node in order:
        other = names.setdefault(node.name, node)
        if other is not node:
            raise ValueError(
                f"two different nodes are named {node.name!r}; node names must be unique"
            )

    predecessors: dict[Node, list[Node]] = {node: [] for node in order}
    for node in order:
        for target in successors[node]:
            predecessors[target].append(node)
    cycles = _find_cycles(order, successors)
    if not allow_cycles:
        for cycle in cycles:
            if not any(node.allow_cycle for node in cycle):
                path = " -> ".join(node.name for node in (*cycle, cycle[0]))
                raise CycleError(
                    f"cycle detected: {path}. Set allow_cycle=True on the node that controls "
                    "the loop, or allow_cycles=True on the flow."
                )
    ingress = tuple(n for n in order if all(p is n for p in predecessors[n]))
    egress = tuple(n for n in order if n.allow_cycle or all(s is n for s in successors[n]))
    if not ingress:
        raise ValueError(
            "the flow has no ingress node (every node has a predecessor), so OpenSea cannot feed it"
        )
    return FlowGraph(
        nodes=tuple(order),
        successors={n: tuple(s) for n, s in successors.items()},
        predecessors={n: tuple(p) for n, p in predecessors.items()},
        ingress=ingress,
        egress=egress,
        cycles=tuple(tuple(c) for c in cycles),
    )


def _find_cycles(order: list[Node], successors: dict[Node, list[Node]]) -> list[list[Node]]:
    """Return the strongly connected components that contain a cycle (Tarjan)."""
    index_of: dict[Node, int] = {}
    lowlink: dict[Node, int] = {}
    on_stack: set[Node] = set()
    stack: list[Node] = []
    found: list[list[Node]] = []
    counter = 0

    def visit(node: Node) -> None:
        nonlocal counter
        index_of[node] = lowlink[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for succ in successors[node]:
            if succ not in index_of:
                visit(succ)
                lowlink[node] = min(lowlink[node], lowlink[succ])
            elif succ in on_stack:
                lowlink[node] = min(lowlink[node], index_of[succ])
        if lowlink[node] == index_of[node]:
            component: list[Node] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member is node:
                    break
            if len(component) > 1 or node in successors[node]:
                component.reverse()
                found.append(component)

    for node in order:
        if node not in index_of:
            visit(node)
    return found
