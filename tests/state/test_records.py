"""The checks every record store shares: argument errors, indexed values, page tokens."""

from __future__ import annotations

import base64
import json

import pytest

from penguiflow.state import InMemoryStateStore, RecordConflict, StateStoreError
from penguiflow.state._records import MAX_LIMIT, list_query, tag


def test_tags_keep_types_apart() -> None:
    values = [1, 1.0, True, "1", None, "", 0, False, 0.0]
    tags = [tag(value, field="f") for value in values]
    assert len(set(tags)) == len(values)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (float("nan"), ValueError, "indexed field 'f' must be finite"),
        ([1], TypeError, "indexed field 'f' must be a str, int, float, bool or None, got list"),
        ({"a": 1}, TypeError, "got dict"),
    ],
)
def test_indexed_values_must_be_scalars(
    value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        tag(value, field="f")


async def test_errors_name_the_argument_and_what_to_do() -> None:
    store = InMemoryStateStore()
    with pytest.raises(ValueError, match="tenant is required for records"):
        await store.get_record("k", "key", tenant=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="indexed field name 'a-b' must be 1-64 letters"):
        await store.put_record("k", "key", {}, tenant="t", indexed={"a-b": 1})
    with pytest.raises(ValueError, match="at most 16 are allowed"):
        await store.put_record("k", "key", {}, tenant="t", indexed={f"f{i}": i for i in range(17)})
    with pytest.raises(TypeError, match="expected_version must be an int"):
        await store.put_record("k", "key", {}, tenant="t", expected_version=True)
    with pytest.raises(TypeError, match="value of record 'k'/'key' is not JSON-serialisable"):
        await store.put_record("k", "key", {"x": object()}, tenant="t")
    with pytest.raises(ValueError, match=r"order_by must be one of 'updated_at'/'-updated_at'"):
        await store.list_records("k", tenant="t", order_by="updated")
    with pytest.raises(ValueError, match=f"limit must be an int from 1 to {MAX_LIMIT}"):
        await store.list_records("k", tenant="t", limit=MAX_LIMIT + 1)


def test_a_conflict_says_what_was_expected_and_found() -> None:
    conflict = RecordConflict("task", "t1", expected=0, current=3)
    assert isinstance(conflict, StateStoreError)
    assert str(conflict) == (
        "record 'task'/'t1': expected no record (create only), found version 3; "
        "read it again and retry the write on the current version"
    )
    assert (conflict.kind, conflict.key, conflict.expected, conflict.current) == (
        "task",
        "t1",
        0,
        3,
    )


async def test_a_page_token_only_continues_its_own_query() -> None:
    store = InMemoryStateStore()
    for key in "abc":
        await store.put_record("k", key, {}, tenant="t", indexed={"s": "x"})
    page = await store.list_records("k", tenant="t", where={"s": "x"}, order_by="key", limit=1)
    token = page.next_page_token
    assert token is not None
    following = await store.list_records(
        "k", tenant="t", where={"s": "x"}, order_by="key", limit=1, page_token=token
    )
    assert [r.key for r in following.records] == ["b"]
    for other in (
        {"order_by": "-key"},
        {"where": {"s": "y"}},
        {"where": None},
        {"tenant": "u"},
    ):
        arguments = {"tenant": "t", "where": {"s": "x"}, "order_by": "key", **other}
        with pytest.raises(ValueError, match="page_token was issued for another query"):
            await store.list_records("k", limit=1, page_token=token, **arguments)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="page_token was issued for another query"):
        await store.list_records("other-kind", tenant="t", where={"s": "x"}, page_token=token)


def test_a_damaged_page_token_is_refused() -> None:
    query = list_query("k", "t", None, "updated_at", 10, None)
    forged = {"f": query.fingerprint, "v": "not-a-number", "k": "a"}
    token = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
    with pytest.raises(ValueError, match="is damaged"):
        list_query("k", "t", None, "updated_at", 10, token)
    with pytest.raises(ValueError, match="is not a page token of list_records"):
        list_query("k", "t", None, "updated_at", 10, "bm90IGpzb24")
