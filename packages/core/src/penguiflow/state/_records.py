"""Argument checks, index tags, ordering and page tokens shared by every built-in record store.

Design notes.

* Indexed values are compared as *tags*: one string per value holding its
  type and its value (``s:text``, ``i:42``, ``f:1.5``, ``b:1``, ``n:``), so
  every backend filters with plain string equality and agrees that ``1``,
  ``1.0`` and ``True`` are three different values.
* Listing is keyset paging over ``(sort value, key)``: a key is unique within
  ``(kind, tenant)``, so the pair orders records totally, and the next page
  starts strictly after the last pair handed out. A record inserted while a
  caller pages can never shift the others, so nothing is repeated or skipped.
  Keys compare by code point, which is the byte order of their UTF-8 form
  (SQLite's BINARY collation, PostgreSQL's ``"C"``, Redis lexical ranges).
* A page token is URL-safe base64 of a small JSON object: the order, the last
  pair, and a fingerprint of the query (kind, tenant, filters, order), so a
  token handed to another query is refused instead of silently misused.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from penguiflow.state._codec import check_key, encode_document
from penguiflow.state.base import IndexedValue, Record

__all__ = [
    "MAX_LIMIT",
    "ListQuery",
    "OrderField",
    "PutRequest",
    "check_expected_version",
    "check_indexed",
    "check_record_id",
    "check_ttl",
    "encode_value",
    "expires_at",
    "is_expired",
    "list_query",
    "page_token",
    "sort_value",
    "tag",
]

MAX_LIMIT = 1000
"""Most records one `list_records` page may hold."""

OrderField = Literal["updated_at", "created_at", "key"]
_ORDER_FIELDS: tuple[OrderField, ...] = ("updated_at", "created_at", "key")
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_MAX_INDEXED = 16


def check_record_id(kind: object, key: object, tenant: object) -> None:
    """Check ``kind``, ``key`` and ``tenant`` are non-empty strings."""
    check_key("kind", kind)
    check_key("key", key)
    check_tenant(tenant)


def check_tenant(tenant: object) -> str:
    """Return ``tenant`` if it is a non-empty string (records always belong to one)."""
    if tenant is None:
        raise ValueError("tenant is required for records: pass tenant='...' (never shared)")
    return check_key("tenant", tenant)


def tag(value: object, *, field: str) -> str:
    """Return the comparison tag of an indexed ``value`` (see the module notes)."""
    if value is None:
        return "n:"
    if isinstance(value, bool):
        return "b:1" if value else "b:0"
    if isinstance(value, int):
        return f"i:{value}"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"indexed field {field!r} must be finite, got {value!r}")
        return f"f:{value!r}"
    if isinstance(value, str):
        return f"s:{value}"
    raise TypeError(
        f"indexed field {field!r} must be a str, int, float, bool or None, "
        f"got {type(value).__name__}"
    )


def check_indexed(indexed: object, *, what: str = "indexed") -> dict[str, IndexedValue]:
    """Return ``indexed`` as a plain dict after checking names and values."""
    if indexed is None:
        return {}
    if not isinstance(indexed, Mapping):
        raise TypeError(f"{what} must be a mapping of field name to scalar, got {indexed!r:.80}")
    if len(indexed) > _MAX_INDEXED:
        raise ValueError(f"{what} has {len(indexed)} fields; at most {_MAX_INDEXED} are allowed")
    result: dict[str, IndexedValue] = {}
    for name, value in indexed.items():
        if not isinstance(name, str) or not _FIELD_NAME.match(name):
            raise ValueError(
                f"{what} field name {name!r} must be 1-64 letters, digits or '_' "
                "(not starting with a digit)"
            )
        tag(value, field=name)
        result[name] = value
    return result


def check_expected_version(expected_version: object) -> int | None:
    """Return ``expected_version`` if it is ``None`` or an int >= 0."""
    if expected_version is None:
        return None
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise TypeError(
            f"expected_version must be an int (0: create only) or None, got {expected_version!r}"
        )
    if expected_version < 0:
        raise ValueError(f"expected_version must be >= 0, got {expected_version}")
    return expected_version


def check_ttl(ttl_s: object) -> float | None:
    """Return ``ttl_s`` as a float if it is ``None`` or a positive finite number."""
    if ttl_s is None:
        return None
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int | float):
        raise TypeError(f"ttl_s must be a number of seconds or None, got {ttl_s!r}")
    if not (math.isfinite(ttl_s) and ttl_s > 0):
        raise ValueError(f"ttl_s must be a positive finite number of seconds, got {ttl_s!r}")
    return float(ttl_s)


def encode_value(kind: str, key: str, value: object) -> str:
    """Return the record's JSON text (a dict, JSON-safe)."""
    return encode_document(value, what=f"value of record {kind!r}/{key!r}")


@dataclass(frozen=True, slots=True)
class PutRequest:
    """A checked `put_record` call, in the forms every backend stores.

    Attributes:
        fields: The indexed fields.
        expected: The expected version (``0``: create only; ``None``: any).
        ttl: Seconds to live, or ``None``.
        text: The value as JSON text.
        fields_text: The indexed fields as JSON text.
        tags: The indexed fields' tags (see the module docstring) as JSON text.
    """

    fields: dict[str, IndexedValue]
    expected: int | None
    ttl: float | None
    text: str
    fields_text: str
    tags: str

    @classmethod
    def check(
        cls,
        kind: object,
        key: object,
        value: object,
        *,
        tenant: object,
        indexed: object,
        expected_version: object,
        ttl_s: object,
    ) -> PutRequest:
        """Check every argument of a `put_record` call at once (clear errors, no I/O).

        Raises:
            TypeError, ValueError: An argument is malformed; the message names it.
        """
        check_record_id(kind, key, tenant)
        fields = check_indexed(indexed)
        expected = check_expected_version(expected_version)
        ttl = check_ttl(ttl_s)
        assert isinstance(kind, str) and isinstance(key, str)  # checked above
        text = encode_value(kind, key, value)
        tags = {name: tag(v, field=name) for name, v in fields.items()}
        return cls(
            fields=fields,
            expected=expected,
            ttl=ttl,
            text=text,
            fields_text=encode_document(fields, what="indexed"),
            tags=encode_document(tags, what="indexed"),
        )


def expires_at(now: float, ttl_s: float | None) -> float | None:
    """The expiry time of a record written at ``now`` with ``ttl_s``."""
    return None if ttl_s is None else now + ttl_s


def is_expired(record_expires_at: float | None, now: float) -> bool:
    """Whether a record with ``record_expires_at`` is invisible at ``now``."""
    return record_expires_at is not None and record_expires_at <= now


def sort_value(record: Record, field: OrderField) -> float | str:
    """The value of ``record`` that ``field`` orders by."""
    if field == "key":
        return record.key
    return record.created_at if field == "created_at" else record.updated_at


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A checked `list_records` call.

    Attributes:
        field: What the records are ordered by (then by key).
        descending: Whether the order is descending.
        where: Field name -> tag of the wanted value.
        limit: Most records on the page.
        after: The last ``(sort value, key)`` of the previous page, or ``None``.
        fingerprint: Identifies the query in its page tokens.
    """

    field: OrderField
    descending: bool
    where: dict[str, str]
    limit: int
    after: tuple[float | str, str] | None
    fingerprint: str

    def is_after(self, value: float | str, key: str) -> bool:
        """Whether a record with ``(value, key)`` belongs after the previous page."""
        if self.after is None:
            return True
        last_value, last_key = self.after
        if self.field == "key":
            return key < last_key if self.descending else key > last_key
        if value == last_value:
            return key < last_key if self.descending else key > last_key
        return value < last_value if self.descending else value > last_value  # type: ignore[operator]

    def matches(self, indexed: Mapping[str, IndexedValue]) -> bool:
        """Whether a record with these indexed fields passes the filters."""
        for name, wanted in self.where.items():
            if name not in indexed or tag(indexed[name], field=name) != wanted:
                return False
        return True


def list_query(
    kind: str,
    tenant: str,
    where: object,
    order_by: object,
    limit: object,
    token: object,
) -> ListQuery:
    """Check the arguments of `list_records` and decode its page token."""
    check_key("kind", kind)
    check_tenant(tenant)
    filters = check_indexed(where, what="where")
    if not isinstance(order_by, str):
        raise TypeError(f"order_by must be a string, got {type(order_by).__name__}")
    descending = order_by.startswith("-")
    name = order_by[1:] if descending else order_by
    if name not in _ORDER_FIELDS:
        choices = ", ".join(f"{f!r}/'-{f}'" for f in _ORDER_FIELDS)
        raise ValueError(f"order_by must be one of {choices}, got {order_by!r}")
    field: OrderField = name
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an int from 1 to {MAX_LIMIT}, got {limit!r}")
    tags = {name: tag(value, field=name) for name, value in sorted(filters.items())}
    fingerprint = _fingerprint(kind, tenant, tags, order_by)
    after = None if token is None else _decode_token(token, fingerprint, field)
    return ListQuery(field, descending, tags, limit, after, fingerprint)


def page_token(query: ListQuery, last: Record) -> str:
    """Return the token continuing ``query`` after ``last``."""
    import json  # on use: json is ~1.3 ms of `import penguiflow`

    data = {"f": query.fingerprint, "v": sort_value(last, query.field), "k": last.key}
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _fingerprint(kind: str, tenant: str, tags: dict[str, str], order_by: str) -> str:
    import json  # on use: json is ~1.3 ms of `import penguiflow`

    text = json.dumps([kind, tenant, tags, order_by], separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _decode_token(token: object, fingerprint: str, field: OrderField) -> tuple[float | str, str]:
    import json  # on use: json is ~1.3 ms of `import penguiflow`

    if not isinstance(token, str) or not token:
        raise ValueError(f"page_token must be a token from a previous page, got {token!r:.80}")
    try:
        data: Any = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        value, key, issued_for = data["v"], data["k"], data["f"]
    except (ValueError, TypeError, KeyError):
        raise ValueError(f"page_token {token!r:.80} is not a page token of list_records") from None
    if issued_for != fingerprint:
        raise ValueError(
            "page_token was issued for another query (kind, tenant, where or order_by "
            "differ); pass the same arguments as for the first page"
        )
    expected = str if field == "key" else float
    if not isinstance(key, str) or not isinstance(value, expected):
        raise ValueError(f"page_token {token!r:.80} is damaged")
    return value, key
