"""MemoryKey: validation, the composite form and its inverse."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from penguiflow.planner.memory import MemoryKey, MemoryKeyError


def test_composite_is_tenant_user_session() -> None:
    key = MemoryKey(tenant_id="acme", user_id="user123", session_id="sess-abc")
    assert key.composite() == "acme:user123:sess-abc"
    assert str(key) == "acme:user123:sess-abc"
    assert MemoryKey.parse("acme:user123:sess-abc") == key


def test_separators_inside_parts_cannot_make_two_keys_collide() -> None:
    first = MemoryKey(tenant_id="a:b", user_id="c", session_id="d")
    second = MemoryKey(tenant_id="a", user_id="b:c", session_id="d")
    assert first.composite() != second.composite()
    assert MemoryKey.parse(first.composite()) == first
    assert MemoryKey.parse(second.composite()) == second


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(min_size=1).filter(str.strip), min_size=3, max_size=3))
def test_any_key_round_trips_through_its_composite(parts: list[str]) -> None:
    key = MemoryKey(*parts)
    assert MemoryKey.parse(key.composite()) == key


@pytest.mark.parametrize("field", ["tenant_id", "user_id", "session_id"])
@pytest.mark.parametrize("value", ["", "   ", None, 7])
def test_each_part_must_be_a_non_blank_string(field: str, value: object) -> None:
    parts: dict[str, object] = {"tenant_id": "t", "user_id": "u", "session_id": "s", field: value}
    with pytest.raises(MemoryKeyError, match=f"MemoryKey.{field}"):
        MemoryKey(**parts)  # type: ignore[arg-type]


@pytest.mark.parametrize("composite", ["a:b", "a:b:c:d", "::", "a::c"])
def test_parse_rejects_what_is_not_three_parts(composite: str) -> None:
    with pytest.raises(MemoryKeyError):
        MemoryKey.parse(composite)


def test_keys_are_frozen_and_hashable() -> None:
    key = MemoryKey("t", "u", "s")
    assert {key: 1}[MemoryKey("t", "u", "s")] == 1
    with pytest.raises(AttributeError):
        key.tenant_id = "other"  # type: ignore[misc]
