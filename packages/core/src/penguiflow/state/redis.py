"""Redis StateStore backend (redis-py asyncio): per-trace lists written atomically by a Lua script.

Design notes.

* Key layout, every key under ``{prefix}:`` so deployments and tests isolate
  by prefix and `destroy` is a ``SCAN`` + ``UNLINK`` of that pattern:

  ========================================  ==========================================
  ``{prefix}:layout``                       layout version (refuses a newer layout)
  ``{prefix}:event_ids``                    set of every stored ``event_id``
  ``{prefix}:events:{trace_id}``            list of JSON events, in save order
  ``{prefix}:untraced_events``              list of JSON events without a trace
  ``{prefix}:binding_ids:{trace_id}``       set of the trace's bound ``task_id`` s
  ``{prefix}:bindings:{trace_id}``          list of JSON bindings, in save order
  ``{prefix}:planner:{token}``              planner pause state (JSON string)
  ``{prefix}:memory:{key}``                 memory state (JSON string)
  ``{prefix}:records:...``                  records (see `penguiflow.state._redis_records`)
  ========================================  ==========================================

  The prefix may not contain ``:`` (nor glob characters), so one prefix's
  pattern never matches another prefix's keys.
* ``{prefix}:layout`` is the marker of a store and its layout version: every
  opening with ``create=True`` writes it when missing, raises an older one to
  this release's layout (every layout change so far is additive, so raising
  the marker is the whole migration; one script, so two openers at once
  agree) and refuses a newer one. Opening with ``create=False`` writes nothing and accepts a prefix
  with the marker, or, should the marker have been lost (deleted, evicted by
  an ``allkeys-*`` policy), one that still has ``event_ids`` (any stored
  event). Probing fixed keys keeps that check O(1); a ``SCAN`` for
  ``{prefix}:*`` would walk the whole keyspace for a typo.
* Idempotency: one Lua script adds the id to its set and appends the record
  only when the id was new, so check-and-append is atomic even with many
  concurrent writers and processes. Event ids are unique store-wide, like in
  the SQL backends; binding ids per trace. The tenant filter is applied on
  read, after decoding.
* Dropped connections: redis-py's retry reconnects on a connection error
  (twice, short backoff); every write is idempotent so a retried script
  cannot store twice. When the retries are spent the caller gets a
  `StateStoreError` naming the server. A timeout is not retried: connecting
  (TCP and redis-py's handshake) is bounded by ``connect_timeout`` and every
  command by ``command_timeout``, and the error names the bound that ran
  out, so a server that accepts connections but never answers fails the
  opening after ``connect_timeout``.
* A record that is not valid JSON (written by something else) raises a
  `StateStoreError` naming the key instead of being skipped silently.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

from penguiflow.state._codec import (
    check_binding,
    check_event,
    check_key,
    decode_document,
    encode_document,
)
from penguiflow.state._redis_records import RecordScripts, RedisRecords
from penguiflow.state.base import RemoteBinding, StateStoreError, StoredEvent

try:
    import redis.asyncio as aioredis

    from penguiflow._drivers.redis_support import KEY_PREFIX, call_redis, pooled_client, redis_where
except ImportError as _missing:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        f'RedisStateStore needs the redis driver ({_missing}): pip install "penguiflow-core[redis]"'
    ) from _missing

__all__ = ["LAYOUT_VERSION", "RedisStateStore"]

_T = TypeVar("_T")
LAYOUT_VERSION = 2
"""Key layout this release writes. 2 added records (``{prefix}:records:*``); the change is
additive, so a layout-1 store is upgraded in place by raising its marker."""

# KEYS[1]: layout marker; ARGV[1]: this release's layout. Sets the marker if it is missing or
# older (never lowers one a newer release wrote) and returns what the marker held before.
_RAISE_LAYOUT = """
local found = redis.call('GET', KEYS[1])
if not found or (tonumber(found) and tonumber(found) < tonumber(ARGV[1])) then
  redis.call('SET', KEYS[1], ARGV[1])
end
return found
"""

# KEYS[1]: id set, KEYS[2]: record list; ARGV[1]: id, ARGV[2]: record. 1 = stored, 0 = duplicate.
_APPEND_ONCE = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


def _validate_prefix(prefix: str) -> str:
    if not KEY_PREFIX.match(prefix):
        raise ValueError(
            f"invalid Redis key prefix {prefix!r}: use 1-100 letters, digits, '_', '.' or '-' "
            "(no ':' so prefixes never overlap)"
        )
    return prefix


def _event_record(event: StoredEvent, payload_text: str) -> str:
    head = {
        "event_id": event.event_id,
        "trace_id": event.trace_id,
        "ts": event.ts,
        "kind": event.kind,
        "node_name": event.node_name,
        "node_id": event.node_id,
        "tenant": event.tenant,
    }
    # Splice the already-encoded payload in rather than encoding a large payload twice.
    return json.dumps(head, separators=(",", ":"))[:-1] + ',"payload":' + payload_text + "}"


class RedisStateStore(RedisRecords):
    """A `StateStore` on Redis through redis-py's asyncio client.

    Open it with `RedisStateStore.open` (or `penguiflow.state.open_store` with
    a ``redis://`` URL); ``create=False`` opens an existing store only.

    Example:
        >>> store = await RedisStateStore.open("redis://cache:6379/0")  # doctest: +SKIP
        >>> await store.save_event(event)  # doctest: +SKIP
    """

    def __init__(
        self,
        connect: Callable[[], aioredis.Redis],
        *,
        prefix: str,
        where: str,
        connect_timeout: float,
        command_timeout: float | None,
        display: str | None = None,
    ) -> None:
        client = connect()
        self._connect = connect
        self._client: aioredis.Redis | None = client
        self._prefix = prefix
        self._where = where
        self._display = display or where
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._append_once = client.register_script(_APPEND_ONCE)
        self._record_scripts = RecordScripts(client.register_script)
        self._raise_layout = client.register_script(_RAISE_LAYOUT)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        prefix: str = "penguiflow",
        connect_timeout: float = 5.0,
        command_timeout: float | None = 30.0,
        max_connections: int = 50,
        create: bool = True,
    ) -> Self:
        """Connect to Redis at ``url`` and check the key layout under ``prefix``.

        Args:
            url: ``redis://[user:password@]host[:port][/db]`` (``rediss://`` for TLS).
            prefix: Namespace of every key; letters, digits, ``_``, ``.``, ``-``.
            connect_timeout: Seconds allowed for each connection attempt, the
                handshake included (a timeout is not retried).
            command_timeout: Seconds allowed for each command's reply (``None``:
                unbounded; a timeout is not retried).
            max_connections: Most connections the pool opens; more concurrent calls wait
                for one (up to ``command_timeout``).
            create: When false, open an existing store only: nothing is
                written, and a prefix without a store (no ``{prefix}:layout``
                marker, nor stored events) is an error instead of a new empty
                store (for read-only tools). The store is not read-only
                afterwards.

        Raises:
            ValueError: Bad URL, prefix or timeouts.
            StateStoreError: The server cannot be reached or refuses us, the
                prefix holds a newer key layout, or (``create=False``) it holds
                no store.

        Example:
            >>> reader = await RedisStateStore.open(  # doctest: +SKIP
            ...     "redis://cache:6379/0", prefix="prod", create=False
            ... )
        """
        where = redis_where(url)
        _validate_prefix(prefix)
        if connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be > 0 seconds, got {connect_timeout}")
        if command_timeout is not None and command_timeout <= 0:
            raise ValueError(f"command_timeout must be > 0 seconds or None, got {command_timeout}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")

        def connect() -> aioredis.Redis:
            return pooled_client(
                url,
                max_connections=max_connections,
                connect_timeout=connect_timeout,
                command_timeout=command_timeout,
            )

        parts = urlsplit(url)
        display = f"{parts.scheme}://{where}{parts.path}"
        store = cls(
            connect,
            prefix=prefix,
            where=where,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
            display=display,
        )
        check = store._check_layout if create else store._check_existing
        try:
            await store._call("opening the store", check)
        except BaseException:
            await store.close()
            raise
        return store

    @property
    def prefix(self) -> str:
        """The namespace of this store's keys."""
        return self._prefix

    async def save_event(self, event: StoredEvent) -> None:
        """Append ``event`` to its trace's history (once per ``event_id``)."""
        event = check_event(event)
        payload = encode_document(
            event.payload, what=f"payload of event {event.event_id!r} (trace {event.trace_id!r})"
        )
        record = _event_record(event, payload)
        if event.trace_id is None:
            events_key = self._key("untraced_events")
        else:
            events_key = self._key("events", event.trace_id)
        await self._call(
            f"saving event {event.event_id}",
            lambda client: self._append_once(
                keys=[self._key("event_ids"), events_key], args=[event.event_id, record]
            ),
        )

    async def load_history(self, trace_id: str, *, tenant: str | None = None) -> list[StoredEvent]:
        """Return the events of ``trace_id`` in save order (only ``tenant``'s when given)."""
        check_key("trace_id", trace_id)
        if tenant is not None:
            check_key("tenant", tenant)
        key = self._key("events", trace_id)
        raw = await self._call(
            f"loading the history of trace {trace_id!r}",
            lambda client: client.lrange(key, 0, -1),
        )
        events = [
            StoredEvent.from_dict(self._decode(key, index, item)) for index, item in enumerate(raw)
        ]
        return events if tenant is None else [e for e in events if e.tenant == tenant]

    async def save_remote_binding(self, binding: RemoteBinding) -> None:
        """Store ``binding`` (idempotent on ``(trace_id, task_id)``; the first write wins)."""
        binding = check_binding(binding)
        record = json.dumps(
            {
                "trace_id": binding.trace_id,
                "context_id": binding.context_id,
                "task_id": binding.task_id,
                "agent_url": binding.agent_url,
                "tenant": binding.tenant,
            },
            separators=(",", ":"),
        )
        keys = [self._key("binding_ids", binding.trace_id), self._key("bindings", binding.trace_id)]
        await self._call(
            f"saving the binding of trace {binding.trace_id!r} to task {binding.task_id!r}",
            lambda client: self._append_once(keys=keys, args=[binding.task_id, record]),
        )

    async def load_remote_bindings(self, trace_id: str) -> list[RemoteBinding]:
        """Return the bindings of ``trace_id`` in save order."""
        check_key("trace_id", trace_id)
        key = self._key("bindings", trace_id)
        raw = await self._call(
            f"loading the bindings of trace {trace_id!r}",
            lambda client: client.lrange(key, 0, -1),
        )
        bindings = []
        for index, item in enumerate(raw):
            data = self._decode(key, index, item)
            bindings.append(
                RemoteBinding(
                    trace_id=data["trace_id"],
                    context_id=data.get("context_id"),
                    task_id=data["task_id"],
                    agent_url=data["agent_url"],
                    tenant=data.get("tenant"),
                )
            )
        return bindings

    async def save_planner_state(self, token: str, state: dict[str, Any]) -> None:
        """Store a paused planner's state under its resume ``token`` (replaces)."""
        check_key("token", token)
        await self._put(
            self._key("planner", token), encode_document(state, what=f"planner state {token!r}")
        )

    async def load_planner_state(self, token: str) -> dict[str, Any] | None:
        """Return the planner state saved under ``token``, or ``None``."""
        check_key("token", token)
        return await self._get(self._key("planner", token))

    async def delete_planner_state(self, token: str) -> None:
        """Forget the planner state under ``token`` (no error if absent)."""
        check_key("token", token)
        key = self._key("planner", token)
        await self._call("deleting planner state", lambda client: client.delete(key))

    async def save_memory_state(self, key: str, state: dict[str, Any]) -> None:
        """Store short-term memory state under ``key`` (replaces)."""
        check_key("key", key)
        await self._put(
            self._key("memory", key), encode_document(state, what=f"memory state {key!r}")
        )

    async def load_memory_state(self, key: str) -> dict[str, Any] | None:
        """Return the memory state under ``key``, or ``None``."""
        check_key("key", key)
        return await self._get(self._key("memory", key))

    async def close(self) -> None:
        """Close the client and its connections; idempotent."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def destroy(self) -> None:
        """Delete every key under this store's prefix, then close the store.

        Works on a closed store too (it reconnects for the deletion).
        """
        pattern = f"{self._prefix}:*"

        async def _delete_all(client: aioredis.Redis) -> None:
            batch: list[bytes] = []
            async for key in client.scan_iter(match=pattern, count=500):
                batch.append(key)
                if len(batch) >= 500:
                    await client.unlink(*batch)
                    batch.clear()
            if batch:
                await client.unlink(*batch)

        if self._client is None:
            self._client = self._connect()
        try:
            await self._call(f"deleting the keys {pattern!r}", _delete_all)
        finally:
            await self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._client is None else "open"
        return f"<RedisStateStore {self._where} prefix={self._prefix!r} {state}>"

    def _key(self, kind: str, name: str | None = None) -> str:
        return f"{self._prefix}:{kind}" if name is None else f"{self._prefix}:{kind}:{name}"

    async def _put(self, key: str, document: str) -> None:
        await self._call("saving state", lambda client: client.set(key, document))

    async def _get(self, key: str) -> dict[str, Any] | None:
        raw = await self._call("loading state", lambda client: client.get(key))
        return None if raw is None else self._decode(key, None, raw)

    def _decode(self, key: str, index: int | None, raw: bytes | str) -> dict[str, Any]:
        try:
            return decode_document(raw if isinstance(raw, str) else raw.decode("utf-8"))
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            where = key if index is None else f"{key}[{index}]"
            raise StateStoreError(
                f"Redis at {self._where} holds an unreadable record at {where!r}: {exc}; "
                "was the key written by something other than penguiflow?"
            ) from exc

    async def _check_layout(self, client: aioredis.Redis) -> None:
        """Write or raise the layout marker, then refuse a layout we cannot read."""
        key = self._key("layout")
        before = await self._raise_layout(keys=[key], args=[str(LAYOUT_VERSION)])
        self._check_version(str(LAYOUT_VERSION) if before is None else before)

    async def _check_existing(self, client: aioredis.Redis) -> None:
        """Check, writing nothing, that the prefix holds a store we can read (``create=False``)."""
        found = await client.get(self._key("layout"))
        if found is not None:
            self._check_version(found)
            return
        # A store whose marker was lost still has the id set of the events it stored.
        if await client.exists(self._key("event_ids")):
            return
        raise StateStoreError(
            f"prefix {self._prefix!r} at {self._display} holds no penguiflow state store "
            f"(opened with create=False: no {self._key('layout')!r} key); "
            "check the prefix, or open it with create=True to create the store"
        )

    def _check_version(self, found: bytes | str | None) -> None:
        if found is None or not found.isdigit() or int(found) > LAYOUT_VERSION:
            raise StateStoreError(
                f"Redis keys under {self._prefix!r} at {self._where} use layout {found!r}, "
                f"not one this penguiflow understands (<= {LAYOUT_VERSION}); "
                "upgrade penguiflow-core or pick another prefix"
            )

    async def _call(self, action: str, operation: Callable[[aioredis.Redis], Awaitable[_T]]) -> _T:
        """Run ``operation`` with the client, turning driver errors into `StateStoreError`."""
        client = self._client
        if client is None:
            raise StateStoreError(f"{action}: the Redis store at {self._where} is closed")
        return await call_redis(
            operation(client),
            where=self._where,
            action=action,
            error=StateStoreError,
            timed_out=lambda exc: (
                f"within {self._command_timeout}s while {action}; "
                "check the server's load or raise command_timeout"
            ),
            connect_timeout=self._connect_timeout,
            scope=f" (prefix {self._prefix!r})",
        )
