"""Flow diagrams: render a flow's graph as Mermaid or Graphviz DOT text.

Both renderers draw the same picture from ``flow.graph``:

* every node, labelled with its name; controller nodes (``allow_cycle=True``)
  get a hexagon and a ``(controller)`` second line;
* OpenSea and Rookery as two extra endpoint nodes, with an edge from OpenSea
  to every ingress node and from every egress node to Rookery; the edge from
  a controller to Rookery is labelled ``FinalAnswer``, which is what takes it
  there;
* every declared edge; an edge whose two ends lie on a common cycle is a
  **loop edge**, drawn dashed and labelled ``loop``.

Identifiers are generated, never taken from node names: node ``i`` (in graph
order) is ``n<i>_<name reduced to [A-Za-z0-9_]>``, the endpoints are
``OpenSea`` and ``Rookery``. So ids are unique, valid in both languages and
never a Mermaid keyword, whatever the names contain; names only appear inside
escaped, quoted labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, TypeAlias, get_args

from penguiflow.graph import OPEN_SEA, ROOKERY, FlowGraph
from penguiflow.node import Node
from penguiflow.protocols import Flow, is_flow

__all__ = ["Direction", "flow_to_dot", "flow_to_mermaid"]

Direction: TypeAlias = Literal["TD", "TB", "BT", "LR", "RL"]
"""Layout direction: top-down (``TD`` = ``TB``), bottom-up, left-right, right-left."""

_DIRECTIONS: tuple[str, ...] = get_args(Direction)
_LOOP_LABEL = "loop"
_FINAL_LABEL = "FinalAnswer"
_CONTROLLER_NOTE = "(controller)"
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")
# C0/C1 control characters other than tab and newline; shown as visible escapes.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class _Edge:
    tail: str
    head: str
    label: str | None = None
    loop: bool = False


@dataclass(frozen=True, slots=True)
class _Picture:
    """What both renderers draw: node ids with their labels, then the edges."""

    nodes: tuple[tuple[str, Node], ...]
    edges: tuple[_Edge, ...]


def flow_to_mermaid(flow: Flow | FlowGraph, direction: Direction = "TD") -> str:
    """Render the flow as a Mermaid ``flowchart``.

    Paste the result into a fenced ``mermaid`` block of a Markdown page.
    Controller nodes are hexagons with a ``(controller)`` line, OpenSea and
    Rookery are stadium shapes, loop edges are dotted and labelled ``loop``.
    Labels are quoted, with ``"``, ``#``, ``<``, ``>``, ``&`` and backticks
    written as Mermaid entity codes, so any node name renders as itself.

    Args:
        flow: A flow from `create`, or its `FlowGraph`.
        direction: ``"TD"`` (= ``"TB"``), ``"BT"``, ``"LR"`` or ``"RL"``.

    Returns:
        The diagram text, ending with a newline.

    Raises:
        TypeError: If ``flow`` is neither a `PenguiFlow` nor a `FlowGraph`.
        ValueError: If ``direction`` is not one of the above.

    Example:
        >>> from penguiflow import Node, create
        >>> async def hello(msg, ctx):
        ...     return msg
        >>> print(flow_to_mermaid(create(Node(hello).to()), direction="LR"))
        flowchart LR
            OpenSea(["OpenSea"])
            n0_hello["hello"]
            Rookery(["Rookery"])
            OpenSea --> n0_hello
            n0_hello --> Rookery
            classDef endpoint fill:#e3f2fd,stroke:#1565c0,color:#0d47a1
            classDef controller fill:#fff3e0,stroke:#e65100,stroke-width:2px
            class OpenSea,Rookery endpoint
        <BLANKLINE>
    """
    _check_direction(direction, "direction")
    picture = _picture(_graph_of(flow))
    lines = [f"flowchart {direction}", '    OpenSea(["OpenSea"])']
    controllers: list[str] = []
    for node_id, node in picture.nodes:
        label = _mermaid_text(node.name)
        if node.allow_cycle:
            controllers.append(node_id)
            lines.append(f'    {node_id}{{{{"{label}<br/>{_CONTROLLER_NOTE}"}}}}')
        else:
            lines.append(f'    {node_id}["{label}"]')
    lines.append('    Rookery(["Rookery"])')
    for edge in picture.edges:
        arrow = "-.->" if edge.loop else "-->"
        text = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"    {edge.tail} {arrow}{text} {edge.head}")
    lines.append("    classDef endpoint fill:#e3f2fd,stroke:#1565c0,color:#0d47a1")
    lines.append("    classDef controller fill:#fff3e0,stroke:#e65100,stroke-width:2px")
    lines.append("    class OpenSea,Rookery endpoint")
    if controllers:
        lines.append(f"    class {','.join(controllers)} controller")
    return "\n".join(lines) + "\n"


def flow_to_dot(flow: Flow | FlowGraph, rankdir: Direction = "TB") -> str:
    """Render the flow as a Graphviz ``digraph``.

    Feed the result to ``dot -Tsvg`` (or any Graphviz tool). Controller nodes
    are bold orange hexagons with a ``(controller)`` line, OpenSea and Rookery
    are filled ovals, loop edges are dashed and labelled ``loop``. Every id
    and label is a quoted DOT string with ``\\`` and ``"`` escaped.

    Args:
        flow: A flow from `create`, or its `FlowGraph`.
        rankdir: ``"TB"`` (or ``"TD"``, its Mermaid spelling), ``"BT"``,
            ``"LR"`` or ``"RL"``.

    Returns:
        The graph text, ending with a newline.

    Raises:
        TypeError: If ``flow`` is neither a `PenguiFlow` nor a `FlowGraph`.
        ValueError: If ``rankdir`` is not one of the above.

    Example:
        >>> from penguiflow import Node, create
        >>> async def hello(msg, ctx):
        ...     return msg
        >>> print(flow_to_dot(create(Node(hello).to()), rankdir="LR"))
        digraph penguiflow {
            rankdir=LR;
            node [shape=box, style=rounded, fontname="Helvetica"];
            edge [fontname="Helvetica", fontsize=10];
            "OpenSea" [label="OpenSea", shape=oval, style=filled, fillcolor="#e3f2fd"];
            "n0_hello" [label="hello"];
            "Rookery" [label="Rookery", shape=oval, style=filled, fillcolor="#e3f2fd"];
            "OpenSea" -> "n0_hello";
            "n0_hello" -> "Rookery";
        }
        <BLANKLINE>
    """
    _check_direction(rankdir, "rankdir")
    picture = _picture(_graph_of(flow))
    endpoint_style = 'shape=oval, style=filled, fillcolor="#e3f2fd"'
    lines = [
        "digraph penguiflow {",
        f"    rankdir={'TB' if rankdir == 'TD' else rankdir};",
        '    node [shape=box, style=rounded, fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
        f'    "OpenSea" [label="OpenSea", {endpoint_style}];',
    ]
    for node_id, node in picture.nodes:
        label = _dot_text(node.name)
        if node.allow_cycle:
            lines.append(
                f'    "{node_id}" [label="{label}\\n{_CONTROLLER_NOTE}", shape=hexagon, '
                'style="filled,bold", fillcolor="#fff3e0", color="#e65100"];'
            )
        else:
            lines.append(f'    "{node_id}" [label="{label}"];')
    lines.append(f'    "Rookery" [label="Rookery", {endpoint_style}];')
    for edge in picture.edges:
        attrs: list[str] = []
        if edge.label:
            attrs.append(f'label="{_dot_text(edge.label)}"')
        if edge.loop:
            attrs.append('style=dashed, color="#e65100"')
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f'    "{edge.tail}" -> "{edge.head}"{suffix};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _check_direction(value: object, argument: str) -> None:
    if value not in _DIRECTIONS:
        raise ValueError(
            f"{argument} must be one of {', '.join(map(repr, _DIRECTIONS))}; got {value!r}"
        )


def _graph_of(flow: object) -> FlowGraph:
    if is_flow(flow):
        return flow.graph
    if isinstance(flow, FlowGraph):
        return flow
    raise TypeError(
        f"expected a PenguiFlow (from create(...)) or a FlowGraph; got {type(flow).__name__}"
    )


def _picture(graph: FlowGraph) -> _Picture:
    ids: dict[Node, str] = {}
    for index, node in enumerate(graph.nodes):
        slug = _ID_UNSAFE.sub("_", node.name).strip("_")
        ids[node] = f"n{index}_{slug}" if slug else f"n{index}"
    cycle_of: dict[Node, int] = {}
    for number, cycle in enumerate(graph.cycles):
        for node in cycle:
            cycle_of[node] = number

    edges = [_Edge(OPEN_SEA.name, ids[node]) for node in graph.ingress]
    for node in graph.nodes:
        for successor in graph.successors[node]:
            loop = node in cycle_of and cycle_of[node] == cycle_of.get(successor)
            edges.append(_Edge(ids[node], ids[successor], _LOOP_LABEL if loop else None, loop=loop))
    for node in graph.egress:
        label = _FINAL_LABEL if node.allow_cycle else None
        edges.append(_Edge(ids[node], ROOKERY.name, label))
    return _Picture(nodes=tuple((ids[n], n) for n in graph.nodes), edges=tuple(edges))


def _visible_control(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def _mermaid_text(text: str) -> str:
    """Escape ``text`` for a double-quoted Mermaid label."""
    text = _CONTROL.sub(_visible_control, text.replace("\r\n", "\n"))
    # '#' first: every escape below is itself an entity code starting with '#'.
    for char in '#"<>&`':
        text = text.replace(char, f"#{ord(char)};")
    return text.replace("\n", "<br/>")


def _dot_text(text: str) -> str:
    """Escape ``text`` for a double-quoted DOT label (an escString)."""
    text = _CONTROL.sub(_visible_control, text.replace("\r\n", "\n"))
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return text.replace("\n", "\\n")
