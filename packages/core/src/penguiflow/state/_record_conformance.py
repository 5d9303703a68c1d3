"""The records part of `StateStoreConformance`: put/get/delete/take/list, CAS, paging, expiry.

`RecordCases` is a mixin of `penguiflow.state.conformance.StateStoreConformance`;
its ``case_record_*`` methods are cases of that suite. Each case uses a fresh
random kind, so cases share a store's storage without seeing each other.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from penguiflow._drivers.conformance import check as _check
from penguiflow._drivers.conformance import same as _same
from penguiflow.state.base import Record, RecordConflict, RecordOrder, RecordStore, StateStore

__all__ = ["RecordCases"]

_POLL_S = 0.02
_NOT_SCALAR: Any = {"a": [1]}
_NOT_AN_ORDER: Any = "size"
_EXPIRY_WAIT_S = 15.0


def _kind() -> str:
    return f"kind-{uuid.uuid4().hex[:12]}"


async def _all_pages(
    store: RecordStore, kind: str, *, tenant: str, order_by: RecordOrder, limit: int, **kw: Any
) -> list[Record]:
    found: list[Record] = []
    token: str | None = None
    while True:
        page = await store.list_records(
            kind, tenant=tenant, order_by=order_by, limit=limit, page_token=token, **kw
        )
        _check(len(page.records) <= limit, f"a page of limit {limit} held {len(page.records)}")
        found.extend(page.records)
        if page.next_page_token is None:
            return found
        token = page.next_page_token


def _raises_conflict(expected: int, current: int | None) -> Callable[[BaseException], None]:
    def verify(exc: BaseException) -> None:
        _check(isinstance(exc, RecordConflict), f"expected RecordConflict, got {exc!r}")
        assert isinstance(exc, RecordConflict)
        _same((exc.expected, exc.current), (expected, current), "RecordConflict versions")

    return verify


async def _expect(
    action: Awaitable[object], verify: Callable[[BaseException], None], what: str
) -> None:
    try:
        await action
    except Exception as exc:
        verify(exc)
        return
    raise AssertionError(f"{what} succeeded but should have been refused")


def _error_of(kind: type[BaseException]) -> Callable[[BaseException], None]:
    def verify(exc: BaseException) -> None:
        _check(isinstance(exc, kind), f"expected {kind.__name__}, got {exc!r}")

    return verify


class RecordCases:
    """Conformance cases for the records API (mixed into `StateStoreConformance`)."""

    _persistent: bool
    _factory: Callable[[], Awaitable[StateStore]]

    @asynccontextmanager
    async def _records_store(self) -> AsyncIterator[RecordStore]:
        store = await self._factory()
        try:
            _check(isinstance(store, RecordStore), f"{store!r} implements no records")
            assert isinstance(store, RecordStore)
            yield store
        finally:
            await store.close()

    @asynccontextmanager
    async def _two_stores(self) -> AsyncIterator[tuple[RecordStore, RecordStore]]:
        """Two stores on the same storage (one store twice when nothing persists)."""
        async with AsyncExitStack() as stack:
            first = await stack.enter_async_context(self._records_store())
            second = first
            if self._persistent:
                second = await stack.enter_async_context(self._records_store())
            yield first, second

    async def case_record_round_trip(self) -> None:
        """Put, get, replace (version +1, created_at kept), delete; values are copies."""
        kind = _kind()
        value: dict[str, Any] = {"state": "working", "history": [{"n": 1}], "x": 0.1}
        async with self._records_store() as store:
            version = await store.put_record(
                kind, "k1", value, tenant="acme", indexed={"state": "working", "n": 3}
            )
            _same(version, 1, "version of a new record")
            value["state"] = "mutated"
            got = await store.get_record(kind, "k1", tenant="acme")
            _check(got is not None, "a record just put read back as None")
            assert got is not None
            _same(
                (got.kind, got.tenant, got.key, got.version, got.expires_at),
                (kind, "acme", "k1", 1, None),
                "record identity",
            )
            _same(got.value, {"state": "working", "history": [{"n": 1}], "x": 0.1}, "value")
            _same(got.indexed, {"state": "working", "n": 3}, "indexed fields")
            _same(got.created_at, got.updated_at, "created_at vs updated_at of a new record")
            got.value["state"] = "changed by the caller"
            again = await store.get_record(kind, "k1", tenant="acme")
            _same(again and again.value["state"], "working", "value after mutating a copy")
            version = await store.put_record(kind, "k1", {"state": "done"}, tenant="acme")
            _same(version, 2, "version after a second put")
            second = await store.get_record(kind, "k1", tenant="acme")
            assert second is not None
            _same((second.value, second.indexed), ({"state": "done"}, {}), "replaced record")
            _same(second.created_at, got.created_at, "created_at after a replace")
            _check(second.updated_at >= got.updated_at, "updated_at went backwards")
            _same(await store.get_record(kind, "nope", tenant="acme"), None, "unknown key")
            _same(await store.delete_record(kind, "k1", tenant="acme"), True, "first delete")
            _same(await store.delete_record(kind, "k1", tenant="acme"), False, "second delete")
            _same(await store.get_record(kind, "k1", tenant="acme"), None, "deleted record")
            _same(await store.put_record(kind, "k1", {}, tenant="acme"), 1, "version after delete")

    async def case_record_tenant_isolation(self) -> None:
        """One key under two tenants: two records; no call of one tenant sees the other's."""
        kind = _kind()
        async with self._records_store() as store:
            await store.put_record(kind, "same", {"who": "acme"}, tenant="acme")
            await store.put_record(kind, "same", {"who": "globex"}, tenant="globex")
            await store.put_record(kind, "only-acme", {"who": "acme"}, tenant="acme")
            got = await store.get_record(kind, "same", tenant="globex")
            _same(got and got.value, {"who": "globex"}, "globex's record")
            _same(await store.get_record(kind, "only-acme", tenant="globex"), None, "cross get")
            _same(await store.take_record(kind, "only-acme", tenant="globex"), None, "cross take")
            _same(
                await store.delete_record(kind, "only-acme", tenant="globex"), False, "cross delete"
            )
            page = await store.list_records(kind, tenant="globex")
            _same([r.key for r in page.records], ["same"], "globex's list")
            page = await store.list_records(kind, tenant="acme", order_by="key")
            _same([r.key for r in page.records], ["only-acme", "same"], "acme's list")
            _same(await store.list_records(kind, tenant="initech"), page.__class__([]), "empty")
            # Look-alike (kind, tenant) pairs: a store joining them into one key must not mix them.
            pairs = [(f"{kind}:a", "b"), (kind, "a:b"), (f"{kind}:a:b", "t"), (kind, "a")]
            for index, (pair_kind, pair_tenant) in enumerate(pairs):
                await store.put_record(pair_kind, "k", {"i": index}, tenant=pair_tenant)
            for index, (pair_kind, pair_tenant) in enumerate(pairs):
                found = await store.get_record(pair_kind, "k", tenant=pair_tenant)
                _same(
                    found and found.value, {"i": index}, f"record of {pair_kind!r}/{pair_tenant!r}"
                )
                listed = await store.list_records(pair_kind, tenant=pair_tenant)
                _same([r.value for r in listed.records], [{"i": index}], "look-alike listing")
            for tenant in (None, ""):
                await _expect(
                    store.get_record(kind, "same", tenant=tenant),  # type: ignore[arg-type]
                    _error_of(ValueError),
                    f"get_record with tenant={tenant!r}",
                )

    async def case_record_filters(self) -> None:
        """``where`` is equality on indexed fields, type-sensitive, all conditions at once."""
        kind = _kind()
        rows: dict[str, dict[str, Any]] = {
            "a": {"state": "working", "ctx": "c1", "n": 1},
            "b": {"state": "working", "ctx": "c2", "n": True},
            "c": {"state": "done", "ctx": "c1", "n": "1"},
            "d": {"state": "done", "ctx": "c1", "n": 1.5},
            "e": {"state": None, "ctx": "c2"},
        }
        async with self._records_store() as store:
            for key, fields in rows.items():
                await store.put_record(kind, key, {"key": key}, tenant="acme", indexed=fields)
            cases: list[tuple[dict[str, Any], list[str]]] = [
                ({"state": "working"}, ["a", "b"]),
                ({"state": "done", "ctx": "c1"}, ["c", "d"]),
                ({"ctx": "c2"}, ["b", "e"]),
                ({"n": 1}, ["a"]),
                ({"n": True}, ["b"]),
                ({"n": "1"}, ["c"]),
                ({"n": 1.5}, ["d"]),
                ({"state": None}, ["e"]),
                ({"missing": "x"}, []),
                ({}, ["a", "b", "c", "d", "e"]),
            ]
            for where, keys in cases:
                page = await store.list_records(kind, tenant="acme", where=where, order_by="key")
                _same([r.key for r in page.records], keys, f"keys where {where!r}")

    async def case_record_ordering(self) -> None:
        """``order_by`` key / created_at / updated_at, ascending and descending, ties by key."""
        kind = _kind()
        keys = [f"key-{i:02d}" for i in range(12)]
        shuffled = random.Random(7).sample(keys, len(keys))
        async with self._records_store() as store:
            for key in shuffled:
                await store.put_record(kind, key, {"k": key}, tenant="acme")
            for key in shuffled[:4]:
                await store.put_record(kind, key, {"k": key, "again": True}, tenant="acme")
            records = [await store.get_record(kind, key, tenant="acme") for key in keys]
            live = [r for r in records if r is not None]
            orders: list[tuple[RecordOrder, RecordOrder, Callable[[Record], Any]]] = [
                ("key", "-key", lambda r: r.key),
                ("created_at", "-created_at", lambda r: (r.created_at, r.key)),
                ("updated_at", "-updated_at", lambda r: (r.updated_at, r.key)),
            ]
            for ascending, descending, sort_key in orders:
                expected = [r.key for r in sorted(live, key=sort_key)]
                for name in (ascending, descending):
                    want = expected[::-1] if name == descending else expected
                    page = await store.list_records(kind, tenant="acme", order_by=name)
                    _same([r.key for r in page.records], want, f"order_by={name!r}")
                    paged = await _all_pages(store, kind, tenant="acme", order_by=name, limit=5)
                    _same([r.key for r in paged], want, f"order_by={name!r} in pages of 5")

    async def case_record_paging_under_concurrent_writes(self) -> None:
        """Pages never repeat a record, and every record that existed throughout shows up."""
        kind = _kind()
        async with self._two_stores() as (reader, writer):
            originals = {f"orig-{i:03d}" for i in range(60)}
            for key in sorted(originals):
                await writer.put_record(kind, key, {}, tenant="acme", indexed={"g": "x"})
            paging_orders: tuple[RecordOrder, ...] = ("key", "-key", "created_at", "-created_at")
            for order_by in paging_orders:
                inserted = 0

                async def insert(order: str = order_by) -> None:
                    nonlocal inserted
                    for i in range(40):
                        await writer.put_record(
                            kind, f"new-{order}-{i:03d}", {}, tenant="acme", indexed={"g": "x"}
                        )
                        inserted += 1

                task = asyncio.create_task(insert())
                try:
                    seen = await _all_pages(
                        reader, kind, tenant="acme", order_by=order_by, limit=7, where={"g": "x"}
                    )
                finally:
                    await task
                keys = [r.key for r in seen]
                _same(len(keys), len(set(keys)), f"distinct records over the pages ({order_by})")
                _same(
                    originals - set(keys), set(), f"originals missing from the pages ({order_by})"
                )
                _same(inserted, 40, "concurrent inserts")

    async def case_record_compare_and_set(self) -> None:
        """``expected_version``: 0 creates only, n replaces n only; two stores racing: one wins."""
        kind = _kind()
        async with self._two_stores() as (first, second):
            _same(
                await first.put_record(kind, "k", {"v": 1}, tenant="t", expected_version=0), 1, ""
            )
            await _expect(
                second.put_record(kind, "k", {"v": 2}, tenant="t", expected_version=0),
                _raises_conflict(0, 1),
                "a create-only put over an existing record",
            )
            await _expect(
                second.put_record(kind, "k", {}, tenant="t", expected_version=3),
                _raises_conflict(3, 1),
                "a put on a stale version",
            )
            await _expect(
                second.put_record(kind, "new", {}, tenant="t", expected_version=1),
                _raises_conflict(1, None),
                "a versioned put of a missing record",
            )
            _same(
                await second.put_record(kind, "k", {"v": 2}, tenant="t", expected_version=1), 2, ""
            )
            await _expect(
                first.delete_record(kind, "k", tenant="t", expected_version=1),
                _raises_conflict(1, 2),
                "a delete on a stale version",
            )
            got = await first.get_record(kind, "k", tenant="t")
            _same(got and got.value, {"v": 2}, "value after the refused writes")
            for round_ in range(15):
                key = f"race-{round_}"
                await first.put_record(kind, key, {"n": 0}, tenant="t")
                outcomes = await asyncio.gather(
                    first.put_record(kind, key, {"n": 1}, tenant="t", expected_version=1),
                    second.put_record(kind, key, {"n": 2}, tenant="t", expected_version=1),
                    return_exceptions=True,
                )
                wins = [o for o in outcomes if o == 2]
                losses = [o for o in outcomes if isinstance(o, RecordConflict)]
                _same((len(wins), len(losses)), (1, 1), f"CAS race {round_}: {outcomes!r}")
                final = await second.get_record(kind, key, tenant="t")
                winner = outcomes.index(2) + 1
                _same(final and final.value, {"n": winner}, f"value after race {round_}")
            _same(await first.delete_record(kind, "k", tenant="t", expected_version=2), True, "")

    async def case_record_take_exactly_once(self) -> None:
        """Of many concurrent takers (on two stores) exactly one gets the record."""
        kind = _kind()
        async with self._two_stores() as (first, second):
            for round_ in range(10):
                key = f"token-{round_}"
                await first.put_record(kind, key, {"round": round_}, tenant="t")
                takers = [
                    (first if i % 2 else second).take_record(kind, key, tenant="t")
                    for i in range(12)
                ]
                taken = [r for r in await asyncio.gather(*takers) if r is not None]
                _same(len(taken), 1, f"takers that got the record in round {round_}")
                _same(taken[0].value, {"round": round_}, "the taken value")
                _same(await first.get_record(kind, key, tenant="t"), None, "record after take")
            _same(await second.take_record(kind, "never", tenant="t"), None, "take of nothing")

    async def case_record_expiry(self) -> None:
        """A record past its ``ttl_s`` is invisible to get, list, take and CAS."""
        kind = _kind()
        async with self._records_store() as store:
            await store.put_record(kind, "short", {"n": 1}, tenant="t", ttl_s=0.3)
            await store.put_record(kind, "long", {"n": 2}, tenant="t", ttl_s=3600)
            await store.put_record(kind, "forever", {"n": 3}, tenant="t")
            long = await store.get_record(kind, "long", tenant="t")
            assert long is not None
            _check(
                long.expires_at is not None
                and abs(long.expires_at - (long.updated_at + 3600)) < 1.0,
                f"expires_at {long.expires_at!r} is not updated_at + ttl_s",
            )
            async with asyncio.timeout(_EXPIRY_WAIT_S):
                # Expiry is a deadline on the store's own clock (the server's, for
                # Redis and PostgreSQL): there is no event to wait for, so poll it.
                while await store.get_record(kind, "short", tenant="t") is not None:  # noqa: ASYNC110
                    await asyncio.sleep(_POLL_S)
            page = await store.list_records(kind, tenant="t", order_by="key")
            _same([r.key for r in page.records], ["forever", "long"], "listed after expiry")
            _same(await store.take_record(kind, "short", tenant="t"), None, "take after expiry")
            _same(await store.delete_record(kind, "short", tenant="t"), False, "delete after")
            version = await store.put_record(
                kind, "short", {"n": 4}, tenant="t", expected_version=0
            )
            _same(version, 1, "create-only put over an expired record")

    async def case_record_bad_arguments(self) -> None:
        """Malformed calls fail at the call with TypeError/ValueError, storing nothing."""
        kind = _kind()
        async with self._records_store() as store:
            bad: list[tuple[Callable[[], Awaitable[object]], type[BaseException]]] = [
                (lambda: store.put_record("", "k", {}, tenant="t"), ValueError),
                (lambda: store.put_record(kind, "", {}, tenant="t"), ValueError),
                (lambda: store.put_record(kind, "k", {}, tenant=""), ValueError),
                (lambda: store.put_record(kind, "k", [], tenant="t"), TypeError),  # type: ignore[arg-type]
                (lambda: store.put_record(kind, "k", {"x": {1, 2}}, tenant="t"), TypeError),
                (
                    lambda: store.put_record(kind, "k", {}, tenant="t", indexed=_NOT_SCALAR),
                    TypeError,
                ),
                (
                    lambda: store.put_record(kind, "k", {}, tenant="t", indexed={"a b": 1}),
                    ValueError,
                ),
                (
                    lambda: store.put_record(kind, "k", {}, tenant="t", expected_version=-1),
                    ValueError,
                ),
                (lambda: store.put_record(kind, "k", {}, tenant="t", ttl_s=0), ValueError),
                (lambda: store.list_records(kind, tenant="t", order_by=_NOT_AN_ORDER), ValueError),
                (lambda: store.list_records(kind, tenant="t", limit=0), ValueError),
                (lambda: store.list_records(kind, tenant="t", page_token="garbage!"), ValueError),
            ]
            for index, (action, error) in enumerate(bad):
                await _expect(action(), _error_of(error), f"malformed call {index}")
            await store.put_record(kind, "a", {}, tenant="t")
            await store.put_record(kind, "b", {}, tenant="t")
            page = await store.list_records(kind, tenant="t", limit=1)
            _check(page.next_page_token is not None, "no token although a record is left")
            assert page.next_page_token is not None
            await _expect(
                store.list_records(kind, tenant="other", limit=1, page_token=page.next_page_token),
                _error_of(ValueError),
                "a page token used for another tenant",
            )
            _same(await store.get_record(kind, "k", tenant="t"), None, "record after bad calls")

    async def case_record_reopen(self) -> None:
        """Records, their versions and timestamps survive reopening the store."""
        kind = _kind()
        async with self._records_store() as store:
            await store.put_record(kind, "k", {"a": 1}, tenant="t", indexed={"s": "x"})
            await store.put_record(kind, "k", {"a": 2}, tenant="t", indexed={"s": "y"})
            before = await store.get_record(kind, "k", tenant="t")
        async with self._records_store() as store:
            _same(await store.get_record(kind, "k", tenant="t"), before, "record after reopen")
            page = await store.list_records(kind, tenant="t", where={"s": "y"})
            _same([r.key for r in page.records], ["k"], "filtered list after reopen")
