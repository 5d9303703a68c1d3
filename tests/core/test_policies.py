"""Routing policies: RoutingRequest, the RoutingPolicy protocol and DictRoutingPolicy."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from penguiflow import FlowError, Headers, Message, Node, NodePolicy, PenguiFlow, create
from penguiflow.patterns import predicate_router, union_router
from penguiflow.policies import (
    DictRoutingPolicy,
    RoutingPolicy,
    RoutingRequest,
    default_routing_key,
)

NONE = NodePolicy(validate="none")
Stop = Callable[[PenguiFlow], PenguiFlow]


class FakeContext:
    """Just enough of a Context for calling a policy directly."""

    def __init__(self, message: Message | None = None) -> None:
        self.message = message


def node(name: str) -> Node:
    async def fn(msg: Any, _ctx: Any) -> Any:
        return msg

    return Node(fn, name=name, policy=NONE)


def request(message: Any, *proposed: Node, envelope: Message | None = None) -> RoutingRequest:
    return RoutingRequest(
        message=message,
        context=FakeContext(envelope),  # type: ignore[arg-type]
        node_name="router",
        proposed=proposed,
        trace_id=getattr(message, "trace_id", None),
    )


def topic(name: str | None, payload: Any = "x") -> Message:
    return Message(payload=payload, headers=Headers(tenant="acme", topic=name))


# -- RoutingRequest and the protocol --------------------------------------------------


def test_routing_request_is_frozen_and_names_its_proposal() -> None:
    a, b = node("a"), node("b")
    req = request(topic("t"), a, b)
    assert req.proposed_names == ("a", "b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        req.node_name = "other"  # type: ignore[misc]


def test_anything_with_select_is_a_routing_policy() -> None:
    class Mine:
        async def select(self, request: RoutingRequest) -> None:
            return None

    assert isinstance(Mine(), RoutingPolicy)
    assert isinstance(DictRoutingPolicy({}), RoutingPolicy)
    assert not isinstance(object(), RoutingPolicy)


# -- DictRoutingPolicy.select -----------------------------------------------------------


def test_default_key_is_the_topic_or_a_str_payload() -> None:
    msg = topic("billing")
    assert default_routing_key(request(msg)) == "billing"
    assert default_routing_key(request(topic(None))) is None
    assert default_routing_key(request("billing")) == "billing"
    assert default_routing_key(request(42)) is None
    # A router that got only the payload: the key comes from the envelope in the context.
    assert default_routing_key(request({"q": 1}, envelope=msg)) == "billing"


def test_mapping_hit_default_and_keep() -> None:
    a = node("a")
    policy = DictRoutingPolicy({"billing": "ledger", "refund": ["ledger", "audit"]})
    assert policy.select(request(topic("billing"), a)) == ("ledger",)
    assert policy.select(request(topic("refund"), a)) == ("ledger", "audit")
    assert policy.select(request(topic("other"), a)) == (a,)  # no key match: keep
    assert policy.select(request(topic(None), a)) == (a,)  # no key at all: keep
    with_default = DictRoutingPolicy({"billing": "ledger"}, default="triage")
    assert with_default.select(request(topic("other"), a)) == ("triage",)
    assert with_default.default == ("triage",)


def test_none_and_empty_values_drop() -> None:
    policy = DictRoutingPolicy({"spam": None, "noise": []}, default="inbox")
    assert policy.select(request(topic("spam"))) is None
    assert policy.select(request(topic("noise"))) == ()


def test_custom_key_getter() -> None:
    policy = DictRoutingPolicy(
        {"tenant-a": "faiss", "tenant-b": "hybrid"},
        key_getter=lambda req: req.message.headers.tenant,
    )
    msg = Message(payload="q", headers=Headers(tenant="tenant-b"))
    assert policy.key_for(request(msg)) == "tenant-b"
    assert policy.select(request(msg)) == ("hybrid",)


def test_unhashable_key_is_a_clear_error() -> None:
    policy = DictRoutingPolicy({"a": "b"}, key_getter=lambda req: ["not", "hashable"])
    with pytest.raises(TypeError, match="key for router 'router' must be hashable"):
        policy.select(request("x"))


@pytest.mark.parametrize(
    ("mapping", "error", "match"),
    [
        (["a"], TypeError, "mapping must be a mapping"),
        ({"k": 3}, TypeError, r"mapping\['k'\] must be a successor name or a list"),
        ({"k": ["a", 1]}, TypeError, r"mapping\['k'\] must be"),
        ({"k": {"a": 1}}, TypeError, r"mapping\['k'\] must be"),
        ({"k": ""}, ValueError, "empty node name"),
        ({"k": ["a", ""]}, ValueError, "empty node name"),
    ],
)
def test_bad_mappings_are_rejected(mapping: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        DictRoutingPolicy(mapping)


def test_bad_default_and_key_getter_are_rejected() -> None:
    with pytest.raises(TypeError, match="default must be a successor name"):
        DictRoutingPolicy({}, default=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key_getter must be callable"):
        DictRoutingPolicy({}, key_getter="topic")  # type: ignore[arg-type]


def test_update_mapping_replaces_atomically() -> None:
    policy = DictRoutingPolicy({"billing": "ledger"})
    policy.update_mapping({"billing": "audit"})
    assert policy.select(request(topic("billing"))) == ("audit",)
    with pytest.raises(TypeError):
        policy.update_mapping({"billing": "ok", "refund": 7})  # type: ignore[dict-item]
    assert policy.mapping == {"billing": ("audit",)}  # the bad update changed nothing
    assert repr(policy) == "DictRoutingPolicy(1 key, default=None)"


# -- loaders -----------------------------------------------------------------------


def test_from_json_and_its_errors() -> None:
    policy = DictRoutingPolicy.from_json('{"billing": "ledger", "refund": ["a", "b"]}', default="x")
    assert policy.mapping == {"billing": ("ledger",), "refund": ("a", "b")}
    assert policy.default == ("x",)
    with pytest.raises(ValueError, match="JSON text is not valid JSON"):
        DictRoutingPolicy.from_json("{billing: ledger}")
    with pytest.raises(ValueError, match=r"must hold a JSON object .* got a JSON list"):
        DictRoutingPolicy.from_json('["ledger"]')
    with pytest.raises(TypeError, match=r"mapping\['billing'\]"):
        DictRoutingPolicy.from_json('{"billing": 1}')


def test_from_json_file(tmp_path: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text('{"billing": "ledger"}', encoding="utf-8")
    policy = DictRoutingPolicy.from_json_file(path, key_getter=lambda req: "billing")
    assert policy.select(request(42)) == ("ledger",)
    path.write_text("not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"routes\.json' is not valid JSON"):
        DictRoutingPolicy.from_json_file(str(path))
    with pytest.raises(FileNotFoundError):
        DictRoutingPolicy.from_json_file(tmp_path / "missing.json")


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTES", '{"billing": ["ledger"]}')
    assert DictRoutingPolicy.from_env("ROUTES").mapping == {"billing": ("ledger",)}
    monkeypatch.delenv("ROUTES")
    with pytest.raises(ValueError, match="environment variable 'ROUTES' is not set"):
        DictRoutingPolicy.from_env("ROUTES")
    monkeypatch.setenv("ROUTES", "  ")
    with pytest.raises(ValueError, match="'ROUTES' is empty"):
        DictRoutingPolicy.from_env("ROUTES")
    monkeypatch.setenv("ROUTES", "{")
    with pytest.raises(ValueError, match="environment variable 'ROUTES' is not valid JSON"):
        DictRoutingPolicy.from_env("ROUTES")


# -- acceptance: one flow, two configurations ----------------------------------------


def build_flow(policy: DictRoutingPolicy) -> tuple[PenguiFlow, list[str]]:
    """triage -> {faiss, hybrid, keyword}; each branch appends its name to the payload."""
    routes: list[str] = []

    def branch(name: str) -> Node:
        async def fn(msg: Message, _ctx: Any) -> Message:
            routes.append(f"{msg.headers.tenant}->{name}")
            return msg

        return Node(fn, name=name, policy=NONE)

    faiss, hybrid, keyword = branch("faiss"), branch("hybrid"), branch("keyword")
    triage = predicate_router("triage", lambda msg: "keyword", policy=policy)
    flow = create(triage.to(faiss, hybrid, keyword), faiss.to(), hybrid.to(), keyword.to())
    return flow, routes


async def run_config(policy: DictRoutingPolicy) -> list[str]:
    flow, routes = build_flow(policy)
    flow.run()
    try:
        for tenant in ["tenant-a", "tenant-b", "tenant-c"] * 20:
            msg = Message(payload="query", headers=Headers(tenant=tenant))
            await flow.emit(msg)
            await asyncio.wait_for(flow.fetch(trace_id=msg.trace_id), 5)
    finally:
        await flow.stop()
    return routes


async def test_same_flow_two_configs_route_differently_and_deterministically() -> None:
    by_tenant = {"key_getter": lambda req: req.message.headers.tenant}
    config_1 = '{"tenant-a": "faiss", "tenant-b": "hybrid"}'
    config_2 = '{"tenant-a": "hybrid", "tenant-b": "faiss", "tenant-c": ["faiss", "hybrid"]}'

    first = await run_config(DictRoutingPolicy.from_json(config_1, **by_tenant))
    second = await run_config(DictRoutingPolicy.from_json(config_2, **by_tenant))

    assert first[:3] == ["tenant-a->faiss", "tenant-b->hybrid", "tenant-c->keyword"]
    assert first == first[:3] * 20
    assert second[:2] == ["tenant-a->hybrid", "tenant-b->faiss"]
    assert len(second) == 80  # tenant-c fans out to two branches
    # Deterministic: the same configuration routes the same way every time.
    assert await run_config(DictRoutingPolicy.from_json(config_1, **by_tenant)) == first


async def test_policy_naming_an_unknown_node_fails_with_a_clear_error(
    stop_after: Stop,
) -> None:
    policy = DictRoutingPolicy({"billing": "ledgre"})  # typo
    router = predicate_router("triage", lambda msg: "ledger", policy=policy)
    flow = stop_after(
        create(router.to(node("ledger"), node("support")), emit_errors_to_rookery=True)
    )
    flow.run()
    await flow.emit(topic("billing"))
    error = await asyncio.wait_for(flow.fetch(), 5)
    assert isinstance(error, FlowError)
    assert error.node_name == "triage"
    assert "DictRoutingPolicy" in error.message
    assert "selected 'ledgre', which is not a successor of 'triage'" in error.message
    assert "successors: ['ledger', 'support']" in error.message


async def test_union_router_with_a_dict_policy(stop_after: Stop) -> None:
    policy = DictRoutingPolicy({"audit": "audit"})
    router = union_router("by_type", int | str, policy=policy)
    flow = stop_after(create(router.to(node("int"), node("str"), node("audit"))))
    flow.run()
    await flow.emit(Message(payload=5, headers=Headers(tenant="t")))
    await flow.emit(Message(payload=6, headers=Headers(tenant="t", topic="audit")))
    assert (await asyncio.wait_for(flow.fetch("int"), 5)).payload == 5
    assert (await asyncio.wait_for(flow.fetch("audit"), 5)).payload == 6
