"""ModelRegistry: cached adapters per node (penguiflow.registry)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import Message, ModelRegistry, Node
from penguiflow.registry import annotated_models


class In(BaseModel):
    x: int


def test_register_and_lookup():
    registry = ModelRegistry()
    registry.register("a", In, In)
    in_adapter, _ = registry.adapters("a")
    assert in_adapter.validate_python({"x": "3"}) == In(x=3)
    assert registry.adapters("a")[0] is in_adapter  # cached, not rebuilt
    assert registry.models("a") == (In, In)
    assert "a" in registry and registry.names() == ["a"]
    entry = registry.get("a")
    assert entry is not None and entry.unwraps_envelope is True


def test_message_input_model_keeps_envelope():
    registry = ModelRegistry()
    registry.register("env", Message, Message)
    entry = registry.get("env")
    assert entry is not None and entry.unwraps_envelope is False


def test_errors():
    registry = ModelRegistry()
    registry.register("a", In, In)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a", In, In)
    with pytest.raises(KeyError, match="'b' is not registered"):
        registry.adapters("b")
    with pytest.raises(ValueError, match="non-empty"):
        registry.register("", In, In)


class Out(BaseModel):
    y: int


async def typed(msg: In, ctx: Any) -> Out:
    return Out(y=msg.x)


async def envelope(msg: Message, ctx: Any) -> Message:
    return msg


async def untyped(msg: Any, ctx: Any) -> Any:
    return msg


async def returns_nothing(msg: In, ctx: Any) -> None:
    return None


async def unresolvable(msg: Missing, ctx: Any) -> Out:  # noqa: F821
    return Out(y=0)


def test_annotated_models_reads_message_and_return_annotations():
    empty = inspect.Parameter.empty
    assert annotated_models(typed) == (In, Out)
    assert annotated_models(returns_nothing) == (In, type(None))
    assert annotated_models(untyped) == (empty, empty)  # Any declares no contract
    assert annotated_models(print) == (empty, empty)  # no signature to read
    with pytest.raises(TypeError, match=r"message parameter annotation 'Missing' of unresolv"):
        annotated_models(unresolvable)


def test_register_from_annotations_mirrors_register():
    registry = ModelRegistry()
    assert registry.register_from_annotations(Node(typed)) is True
    assert registry.models("typed") == (In, Out)
    entry = registry.get("typed")
    assert entry is not None and entry.unwraps_envelope is True
    assert registry.register_from_annotations(Node(envelope)) is True
    entry = registry.get("envelope")
    assert entry is not None and entry.unwraps_envelope is False  # Message: whole envelopes
    assert registry.register_from_annotations(Node(untyped)) is False
    assert "untyped" not in registry
    with pytest.raises(ValueError, match="already registered"):
        registry.register_from_annotations(Node(typed))
    with pytest.raises(TypeError, match=r"node 'unresolvable': cannot resolve"):
        registry.register_from_annotations(Node(unresolvable))


def test_copy_shares_entries_but_not_later_registrations():
    registry = ModelRegistry()
    registry.register("a", In, In)
    twin = registry.copy()
    twin.register("b", In, In)
    assert twin.names() == ["a", "b"] and registry.names() == ["a"]
    assert twin.adapters("a")[0] is registry.adapters("a")[0]
