"""The message bus: the MessageBus protocol, its backends and `open_bus(url)`.

Backends: `InMemoryBus` (``memory://``), Redis Streams with consumer groups
(``redis://``) and NATS JetStream (``nats://``). Drivers are optional extras of
penguiflow-core (``redis``, ``nats``) and are imported only when a bus is opened.
"""

from penguiflow.bus.base import BusEnvelope, BusError, Delivery, MessageBus, Subscription
from penguiflow.bus.memory import InMemoryBus
from penguiflow.bus.opening import SUPPORTED_BUS_SCHEMES, open_bus

__all__ = [
    "SUPPORTED_BUS_SCHEMES",
    "BusEnvelope",
    "BusError",
    "Delivery",
    "InMemoryBus",
    "MessageBus",
    "Subscription",
    "open_bus",
]
