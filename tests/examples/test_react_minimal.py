"""examples/react_minimal: the seed "React Planner" snippet, search -> summarize -> answer."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from penguiflow.planner import PlannerFinish
from penguiflow.planner.testing import ScriptedLLM

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "react_minimal"


def readme_output() -> str:
    """The block after "Output:" in the example's README."""
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Output:\n\n```\n(.*?)```", readme, re.S)
    assert match, "README lost its Output block"
    return match.group(1)


@pytest.fixture
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("react_minimal")


async def test_the_planner_searches_summarizes_then_answers(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    result = await asyncio.wait_for(example.main(), 10)

    assert isinstance(result, PlannerFinish)
    assert result.reason == "answer_complete"
    assert result.payload.startswith("PenguiFlow routes messages in three ways")
    search, summarize, finish = result.metadata["steps"]
    assert (search["node_name"], summarize["node_name"], finish["node_name"]) == (
        "search_docs",
        "summarize",
        None,
    )
    # The tools really ran: the search hit the routing passages of the index,
    # and summarize received exactly what the search returned.
    assert search["observation"] == {"results": example.DOCS["routing"]}
    assert summarize["args"] == search["observation"]
    assert summarize["observation"] == {
        "text": "predicate_router sends a message; union_router picks the successor; "
        "Routing policies can override."
    }
    assert result.metadata["hops"] == 2
    assert result.metadata["cost"]["main_llm_calls"] == 3
    assert capsys.readouterr().out == readme_output()


async def test_the_llm_sees_the_catalog_and_each_observation(example: ModuleType) -> None:
    llm = ScriptedLLM(example.SCRIPT)
    result = await example.build_planner(llm).run(example.QUERY)

    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    assert llm.remaining == 0
    system = llm.calls[0].messages[0]["content"]
    assert "Search documentation" in system and "Summarize results" in system
    assert json.loads(llm.calls[0].messages[1]["content"]) == {"query": example.QUERY}
    # Before its second decision the LLM had the search result in front of it.
    seen = json.loads(llm.calls[1].messages[-1]["content"])
    assert seen == {"observation": {"results": example.DOCS["routing"]}}
    assert llm.calls[0].response_format is not None


async def test_search_only_returns_passages_of_the_topics_asked_for(example: ModuleType) -> None:
    assert await example.search("backpressure please") == example.DOCS["backpressure"]
    assert await example.search("penguins") == []


def test_runs_as_a_script() -> None:
    # What `make demo` runs: the file itself, in a fresh interpreter, offline.
    proc = subprocess.run(
        [sys.executable, str(FOLDER / "main.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == readme_output()


def test_make_demo_runs_this_example_after_the_quickstart() -> None:
    # The README's demo command shows a flow and then the planner, both offline.
    makefile = (FOLDER.parents[1] / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "Makefile lost its demo target"
    lines = recipe.group(1).splitlines()
    assert [line.split()[-1] for line in lines] == [
        "examples/quickstart/main.py",
        "examples/react_minimal/main.py",
    ]
