"""`open_store(url)`: build the StateStore a URL names, importing its backend only then.

Only the in-memory store ships without extras; each other backend lives in
its own module that imports its driver at import time, so `open_store` imports
that module lazily and turns a missing driver into an `ImportError` that says
which extra of ``penguiflow-core`` to install.
"""

from __future__ import annotations

from typing import Any

from penguiflow._drivers.urls import Backend as _Backend
from penguiflow._drivers.urls import backend_class, check_options
from penguiflow.state.base import StateStore

__all__ = ["SUPPORTED_SCHEMES", "open_store"]


_BACKENDS: dict[str, _Backend] = {
    "memory": _Backend("penguiflow.state.memory", "InMemoryStateStore", None, "memory://"),
    "sqlite": _Backend(
        "penguiflow.state.sqlite", "SQLiteStateStore", "sqlite", "sqlite:///path/to/file.db"
    ),
    "postgresql": _Backend(
        "penguiflow.state.postgres",
        "PostgresStateStore",
        "postgres",
        "postgresql://user@host:5432/db",
    ),
    "postgres": _Backend(
        "penguiflow.state.postgres",
        "PostgresStateStore",
        "postgres",
        "postgres://user@host:5432/db",
    ),
    "redis": _Backend("penguiflow.state.redis", "RedisStateStore", "redis", "redis://host:6379/0"),
    "rediss": _Backend(
        "penguiflow.state.redis", "RedisStateStore", "redis", "rediss://host:6380/0"
    ),
}

SUPPORTED_SCHEMES: tuple[str, ...] = tuple(_BACKENDS)
"""URL schemes `open_store` understands."""


async def open_store(url: str, *, create: bool = True, **options: Any) -> StateStore:
    """Open the `StateStore` named by ``url``.

    Supported URLs (and the extra of ``penguiflow-core`` each needs):
    ``memory://`` (built in), ``sqlite:///relative.db`` /
    ``sqlite:////absolute.db`` / ``sqlite:///:memory:`` (``sqlite``),
    ``postgresql://...`` or ``postgres://...`` (``postgres``), ``redis://...``
    or ``rediss://...`` (``redis``).

    The returned store is an async context manager; close it when done::

        async with await open_store("sqlite:///state.db") as store:
            history = await store.load_history(trace_id)

    Read-only tools pass ``create=False`` so that a mistyped location is an
    error rather than a new empty store::

        reader = await open_store("postgresql://app@db/app", schema="prod", create=False)

    Args:
        url: The store URL.
        create: When true (the default), create the storage (file, schema,
            key layout) if it does not exist yet. When false, only open a
            store that exists: the SQLite file, the PostgreSQL schema or the
            Redis prefix must already hold one, and nothing is created;
            ``memory://`` refuses it, since an in-memory store never exists
            beforehand.
        **options: Passed to the backend's ``open`` (for example ``schema=``
            for PostgreSQL, ``prefix=`` for Redis, ``busy_timeout=`` for SQLite).

    Raises:
        TypeError: An option the backend does not take (the message lists
            the ones it does), raised before any I/O.
        ValueError: The URL is malformed or its scheme is unknown (the message
            lists the supported ones), or the backend rejects it.
        ImportError: The backend's driver is not installed (the message says
            which extra to install).
        StateStoreError: The store cannot be reached or opened, or (with
            ``create=False``) there is no store at the location.
    """
    store_class = backend_class(url, _BACKENDS, what="state store", function="open_store")
    check_options(store_class.open, {"create": create, **options}, url=url, function="open_store")
    store: StateStore = await store_class.open(url, create=create, **options)
    return store
