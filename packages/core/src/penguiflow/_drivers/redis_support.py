"""Connection helpers shared by the Redis backends (`RedisStateStore`, `RedisStreamsBus`).

Imports the redis driver at import time: only the Redis backend modules import
this one, inside their own guarded driver import, and they are imported only
when a ``redis://`` URL is opened.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis import exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from penguiflow._drivers.cancel_safe import await_cancel_safe
from penguiflow._drivers.urls import printable_where

__all__ = ["KEY_PREFIX", "call_redis", "pooled_client", "redis_where"]

_T = TypeVar("_T")

KEY_PREFIX = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
"""A valid key prefix: 1-100 letters, digits, ``_``, ``.`` or ``-`` (no ``:``, no glob)."""


def redis_where(url: object, *, not_a_string: str | None = None) -> str:
    """Return ``host:port`` of a ``redis://`` or ``rediss://`` URL (never the password).

    Args:
        url: The Redis URL.
        not_a_string: When given, a non-string ``url`` raises `TypeError` with this text.

    Raises:
        TypeError: ``url`` is not a string and ``not_a_string`` is given.
        ValueError: Not a Redis URL, or an invalid port.
    """
    return printable_where(
        url,
        schemes=("redis", "rediss"),
        default_port=6379,
        name="Redis",
        expected="redis://host:6379/0",
        not_a_string=not_a_string,
    )


def pooled_client(
    url: str, *, max_connections: int, connect_timeout: float, command_timeout: float | None
) -> aioredis.Redis:
    """A client on a blocking connection pool, with redis-py's short retry.

    A blocking pool makes a burst of concurrent callers queue for a connection
    (up to ``command_timeout``) instead of failing outright.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=command_timeout,
        socket_connect_timeout=connect_timeout,
        socket_timeout=command_timeout,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
    )
    return aioredis.Redis.from_pool(pool)


async def call_redis(
    call: Awaitable[_T],
    *,
    where: str,
    action: str,
    error: type[Exception],
    timed_out: Callable[[Exception], str],
    scope: str = "",
) -> _T:
    """Await ``call`` cancel-safely, turning redis errors into one-line ``error`` s.

    redis-py can swallow a cancellation mid-command; the caller's is never lost.

    Args:
        call: The driver call.
        where: ``host:port`` of the server, for messages.
        action: What the call does, for messages (for example ``"saving state"``).
        error: The exception class to raise (the backend's error type).
        timed_out: Builds the text after "did not answer " for a timeout.
        scope: Text added after ``action`` when the server rejects the call.

    Raises:
        Exception: An ``error`` instance chained to the driver's exception.
    """
    try:
        return await await_cancel_safe(call)
    except redis_errors.AuthenticationError as exc:
        raise error(
            f"Redis at {where} refused the connection: {exc}; "
            "check the user and password in the URL"
        ) from exc
    except redis_errors.ConnectionError as exc:
        raise error(
            f"cannot reach Redis at {where} while {action}: {exc}; "
            "check that the server is running and the URL's host and port"
        ) from exc
    except redis_errors.TimeoutError as exc:
        raise error(f"Redis at {where} did not answer {timed_out(exc)}") from exc
    except redis_errors.RedisError as exc:
        raise error(
            f"Redis at {where} rejected {action}{scope}: {type(exc).__name__}: {exc}"
        ) from exc
