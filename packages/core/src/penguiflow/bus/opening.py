"""`open_bus(url)`: build the MessageBus a URL names, importing its backend only then.

Only the in-memory bus ships without extras; each broker backend lives in its
own module that imports its driver at import time, so `open_bus` imports that
module lazily and turns a missing driver into an `ImportError` that says which
extra of ``penguiflow-core`` to install.
"""

from __future__ import annotations

from typing import Any

from penguiflow._drivers.urls import Backend as _Backend
from penguiflow._drivers.urls import backend_class, check_options
from penguiflow.bus.base import MessageBus

__all__ = ["SUPPORTED_BUS_SCHEMES", "open_bus"]


_BACKENDS: dict[str, _Backend] = {
    "memory": _Backend("penguiflow.bus.memory", "InMemoryBus", None, "memory://"),
    "redis": _Backend(
        "penguiflow.bus.redis_streams", "RedisStreamsBus", "redis", "redis://host:6379/0"
    ),
    "rediss": _Backend(
        "penguiflow.bus.redis_streams", "RedisStreamsBus", "redis", "rediss://host:6380/0"
    ),
    "nats": _Backend("penguiflow.bus.nats", "NatsJetStreamBus", "nats", "nats://host:4222"),
    "tls": _Backend("penguiflow.bus.nats", "NatsJetStreamBus", "nats", "tls://host:4222"),
}

SUPPORTED_BUS_SCHEMES: tuple[str, ...] = tuple(_BACKENDS)
"""URL schemes `open_bus` understands."""


async def open_bus(url: str, **options: Any) -> MessageBus:
    """Open the `MessageBus` named by ``url``.

    Supported URLs (and the extra of ``penguiflow-core`` each needs):
    ``memory://`` (built in), ``redis://...`` or ``rediss://...``
    (``redis``; Redis Streams with consumer groups), ``nats://...`` or
    ``tls://...`` (``nats``; NATS JetStream).

    The returned bus is an async context manager; close it when done::

        async with await open_bus("redis://localhost:6379/0") as bus:
            await bus.publish(BusEnvelope(topic="jobs", body={"n": 1}))

    Args:
        url: The bus URL.
        **options: Passed to the backend's ``open`` (for example ``prefix=``
            and ``maxlen=`` for Redis, ``maxlen=`` for memory).

    Raises:
        TypeError: ``url`` is not a string, or an option the backend does not
            take (the message lists the ones it does), raised before any I/O.
        ValueError: The URL is malformed or its scheme is unknown (the message
            lists the supported ones), or the backend rejects it or an option.
        ImportError: The backend's driver is not installed (the message says
            which extra to install).
        BusError: The broker cannot be reached or opened.
    """
    bus_class = backend_class(url, _BACKENDS, what="message bus", function="open_bus")
    check_options(bus_class.open, options, url=url, function="open_bus")
    bus: MessageBus = await bus_class.open(url, **options)
    return bus
