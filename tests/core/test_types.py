"""Message envelopes and controller types (penguiflow.types)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from penguiflow import WM, FinalAnswer, Headers, Message, StreamChunk, Thought


class Out(BaseModel):
    prompt: str


def test_message_defaults_are_unique_and_tenant_is_required():
    a = Message(payload=1, headers=Headers(tenant="acme"))
    b = Message(payload=1, headers=Headers(tenant="acme"))
    assert a.trace_id != b.trace_id and len(a.trace_id) == 32
    assert a.meta == {} and a.meta is not b.meta
    assert a.deadline_s is None and a.ts > 0
    with pytest.raises(ValidationError, match="tenant"):
        Headers()  # type: ignore[call-arg]


def test_message_reads_fall_through_to_payload():
    msg = Message(payload=Out(prompt="hi"), headers=Headers(tenant="t"))
    assert msg.prompt == "hi"
    assert msg.payload.prompt == "hi"
    with pytest.raises(AttributeError, match="neither has its payload"):
        _ = msg.missing
    with pytest.raises(AttributeError):
        _ = msg._private_thing


def test_message_round_trips_through_json():
    msg = Message(payload={"x": 1}, headers=Headers(tenant="t", topic="a"), meta={"k": [1]})
    again = Message.model_validate_json(msg.model_dump_json())
    assert again == msg


def test_controller_types_defaults():
    wm = WM(query="q")
    assert (wm.hops, wm.budget_hops, wm.tokens_used, wm.budget_tokens) == (0, 8, 0, None)
    assert FinalAnswer(text="t").citations == []
    assert Thought().steps == []
    chunk = StreamChunk(stream_id="s", seq=0, text="a")
    assert chunk.done is False and chunk.meta == {}
