"""Regenerate the layer diagram and module tables of docs/design/architecture.md from the code.

The layers are defined once, in the ``core-layers`` import-linter contract of
the root pyproject.toml: ``layers`` lists them from the top down; within a
layer ``:`` separates members that may import each other and ``(name)`` marks
an optional member that does not exist yet. The contract's ``name`` names the
layers from the bottom up after its colon, separated by `` < ``. The imports
come from grimp, the graph import-linter itself checks, so an edge of the
diagram stands for the same imports the linter sees (function-level and
``TYPE_CHECKING`` ones included). The page shows only what changes with the
structure (layers, modules, which layer imports which, first docstring
paragraphs), not sizes or import counts, so everyday edits do not make it stale.

The output goes between the ``architecture:start`` and ``architecture:end``
markers of the page; it is deterministic (sorted, no dates, no absolute paths),
so a test can compare the committed page with a fresh run.

Usage: ``python scripts/architecture.py [--check]`` (``make architecture``);
``--check`` changes nothing and exits 1 when the page is out of date.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grimp

import penguiflow  # noqa: F401 - extends penguiflow.__path__ with the planner and tools folders

__all__ = [
    "CONTRACT_ID",
    "END",
    "PAGE",
    "PYPROJECT",
    "START",
    "Layer",
    "Member",
    "build_graph",
    "main",
    "read_layers",
    "render",
    "replace_block",
]

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
PAGE = ROOT / "docs" / "design" / "architecture.md"
CONTRACT_ID = "core-layers"
ROOT_PACKAGES = ("penguiflow", "penguiflow_a2a")
START = "<!-- architecture:start -->"
END = "<!-- architecture:end -->"
ROW_WIDTH = 4
"""Members per row inside a layer box, so that wide layers wrap instead of stretching."""


@dataclass(frozen=True, slots=True)
class Member:
    """One module or package named in a layer, e.g. ``penguiflow._kernel``."""

    name: str
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of the contract: its name and its members, as written in pyproject.toml."""

    title: str
    spec: str
    members: tuple[Member, ...]

    def owns(self, module: str) -> bool:
        """Whether ``module`` is one of the members or inside one of them."""
        return any(module == m.name or module.startswith(f"{m.name}.") for m in self.members)


def read_layers(pyproject: Path = PYPROJECT) -> list[Layer]:
    """The layers of the ``core-layers`` contract, top layer first.

    Raises:
        ValueError: The contract is missing, or its name does not name every layer.
    """
    with pyproject.open("rb") as file:
        config = tomllib.load(file)
    contracts = config.get("tool", {}).get("importlinter", {}).get("contracts", [])
    contract = next((c for c in contracts if c.get("id") == CONTRACT_ID), None)
    if contract is None:
        raise ValueError(f"{pyproject} has no import-linter contract with id {CONTRACT_ID!r}")
    (container,) = contract["containers"]
    specs: list[str] = contract["layers"]
    titles = [t.strip() for t in contract["name"].partition(":")[2].split(" < ")][::-1]
    if len(titles) != len(specs) or not all(titles):
        raise ValueError(
            f"the {CONTRACT_ID!r} contract's name must name its {len(specs)} layers from the "
            f"bottom up after a colon ('...: data types < kernel < ...'); got {contract['name']!r}"
        )
    return [
        Layer(title, spec, tuple(_members(container, spec)))
        for title, spec in zip(titles, specs, strict=True)
    ]


def build_graph() -> grimp.ImportGraph:
    """The import graph of every first-party package (no cache written to the repository)."""
    return grimp.build_graph(*ROOT_PACKAGES, include_external_packages=False, cache_dir=None)


def render(layers: Sequence[Layer], graph: grimp.ImportGraph) -> str:
    """The generated part of the page: the Mermaid diagram, then a module table per layer."""
    modules = sorted(graph.modules)
    outside = [m for m in modules if not any(layer.owns(m) for layer in layers)]
    parts = [
        _mermaid(layers, modules, _layer_edges(layers, graph)),
        *(_layer_table(index, layer, modules) for index, layer in enumerate(layers, 1)),
        _outside_table(outside),
    ]
    return "\n".join(parts)


def replace_block(page: str, block: str) -> str:
    """``page`` with the text between the markers replaced by ``block``.

    Raises:
        ValueError: The markers are missing or out of order.
    """
    head, start, rest = page.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"the page needs the markers {START} and {END}, in that order")
    return f"{head}{START}\n{block}{END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check`` verify) the generated part of the architecture page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    parser.add_argument("--page", type=Path, default=PAGE, help="the page (default: %(default)s)")
    args = parser.parse_args(argv)
    page: Path = args.page
    current = page.read_text(encoding="utf-8")
    fresh = replace_block(current, render(read_layers(), build_graph()))
    if args.check:
        if fresh != current:
            print(f"{_shown(page)} is out of date: run 'make architecture'", file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        page.write_text(fresh, encoding="utf-8")
        print(f"updated {_shown(page)}")
    return 0


# -- reading -----------------------------------------------------------------------------------


def _members(container: str, spec: str) -> Iterable[Member]:
    for raw in spec.split(":"):
        name = raw.strip()
        optional = name.startswith("(") and name.endswith(")")
        yield Member(f"{container}.{name.strip('()')}", optional)


def _layer_edges(layers: Sequence[Layer], graph: grimp.ImportGraph) -> Counter[tuple[int, int]]:
    """Imports between layers, by (importing layer, imported layer); layer 1 is the top one."""
    layer_of = {m: i for m in graph.modules for i, layer in enumerate(layers, 1) if layer.owns(m)}
    edges: Counter[tuple[int, int]] = Counter()
    for importer, source in layer_of.items():
        for imported in graph.find_modules_directly_imported_by(importer):
            target = layer_of.get(imported)
            if target is not None and target != source:
                edges[source, target] += 1
    return edges


@dataclass(frozen=True, slots=True)
class _Module:
    name: str
    summary: str


def _read_module(name: str) -> _Module:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ValueError(f"cannot find the source of {name}")
    source = Path(spec.origin).read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(source)) or ""
    # The summary is the first paragraph: a few summary lines wrap onto a second line.
    summary = " ".join(docstring.split("\n\n", 1)[0].split())
    return _Module(name, summary)


def _inside(member: Member, modules: Sequence[str]) -> list[str]:
    return [m for m in modules if m == member.name or m.startswith(f"{member.name}.")]


# -- writing -----------------------------------------------------------------------------------


def _mermaid(
    layers: Sequence[Layer], modules: Sequence[str], edges: Counter[tuple[int, int]]
) -> str:
    lines = ["```mermaid", "flowchart TB"]
    for index, layer in enumerate(layers, 1):
        lines.append(f'    subgraph layer{index}["layer {index}: {layer.title}"]')
        ids = [_node_id(member) for member in layer.members]
        for member in layer.members:
            lines.append(f'        {_node_id(member)}["{_node_label(member, modules)}"]')
        # Invisible links stack the rows of a wide layer instead of one long line.
        for above, below in zip(ids, ids[ROW_WIDTH:], strict=False):
            lines.append(f"        {above} ~~~ {below}")
        lines.append("    end")
    # Keep the layers stacked in order even where one never imports the next.
    for index in range(1, len(layers)):
        if (index, index + 1) not in edges:
            lines.append(f"    layer{index} ~~~ layer{index + 1}")
    for source, target in sorted(edges):
        if source > target:
            lines.append(f'    layer{source} -->|"upwards: breaks the rule"| layer{target}')
        else:
            lines.append(f"    layer{source} --> layer{target}")
    absent = [_node_id(m) for layer in layers for m in layer.members if not _inside(m, modules)]
    if absent:
        lines.append("    classDef absent stroke-dasharray: 4 4")
        lines.append(f"    class {','.join(absent)} absent")
    lines.append("```")
    return "\n".join(lines) + "\n"


def _node_id(member: Member) -> str:
    return "m_" + member.name.replace(".", "_")


def _node_label(member: Member, modules: Sequence[str]) -> str:
    short = member.name.rsplit(".", 1)[-1]
    inside = _inside(member, modules)
    if not inside:
        return f"{short}<br/>not written yet"
    if len(inside) == 1 and not _is_package(member.name):
        return f"{short}.py"
    return f"{short}/<br/>{len(inside)} module{'s' if len(inside) != 1 else ''}"


def _is_package(name: str) -> bool:
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.submodule_search_locations is not None


def _layer_table(index: int, layer: Layer, modules: Sequence[str]) -> str:
    rows: list[str] = []
    for member in layer.members:
        inside = _inside(member, modules)
        if not inside:
            rows.append(f"| `{member.name}` | optional member, not written yet |")
        rows.extend(_row(_read_module(name)) for name in inside)
    return (
        f"### {index}. {layer.title.capitalize()}\n\n"
        f"Contract line: `{layer.spec}`\n\n"
        "| module | what it is for |\n| --- | --- |\n" + "\n".join(rows) + "\n"
    )


def _outside_table(modules: Sequence[str]) -> str:
    rows = "\n".join(_row(_read_module(name)) for name in modules)
    return "### Outside the layers\n\n| module | what it is for |\n| --- | --- |\n" + rows + "\n"


def _row(module: _Module) -> str:
    summary = module.summary.replace("|", "\\|") or "—"
    return f"| `{module.name}` | {summary} |"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
