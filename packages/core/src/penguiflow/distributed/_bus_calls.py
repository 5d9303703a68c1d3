"""Bus calls that outlast a broker outage: patient publishes, quiet acks and closes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from penguiflow.bus.base import BusEnvelope, BusError, Delivery, MessageBus, Subscription

__all__ = [
    "PUBLISH_PATIENCE_S",
    "ack_quietly",
    "close_quietly",
    "patiently",
    "publish_patiently",
]

logger: logging.Logger = logging.getLogger("penguiflow.distributed")

_T = TypeVar("_T")
_CLOSE_TIMEOUT_S = 5.0
PUBLISH_PATIENCE_S = 60.0
"""How long a publish is retried while the broker is unreachable before the message fails."""
_RETRY_FIRST_S = 0.05
_RETRY_MAX_S = 2.0


async def publish_patiently(bus: MessageBus, envelope: BusEnvelope, patience_s: float) -> None:
    """Publish ``envelope``, retrying with backoff while the broker is unreachable.

    A retry may store the envelope twice if the broker took the first attempt
    but the answer was lost; receivers deduplicate by ``message_id``.

    Raises:
        BusError: Still failing after ``patience_s`` seconds (the last error).
    """
    await patiently(lambda: bus.publish(envelope), patience_s)


async def patiently(call: Callable[[], Awaitable[_T]], patience_s: float) -> _T:
    """Await ``call()``, retrying with backoff on `BusError`/`OSError` for up to ``patience_s``."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + patience_s
    delay = _RETRY_FIRST_S
    while True:
        try:
            return await call()
        except (BusError, OSError):
            if loop.time() + delay > give_up:
                raise
        await asyncio.sleep(delay)  # backoff while the broker is away
        delay = min(delay * 2, _RETRY_MAX_S)


async def ack_quietly(delivery: Delivery) -> None:
    """Acknowledge ``delivery``; a failure only means it comes back (and is deduplicated)."""
    try:
        await delivery.ack()
    except (BusError, OSError) as exc:
        logger.warning("could not acknowledge %r: %s", delivery, exc)


async def close_quietly(subscription: Subscription) -> None:
    """Close ``subscription`` within a few seconds, logging instead of raising."""
    try:
        await asyncio.wait_for(asyncio.shield(subscription.close()), _CLOSE_TIMEOUT_S)
    except (TimeoutError, BusError, OSError) as exc:
        logger.warning("closing %r failed: %s", subscription, exc)
