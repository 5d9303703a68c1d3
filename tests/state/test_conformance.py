"""The StateStore conformance suite against every backend, and the suite's own behaviour."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from penguiflow.state import InMemoryStateStore, Record, StateStore, StoredEvent
from penguiflow.state.conformance import ConformanceSkipped
from penguiflow.testkit import StateStoreConformance


@pytest.mark.parametrize("case", StateStoreConformance.cases())
async def test_backend_conforms(backend: Any, case: str) -> None:
    suite = backend.suite()
    reason = suite.skip_reason(case)
    if reason is not None:
        pytest.skip(f"{backend.name}: {reason}")
    await suite.run(case)


def test_cases_cover_the_contract() -> None:
    cases = StateStoreConformance.cases()
    assert len(cases) == len(set(cases))
    for required in (
        "idempotent_events",
        "idempotent_bindings",
        "history_order",
        "trace_isolation",
        "tenant_isolation",
        "large_payloads",
        "unicode",
        "concurrent_writers",
        "reopen_persistence",
        "planner_state",
        "memory_state",
        "unknown_keys",
        "close_idempotent",
        "record_round_trip",
        "record_tenant_isolation",
        "record_filters",
        "record_ordering",
        "record_paging_under_concurrent_writes",
        "record_compare_and_set",
        "record_take_exactly_once",
        "record_expiry",
        "record_reopen",
    ):
        assert required in cases


async def _memory() -> StateStore:
    return InMemoryStateStore()


async def test_run_all_reports_passed_and_skipped_cases() -> None:
    report = await StateStoreConformance(_memory, persistent=False).run_all()
    reason = "the store keeps nothing once closed (persistent=False)"
    assert report.skipped == {"reopen_persistence": reason, "record_reopen": reason}
    assert set(report.passed) == set(StateStoreConformance.cases()) - set(report.skipped)


async def test_run_refuses_a_case_the_backend_opted_out_of() -> None:
    suite = StateStoreConformance(_memory, persistent=False)
    with pytest.raises(ConformanceSkipped, match="reopen_persistence"):
        await suite.run("reopen_persistence")


async def test_unknown_case_names_the_known_ones() -> None:
    suite = StateStoreConformance(_memory)
    with pytest.raises(ValueError, match=r"unknown conformance case 'nope'.*idempotent_events"):
        await suite.run("nope")


def test_bad_arguments_fail_at_construction() -> None:
    with pytest.raises(TypeError, match="factory"):
        StateStoreConformance("memory://")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout_s"):
        StateStoreConformance(_memory, timeout_s=0)


# -- the suite catches broken stores ---------------------------------------------
class _DuplicatingStore(InMemoryStateStore):
    """Forgets which event ids it has seen."""

    async def save_event(self, event: StoredEvent) -> None:
        self._event_ids.discard(event.event_id)
        await super().save_event(event)


class _ReversedStore(InMemoryStateStore):
    """Returns history newest first."""

    async def load_history(self, trace_id: str, *, tenant: str | None = None) -> list[StoredEvent]:
        return list(reversed(await super().load_history(trace_id, tenant=tenant)))


class _LeakyTenantStore(InMemoryStateStore):
    """Ignores the tenant filter."""

    async def load_history(self, trace_id: str, *, tenant: str | None = None) -> list[StoredEvent]:
        return await super().load_history(trace_id)


class _ForgetfulStore(InMemoryStateStore):
    """Claims to persist, but every open starts empty."""


class _AliasingStore(InMemoryStateStore):
    """Hands out the very dict it keeps, so callers can change the stored state."""

    def __init__(self) -> None:
        super().__init__()
        self._states: dict[str, dict[str, Any]] = {}

    async def save_planner_state(self, token: str, state: dict[str, Any]) -> None:
        self._states[token] = state

    async def load_planner_state(self, token: str) -> dict[str, Any] | None:
        return self._states.get(token)

    async def delete_planner_state(self, token: str) -> None:
        self._states.pop(token, None)


class _PeekingTakeStore(InMemoryStateStore):
    """Takes by reading first and deleting later, so concurrent takers all win."""

    async def take_record(self, kind: str, key: str, *, tenant: str) -> Record | None:
        record = await self.get_record(kind, key, tenant=tenant)
        await asyncio.sleep(0)  # lets the other takers read before the delete
        await self.delete_record(kind, key, tenant=tenant)
        return record


class _UnversionedStore(InMemoryStateStore):
    """Ignores expected_version."""

    async def put_record(self, *args: Any, **kwargs: Any) -> int:
        kwargs.pop("expected_version", None)
        return await super().put_record(*args, **kwargs)


@pytest.mark.parametrize(
    ("store_class", "persistent", "failing_case"),
    [
        (_DuplicatingStore, False, "idempotent_events"),
        (_DuplicatingStore, False, "concurrent_duplicates"),
        (_ReversedStore, False, "history_order"),
        (_LeakyTenantStore, False, "tenant_isolation"),
        (_ForgetfulStore, True, "reopen_persistence"),
        (_AliasingStore, False, "planner_state"),
        (_PeekingTakeStore, False, "record_take_exactly_once"),
        (_UnversionedStore, False, "record_compare_and_set"),
    ],
)
async def test_suite_fails_a_broken_store(
    store_class: type[InMemoryStateStore], persistent: bool, failing_case: str
) -> None:
    async def factory() -> StateStore:
        return store_class()

    suite = StateStoreConformance(factory, persistent=persistent)
    with pytest.raises(AssertionError, match=f"conformance case '{failing_case}' failed"):
        await suite.run(failing_case)
    with pytest.raises(AssertionError, match=f"conformance cases failed:\n(.|\n)*{failing_case}"):
        await suite.run_all()


async def test_a_factory_returning_no_store_fails() -> None:
    async def factory() -> Any:
        return object()

    with pytest.raises(AssertionError, match="not a StateStore"):
        await StateStoreConformance(factory).run("unknown_keys")


class _HangingStore(InMemoryStateStore):
    """Never answers a history query."""

    async def load_history(self, trace_id: str, *, tenant: str | None = None) -> list[StoredEvent]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_hanging_store_fails_the_case_instead_of_hanging() -> None:
    async def factory() -> StateStore:
        return _HangingStore()

    suite = StateStoreConformance(factory, timeout_s=0.05)
    with pytest.raises(TimeoutError, match=r"'unknown_keys' did not finish within 0\.05 s"):
        await suite.run("unknown_keys")
