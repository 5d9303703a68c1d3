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
from redis.asyncio.connection import AbstractConnection
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


# redis-py's own text for a TCP connect that timed out (it carries no subclass of its own).
_TCP_CONNECT_TIMEOUT = "Timeout connecting"

# Added to redis-py's timeout of a connection handshake, so that `call_redis` can tell
# it from a command's (and it reads well in a traceback).
_HANDSHAKE_NOTE = "penguiflow: no answer to the connection handshake within connect_timeout"


def _handshake_within(seconds: float) -> Callable[[AbstractConnection], Awaitable[None]]:
    """redis-py's connection handshake (``CLIENT SETINFO``, ``AUTH``, ...) bounded by ``seconds``.

    redis-py waits for the handshake's replies as long as for a command's
    (``socket_timeout``), so something that accepts TCP and stays silent would
    hold every connection attempt for ``command_timeout`` instead of
    ``connect_timeout``.
    """

    async def handshake(connection: AbstractConnection) -> None:
        command_timeout = connection.socket_timeout
        connection.socket_timeout = seconds
        try:
            await connection.on_connect()
        except redis_errors.TimeoutError as exc:
            exc.add_note(_HANDSHAKE_NOTE)
            raise
        finally:
            connection.socket_timeout = command_timeout

    return handshake


def pooled_client(
    url: str, *, max_connections: int, connect_timeout: float, command_timeout: float | None
) -> aioredis.Redis:
    """A client on a blocking connection pool, with redis-py's short retry of lost connections.

    A blocking pool makes a burst of concurrent callers queue for a connection
    (up to ``command_timeout``) instead of failing outright. A connection
    attempt, handshake included, takes at most ``connect_timeout``.

    Only a lost connection is retried (twice, short backoff), never a
    timeout: a server that did not answer within the bound is reported at
    once, so each call takes at most the bound its error names (redis-py's
    default would retry it twice, tripling the wait).
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=command_timeout,
        socket_connect_timeout=connect_timeout,
        socket_timeout=command_timeout,
        redis_connect_func=_handshake_within(connect_timeout),
        retry=Retry(
            ExponentialBackoff(cap=0.5, base=0.05),
            retries=2,
            supported_errors=(redis_errors.ConnectionError,),
        ),
    )
    return aioredis.Redis.from_pool(pool)


async def call_redis(
    call: Awaitable[_T],
    *,
    where: str,
    action: str,
    error: type[Exception],
    timed_out: Callable[[Exception], str],
    connect_timeout: float,
    scope: str = "",
) -> _T:
    """Await ``call`` cancel-safely, turning redis errors into one-line ``error`` s.

    redis-py can swallow a cancellation mid-command; the caller's is never lost.

    Args:
        call: The driver call.
        where: ``host:port`` of the server, for messages.
        action: What the call does, for messages (for example ``"saving state"``).
        error: The exception class to raise (the backend's error type).
        timed_out: Builds the text after "did not answer " for a command's timeout.
        connect_timeout: The client's bound on a connection attempt, for messages.
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
        if _HANDSHAKE_NOTE in getattr(exc, "__notes__", ()):
            raise error(
                f"Redis at {where} accepted the connection but did not answer within "
                f"{connect_timeout}s (connect_timeout) while {action}; check that the URL's "
                "host and port are a Redis server's (not another service's) and that it is "
                "not stalled, or raise connect_timeout"
            ) from exc
        if str(exc).startswith(_TCP_CONNECT_TIMEOUT):
            raise error(
                f"cannot reach Redis at {where} while {action}: no connection within "
                f"{connect_timeout}s (connect_timeout); check the URL's host and port "
                "and the network between"
            ) from exc
        raise error(f"Redis at {where} did not answer {timed_out(exc)}") from exc
    except redis_errors.RedisError as exc:
        raise error(
            f"Redis at {where} rejected {action}{scope}: {type(exc).__name__}: {exc}"
        ) from exc
