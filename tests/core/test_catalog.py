"""@tool metadata, NodeSpec descriptions and build_catalog from annotations or a ModelRegistry."""

from __future__ import annotations

import asyncio
import dataclasses
import doctest
import functools
import json
import subprocess
import sys
from typing import Any

import pytest
from pydantic import BaseModel, Field

import penguiflow.catalog
from penguiflow import Headers, Message, ModelRegistry, Node, NodePolicy, create
from penguiflow.catalog import NodeSpec, build_catalog, tool

__all__: list[str] = []


class Query(BaseModel):
    text: str
    top_k: int = 3


class Documents(BaseModel):
    results: list[str]


class Summary(BaseModel):
    text: str


class Address(BaseModel):
    city: str
    zip_code: str | None = None


class Customer(BaseModel):
    """A customer record."""

    name: str = Field(description="Full name")
    addresses: list[Address]
    primary: Address


async def _plain(args: Any, _ctx: Any) -> Any:
    """Return the arguments unchanged.

    More details that are not part of the summary.
    """
    return args


async def _undocumented(args: Any, _ctx: Any) -> Any:
    return args


def _registry(*entries: tuple[str, Any, Any]) -> ModelRegistry:
    registry = ModelRegistry()
    for name, in_model, out_model in entries:
        registry.register(name, in_model, out_model)
    return registry


# -- the README's planner snippet ------------------------------------------------


async def test_readme_tool_and_catalog_shapes_work() -> None:
    # The seed README's call shapes; the bodies stand in for a real search and LLM.
    @tool(desc="Search documentation")
    async def search_docs(args: Query, ctx: Any) -> Documents:
        return Documents(results=[f"doc about {args.text}"] * args.top_k)

    @tool(desc="Summarize results")
    async def summarize(args: Documents, ctx: Any) -> Summary:
        return Summary(text=" | ".join(args.results))

    registry = _registry(("search_docs", Query, Documents), ("summarize", Documents, Summary))
    catalog = build_catalog([search_docs, summarize], registry)

    assert [spec.name for spec in catalog] == ["search_docs", "summarize"]
    assert [spec.desc for spec in catalog] == ["Search documentation", "Summarize results"]
    assert (catalog[0].args_model, catalog[0].out_model) == (Query, Documents)
    assert all(spec.side_effects == "pure" for spec in catalog)
    # The decorator changed nothing about how the function is called ...
    assert await search_docs(Query(text="x", top_k=1), None) == Documents(results=["doc about x"])
    # ... and the catalog's nodes run in a flow, validated by the same registry.
    flow = create(catalog[0].node.to(catalog[1].node), catalog[1].node.to())
    flow.run(registry=registry)
    try:
        await flow.emit(
            Message(payload=Query(text="routing", top_k=2), headers=Headers(tenant="t"))
        )
        out = await asyncio.wait_for(flow.fetch(), 10)
    finally:
        await asyncio.wait_for(flow.stop(), 10)
    assert out.payload == Summary(text="doc about routing | doc about routing")


def test_top_level_names_are_the_catalog_ones() -> None:
    import penguiflow

    for name in ("tool", "build_catalog", "NodeSpec", "SideEffect"):
        assert getattr(penguiflow, name) is getattr(penguiflow.catalog, name), name


# -- @tool -------------------------------------------------------------------------


def test_tool_returns_the_same_function_with_metadata_read_by_the_catalog() -> None:
    async def lookup(args: Query, ctx: Any) -> Documents:
        return Documents(results=[])

    decorated = tool(
        desc="  Look things up  ",
        side_effects="read",
        tags=["kb", "safe", "kb"],
        auth_scopes=("kb:read",),
        cost_hint="low",
        latency_hint_ms=120,
        examples=[{"text": "penguins"}, {"text": "floes", "top_k": 1}],
    )(lookup)

    assert decorated is lookup
    [spec] = build_catalog([lookup], _registry(("lookup", Query, Documents)))
    assert spec.desc == "Look things up"
    assert spec.side_effects == "read"
    assert spec.tags == ("kb", "safe")  # order kept, duplicates dropped
    assert spec.auth_scopes == ("kb:read",)
    assert spec.cost_hint == "low"
    assert spec.latency_hint_ms == 120.0
    assert [dict(e) for e in spec.examples] == [{"text": "penguins"}, {"text": "floes", "top_k": 1}]
    assert spec.node.func is lookup and spec.node.name == "lookup"


@pytest.mark.parametrize("side_effects", ["pure", "read", "write", "external", "stateful"])
def test_every_side_effect_is_accepted(side_effects: Any) -> None:
    @tool(desc="d", side_effects=side_effects)
    async def act(args: Any, ctx: Any) -> Any:
        return args

    [spec] = build_catalog([act], _registry(("act", dict, dict)))
    assert spec.side_effects == side_effects
    assert spec.to_tool_json()["side_effects"] == side_effects


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"side_effects": "destructive"}, ValueError, "side_effects must be one of 'pure', "),
        ({"side_effects": "PURE"}, ValueError, "got 'PURE'"),
        ({"desc": ""}, ValueError, "desc must not be empty"),
        ({"desc": "   "}, ValueError, "desc must not be empty"),
        ({"desc": None}, TypeError, "desc must be a string; got NoneType"),
        ({"tags": "safe"}, TypeError, r"tags must be a list or tuple of strings.*tags=\('safe',\)"),
        ({"tags": ["ok", ""]}, ValueError, "every entry of tags must be a non-empty string"),
        ({"auth_scopes": [1]}, ValueError, "every entry of auth_scopes must be a non-empty"),
        ({"cost_hint": 3}, TypeError, "cost_hint must be a non-empty string or None; got 3"),
        ({"latency_hint_ms": -1}, ValueError, "latency_hint_ms must be a finite number >= 0"),
        ({"latency_hint_ms": float("nan")}, ValueError, "latency_hint_ms must be a finite"),
        ({"latency_hint_ms": True}, TypeError, "latency_hint_ms must be a number or None"),
        ({"examples": {"text": "x"}}, TypeError, "examples must be a list of argument mappings"),
        ({"examples": ["text"]}, TypeError, "example #0 must be a mapping with string keys"),
        ({"examples": [{"x": {1, 2}}]}, ValueError, "example #0 is not JSON-safe"),
        ({"examples": [{}, {"x": float("inf")}]}, ValueError, "example #1 is not JSON-safe"),
        ({"name": ""}, ValueError, "name must be a non-empty string"),
    ],
)
def test_bad_tool_arguments_fail_at_decoration(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments = {"desc": "does things", **kwargs}
    with pytest.raises(error, match=message):
        tool(**arguments)


def test_bare_decorator_explains_the_call_shape() -> None:
    with pytest.raises(TypeError, match=r"@tool needs arguments: write @tool\(desc="):

        @tool  # type: ignore[arg-type]
        async def search(args: Any, ctx: Any) -> Any:
            return args


def test_only_async_two_argument_functions_can_be_tools() -> None:
    decorate = tool(desc="d")

    def sync(args: Any, ctx: Any) -> Any:
        return args

    async def one_argument(args: Any) -> Any:
        return args

    with pytest.raises(TypeError, match="node functions must be 'async def fn"):
        decorate(sync)
    with pytest.raises(ValueError, match="exactly two positional parameters"):
        decorate(one_argument)
    with pytest.raises(TypeError, match="expected an async function"):
        decorate(42)  # type: ignore[type-var]


def test_a_function_is_decorated_once() -> None:
    @tool(desc="first")
    async def twice(args: Any, ctx: Any) -> Any:
        return args

    with pytest.raises(ValueError, match="already decorated with @tool"):
        tool(desc="second")(twice)


def test_tool_name_names_the_node_and_the_registry_entry() -> None:
    @tool(desc="Search", name="search.docs")
    async def search_docs(args: Any, ctx: Any) -> Any:  # untyped: the entry is needed
        return Documents(results=[])

    [spec] = build_catalog([search_docs], _registry(("search.docs", Query, Documents)))
    assert spec.name == spec.node.name == "search.docs"
    with pytest.raises(ValueError, match=r"tools missing from the ModelRegistry: 'search\.docs'"):
        build_catalog([search_docs], _registry(("search_docs", Query, Documents)))


# -- NodeSpec ------------------------------------------------------------------------


def test_json_schemas_describe_nested_models() -> None:
    @tool(desc="Create a customer", side_effects="write")
    async def create_customer(args: Customer, ctx: Any) -> Summary:
        return Summary(text=args.name)

    [spec] = build_catalog([create_customer], _registry(("create_customer", Customer, Summary)))
    schema = spec.args_schema

    assert schema["title"] == "Customer" and schema["type"] == "object"
    assert schema["description"] == "A customer record."
    assert sorted(schema["required"]) == ["addresses", "name", "primary"]
    assert schema["properties"]["name"] == {
        "description": "Full name",
        "title": "Name",
        "type": "string",
    }
    assert schema["properties"]["primary"] == {"$ref": "#/$defs/Address"}
    assert schema["properties"]["addresses"]["type"] == "array"
    assert schema["properties"]["addresses"]["items"] == {"$ref": "#/$defs/Address"}
    address = schema["$defs"]["Address"]
    assert address["required"] == ["city"]
    assert address["properties"]["city"]["type"] == "string"
    assert {"type": "null"} in address["properties"]["zip_code"]["anyOf"]
    assert spec.out_schema["required"] == ["text"]


def test_schemas_and_tool_json_are_fresh_copies() -> None:
    @tool(desc="d")
    async def echo(args: Query, ctx: Any) -> Query:
        return args

    [spec] = build_catalog([echo])

    spec.args_schema["properties"].clear()
    described = spec.to_tool_json()
    described["args_schema"]["required"].append("oops")

    assert spec.args_schema["properties"].keys() == {"text", "top_k"}
    assert spec.to_tool_json()["args_schema"]["required"] == ["text"]


def test_to_tool_json_is_compact_and_json_safe() -> None:
    node = Node(_plain, name="lookup")
    bare = NodeSpec(node, "lookup", "Look up", Query, Documents)
    full = NodeSpec(
        node,
        "lookup",
        "Look up",
        Query,
        Documents,
        side_effects="external",
        tags=("kb",),
        auth_scopes=("kb:read",),
        cost_hint="$0.01",
        latency_hint_ms=50,
        examples=({"text": "penguins"},),
        extra={"source": "mcp", "client": object()},
    )

    assert set(bare.to_tool_json()) == {"name", "desc", "side_effects", "args_schema", "out_schema"}
    described = full.to_tool_json()
    assert json.loads(json.dumps(described)) == described
    assert described == {
        "name": "lookup",
        "desc": "Look up",
        "side_effects": "external",
        "args_schema": Query.model_json_schema(),
        "out_schema": Documents.model_json_schema(),
        "tags": ["kb"],
        "auth_scopes": ["kb:read"],
        "cost_hint": "$0.01",
        "latency_hint_ms": 50.0,
        "examples": [{"text": "penguins"}],
    }
    assert full.extra["source"] == "mcp"  # kept for integrations, never shown to the LLM


def test_node_spec_is_frozen_and_checked() -> None:
    node = Node(_plain, name="n")
    spec = NodeSpec(node, "n", "desc", dict, dict, extra={"k": 1})

    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.desc = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.extra["k"] = 2  # type: ignore[index]
    with pytest.raises(TypeError, match=r"NodeSpec\.node must be a Node; got function"):
        NodeSpec(_plain, "n", "desc", dict, dict)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"NodeSpec\.name must be a non-empty string"):
        NodeSpec(node, "", "desc", dict, dict)
    with pytest.raises(ValueError, match="tool 'n': side_effects must be one of"):
        NodeSpec(node, "n", "desc", dict, dict, side_effects="loud")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tool 'n': cannot build a JSON schema for args_model"):
        NodeSpec(node, "n", "desc", object(), dict)


def test_examples_must_match_the_args_model() -> None:
    @tool(desc="Search", examples=[{"text": "ok"}, {"top_k": 2}])
    async def search(args: Query, ctx: Any) -> Documents:
        return Documents(results=[])

    with pytest.raises(ValueError, match=r"tool 'search': example #1 does not match the args"):
        build_catalog([search], _registry(("search", Query, Documents)))


# -- build_catalog -------------------------------------------------------------------


def test_nodes_and_plain_functions_are_accepted_in_order() -> None:
    @tool(desc="Tagged", tags=("safe",))
    async def tagged(args: Any, ctx: Any) -> Any:
        return args

    node = Node(tagged, name="as_node", policy=NodePolicy(validate="none"))
    registry = _registry(("as_node", dict, dict), ("_plain", dict, dict), ("other", dict, dict))
    other = Node(_plain, name="other")

    catalog = build_catalog([node, _plain, other], registry)

    assert [spec.name for spec in catalog] == ["as_node", "_plain", "other"]
    assert catalog[0].node is node and catalog[0].tags == ("safe",)  # the Node's name wins
    assert catalog[1].desc == "Return the arguments unchanged."  # docstring summary
    assert catalog[1].node.func is _plain
    assert catalog[2].node is other and catalog[2].desc == "Return the arguments unchanged."


# -- models from annotations ---------------------------------------------------------


class _SearchHandler:
    """Search with a configured index."""

    async def __call__(self, args: Query, ctx: Any) -> Documents:
        return Documents(results=[args.text])


async def _search_in(index: str, args: Query, ctx: Any) -> Documents:
    """Search one index."""
    return Documents(results=[index, args.text])


async def _half_typed(args: Query, ctx: Any) -> Any:
    """Typed arguments, untyped result."""
    return args


async def _typed_later(args: DefinedAfterUse, ctx: NeverDefined) -> Documents:  # noqa: F821
    """Arguments typed with a model defined further down this module."""
    return Documents(results=[args.tag])


class DefinedAfterUse(BaseModel):
    tag: str


async def _unresolvable(args: NeverDefined, ctx: Any) -> Documents:  # noqa: F821
    """Arguments typed with a name that exists nowhere."""
    return Documents(results=[])


def test_annotated_tools_need_no_registry() -> None:
    # Before: build_catalog() required a registry holding the same two models again.
    @tool(desc="Search documentation", side_effects="read")
    async def search_docs(args: Query, ctx: Any) -> Documents:
        return Documents(results=[args.text])

    [spec] = build_catalog([search_docs])

    assert (spec.args_model, spec.out_model) == (Query, Documents)
    assert spec.args_schema == Query.model_json_schema()
    assert spec.out_schema == Documents.model_json_schema()
    assert build_catalog([search_docs], ModelRegistry())[0].args_model is Query


def test_annotations_are_read_through_partials_callable_objects_and_nodes() -> None:
    # String annotations (this module has `from __future__ import annotations`) are
    # resolved in the module of the function; the ctx annotation is never evaluated.
    catalog = build_catalog(
        [
            Node(functools.partial(_search_in, "kb"), name="search_kb"),
            Node(_SearchHandler(), name="handler"),
            _typed_later,
        ]
    )

    assert [(s.name, s.args_model, s.out_model) for s in catalog] == [
        ("search_kb", Query, Documents),
        ("handler", Query, Documents),
        ("_typed_later", DefinedAfterUse, Documents),
    ]


def test_registry_entry_wins_but_must_agree_with_annotations() -> None:
    @tool(desc="Search")
    async def search(args: Query, ctx: Any) -> Documents:
        return Documents(results=[])

    [spec] = build_catalog([search], _registry(("search", Query, Documents)))
    assert (spec.args_model, spec.out_model) == (Query, Documents)
    with pytest.raises(ValueError, match=r"'search': its args annotation is Query but the Mod"):
        build_catalog([search], _registry(("search", Summary, Documents)))
    with pytest.raises(ValueError, match=r"its out annotation is Documents .* registers Summary"):
        build_catalog([search], _registry(("search", Query, Summary)))
    # Half-typed: the annotated side is compared, the other comes from the entry.
    [half] = build_catalog([_half_typed], _registry(("_half_typed", Query, Summary)))
    assert (half.args_model, half.out_model) == (Query, Summary)


def test_untyped_or_half_typed_tools_without_an_entry_are_named() -> None:
    with pytest.raises(ValueError, match=r"missing from the ModelRegistry: '_plain', '_half_typ"):
        build_catalog([_plain, _half_typed])


def test_unresolvable_annotation_is_named_unless_an_entry_covers_it() -> None:
    with pytest.raises(TypeError, match=r"annotation 'NeverDefined' of _unresolvable"):
        build_catalog([_unresolvable])
    [spec] = build_catalog([_unresolvable], _registry(("_unresolvable", Query, Documents)))
    assert spec.args_model is Query


def test_every_missing_registration_is_named() -> None:
    registry = _registry(("b", dict, dict))
    nodes = [Node(_plain, name=name) for name in ("a", "b", "c")]

    with pytest.raises(ValueError, match=r"missing from the ModelRegistry: 'a', 'c'; call regi"):
        build_catalog(nodes, registry)


def test_duplicate_names_are_rejected() -> None:
    registry = _registry(("_plain", dict, dict))

    with pytest.raises(ValueError, match="two tools named '_plain'; names must be unique"):
        build_catalog([_plain, Node(_plain)], registry)


def test_a_tool_needs_a_description() -> None:
    with pytest.raises(ValueError, match="tool '_undocumented' has no description: decorate"):
        build_catalog([_undocumented], _registry(("_undocumented", dict, dict)))


def test_bad_catalog_arguments() -> None:
    registry = _registry(("_plain", dict, dict))

    with pytest.raises(TypeError, match=r"wrap the single one in a list: build_catalog\(\[_plain"):
        build_catalog(_plain, registry)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="registry must be a ModelRegistry; got dict"):
        build_catalog([_plain], {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="catalog item #1 must be a Node or an async tool"):
        build_catalog([_plain, "search"], registry)  # type: ignore[list-item]
    assert build_catalog([], registry) == []


def test_catalog_module_imports_no_planner_or_llm_code() -> None:
    code = (
        "import sys, penguiflow.catalog\n"
        "print(sorted(m for m in sys.modules if m.startswith(('penguiflow.planner', 'litellm', "
        "'openai', 'anthropic', 'httpx', 'penguiflow.tools'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )

    assert done.stdout.strip() == "[]"


def test_docstring_examples_hold() -> None:
    failed, attempted = doctest.testmod(penguiflow.catalog)

    assert failed == 0 and attempted >= 10
