"""`StateStoreConformance`: the behaviour every StateStore backend must show, as runnable cases.

One suite runs unchanged against every backend, built-in or third-party.
It needs only a *factory*: a zero-argument coroutine function that opens a
store on the backend's storage under test. Each case opens its store(s)
through the factory and closes them; a case that reopens must see what the
previous store wrote, so the factory must reopen the *same* storage (the
same file, schema or key prefix) every time. Cases use fresh random trace
ids and keys, so they can share that storage; cleaning it up afterwards is
the caller's job.

Plain asyncio::

    report = await StateStoreConformance(lambda: MyStore.open(url)).run_all()

pytest, one test per case::

    @pytest.mark.parametrize("case", StateStoreConformance.cases())
    async def test_my_store(case: str) -> None:
        suite = StateStoreConformance(lambda: MyStore.open(url))
        if (reason := suite.skip_reason(case)) is not None:
            pytest.skip(reason)
        await suite.run(case)

A failed check raises ``AssertionError`` naming the case and what differed.
Nothing here imports pytest or any driver.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from penguiflow._drivers.conformance import UNICODE_SAMPLES as _UNICODE_SAMPLES
from penguiflow._drivers.conformance import ConformanceSuite
from penguiflow._drivers.conformance import check as _check
from penguiflow._drivers.conformance import same as _same
from penguiflow.errors import PenguiFlowError
from penguiflow.state._record_conformance import RecordCases
from penguiflow.state.base import RemoteBinding, StateStore, StoredEvent

__all__ = ["ConformanceReport", "ConformanceSkipped", "StateStoreConformance", "StoreFactory"]

StoreFactory = Callable[[], Awaitable[StateStore]]
"""Opens a store on the storage under test (the same storage on every call)."""


class ConformanceSkipped(PenguiFlowError):
    """`StateStoreConformance.run` was asked for a case this backend declared it cannot meet."""


@dataclass(frozen=True, slots=True)
class ConformanceReport:
    """What `StateStoreConformance.run_all` did.

    Attributes:
        passed: Cases that passed, in run order.
        skipped: Case name -> reason, for cases the backend opted out of.
    """

    passed: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)


def _uid(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:16]}"


class StateStoreConformance(RecordCases, ConformanceSuite[StateStore, ConformanceReport]):
    """The reusable StateStore conformance suite.

    Cases are listed by `cases`, run one at a time by `run` (which raises
    `ConformanceSkipped` for a case `skip_reason` rules out) and all at once
    by `run_all`, which returns a `ConformanceReport`.

    Args:
        factory: Zero-argument coroutine function returning an open store on
            the storage under test; every call must reach the same storage.
        persistent: Whether what one store wrote is visible to the next store
            the factory opens. ``False`` (the in-memory store) skips the
            cases that reopen.
        timeout_s: Upper bound for one case; a hanging backend fails the
            case instead of the whole test run.

    Raises:
        TypeError: ``factory`` is not callable.
        ValueError: ``timeout_s`` is not positive.
    """

    _resource_type = StateStore
    _resource_phrase = "not a StateStore"
    _report_type = ConformanceReport
    _skipped_type = ConformanceSkipped

    def __init__(
        self,
        factory: StoreFactory,
        *,
        persistent: bool = True,
        timeout_s: float = 120.0,
    ) -> None:
        super().__init__(factory, timeout_s=timeout_s)
        self._persistent = persistent

    def _opt_out(self, case: str) -> str | None:
        if case in ("reopen_persistence", "record_reopen") and not self._persistent:
            return "the store keeps nothing once closed (persistent=False)"
        return None

    # -- idempotent writes ----------------------------------------------------
    async def case_idempotent_events(self) -> None:
        """Saving the same event (same ``event_id``) twice stores it once."""
        trace = _uid("idem")
        event = StoredEvent(
            trace_id=trace, ts=10.0, kind="node_start", node_name="a", payload={"n": 1}
        )
        async with self._open() as store:
            await store.save_event(event)
            await store.save_event(event)
            await store.save_event(StoredEvent.from_dict(event.to_dict()))  # an equal copy
            _same(
                await store.load_history(trace),
                [event],
                "history after saving one event three times",
            )
            second = StoredEvent(trace_id=trace, ts=11.0, kind="node_end", node_name="a")
            await store.save_event(second)
            await store.save_event(event)
            _same(await store.load_history(trace), [event, second], "history after a re-save")

    async def case_idempotent_bindings(self) -> None:
        """Saving the same remote binding twice stores it once."""
        trace = _uid("bind")
        binding = RemoteBinding(
            trace, "ctx-1", "task-1", "https://agent.example/a2a", tenant="acme"
        )
        async with self._open() as store:
            await store.save_remote_binding(binding)
            await store.save_remote_binding(binding)
            _same(
                await store.load_remote_bindings(trace), [binding], "bindings after a double save"
            )

    async def case_concurrent_duplicates(self) -> None:
        """Many tasks saving the same events at once still store each one once."""
        trace = _uid("dupes")
        events = [
            StoredEvent(trace_id=trace, ts=float(i), kind="tick", payload={"i": i})
            for i in range(50)
        ]
        async with self._open() as store:
            await asyncio.gather(*(store.save_event(e) for _ in range(5) for e in events))
            history = await store.load_history(trace)
        _same(len(history), len(events), "number of events after 5 concurrent saves of each")
        _same({e.event_id for e in history}, {e.event_id for e in events}, "stored event ids")

    # -- order and isolation --------------------------------------------------
    async def case_history_order(self) -> None:
        """History comes back in save order, per trace, with traces interleaved."""
        traces = [_uid("order") for _ in range(3)]
        expected: dict[str, list[StoredEvent]] = {trace: [] for trace in traces}
        async with self._open() as store:
            for step in range(30):
                for trace in traces:
                    # ts runs backwards and ids are random: neither may decide the order.
                    event = StoredEvent(
                        trace_id=trace, ts=1000.0 - step, kind="step", payload={"step": step}
                    )
                    await store.save_event(event)
                    expected[trace].append(event)
            for trace in traces:
                _same(await store.load_history(trace), expected[trace], f"history of {trace}")

    async def case_event_round_trip(self) -> None:
        """Every field of an event comes back equal, with JSON types intact."""
        trace = _uid("fields")
        payload: dict[str, Any] = {
            "int": 2**53 + 1,
            "negative": -7,
            "float": 0.1,
            "whole_float": 2.0,
            "big_float": 1.5e300,
            "true": True,
            "false": False,
            "null": None,
            "text": 'with "quotes", \\backslashes\\ and\nnewlines',
            "list": [1, "two", 3.5, None, [], {}],
            "nested": {"a": {"b": {"c": [{"d": "deep"}]}}},
            "empty": {},
        }
        first = StoredEvent(
            trace_id=trace,
            ts=1712345678.123456,
            kind="node_success",
            node_name="enrich",
            node_id="enrich-7f3a",
            payload=payload,
            tenant="acme",
        )
        bare = StoredEvent(trace_id=trace, ts=0.0, kind="custom")
        async with self._open() as store:
            await store.save_event(first)
            await store.save_event(bare)
            history = await store.load_history(trace)
        _same(history, [first, bare], "events read back")
        loaded = history[0].payload
        for key in ("int", "negative"):
            _check(
                type(loaded[key]) is int,
                f"payload[{key!r}] came back as {type(loaded[key]).__name__}",
            )
        for key in ("float", "whole_float", "big_float"):
            _check(
                type(loaded[key]) is float,
                f"payload[{key!r}] came back as {type(loaded[key]).__name__}",
            )

    async def case_trace_isolation(self) -> None:
        """A trace's history holds only its own events, even for look-alike ids."""
        base = _uid("iso")
        # Prefixes, glob and LIKE metacharacters: key-pattern and LIKE bugs show up here.
        traces = [base, base + "-1", base + ":x", base + "*", base + "%", base[:-1] + "_"]
        async with self._open() as store:
            for index, trace in enumerate(traces):
                await store.save_event(
                    StoredEvent(trace_id=trace, ts=float(index), kind="k", payload={"i": index})
                )
            for index, trace in enumerate(traces):
                history = await store.load_history(trace)
                _same([e.payload for e in history], [{"i": index}], f"history of {trace!r}")
                _same(
                    [e.trace_id for e in history], [trace], f"trace ids in the history of {trace!r}"
                )

    async def case_tenant_isolation(self) -> None:
        """A tenant filter returns that tenant's events only, in order; no filter returns all."""
        trace = _uid("tenants")
        other_trace = _uid("tenants-other")
        tenants = ["acme", "acme2", None, "globex"]
        saved: list[StoredEvent] = []
        async with self._open() as store:
            for step in range(12):
                event = StoredEvent(
                    trace_id=trace,
                    ts=float(step),
                    kind="step",
                    payload={"step": step},
                    tenant=tenants[step % 4],
                )
                await store.save_event(event)
                saved.append(event)
            await store.save_event(
                StoredEvent(trace_id=other_trace, ts=0.0, kind="step", tenant="acme")
            )
            for tenant in ("acme", "acme2", "globex"):
                expected = [e for e in saved if e.tenant == tenant]
                _same(
                    await store.load_history(trace, tenant=tenant),
                    expected,
                    f"history for tenant {tenant!r}",
                )
            _same(
                await store.load_history(trace, tenant="initech"),
                [],
                "history for a tenant with no events",
            )
            _same(await store.load_history(trace), saved, "history without a tenant filter")

    async def case_remote_bindings(self) -> None:
        """Bindings come back in save order, per trace, with every field."""
        trace = _uid("bindings")
        other = _uid("bindings-other")
        bindings = [
            RemoteBinding(
                trace,
                f"ctx-{i}" if i % 2 else None,
                f"task-{i}",
                f"https://agent{i}.example",
                "acme",
            )
            for i in range(5)
        ]
        foreign = RemoteBinding(other, "ctx", "task-0", "https://agent0.example")
        async with self._open() as store:
            for binding in reversed(bindings[3:]):
                await store.save_remote_binding(binding)
            await store.save_remote_binding(foreign)
            for binding in bindings[:3]:
                await store.save_remote_binding(binding)
            expected = [bindings[4], bindings[3], *bindings[:3]]
            _same(await store.load_remote_bindings(trace), expected, "bindings in save order")
            _same(await store.load_remote_bindings(other), [foreign], "bindings of another trace")

    # -- content --------------------------------------------------------------
    async def case_large_payloads(self) -> None:
        """Documents of more than 1 MiB round-trip intact (events, planner and memory state)."""
        trace = _uid("large")
        document: dict[str, Any] = {
            "blob": "abcdefghijklmnopqrstuvwxyz" * 24_000,
            "rows": [{"id": i, "name": f"row {i}", "score": i / 7} for i in range(12_000)],
        }
        event = StoredEvent(trace_id=trace, ts=1.0, kind="big", payload=document)
        token, key = _uid("large-token"), _uid("large-key")
        async with self._open() as store:
            await store.save_event(event)
            await store.save_planner_state(token, document)
            await store.save_memory_state(key, document)
            _check(
                await store.load_history(trace) == [event],
                "the 1 MiB+ event did not come back intact",
            )
            _check(
                await store.load_planner_state(token) == document,
                "the 1 MiB+ planner state changed",
            )
            _check(
                await store.load_memory_state(key) == document, "the 1 MiB+ memory state changed"
            )

    async def case_unicode(self) -> None:
        """Non-ASCII text (emoji, right-to-left, combining marks, astral planes) round-trips."""
        suffix = uuid.uuid4().hex[:8]
        async with self._open() as store:
            for index, text in enumerate(_UNICODE_SAMPLES):
                trace = f"{text} {suffix}"
                event = StoredEvent(
                    trace_id=trace,
                    ts=float(index),
                    kind=f"kind {text}",
                    node_name=text,
                    node_id=text[::-1],
                    payload={text: [text, {"nested": text}]},
                    tenant=f"tenant {text}",
                )
                binding = RemoteBinding(
                    trace, text, f"task {text}", f"https://agent.example/{text}", text
                )
                await store.save_event(event)
                await store.save_remote_binding(binding)
                await store.save_planner_state(f"token {text} {suffix}", {"text": text})
                await store.save_memory_state(f"key {text} {suffix}", {text: text})
                _same(await store.load_history(trace), [event], f"history of unicode trace {index}")
                _same(
                    await store.load_history(trace, tenant=event.tenant),
                    [event],
                    f"tenant filter {index}",
                )
                _same(
                    await store.load_remote_bindings(trace),
                    [binding],
                    f"bindings of unicode trace {index}",
                )
                _same(
                    await store.load_planner_state(f"token {text} {suffix}"),
                    {"text": text},
                    "planner state",
                )
                _same(
                    await store.load_memory_state(f"key {text} {suffix}"),
                    {text: text},
                    "memory state",
                )

    # -- concurrency and persistence ------------------------------------------
    async def case_concurrent_writers(self) -> None:
        """20 tasks x 50 events into one trace at once: all stored, each writer's order kept."""
        trace = _uid("writers")
        writers, per_writer = 20, 50

        async def write(store: StateStore, writer: int) -> None:
            for seq in range(per_writer):
                tenant = "even" if writer % 2 == 0 else "odd"
                payload = {"writer": writer, "seq": seq}
                await store.save_event(
                    StoredEvent(
                        trace_id=trace, ts=float(seq), kind="w", payload=payload, tenant=tenant
                    )
                )

        async with self._open() as store:
            await asyncio.gather(*(write(store, writer) for writer in range(writers)))
            history = await store.load_history(trace)
            even = await store.load_history(trace, tenant="even")
        _same(len(history), writers * per_writer, "events stored by concurrent writers")
        _same(len({e.event_id for e in history}), writers * per_writer, "distinct event ids")
        for writer in range(writers):
            seqs = [e.payload["seq"] for e in history if e.payload["writer"] == writer]
            _same(seqs, list(range(per_writer)), f"order of writer {writer}'s events")
        _same(len(even), writers // 2 * per_writer, "events of tenant 'even'")
        _check(
            all(e.payload["writer"] % 2 == 0 for e in even),
            "tenant filter leaked another tenant's events",
        )

    async def case_reopen_persistence(self) -> None:
        """What was written before close is there after reopening; later writes stay consistent."""
        trace = _uid("reopen")
        token, key = _uid("token"), _uid("key")
        events = [
            StoredEvent(
                trace_id=trace,
                ts=float(i),
                kind="step",
                payload={"i": i},
                tenant="acme" if i % 2 else None,
            )
            for i in range(10)
        ]
        binding = RemoteBinding(trace, "ctx", "task", "https://agent.example", "acme")
        async with self._open() as first:
            for event in events:
                await first.save_event(event)
            await first.save_remote_binding(binding)
            await first.save_planner_state(token, {"paused": True, "steps": [1, 2]})
            await first.save_memory_state(key, {"turns": ["hi", "hello"]})
        later = StoredEvent(trace_id=trace, ts=99.0, kind="after_reopen")
        async with self._open() as second:
            _same(await second.load_history(trace), events, "history after reopening")
            _same(
                await second.load_history(trace, tenant="acme"),
                events[1::2],
                "tenant history after reopening",
            )
            _same(await second.load_remote_bindings(trace), [binding], "bindings after reopening")
            _same(
                await second.load_planner_state(token),
                {"paused": True, "steps": [1, 2]},
                "planner state",
            )
            _same(await second.load_memory_state(key), {"turns": ["hi", "hello"]}, "memory state")
            await second.save_event(events[0])
            await second.save_remote_binding(binding)
            await second.save_event(later)
            _same(
                await second.load_history(trace),
                [*events, later],
                "history after re-saving across a reopen",
            )
            _same(await second.load_remote_bindings(trace), [binding], "bindings after re-saving")

    # -- planner and memory state ---------------------------------------------
    async def case_planner_state(self) -> None:
        """Planner state: save, load a copy, replace (not merge), delete, delete again."""
        token, other = _uid("token"), _uid("token")
        state: dict[str, Any] = {"step": 1, "trajectory": [{"tool": "search", "args": {"q": "x"}}]}
        async with self._open() as store:
            await store.save_planner_state(token, state)
            await store.save_planner_state(other, {"other": True})
            state["step"] = 999  # the caller mutating its dict must not change what was saved
            loaded = await store.load_planner_state(token)
            _same(
                loaded,
                {"step": 1, "trajectory": [{"tool": "search", "args": {"q": "x"}}]},
                "saved state",
            )
            if loaded is None:
                raise AssertionError("saved planner state read back as None")
            loaded["step"] = -1
            _same(
                (await store.load_planner_state(token) or {}).get("step"),
                1,
                "state after mutating a loaded copy",
            )
            await store.save_planner_state(token, {"step": 2})
            _same(await store.load_planner_state(token), {"step": 2}, "state after replacing")
            await store.delete_planner_state(token)
            _same(await store.load_planner_state(token), None, "state after deleting")
            await store.delete_planner_state(token)
            _same(await store.load_planner_state(other), {"other": True}, "another token's state")

    async def case_memory_state(self) -> None:
        """Memory state: save, load, replace; separate from planner state."""
        key = _uid("memory")
        async with self._open() as store:
            await store.save_memory_state(key, {"turns": [{"user": "hi"}], "summary": ""})
            _same(
                await store.load_memory_state(key),
                {"turns": [{"user": "hi"}], "summary": ""},
                "memory state",
            )
            await store.save_memory_state(key, {"turns": []})
            _same(await store.load_memory_state(key), {"turns": []}, "memory state after replacing")
            _same(await store.load_planner_state(key), None, "planner state under a memory key")
            await store.save_planner_state(key, {"planner": True})
            _same(
                await store.load_memory_state(key),
                {"turns": []},
                "memory state after a planner save",
            )

    async def case_unknown_keys(self) -> None:
        """Unknown traces and keys read as empty, never as errors."""
        async with self._open() as store:
            _same(await store.load_history(_uid("nothing")), [], "history of an unknown trace")
            _same(
                await store.load_history(_uid("nothing"), tenant="acme"),
                [],
                "tenant history of an unknown trace",
            )
            _same(
                await store.load_remote_bindings(_uid("nothing")),
                [],
                "bindings of an unknown trace",
            )
            _same(await store.load_planner_state(_uid("nothing")), None, "unknown planner token")
            _same(await store.load_memory_state(_uid("nothing")), None, "unknown memory key")
            await store.delete_planner_state(_uid("nothing"))

    # -- lifecycle ------------------------------------------------------------
    async def case_close_idempotent(self) -> None:
        """Closing twice is harmless."""
        store = await self._factory()
        try:
            await store.save_event(StoredEvent(trace_id=_uid("close"), ts=0.0, kind="k"))
        finally:
            await store.close()
        await store.close()

    async def case_async_context_manager(self) -> None:
        """``async with store`` yields the store itself and closes it on exit."""
        store: Any = await self._factory()
        _check(
            hasattr(store, "__aenter__") and hasattr(store, "__aexit__"),
            "the store is no async context manager",
        )
        trace = _uid("ctx")
        async with store as entered:
            _check(entered is store, f"async with yielded {entered!r} instead of the store")
            await entered.save_event(StoredEvent(trace_id=trace, ts=0.0, kind="k"))
            _same(len(await entered.load_history(trace)), 1, "events saved inside async with")
        await store.close()
