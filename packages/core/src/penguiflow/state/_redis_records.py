"""Records on Redis: one hash per record, three sorted sets per (kind, tenant), Lua for atomicity.

Design notes.

* Keys of one ``(kind, tenant)`` bucket share the base
  ``{prefix}:records:{len(kind)}:{kind}:{len(tenant)}:{tenant}`` (the lengths
  keep a ``:`` inside a kind or tenant from making two buckets collide):

  ===========================  ===============================================
  ``{base}:doc:{key}``         hash: value, indexed, tags, version, times
  ``{base}:by_updated``        sorted set, score ``updated_at``
  ``{base}:by_created``        sorted set, score ``created_at``
  ``{base}:by_key``            sorted set, score 0 (lexical ranges)
  ===========================  ===============================================

* Every operation is one Lua script, so it runs atomically on the server:
  compare-and-set compares the version and writes in one step, and take
  reads and deletes in one step, for any number of clients. Times come from
  the server's ``TIME``, one clock for every client. Scores and times cross
  Lua as ``%.17g`` text, so every float round-trips exactly.
* Expiry: the hash holds ``expires_at`` (checked by every script, the
  truth) and gets ``PEXPIREAT`` a millisecond later, so Redis frees it. A
  sorted-set member whose hash is gone is skipped and removed by the next
  listing that meets it.
* Listing walks the order's sorted set from the page token's position
  (ties in score are ordered by member, the key), checks each record's
  tags, and stops after ``limit + 1`` live matches.
* redis-py resends a command whose connection dropped, even one the server
  already ran. The scripts that must not run twice (a compare-and-set put
  or delete, a take) get a fresh request id per call and keep their reply
  under ``{base}:reply:{id}`` for five minutes: a resend gets the first
  run's answer. A plain put is not guarded; run twice, it writes the same
  value twice (one version more).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

from penguiflow.state._codec import decode_document
from penguiflow.state._records import (
    PutRequest,
    check_expected_version,
    check_record_id,
    list_query,
)
from penguiflow.state._records import page_token as next_page_token
from penguiflow.state.base import IndexedValue, Record, RecordConflict, RecordOrder, RecordPage

__all__ = ["RecordScripts", "RedisRecords"]

_T = TypeVar("_T")

_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local function live(doc)
  local exp = redis.call('HGET', doc, 'expires_at')
  if exp and tonumber(exp) <= now then return false end
  return redis.call('EXISTS', doc) == 1
end
local function unindex(base, key)
  redis.call('ZREM', base .. ':by_updated', key)
  redis.call('ZREM', base .. ':by_created', key)
  redis.call('ZREM', base .. ':by_key', key)
end
-- A script that is not idempotent keeps its reply for a few minutes under the caller's
-- request id: redis-py resends a command whose connection dropped, and the resend must get
-- the first run's answer instead of running again (a second take would find nothing).
local function replayed(base, rid)
  if rid == '' then return nil end
  local prior = redis.call('GET', base .. ':reply:' .. rid)
  if prior then return cjson.decode(prior) end
  return nil
end
local function remember(base, rid, reply)
  if rid ~= '' then
    redis.call('SET', base .. ':reply:' .. rid, cjson.encode(reply), 'PX', 300000)
  end
  return reply
end
local function fields(doc)
  return redis.call('HMGET', doc, 'value', 'indexed', 'version', 'created_at', 'updated_at',
    'expires_at')
end
"""

# KEYS[1] base; ARGV key, value, indexed, tags, ttl ('' none), expected ('' none), request id
# ('' none). Returns {1, version} or {0, current version or ''}.
_PUT = (
    _NOW
    + """
local base, key, rid = KEYS[1], ARGV[1], ARGV[7]
local prior = replayed(base, rid)
if prior then return prior end
local doc = base .. ':doc:' .. key
local version, created = 0, nil
if live(doc) then
  version = tonumber(redis.call('HGET', doc, 'version'))
  created = redis.call('HGET', doc, 'created_at')
end
if ARGV[6] ~= '' and tonumber(ARGV[6]) ~= version then
  if version == 0 then return remember(base, rid, {0, ''}) end
  return remember(base, rid, {0, tostring(version)})
end
local stamp = string.format('%.17g', now)
created = created or stamp
redis.call('DEL', doc)
redis.call('HSET', doc, 'value', ARGV[2], 'indexed', ARGV[3], 'tags', ARGV[4],
  'version', version + 1, 'created_at', created, 'updated_at', stamp)
if ARGV[5] ~= '' then
  local expires = now + tonumber(ARGV[5])
  redis.call('HSET', doc, 'expires_at', string.format('%.17g', expires))
  redis.call('PEXPIREAT', doc, math.ceil(expires * 1000) + 1)
end
redis.call('ZADD', base .. ':by_updated', stamp, key)
redis.call('ZADD', base .. ':by_created', created, key)
redis.call('ZADD', base .. ':by_key', 0, key)
return remember(base, rid, {1, tostring(version + 1)})
"""
)

# KEYS[1] base; ARGV key. Returns the record's fields, or an empty array.
_GET = (
    _NOW
    + """
local doc = KEYS[1] .. ':doc:' .. ARGV[1]
if not live(doc) then return {} end
return fields(doc)
"""
)

# KEYS[1] base; ARGV key, expected ('' none), request id ('' none).
# Returns {1} deleted, {0} absent, {-1, current}.
_DELETE = (
    _NOW
    + """
local base, key, rid = KEYS[1], ARGV[1], ARGV[3]
local prior = replayed(base, rid)
if prior then return prior end
local doc = base .. ':doc:' .. key
if not live(doc) then return remember(base, rid, {0}) end
local version = redis.call('HGET', doc, 'version')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= tonumber(version) then
  return remember(base, rid, {-1, version})
end
redis.call('DEL', doc)
unindex(base, key)
return remember(base, rid, {1})
"""
)

# KEYS[1] base; ARGV key, request id. Returns the record's fields (now deleted), or {}.
_TAKE = (
    _NOW
    + """
local base, key, rid = KEYS[1], ARGV[1], ARGV[2]
local prior = replayed(base, rid)
if prior then return prior end
local doc = base .. ':doc:' .. key
local found = {}
if live(doc) then found = fields(doc) end
redis.call('DEL', doc)
unindex(base, key)
return remember(base, rid, found)
"""
)

# KEYS[1] base; ARGV field (updated/created/key), descending (0/1), limit + 1, has cursor (0/1),
# cursor value, cursor key, then name/tag pairs of the filter.
# Returns a flat array: key followed by the record's six fields, per record.
_LIST = (
    _NOW
    + """
local base, field, desc, want = KEYS[1], ARGV[1], ARGV[2] == '1', tonumber(ARGV[3])
local has_cursor, cursor_value, cursor_key = ARGV[4] == '1', ARGV[5], ARGV[6]
local set = base .. ':by_' .. field
local out, found, gone, offset, batch = {}, 0, {}, 0, 200
local function wanted(doc)
  if ARGV[7] == nil then return true end
  local tags = cjson.decode(redis.call('HGET', doc, 'tags'))
  for i = 7, #ARGV, 2 do
    if tags[ARGV[i]] ~= ARGV[i + 1] then return false end
  end
  return true
end
-- Byte order, like the sorted sets' lexical order (Lua's own '<' follows the locale).
local function less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function after(member, score)
  if not has_cursor or field == 'key' then return true end
  if tonumber(score) ~= tonumber(cursor_value) then return true end
  if desc then return less(member, cursor_key) end
  return less(cursor_key, member)
end
while found < want do
  local page
  if field == 'key' then
    local low, high = '-', '+'
    if has_cursor then
      if desc then high = '(' .. cursor_key else low = '(' .. cursor_key end
    end
    if desc then
      page = redis.call('ZREVRANGEBYLEX', set, high, low, 'LIMIT', offset, batch)
    else
      page = redis.call('ZRANGEBYLEX', set, low, high, 'LIMIT', offset, batch)
    end
  else
    local low, high = '-inf', '+inf'
    if has_cursor then
      if desc then high = cursor_value else low = cursor_value end
    end
    if desc then
      page = redis.call('ZREVRANGEBYSCORE', set, high, low, 'WITHSCORES', 'LIMIT', offset, batch)
    else
      page = redis.call('ZRANGEBYSCORE', set, low, high, 'WITHSCORES', 'LIMIT', offset, batch)
    end
  end
  local step = 1
  if field ~= 'key' then step = 2 end
  for i = 1, #page, step do
    local member, score = page[i], page[i + 1]
    local doc = base .. ':doc:' .. member
    if after(member, score) then
      if not live(doc) then
        if redis.call('EXISTS', doc) == 0 then table.insert(gone, member) end
      elseif wanted(doc) then
        table.insert(out, member)
        for _, value in ipairs(fields(doc)) do table.insert(out, value or '') end
        found = found + 1
        if found >= want then break end
      end
    end
  end
  if #page < batch * step then break end
  offset = offset + batch
end
for _, member in ipairs(gone) do unindex(base, member) end
return out
"""
)


class RecordScripts:
    """The registered Lua scripts of one Redis client."""

    def __init__(self, register: Callable[[str], Any]) -> None:
        self.put = register(_PUT)
        self.get = register(_GET)
        self.delete = register(_DELETE)
        self.take = register(_TAKE)
        self.list = register(_LIST)


class _Host(Protocol):
    @property
    def prefix(self) -> str: ...

    @property
    def _record_scripts(self) -> RecordScripts: ...

    async def _call(self, action: str, operation: Callable[[Any], Awaitable[_T]]) -> _T: ...


def _base(prefix: str, kind: str, tenant: str) -> str:
    return f"{prefix}:records:{len(kind)}:{kind}:{len(tenant)}:{tenant}"


def _text(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else raw.decode("utf-8")


class RedisRecords:
    """The `RecordStore` methods of `RedisStateStore` (which supplies ``_call`` and the scripts)."""

    async def put_record(
        self: _Host,
        kind: str,
        key: str,
        value: dict[str, Any],
        *,
        tenant: str,
        indexed: Mapping[str, IndexedValue] | None = None,
        expected_version: int | None = None,
        ttl_s: float | None = None,
    ) -> int:
        """Write a record and return its new version (see `RecordStore.put_record`)."""
        put = PutRequest.check(
            kind,
            key,
            value,
            tenant=tenant,
            indexed=indexed,
            expected_version=expected_version,
            ttl_s=ttl_s,
        )
        expected, ttl = put.expected, put.ttl
        text, fields_text, tags = put.text, put.fields_text, put.tags
        args = [key, text, fields_text, tags]
        args += ["" if ttl is None else repr(ttl), "" if expected is None else str(expected)]
        args.append("" if expected is None else uuid.uuid4().hex)
        keys = [_base(self.prefix, kind, tenant)]
        script = self._record_scripts.put
        stored, version = await self._call(
            f"writing record {kind!r}/{key!r}", lambda client: script(keys=keys, args=args)
        )
        if int(stored) == 1:
            return int(version)
        assert expected is not None
        found = _text(version)
        raise RecordConflict(kind, key, expected=expected, current=int(found) if found else None)

    async def get_record(self: _Host, kind: str, key: str, *, tenant: str) -> Record | None:
        """Return the live record, or ``None``."""
        check_record_id(kind, key, tenant)
        keys = [_base(self.prefix, kind, tenant)]
        script = self._record_scripts.get
        found = await self._call(
            f"reading record {kind!r}/{key!r}", lambda client: script(keys=keys, args=[key])
        )
        return _record(kind, tenant, key, found) if found else None

    async def delete_record(
        self: _Host, kind: str, key: str, *, tenant: str, expected_version: int | None = None
    ) -> bool:
        """Delete the record; ``False`` if there was none (see `RecordStore.delete_record`)."""
        check_record_id(kind, key, tenant)
        expected = check_expected_version(expected_version)
        keys = [_base(self.prefix, kind, tenant)]
        args = [key, "" if expected is None else str(expected)]
        args.append("" if expected is None else uuid.uuid4().hex)
        script = self._record_scripts.delete
        answer = await self._call(
            f"deleting record {kind!r}/{key!r}", lambda client: script(keys=keys, args=args)
        )
        if int(answer[0]) >= 0:
            return int(answer[0]) == 1
        assert expected is not None
        raise RecordConflict(kind, key, expected=expected, current=int(answer[1]))

    async def take_record(self: _Host, kind: str, key: str, *, tenant: str) -> Record | None:
        """Read and delete the record in one script (exactly one taker gets it)."""
        check_record_id(kind, key, tenant)
        keys = [_base(self.prefix, kind, tenant)]
        script = self._record_scripts.take
        args = [key, uuid.uuid4().hex]
        found = await self._call(
            f"taking record {kind!r}/{key!r}", lambda client: script(keys=keys, args=args)
        )
        return _record(kind, tenant, key, found) if found else None

    async def list_records(
        self: _Host,
        kind: str,
        *,
        tenant: str,
        where: Mapping[str, IndexedValue] | None = None,
        order_by: RecordOrder = "updated_at",
        limit: int = 100,
        page_token: str | None = None,
    ) -> RecordPage:
        """Return one page of live records (see `RecordStore.list_records`)."""
        query = list_query(kind, tenant, where, order_by, limit, page_token)
        field = {"updated_at": "updated", "created_at": "created", "key": "key"}[query.field]
        last_value, last_key = query.after or ("", "")
        args = [field, "1" if query.descending else "0", str(query.limit + 1)]
        args += ["0" if query.after is None else "1", _score(last_value), last_key]
        for name, wanted in query.where.items():
            args += [name, wanted]
        keys = [_base(self.prefix, kind, tenant)]
        script = self._record_scripts.list
        flat = await self._call(
            f"listing records of kind {kind!r}", lambda client: script(keys=keys, args=args)
        )
        rows = [flat[i : i + 7] for i in range(0, len(flat), 7)]
        records = [_record(kind, tenant, _text(r[0]), r[1:]) for r in rows[: query.limit]]
        more = len(rows) > query.limit
        return RecordPage(records, next_page_token(query, records[-1]) if more else None)


def _score(value: float | str) -> str:
    return repr(value) if isinstance(value, float) else ""


def _record(kind: str, tenant: str, key: str, found: list[Any]) -> Record:
    value, indexed, version, created_at, updated_at, expires_at = (
        None if item is None else _text(item) for item in found
    )
    assert value is not None and indexed is not None and version is not None
    assert created_at is not None and updated_at is not None
    return Record(
        kind=kind,
        tenant=tenant,
        key=key,
        value=decode_document(value),
        indexed=decode_document(indexed),
        version=int(version),
        created_at=float(created_at),
        updated_at=float(updated_at),
        expires_at=float(expires_at) if expires_at else None,
    )
