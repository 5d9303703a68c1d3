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


@pytest.mark.parametrize("blank", ["", " ", "\t\n"])
def test_empty_or_blank_trace_id_and_tenant_are_rejected(blank: str):
    # Before: accepted, and the history they keyed could never be read back.
    with pytest.raises(ValidationError, match=r"(?s)Headers\ntenant\n"):
        Headers(tenant=blank)
    with pytest.raises(ValidationError, match=r"(?s)Message\ntrace_id\n"):
        Message(payload=1, headers=Headers(tenant="acme"), trace_id=blank)
    wire = Message(payload=1, headers=Headers(tenant="acme")).model_dump()
    wire["trace_id"] = blank
    with pytest.raises(ValidationError, match="trace_id"):
        Message.model_validate(wire)


def test_explicit_trace_id_and_tenant_with_spaces_inside_are_kept():
    msg = Message(payload=1, headers=Headers(tenant=" acme "), trace_id=" run 1 ")
    assert (msg.trace_id, msg.headers.tenant) == (" run 1 ", " acme ")
    copy = msg.model_copy(update={"payload": 2})
    assert copy.trace_id == msg.trace_id and copy.headers is msg.headers
