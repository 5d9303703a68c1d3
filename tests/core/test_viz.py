"""flow_to_dot / flow_to_mermaid draw exactly the flow's topology, and real parsers accept them.

The DOT text goes through Graphviz's ``dot`` (``-Tjson`` for the parsed graph,
``-Tsvg`` for the rendered labels). The Mermaid text goes through Mermaid's own
parser (the ``mermaid`` npm package, run by node with jsdom), when it is
installed; a strict structural reading of the Mermaid text runs everywhere.
Both are compared, as a topology of named nodes and typed edges, with what
each test flow declares.
"""

from __future__ import annotations

import html
import json
import os
import random
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from penguiflow import Context, Node, PenguiFlow, create
from penguiflow.viz import flow_to_dot, flow_to_mermaid

__all__: list[str] = []

SEA = "<endpoint OpenSea>"
ROOK = "<endpoint Rookery>"
CONTROLLER_NOTE = "\n(controller)"
REQUIRED = os.environ.get("PENGUIFLOW_REQUIRE_SERVICES") == "1"

# (tail, head, kind) with kind "plain", "loop" (edge on a cycle) or "final" (controller -> Rookery)
Edge = tuple[str, str, str]


@dataclass(frozen=True)
class Topology:
    """A diagram read back: node key -> (label, kind), and the multiset of edges."""

    nodes: dict[str, tuple[str, str]]
    edges: Counter[Edge]


async def _noop(message: Any, _ctx: Context) -> Any:
    return message


def _node(name: str, controller: bool = False) -> Node:
    return Node(_noop, name=name, allow_cycle=controller)


def _expected(nodes: dict[str, bool], edges: list[Edge]) -> Topology:
    """``nodes`` maps each name to whether it is a controller."""
    table: dict[str, tuple[str, str]] = {
        SEA: ("OpenSea", "endpoint"),
        ROOK: ("Rookery", "endpoint"),
    }
    for node_name, is_controller in nodes.items():
        label = node_name + CONTROLLER_NOTE if is_controller else node_name
        table[node_name] = (label, "controller" if is_controller else "node")
    return Topology(table, Counter(edges))


# -- the test flows ---------------------------------------------------------


def _linear() -> tuple[PenguiFlow, Topology]:
    a, b, c = _node("a"), _node("b"), _node("c")
    flow = create(a.to(b), b.to(c))
    edges = [(SEA, "a", "plain"), ("a", "b", "plain"), ("b", "c", "plain"), ("c", ROOK, "plain")]
    return flow, _expected({"a": False, "b": False, "c": False}, edges)


def _fan_out_fan_in() -> tuple[PenguiFlow, Topology]:
    split, join = _node("split"), _node("join")
    workers = [_node(f"worker {i}") for i in range(3)]
    flow = create(split.to(*workers), *(w.to(join) for w in workers), join.to())
    edges: list[Edge] = [(SEA, "split", "plain"), ("join", ROOK, "plain")]
    for i in range(3):
        edges += [("split", f"worker {i}", "plain"), (f"worker {i}", "join", "plain")]
    names = {"split": False, "join": False} | {f"worker {i}": False for i in range(3)}
    return flow, _expected(names, edges)


def _controller_self_loop() -> tuple[PenguiFlow, Topology]:
    controller = _node("controller", controller=True)
    flow = create(controller.to(controller))
    edges = [
        (SEA, "controller", "plain"),
        ("controller", "controller", "loop"),
        ("controller", ROOK, "final"),
    ]
    return flow, _expected({"controller": True}, edges)


AWKWARD = [
    'start "quoted"',
    "fan [a]",
    "fan {b}",
    "end",
    "join <&> #35; `x` \\ back\\",
    "ctrl 🐧 ünï",
    "o",
    "graph",
    "OpenSea",
    "Rookery",
    "a;b --> c|d",
    "two\nlines",
    "n0_start_quoted",
    "subgraph",
    "%% not a comment",
]


def _awkward_names() -> tuple[PenguiFlow, Topology]:
    """Every name is hostile to one of the two languages; a controller loops through others."""
    n = {name: _node(name, controller=(name == "ctrl 🐧 ünï")) for name in AWKWARD}
    s, fa, fb, end, join, ctrl, o, graph, sea, rook, semi, two, n0, sub, pct = AWKWARD
    flow = create(
        n[s].to(n[fa], n[fb]),
        n[fa].to(n[end]),
        n[fb].to(n[end]),
        n[end].to(n[join]),
        n[join].to(n[ctrl]),
        n[ctrl].to(n[ctrl], n[o]),
        n[o].to(n[graph]),
        n[graph].to(n[ctrl]),
        n[sea].to(n[rook]),
        n[rook].to(n[semi], n[two]),
        n[semi].to(),
        n[two].to(n[n0]),
        n[n0].to(),
        n[sub].to(n[pct]),
        n[pct].to(n[sub]),
        allow_cycles=True,
    )
    edges: list[Edge] = [
        (SEA, s, "plain"),
        (s, fa, "plain"),
        (s, fb, "plain"),
        (fa, end, "plain"),
        (fb, end, "plain"),
        (end, join, "plain"),
        (join, ctrl, "plain"),
        (ctrl, ctrl, "loop"),
        (ctrl, o, "loop"),
        (o, graph, "loop"),
        (graph, ctrl, "loop"),
        (ctrl, ROOK, "final"),
        (SEA, sea, "plain"),
        (sea, rook, "plain"),
        (rook, semi, "plain"),
        (rook, two, "plain"),
        (semi, ROOK, "plain"),
        (two, n0, "plain"),
        (n0, ROOK, "plain"),
        # A cycle without a controller (allowed flow-wide): loop edges, no controller mark.
        (sub, pct, "loop"),
        (pct, sub, "loop"),
    ]
    return flow, _expected({name: name == ctrl for name in AWKWARD}, edges)


def _several_ends() -> tuple[PenguiFlow, Topology]:
    """Two ingress nodes, an isolated node and a controller that also has a real successor."""
    left, right, ctrl, done, lonely = (
        _node("left"),
        _node("right"),
        _node("planner", controller=True),
        _node("done"),
        _node("lonely"),
    )
    flow = create(left.to(ctrl), right.to(ctrl), ctrl.to(ctrl, done), done.to(), lonely)
    edges = [
        (SEA, "left", "plain"),
        (SEA, "right", "plain"),
        (SEA, "lonely", "plain"),
        ("left", "planner", "plain"),
        ("right", "planner", "plain"),
        ("planner", "planner", "loop"),
        ("planner", "done", "plain"),
        ("planner", ROOK, "final"),
        ("done", ROOK, "plain"),
        ("lonely", ROOK, "plain"),
    ]
    names = {"left": False, "right": False, "planner": True, "done": False, "lonely": False}
    return flow, _expected(names, edges)


CASES: dict[str, Callable[[], tuple[PenguiFlow, Topology]]] = {
    "linear": _linear,
    "fan_out_fan_in": _fan_out_fan_in,
    "controller_self_loop": _controller_self_loop,
    "awkward_names": _awkward_names,
    "several_ends": _several_ends,
}


def _flow_from_spec(
    size: int, edges: set[tuple[int, int]], controllers: set[int]
) -> tuple[PenguiFlow, Topology] | None:
    """Build a flow of nodes ``s0..s<size-1>``; ``None`` if it has no ingress node.

    The expectation is derived from the definitions, independently of the
    runtime: ingress = no predecessor but itself; egress = controller or no
    successor but itself; an edge u -> v is a loop edge iff v reaches u.
    """
    names = [f"s{i}" for i in range(size)]
    successors = {i: sorted(j for (u, j) in edges if u == i) for i in range(size)}
    predecessors = {i: [u for (u, j) in edges if j == i] for i in range(size)}
    if all(any(p != i for p in predecessors[i]) for i in range(size)):
        return None
    nodes = [_node(names[i], controller=i in controllers) for i in range(size)]
    adjacencies = [nodes[i].to(*(nodes[j] for j in successors[i])) for i in range(size)]
    flow = create(*adjacencies, allow_cycles=True)

    def reaches(start: int, goal: int) -> bool:
        seen, todo = {start}, [start]
        while todo:
            for nxt in successors[todo.pop()]:
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return start == goal

    expected: list[Edge] = []
    for i in range(size):
        if all(p == i for p in predecessors[i]):
            expected.append((SEA, names[i], "plain"))
        for j in successors[i]:
            expected.append((names[i], names[j], "loop" if reaches(j, i) else "plain"))
        if i in controllers:
            expected.append((names[i], ROOK, "final"))
        elif all(j == i for j in successors[i]):
            expected.append((names[i], ROOK, "plain"))
    return flow, _expected({names[i]: i in controllers for i in range(size)}, expected)


_flow_specs = st.integers(1, 6).flatmap(
    lambda size: st.tuples(
        st.just(size),
        st.sets(st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)), max_size=12),
        st.sets(st.integers(0, size - 1), max_size=2),
    )
)


def _random_flows(count: int, seed: int) -> list[tuple[PenguiFlow, Topology]]:
    rng = random.Random(seed)
    flows: list[tuple[PenguiFlow, Topology]] = []
    while len(flows) < count:
        size = rng.randint(1, 7)
        edges = {(rng.randrange(size), rng.randrange(size)) for _ in range(rng.randint(0, 12))}
        controllers = {i for i in range(size) if rng.random() < 0.2}
        built = _flow_from_spec(size, edges, controllers)
        if built is not None:
            flows.append(built)
    return flows


# -- reading DOT back with Graphviz -------------------------------------------


@pytest.fixture(scope="module")
def dot_bin() -> str:
    found = shutil.which("dot")
    if found is None:
        message = "Graphviz 'dot' is not installed (Debian: apt-get install -y graphviz)"
        if REQUIRED:
            pytest.fail(f"{message}; PENGUIFLOW_REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip(message)
    return found


def _run_dot(dot_bin: str, text: str, fmt: str) -> str:
    done = subprocess.run(
        [dot_bin, f"-T{fmt}"], input=text.encode(), capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert not done.stderr, done.stderr.decode()  # no warnings either
    return done.stdout.decode()


def _dot_unescape(label: str) -> str:
    """Interpret a DOT escString the way Graphviz does for the escapes we emit."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), label)


def _kind_of(label: str, key: str) -> str:
    if key in (SEA, ROOK):
        return "endpoint"
    return "controller" if label.endswith(CONTROLLER_NOTE) else "node"


def _dot_topology(dot_bin: str, text: str) -> Topology:
    graph = json.loads(_run_dot(dot_bin, text, "json"))
    keys: dict[int, str] = {}
    nodes: dict[str, tuple[str, str]] = {}
    for obj in graph["objects"]:
        label = _dot_unescape(obj["label"])
        if obj["shape"] == "oval" and label in ("OpenSea", "Rookery"):
            key = SEA if label == "OpenSea" else ROOK
        else:
            key = label.removesuffix(CONTROLLER_NOTE)
            expected_shape = "hexagon" if label.endswith(CONTROLLER_NOTE) else "box"
            assert obj["shape"] == expected_shape, obj
        assert key not in nodes, f"node {key!r} drawn twice"
        keys[obj["_gvid"]] = key
        nodes[key] = (label, _kind_of(label, key))
    edges: Counter[Edge] = Counter()
    for edge in graph.get("edges", []):
        label, style = edge.get("label", ""), edge.get("style", "")
        if (label, style) == ("loop", "dashed"):
            kind = "loop"
        elif (label, style) == ("FinalAnswer", ""):
            kind = "final"
        else:
            kind = "plain" if (label, style) == ("", "") else f"unexpected {label!r} {style!r}"
        edges[(keys[edge["tail"]], keys[edge["head"]], kind)] += 1
    return Topology(nodes, edges)


# -- reading Mermaid back: with Mermaid's own parser, and structurally --------

_MERMAID_SCRIPT = r"""
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const require = createRequire(join(process.argv[2], "package.json"));
const { JSDOM } = require("jsdom");
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import(pathToFileURL(require.resolve("mermaid")).href);

const results = [];
for (const text of JSON.parse(readFileSync(0, "utf8"))) {
  try {
    await mermaid.parse(text);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    const vertices = [...diagram.db.getVertices().entries()].map(([id, v]) => (
      { id, text: v.text, type: v.type, classes: [...v.classes] }));
    const edges = diagram.db.getEdges().map((e) => (
      { start: e.start, end: e.end, text: e.text, stroke: e.stroke, type: e.type }));
    results.push({ ok: true, direction: diagram.db.getDirection(), vertices, edges });
  } catch (error) {
    results.push({ ok: false, error: String(error) });
  }
}
process.stdout.write(JSON.stringify(results));
"""

MermaidParser = Callable[[list[str]], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def mermaid_parser(tmp_path_factory: pytest.TempPathFactory) -> MermaidParser:
    """Mermaid's real parser, from an npm install of ``mermaid`` and ``jsdom``.

    Looked up in ``$PENGUIFLOW_MERMAID_DIR``, else in
    ``${XDG_CACHE_HOME:-~/.cache}/penguiflow-mermaid``.
    """
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = Path(os.environ.get("PENGUIFLOW_MERMAID_DIR") or cache / "penguiflow-mermaid")
    node_bin = shutil.which("node")
    modules = folder / "node_modules"
    if node_bin is None or not (modules / "mermaid").is_dir() or not (modules / "jsdom").is_dir():
        message = (
            f"Mermaid's parser is not installed in {folder} (needs node and "
            f"'npm install --prefix {folder} mermaid@12.3.0 jsdom@29.1.1')"
        )
        if REQUIRED:
            pytest.fail(f"{message}; PENGUIFLOW_REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip(message)
    script = tmp_path_factory.mktemp("mermaid") / "parse.mjs"
    script.write_text(_MERMAID_SCRIPT, encoding="utf-8")

    def parse(texts: list[str]) -> list[dict[str, Any]]:
        done = subprocess.run(
            [node_bin, str(script), str(folder)],
            input=json.dumps(texts).encode(),
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        results: list[dict[str, Any]] = json.loads(done.stdout)
        return results

    return parse


def _mermaid_decode_parsed(text: str) -> str:
    """Turn a label as Mermaid's parser stores it into the text a browser shows."""
    # Mermaid keeps entity codes as private markers until rendering; undo them the same way.
    text = re.sub(r"ﬂ°°(\d+)¶ß", r"&#\1;", text)
    text = re.sub(r"ﬂ°(\w+)¶ß", r"&\1;", text)
    return html.unescape(re.sub(r"<br\s*/?>", "\n", text))


def _mermaid_topology(parsed: dict[str, Any]) -> Topology:
    assert parsed["ok"], parsed.get("error")
    keys: dict[str, str] = {}
    nodes: dict[str, tuple[str, str]] = {}
    for vertex in parsed["vertices"]:
        label = _mermaid_decode_parsed(vertex["text"])
        if vertex["type"] == "stadium" and label in ("OpenSea", "Rookery"):
            key = SEA if label == "OpenSea" else ROOK
            assert vertex["classes"] == ["endpoint"], vertex
        else:
            key = label.removesuffix(CONTROLLER_NOTE)
            is_controller = label.endswith(CONTROLLER_NOTE)
            assert vertex["type"] == ("hexagon" if is_controller else "square"), vertex
            assert vertex["classes"] == (["controller"] if is_controller else []), vertex
        assert key not in nodes, f"node {key!r} drawn twice"
        keys[vertex["id"]] = key
        nodes[key] = (label, _kind_of(label, key))
    edges: Counter[Edge] = Counter()
    for edge in parsed["edges"]:
        assert edge["type"] == "arrow_point", edge
        shape = (edge["text"], edge["stroke"])
        kinds = {
            ("", "normal"): "plain",
            ("loop", "dotted"): "loop",
            ("FinalAnswer", "normal"): "final",
        }
        edge_kind = kinds.get(shape, f"unexpected {shape}")
        edges[(keys[edge["start"]], keys[edge["end"]], edge_kind)] += 1
    return Topology(nodes, edges)


_ID = r"[A-Za-z][A-Za-z0-9_]*"
_NODE_LINE = re.compile(
    rf'^    (?P<id>{_ID})(?P<open>\(\[|\{{\{{|\[)"(?P<label>[^"]*)"(?P<close>\]\)|\}}\}}|\])$'
)
_EDGE_LINE = re.compile(
    rf'^    (?P<tail>{_ID}) (?P<arrow>-->|-\.->)(?:\|"(?P<label>[^"]*)"\|)? (?P<head>{_ID})$'
)
_CLASS_LINE = re.compile(rf"^    class (?P<ids>{_ID}(?:,{_ID})*) (?P<cls>endpoint|controller)$")
_CLASSDEF_LINE = re.compile(r"^    classDef (endpoint|controller) \S+$")
_SHAPES = {("([", "])"): "endpoint", ("{{", "}}"): "controller", ("[", "]"): "node"}
_MERMAID_WORDS = {
    "end", "graph", "flowchart", "subgraph", "style", "class", "classdef", "click",
    "linkstyle", "default", "direction", "call", "href",
}  # fmt: skip


def _mermaid_label(raw: str) -> str:
    """Decode a label from the Mermaid text, checking nothing raw could confuse the parser."""
    bare = re.sub(r"#\d+;", "", raw.replace("<br/>", ""))
    assert not set(bare) & set('"#<>&`'), f"unescaped character in label {raw!r}"
    assert "\n" not in raw and "\r" not in raw, raw
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), raw.replace("<br/>", "\n"))


def _mermaid_structure(text: str, direction: str) -> Topology:
    """Read the Mermaid text line by line; every line must be one of the known forms."""
    lines = text.split("\n")
    assert lines[0] == f"flowchart {direction}" and lines[-1] == "", text
    keys: dict[str, str] = {}
    nodes: dict[str, tuple[str, str]] = {}
    classes: dict[str, set[str]] = {}
    edges: Counter[Edge] = Counter()
    for line in lines[1:-1]:
        if match := _NODE_LINE.match(line):
            node_id = match["id"]
            assert node_id.lower() not in _MERMAID_WORDS and node_id not in keys, line
            label = _mermaid_label(match["label"])
            kind = _SHAPES[(match["open"], match["close"])]
            if kind == "endpoint":
                assert label in ("OpenSea", "Rookery"), line
                key = SEA if label == "OpenSea" else ROOK
            else:
                assert label.endswith(CONTROLLER_NOTE) == (kind == "controller"), line
                key = label.removesuffix(CONTROLLER_NOTE)
            assert key not in nodes, f"node {key!r} declared twice"
            keys[node_id] = key
            nodes[key] = (label, kind)
        elif match := _EDGE_LINE.match(line):
            assert match["tail"] in keys and match["head"] in keys, f"undeclared id in {line!r}"
            shape = (match["arrow"], match["label"])
            kinds = {
                ("-->", None): "plain",
                ("-.->", "loop"): "loop",
                ("-->", "FinalAnswer"): "final",
            }
            edge_kind = kinds.get(shape, f"unexpected {shape}")
            edges[(keys[match["tail"]], keys[match["head"]], edge_kind)] += 1
        elif match := _CLASS_LINE.match(line):
            for node_id in match["ids"].split(","):
                assert node_id in keys, line
                classes.setdefault(match["cls"], set()).add(keys[node_id])
        else:
            assert _CLASSDEF_LINE.match(line), f"unexpected Mermaid line {line!r}"
    assert classes.get("endpoint") == {SEA, ROOK}
    assert classes.get("controller", set()) == {k for k, v in nodes.items() if v[1] == "controller"}
    return Topology(nodes, edges)


# -- tests ---------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("rankdir", ["TB", "LR"])
def test_dot_topology_matches_the_flow(case: str, rankdir: str, dot_bin: str) -> None:
    flow, expected = CASES[case]()
    text = flow_to_dot(flow, rankdir=rankdir)  # type: ignore[arg-type]

    assert _dot_topology(dot_bin, text) == expected
    assert json.loads(_run_dot(dot_bin, text, "json"))["rankdir"] == rankdir


def test_dot_renders_awkward_labels_verbatim(dot_bin: str) -> None:
    flow, expected = _awkward_names()
    svg = ET.fromstring(_run_dot(dot_bin, flow_to_dot(flow), "svg"))
    ns = {"svg": "http://www.w3.org/2000/svg"}
    shown = []
    for group in svg.iterfind(".//svg:g[@class='node']", ns):
        shown.append("\n".join(t.text or "" for t in group.iterfind("svg:text", ns)))

    assert sorted(shown) == sorted(label for label, _ in expected.nodes.values())


@given(_flow_specs)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
def test_dot_topology_of_random_flows(spec: tuple[int, set[tuple[int, int]], set[int]]) -> None:
    built = _flow_from_spec(*spec)
    assume(built is not None)
    assert built is not None
    flow, expected = built
    dot_bin = shutil.which("dot")
    if dot_bin is None:  # fixtures do not mix with @given; same skip/fail rule as dot_bin
        if REQUIRED:
            pytest.fail("Graphviz 'dot' is missing; PENGUIFLOW_REQUIRE_SERVICES=1")
        pytest.skip("Graphviz 'dot' is not installed")

    assert _dot_topology(dot_bin, flow_to_dot(flow)) == expected


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("direction", ["TD", "RL"])
def test_mermaid_structure_matches_the_flow(case: str, direction: str) -> None:
    flow, expected = CASES[case]()
    text = flow_to_mermaid(flow, direction=direction)  # type: ignore[arg-type]

    assert _mermaid_structure(text, direction) == expected


@given(_flow_specs)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
def test_mermaid_structure_of_random_flows(
    spec: tuple[int, set[tuple[int, int]], set[int]],
) -> None:
    built = _flow_from_spec(*spec)
    assume(built is not None)
    assert built is not None
    flow, expected = built

    assert _mermaid_structure(flow_to_mermaid(flow, direction="LR"), "LR") == expected


def test_mermaid_parser_reads_the_flows(mermaid_parser: MermaidParser) -> None:
    flows = [CASES[name]() for name in sorted(CASES)] + _random_flows(25, seed=7)
    texts = [flow_to_mermaid(flow, direction="LR") for flow, _ in flows]
    # A negative control: the parser really rejects broken text (here an unclosed quote).
    results = mermaid_parser([*texts, 'flowchart LR\n    n0["unclosed] --> n1\n'])

    assert results[-1]["ok"] is False
    for (_, expected), parsed in zip(flows, results[:-1], strict=True):
        assert parsed["direction"] == "LR"
        assert _mermaid_topology(parsed) == expected


def test_mermaid_parser_reads_every_direction(mermaid_parser: MermaidParser) -> None:
    flow, expected = _controller_self_loop()
    directions = ["TD", "TB", "BT", "LR", "RL"]
    results = mermaid_parser([flow_to_mermaid(flow, direction=d) for d in directions])  # type: ignore[arg-type]

    for direction, parsed in zip(directions, results, strict=True):
        assert _mermaid_topology(parsed) == expected
        assert parsed["direction"] == ("TB" if direction == "TD" else direction)  # Mermaid's alias


def test_ids_are_unique_even_when_names_reduce_to_the_same_id() -> None:
    a, b, c = _node("a b"), _node("a-b"), _node("a_b")
    flow = create(a.to(b), b.to(c))
    topology = _mermaid_structure(flow_to_mermaid(flow), "TD")

    assert set(topology.nodes) == {SEA, ROOK, "a b", "a-b", "a_b"}
    ids = re.findall(r'^    "([^"]+)" \[', flow_to_dot(flow), flags=re.M)
    assert len(ids) == len(set(ids)) == 5


def test_control_characters_are_shown_not_emitted(dot_bin: str) -> None:
    flow = create(_node("bell\x07 and\ttab\r\nend").to())
    mermaid = flow_to_mermaid(flow)
    dot = flow_to_dot(flow)

    assert "\x07" not in mermaid and "\x07" not in dot
    label = "bell\\x07 and\ttab\nend"
    assert _mermaid_structure(mermaid, "TD").nodes["bell\\x07 and\ttab\nend"] == (label, "node")
    assert _dot_topology(dot_bin, dot).nodes[label] == (label, "node")


def test_a_flow_graph_renders_like_its_flow() -> None:
    flow, _ = _several_ends()

    assert flow_to_mermaid(flow.graph, "LR") == flow_to_mermaid(flow, "LR")
    assert flow_to_dot(flow.graph, "LR") == flow_to_dot(flow, "LR")


def test_td_is_tb_for_graphviz() -> None:
    flow, _ = _linear()

    assert "    rankdir=TB;\n" in flow_to_dot(flow, rankdir="TD")
    assert flow_to_dot(flow, rankdir="TD") == flow_to_dot(flow)


@pytest.mark.parametrize("bad", ["lr", "TOP", "", None, 1])
def test_bad_direction_is_rejected_with_the_choices(bad: Any) -> None:
    flow, _ = _linear()
    choices = "'TD', 'TB', 'BT', 'LR', 'RL'"

    with pytest.raises(ValueError, match=f"direction must be one of {choices}; got {bad!r}"):
        flow_to_mermaid(flow, direction=bad)
    with pytest.raises(ValueError, match=f"rankdir must be one of {choices}; got {bad!r}"):
        flow_to_dot(flow, rankdir=bad)


@pytest.mark.parametrize("render", [flow_to_mermaid, flow_to_dot])
def test_something_else_than_a_flow_is_rejected(render: Callable[..., str]) -> None:
    with pytest.raises(TypeError, match=r"expected a PenguiFlow .* got list"):
        render([_node("a").to()])


def test_docstring_examples_hold() -> None:
    import doctest

    import penguiflow.viz

    failed, attempted = doctest.testmod(penguiflow.viz, optionflags=doctest.ELLIPSIS)
    assert (failed, attempted) == (0, 6)
