"""What the MessageBus conformance cases drive a bus with: fresh topics, numbered
messages, and a group member whose every wait for a delivery is bounded.

Used by `penguiflow.bus.conformance` only.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from penguiflow.bus.base import BusEnvelope, Delivery, Subscription

__all__ = ["Member", "fresh_topic", "numbered"]


def fresh_topic(label: str) -> str:
    """A topic name no other case uses, labelled for debugging."""
    return f"conformance.{label}-{uuid.uuid4().hex[:12]}"


def numbered(topic: str, index: int, extra: dict[str, Any] | None = None) -> BusEnvelope:
    """Message ``index`` of a case: ``{"index": index, **extra}`` with one header."""
    return BusEnvelope(
        topic=topic, body={"index": index, **(extra or {})}, headers={"n": str(index)}
    )


class Member:
    """A subscription and its iterator, with bounded waits for the next delivery."""

    def __init__(self, subscription: Subscription, name: str) -> None:
        self.subscription = subscription
        self.name = name
        self._iterator = aiter(subscription)

    async def next(self, within: float, what: str) -> Delivery:
        """The next delivery, waiting at most ``within`` seconds.

        Raises:
            AssertionError: None came in time, or the subscription ended
                (the message names the member and ``what`` was awaited).
        """
        try:
            async with asyncio.timeout(within):
                return await anext(self._iterator)
        except TimeoutError:
            raise AssertionError(
                f"{self.name} got no delivery within {within:g} s ({what})"
            ) from None
        except StopAsyncIteration:
            raise AssertionError(
                f"{self.name}'s subscription ended while waiting ({what})"
            ) from None

    async def nothing(self, within: float, what: str) -> None:
        """Wait ``within`` seconds, checking that no delivery arrives.

        Raises:
            AssertionError: Something was delivered (``what`` says why none was expected).
        """
        try:
            async with asyncio.timeout(within):
                delivery = await anext(self._iterator)
        except TimeoutError:
            return
        raise AssertionError(
            f"{self.name} got {delivery.envelope.body!r:.200} "
            f"(redelivered={delivery.redelivered}) but expected nothing ({what})"
        )
