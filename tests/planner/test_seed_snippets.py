"""The seed README's planner snippets run as written, with a scripted LLM in place of a model.

Each snippet below is copied verbatim from the seed README. The only edits
are the ones its readers make too: ``llm="..."`` becomes
``llm_client=ScriptedLLM(SCRIPT)`` (no network in tests), ``ReactPlanner(...,``
gets real arguments, and the names the README leaves to the reader
(``Query``, ``registry``, ``search``, ...) are defined minimally here. Each
snippet runs as top-level code with ``await`` allowed, like a notebook cell.
"""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import ModelRegistry, build_catalog, tool
from penguiflow.planner import PlannerFinish, ReactPlanner, ToolPolicy
from penguiflow.planner.testing import ScriptedLLM

REACT_PLANNER = """\
from penguiflow import ReactPlanner, tool, build_catalog

@tool(desc="Search documentation")
async def search_docs(args: Query, ctx) -> Documents:
    return Documents(results=await search(args.text))

@tool(desc="Summarize results")
async def summarize(args: Documents, ctx) -> Summary:
    return Summary(text=await llm_summarize(args.results))

planner = ReactPlanner(
    llm="gpt-4",
    catalog=build_catalog([search_docs, summarize], registry),
    max_iters=10
)

result = await planner.run("Explain PenguiFlow routing")
print(result.payload)  # LLM orchestrated search → summarize automatically
"""

POLICY_FILTERING = """\
from penguiflow.planner import ReactPlanner, ToolPolicy

policy_free = ToolPolicy(allowed_tools={"search_public", "summarise"})
policy_premium = ToolPolicy(denied_tools={"delete_user"}, require_tags={"safe"})

planner_free = ReactPlanner(..., tool_policy=policy_free)
planner_premium = ReactPlanner(..., tool_policy=policy_premium)

print(planner_free._spec_by_name.keys())   # {'search_public', 'summarise'}
print(planner_premium._spec_by_name.keys())  # filtered catalog
"""

STREAMING = """\
from pydantic import BaseModel

from penguiflow.catalog import build_catalog, tool
from penguiflow.planner import PlannerEvent, ReactPlanner
from penguiflow.registry import ModelRegistry


class Query(BaseModel):
    question: str


class Answer(BaseModel):
    answer: str


@tool(desc="Stream answer token-by-token")
async def stream_answer(args: Query, ctx) -> Answer:
    tokens = ["PenguiFlow", "is", "a", "typed", "async", "planner"]
    for index, token in enumerate(tokens):
        await ctx.emit_chunk("answer_stream", index, f"{token} ", done=False)

    await ctx.emit_chunk("answer_stream", len(tokens), "", done=True)
    return Answer(answer=" ".join(tokens))


def handle_stream(event: PlannerEvent) -> None:
    if event.event_type == "stream_chunk":
        print(event.extra["text"], end="", flush=True)
        if event.extra["done"]:
            print()


registry = ModelRegistry()
registry.register("stream_answer", Query, Answer)


planner = ReactPlanner(
    llm="gpt-4o-mini",
    catalog=build_catalog([stream_answer], registry),
    event_callback=handle_stream,
)

result = await planner.run("Tell me about PenguiFlow")
print(result.metadata["steps"][0]["streams"]["answer_stream"])  # structured chunks
"""


def edit(source: str, old: str, new: str) -> str:
    """``source`` with ``old`` replaced, failing loudly if the snippet no longer has it."""
    assert old in source, f"snippet lost {old!r}"
    return source.replace(old, new)


async def run_snippet(source: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Run ``source`` as top-level code (``await`` allowed) in ``namespace``; return it."""
    code = compile(source, "<seed snippet>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    outcome = eval(code, namespace)
    if outcome is not None:  # a coroutine when the snippet awaits
        await outcome
    return namespace


# -- "React Planner" -----------------------------------------------------------


class Query(BaseModel):
    text: str


class Documents(BaseModel):
    results: list[str]


class Summary(BaseModel):
    text: str


async def search(text: str) -> list[str]:
    """The README's search backend, left to the reader: two canned hits."""
    return [f"{text}: predicate routers", f"{text}: union routers"]


async def llm_summarize(results: list[str]) -> str:
    """The README's summarizing model, left to the reader."""
    return " + ".join(results)


def react_namespace(llm: ScriptedLLM) -> dict[str, Any]:
    registry = ModelRegistry()
    registry.register("search_docs", Query, Documents)
    registry.register("summarize", Documents, Summary)
    return {
        "Query": Query,
        "Documents": Documents,
        "Summary": Summary,
        "registry": registry,
        "search": search,
        "llm_summarize": llm_summarize,
        "ScriptedLLM": ScriptedLLM,
        "LLM": llm,
    }


REACT_SCRIPT: list[dict[str, Any]] = [
    {
        "thought": "I need PenguiFlow's docs on routing before answering.",
        "next_node": "search_docs",
        "args": {"text": "routing"},
    },
    {
        "thought": "Two relevant passages came back; I'll summarize them.",
        "next_node": "summarize",
        "args": {"results": ["routing: predicate routers", "routing: union routers"]},
    },
    {
        "thought": "The summary covers both routers, so I can answer.",
        "next_node": None,
        "answer": "PenguiFlow routes with predicate routers and union routers.",
    },
]


async def test_react_planner_snippet(capsys: pytest.CaptureFixture[str]) -> None:
    llm = ScriptedLLM(REACT_SCRIPT)
    source = edit(REACT_PLANNER, 'llm="gpt-4"', "llm_client=LLM")
    namespace = await run_snippet(source, react_namespace(llm))

    result = namespace["result"]
    assert isinstance(result, PlannerFinish)
    assert result.reason == "answer_complete"
    assert capsys.readouterr().out == (
        "PenguiFlow routes with predicate routers and union routers.\n"
    )
    steps = result.metadata["steps"]
    assert [s["node_name"] for s in steps] == ["search_docs", "summarize", None]
    assert steps[0]["observation"] == {
        "results": ["routing: predicate routers", "routing: union routers"]
    }
    assert steps[1]["observation"] == {
        "text": "routing: predicate routers + routing: union routers"
    }
    assert namespace["planner"].max_iters == 10
    assert llm.remaining == 0


def test_react_planner_snippet_builds_with_a_model_name_as_written() -> None:
    # Without the edit the planner is built with litellm's "gpt-4" (imported lazily,
    # so building it needs neither the network nor litellm's import).
    namespace = react_namespace(ScriptedLLM([]))
    construction = REACT_PLANNER.split("\nresult = ")[0]
    exec(compile(construction, "<seed snippet>", "exec"), namespace)

    planner = namespace["planner"]
    assert isinstance(planner, ReactPlanner)
    assert planner.tools == ["search_docs", "summarize"]


# -- "Policy-Based Tool Filtering" --------------------------------------------------


class Text(BaseModel):
    text: str


class UserRef(BaseModel):
    user_id: str


@tool(desc="Search public pages", tags=("safe",))
async def search_public(args: Text, ctx: Any) -> Text:
    return args


@tool(desc="Search internal documents", tags=("safe", "internal"))
async def search_internal(args: Text, ctx: Any) -> Text:
    return args


@tool(desc="Summarise text", tags=("safe",))
async def summarise(args: Text, ctx: Any) -> Text:
    return args


@tool(desc="Export every record", tags=("bulk",))
async def export_all(args: Text, ctx: Any) -> Text:
    return args


@tool(desc="Delete a user", side_effects="write", tags=("safe", "admin"))
async def delete_user(args: UserRef, ctx: Any) -> UserRef:
    return args


def policy_catalog() -> list[Any]:
    registry = ModelRegistry()
    for name in ("search_public", "search_internal", "summarise", "export_all"):
        registry.register(name, Text, Text)
    registry.register("delete_user", UserRef, UserRef)
    tools = [search_public, search_internal, summarise, export_all, delete_user]
    return build_catalog(tools, registry)


async def test_policy_filtering_snippet(capsys: pytest.CaptureFixture[str]) -> None:
    source = edit(
        POLICY_FILTERING,
        "ReactPlanner(...,",
        "ReactPlanner(llm_client=ScriptedLLM([]), catalog=CATALOG,",
    )
    namespace = await run_snippet(source, {"ScriptedLLM": ScriptedLLM, "CATALOG": policy_catalog()})

    free, premium = namespace["planner_free"], namespace["planner_premium"]
    assert set(free._spec_by_name.keys()) == {"search_public", "summarise"}
    # delete_user is tagged "safe" but denied first; export_all lacks the tag.
    assert set(premium._spec_by_name.keys()) == {"search_public", "search_internal", "summarise"}
    assert capsys.readouterr().out.splitlines() == [
        "dict_keys(['search_public', 'summarise'])",
        "dict_keys(['search_public', 'search_internal', 'summarise'])",
    ]
    assert isinstance(namespace["policy_free"], ToolPolicy)


async def test_a_filtered_planner_runs_with_only_its_tools() -> None:
    llm = ScriptedLLM(
        [
            {"thought": "public search", "next_node": "search_public", "args": {"text": "q3"}},
            {"thought": "enough", "next_node": None, "answer": "q3"},
        ]
    )
    planner = ReactPlanner(
        llm_client=llm,
        catalog=policy_catalog(),
        tool_policy=ToolPolicy(allowed_tools={"search_public", "summarise"}),
    )
    result = await planner.run("what changed in q3?")

    assert isinstance(result, PlannerFinish) and result.payload == "q3"
    tools = json.loads(llm.calls[0].messages[0]["content"].split("Tools:\n", 1)[1].split("\n")[0])
    assert [t["name"] for t in tools] == ["search_public", "summarise"]


# -- "Streaming Planner Responses" --------------------------------------------------

STREAMING_SCRIPT: list[dict[str, Any]] = [
    {
        "thought": "stream_answer streams the answer as it is written; I'll use it.",
        "next_node": "stream_answer",
        "args": {"question": "Tell me about PenguiFlow"},
    },
    {
        "thought": "The answer was streamed; I'll return it.",
        "next_node": None,
        "answer": "PenguiFlow is a typed async planner",
    },
]


async def test_streaming_snippet(capsys: pytest.CaptureFixture[str]) -> None:
    source = edit(STREAMING, 'llm="gpt-4o-mini"', "llm_client=ScriptedLLM(SCRIPT)")
    namespace = await run_snippet(source, {"ScriptedLLM": ScriptedLLM, "SCRIPT": STREAMING_SCRIPT})

    result = namespace["result"]
    assert isinstance(result, PlannerFinish) and result.reason == "answer_complete"
    chunks = result.metadata["steps"][0]["streams"]["answer_stream"]
    words = ["PenguiFlow", "is", "a", "typed", "async", "planner"]
    assert chunks == [
        *({"seq": i, "text": f"{w} ", "done": False, "meta": {}} for i, w in enumerate(words)),
        {"seq": 6, "text": "", "done": True, "meta": {}},
    ]
    streamed, structured = capsys.readouterr().out.splitlines()
    assert streamed == "PenguiFlow is a typed async planner "
    assert structured == repr(chunks)
