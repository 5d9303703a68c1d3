"""The wire form of flow items: what crosses to a worker process and back."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import BaseModel

from penguiflow import FlowError, FlowErrorCode, Headers, Message
from penguiflow.distributed._wire import WireError, decode_item, encode_item


class Doc(BaseModel):
    id: int
    text: str


class Batch(BaseModel):
    docs: list[Doc]


def test_a_message_with_a_model_payload_comes_back_equal() -> None:
    message = Message(
        payload=Batch(docs=[Doc(id=1, text="héllo ✓")]),
        headers=Headers(tenant="acme", topic="t", priority=3),
        deadline_s=1e10,
        meta={"cost": 1.5, "doc": Doc(id=2, text="in meta"), "tags": ["a", None]},
    )
    back = decode_item(encode_item(message, "test"))
    assert isinstance(back, Message)
    assert back.payload == message.payload and type(back.payload) is Batch
    assert back.headers == message.headers
    assert (back.trace_id, back.ts, back.deadline_s) == (
        message.trace_id,
        message.ts,
        message.deadline_s,
    )
    assert back.meta == message.meta and type(back.meta["doc"]) is Doc


@pytest.mark.parametrize("payload", [None, 3, 2.5, "x", True, [1, {"a": [2]}], {"k": {"n": None}}])
def test_plain_json_payloads_travel_as_they_are(payload: Any) -> None:
    assert decode_item(encode_item(payload, "test")) == payload


def test_a_flow_error_keeps_its_code_and_details() -> None:
    error = FlowError(
        trace_id="t1",
        node_name="heavy",
        node_id="n1",
        code=FlowErrorCode.NODE_TIMEOUT,
        message="too slow",
        original_exc=TimeoutError("boom"),
        metadata={"attempts": 3},
    )
    back = decode_item(encode_item(error, "test"))
    assert isinstance(back, FlowError)
    assert (back.trace_id, back.node_name, back.code, back.message) == (
        "t1",
        "heavy",
        FlowErrorCode.NODE_TIMEOUT,
        "too slow",
    )
    assert back.metadata["attempts"] == 3
    assert back.metadata["original_exc"] == {"type": "TimeoutError", "message": "boom"}


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({1, 2}, "payload is a set"),
        (object(), "payload is a object"),
        (math.nan, "nan"),
        ({1: "x"}, "non-string key 1"),
        ({"__pf_model__": "x"}, "reserved key"),
        ([b"bytes"], "payload[0] is a bytes"),
    ],
)
def test_values_json_cannot_carry_are_refused_naming_the_sender(value: Any, words: str) -> None:
    with pytest.raises(WireError, match="node 'heavy'") as info:
        encode_item(value, "node 'heavy'")
    assert words in str(info.value)


def test_a_model_this_process_has_not_loaded_is_refused_not_imported() -> None:
    data = {"kind": "payload", "payload": {"__pf_model__": "json.decoder:JSONDecoder", "data": {}}}
    with pytest.raises(WireError, match="not a pydantic model"):
        decode_item(data)
    data["payload"]["__pf_model__"] = "surely_not_a_module_xyz:Model"
    with pytest.raises(WireError, match="not loaded in this process"):
        decode_item(data)
    import sys

    assert "surely_not_a_module_xyz" not in sys.modules


def test_data_that_does_not_fit_the_model_is_reported() -> None:
    data = encode_item(Doc(id=1, text="x"), "test")
    data["payload"]["data"] = {"id": "not a number", "text": "x"}
    with pytest.raises(WireError, match="does not fit model"):
        decode_item(data)


@pytest.mark.parametrize("bad", [[], {"kind": "other"}, {"kind": "message", "message": None}])
def test_malformed_items_are_reported(bad: Any) -> None:
    with pytest.raises(WireError):
        decode_item(bad)
