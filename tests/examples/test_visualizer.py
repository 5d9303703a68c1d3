"""examples/visualizer writes the Mermaid and DOT diagrams of its flow where it is told to."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

__all__: list[str] = []

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "visualizer" / "main.py"
EXPECTED_EDGES = {
    ("OpenSea", "triage", ""),
    ("triage", "search web", ""),
    ("triage", "search docs", ""),
    ("search web", "merge", ""),
    ("search docs", "merge", ""),
    ("merge", "answer", ""),
    ("answer", "answer", "loop"),
    ("answer", "Rookery", "FinalAnswer"),
}


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    """The example's module."""
    return load_example("visualizer")


async def test_writes_markdown_and_dot_into_the_given_folder(
    example: ModuleType, tmp_path: Path
) -> None:
    out = tmp_path / "diagrams"
    diagrams = await asyncio.wait_for(example.main(out), 10)

    assert diagrams.markdown_path == out / "flow.md"
    assert diagrams.dot_path == out / "flow.dot"
    assert sorted(p.name for p in out.iterdir()) == ["flow.dot", "flow.md"]
    markdown = diagrams.markdown_path.read_text(encoding="utf-8")
    assert f"```mermaid\n{diagrams.mermaid}```\n" in markdown
    assert diagrams.dot_path.read_text(encoding="utf-8") == diagrams.dot
    assert diagrams.mermaid.startswith("flowchart LR\n")
    # The controller and its loop are annotated in the Mermaid text.
    assert '    n4_answer{{"answer<br/>(controller)"}}\n' in diagrams.mermaid
    assert '    n4_answer -.->|"loop"| n4_answer\n' in diagrams.mermaid


def test_dot_file_has_the_flow_topology(example: ModuleType, tmp_path: Path) -> None:
    dot_bin = shutil.which("dot")
    if dot_bin is None:
        message = "Graphviz 'dot' is not installed (Debian: apt-get install -y graphviz)"
        if os.environ.get("PENGUIFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{message}; PENGUIFLOW_REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip(message)
    diagrams = asyncio.run(example.main(tmp_path))
    done = subprocess.run(
        [dot_bin, "-Tjson", str(diagrams.dot_path)], capture_output=True, timeout=60, check=True
    )
    graph = json.loads(done.stdout)
    names = {o["_gvid"]: o["label"].split("\\n")[0] for o in graph["objects"]}
    edges = {(names[e["tail"]], names[e["head"]], e.get("label", "")) for e in graph["edges"]}

    assert graph["rankdir"] == "LR"
    assert sorted(names.values()) == sorted(
        ["OpenSea", "Rookery", "triage", "search web", "search docs", "merge", "answer"]
    )
    assert edges == EXPECTED_EDGES
    assert len(graph["edges"]) == len(EXPECTED_EDGES)


def test_default_output_is_a_fresh_temporary_folder(example: ModuleType) -> None:
    diagrams = asyncio.run(example.main())
    folder = diagrams.markdown_path.parent
    try:
        assert folder.name.startswith("penguiflow-")
        assert not folder.is_relative_to(EXAMPLE.parents[2])  # never inside the repository
        assert sorted(p.name for p in folder.iterdir()) == ["flow.dot", "flow.md"]
    finally:
        shutil.rmtree(folder)


def test_runs_as_a_script(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    assert done.stdout.startswith("flowchart LR\n")
    assert "digraph penguiflow {" in done.stdout
    assert done.stdout.endswith(f"wrote {tmp_path / 'flow.md'}\nwrote {tmp_path / 'flow.dot'}\n")
    assert (tmp_path / "flow.dot").read_text(encoding="utf-8") in done.stdout
