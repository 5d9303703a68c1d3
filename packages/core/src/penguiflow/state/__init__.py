"""Durable state: the StateStore protocol, its backends and `open_store(url)`.

Backends: `InMemoryStateStore` (``memory://``), `SQLiteStateStore`
(``sqlite:///path.db``, the embedded default), `PostgresStateStore`
(``postgresql://...``) and `RedisStateStore` (``redis://...``). Drivers are
optional extras of penguiflow-core and are imported only when a backend is
opened.
"""

from penguiflow.state.base import (
    Record,
    RecordConflict,
    RecordOrder,
    RecordPage,
    RecordStore,
    RemoteBinding,
    StateStore,
    StateStoreError,
    StoredEvent,
)
from penguiflow.state.memory import InMemoryStateStore
from penguiflow.state.opening import SUPPORTED_SCHEMES, open_store

__all__ = [
    "SUPPORTED_SCHEMES",
    "InMemoryStateStore",
    "Record",
    "RecordConflict",
    "RecordOrder",
    "RecordPage",
    "RecordStore",
    "RemoteBinding",
    "StateStore",
    "StateStoreError",
    "StoredEvent",
    "open_store",
]
