"""`open_store(url)`: build the StateStore a URL names, importing its backend only then.

Only the in-memory store ships without extras; each other backend lives in
its own module that imports its driver at import time, so `open_store` imports
that module lazily and turns a missing driver into an `ImportError` that says
which extra of ``penguiflow-core`` to install.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

from penguiflow.state.base import StateStore

__all__ = ["SUPPORTED_SCHEMES", "open_store"]


class _Backend(NamedTuple):
    module: str
    class_name: str
    extra: str | None
    example: str


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


def _supported() -> str:
    lines = []
    for scheme, backend in _BACKENDS.items():
        extra = (
            "built in"
            if backend.extra is None
            else f'pip install "penguiflow-core[{backend.extra}]"'
        )
        lines.append(f"  {scheme}:// (e.g. {backend.example}; {extra})")
    return "\n".join(lines)


def _scheme_of(url: str) -> str:
    if not isinstance(url, str):
        raise TypeError(f"open_store() takes a URL string, got {type(url).__name__}")
    scheme, separator, _ = url.partition("://")
    if not separator or not scheme:
        raise ValueError(f"not a state store URL: {url!r}; supported:\n{_supported()}")
    return scheme


async def open_store(url: str, **options: Any) -> StateStore:
    """Open the `StateStore` named by ``url``.

    Supported URLs (and the extra of ``penguiflow-core`` each needs):
    ``memory://`` (built in), ``sqlite:///relative.db`` /
    ``sqlite:////absolute.db`` / ``sqlite:///:memory:`` (``sqlite``),
    ``postgresql://...`` or ``postgres://...`` (``postgres``), ``redis://...``
    or ``rediss://...`` (``redis``).

    The returned store is an async context manager; close it when done::

        async with await open_store("sqlite:///state.db") as store:
            history = await store.load_history(trace_id)

    Args:
        url: The store URL.
        **options: Passed to the backend's ``open`` (for example ``schema=``
            for PostgreSQL, ``prefix=`` for Redis, ``timeout=`` for SQLite).

    Raises:
        ValueError: The URL is malformed or its scheme is unknown (the message
            lists the supported ones), or the backend rejects it.
        ImportError: The backend's driver is not installed (the message says
            which extra to install).
        StateStoreError: The store cannot be reached or opened.
    """
    scheme = _scheme_of(url)
    backend = _BACKENDS.get(scheme)
    if backend is None:
        raise ValueError(
            f"unknown state store scheme {scheme + '://'!r} in {url!r}; supported:\n{_supported()}"
        )
    try:
        module = importlib.import_module(backend.module)
    except ImportError as exc:
        if "penguiflow-core[" in str(exc):  # the backend already said what to install
            raise
        raise ImportError(
            f"the {scheme}:// state store cannot be loaded ({exc}); "
            f'install its driver: pip install "penguiflow-core[{backend.extra}]"'
        ) from exc
    store_class = getattr(module, backend.class_name)
    store: StateStore = await store_class.open(url, **options)
    return store
