"""InMemoryStateStore specifics; the shared contract is in test_conformance.py."""

from __future__ import annotations

import asyncio
import math

import pytest

from penguiflow.state import InMemoryStateStore, RemoteBinding, StateStoreError, StoredEvent


def _event(trace: str = "t1", **changes: object) -> StoredEvent:
    fields: dict[str, object] = {"trace_id": trace, "ts": 1.0, "kind": "node_start"}
    fields.update(changes)
    return StoredEvent(**fields)  # type: ignore[arg-type]


async def test_open_accepts_only_the_memory_url() -> None:
    store = await InMemoryStateStore.open("memory://")
    assert isinstance(store, InMemoryStateStore)
    with pytest.raises(ValueError, match="'memory://' only"):
        await InMemoryStateStore.open("memory://named")
    with pytest.raises(TypeError, match="unexpected keyword argument 'prefix'"):
        await InMemoryStateStore.open("memory://", prefix="x")  # type: ignore[call-arg]


async def test_create_false_is_refused_since_no_in_memory_store_exists_beforehand() -> None:
    assert isinstance(await InMemoryStateStore.open("memory://", create=True), InMemoryStateStore)
    with pytest.raises(StateStoreError, match=r"memory:// never holds an existing state store"):
        await InMemoryStateStore.open("memory://", create=False)


async def test_each_store_is_independent() -> None:
    first, second = InMemoryStateStore(), InMemoryStateStore()
    await first.save_event(_event())
    assert await second.load_history("t1") == []


async def test_use_after_close_raises_but_data_stays_until_destroy() -> None:
    store = InMemoryStateStore()
    event = _event()
    await store.save_event(event)
    await store.close()
    with pytest.raises(StateStoreError, match="closed"):
        await store.load_history("t1")
    with pytest.raises(StateStoreError, match="closed"):
        await store.save_planner_state("tok", {})
    assert store._events  # closing alone keeps the data (a test may inspect it)
    await store.destroy()
    assert not store._events and not store._event_ids


async def test_saved_event_is_isolated_from_later_mutation() -> None:
    store = InMemoryStateStore()
    payload = {"items": [1, 2]}
    await store.save_event(_event(payload=payload))
    payload["items"].append(3)
    loaded = (await store.load_history("t1"))[0]
    assert loaded.payload == {"items": [1, 2]}
    loaded.payload["items"].append(99)
    assert (await store.load_history("t1"))[0].payload == {"items": [1, 2]}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"when": object()}, "payload of event .* is not JSON-serialisable"),
        ({"x": math.nan}, "is not JSON-serialisable"),
        ({"x": math.inf}, "is not JSON-serialisable"),
    ],
)
async def test_non_json_payload_is_rejected_and_nothing_is_stored(
    payload: dict[str, object], message: str
) -> None:
    store = InMemoryStateStore()
    event = _event(payload=payload)
    with pytest.raises(TypeError, match=message):
        await store.save_event(event)
    assert await store.load_history("t1") == []
    # The failed save did not burn the event id: a corrected event with it is stored.
    await store.save_event(StoredEvent(trace_id="t1", ts=1.0, kind="k", event_id=event.event_id))
    assert len(await store.load_history("t1")) == 1


@pytest.mark.parametrize(
    ("event", "error", "message"),
    [
        (_event(event_id=""), ValueError, "event_id must be a non-empty string"),
        (_event(kind=""), ValueError, "kind must be a non-empty string"),
        (_event(ts=math.nan), ValueError, "ts must be a finite number"),
        (_event(ts="yesterday"), ValueError, "ts must be a finite number"),
        (_event(trace=42), TypeError, "trace_id must be a string or None"),
    ],
)
async def test_malformed_events_are_rejected(
    event: StoredEvent, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await InMemoryStateStore().save_event(event)


async def test_wrong_argument_types_are_rejected() -> None:
    store = InMemoryStateStore()
    with pytest.raises(TypeError, match="takes a StoredEvent, got dict"):
        await store.save_event({"trace_id": "t"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes a RemoteBinding, got tuple"):
        await store.save_remote_binding(("t", None, "task", "url"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="trace_id must be a string, got NoneType"):
        await store.load_history(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tenant must not be empty"):
        await store.load_history("t1", tenant="")
    with pytest.raises(TypeError, match="planner state 'tok' must be a dict, got list"):
        await store.save_planner_state("tok", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key must not be empty"):
        await store.save_memory_state("", {})


async def test_events_without_a_trace_are_kept_but_never_listed() -> None:
    store = InMemoryStateStore()
    await store.save_event(_event(trace=None))
    await store.save_event(_event())
    assert [e.trace_id for e in await store.load_history("t1")] == ["t1"]


async def test_first_binding_for_a_task_wins() -> None:
    store = InMemoryStateStore()
    first = RemoteBinding("t1", "ctx-a", "task", "https://a.example")
    await store.save_remote_binding(first)
    await store.save_remote_binding(RemoteBinding("t1", "ctx-b", "task", "https://b.example"))
    assert await store.load_remote_bindings("t1") == [first]


async def test_async_with_closes() -> None:
    async with InMemoryStateStore() as store:
        await store.save_event(_event())
    with pytest.raises(StateStoreError):
        await store.load_history("t1")


async def test_concurrent_saves_of_one_event_store_it_once() -> None:
    store = InMemoryStateStore()
    event = _event()
    await asyncio.gather(*(store.save_event(event) for _ in range(100)))
    assert await store.load_history("t1") == [event]
