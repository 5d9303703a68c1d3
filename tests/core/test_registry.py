"""ModelRegistry: cached adapters per node (penguiflow.registry)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from penguiflow import Message, ModelRegistry


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
