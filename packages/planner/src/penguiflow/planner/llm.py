"""The LLM boundary of the planner: the `JSONLLMClient` protocol and what a call returns.

Any object with an async ``complete`` method of this shape drives a
`ReactPlanner`: the built-in `penguiflow.planner.litellm_client.LiteLLMClient`
(100+ providers through litellm), the deterministic
`penguiflow.planner.testing.ScriptedLLM`, or your own.

``complete`` returns the model's text, or ``(text, cost_usd)`` when the
client knows what the call cost; `normalize_reply` turns either into an
`LLMReply` and rejects anything else with a clear error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from penguiflow.planner.errors import PlannerError

__all__ = [
    "ChatMessage",
    "JSONLLMClient",
    "LLMError",
    "LLMReply",
    "StreamCallback",
    "normalize_reply",
]

ChatMessage = Mapping[str, str]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""

StreamCallback = Callable[[str, bool], None]
"""``on_stream_chunk(text, done)``: called for each streamed piece, then once with ``done=True``."""


class LLMError(PlannerError, RuntimeError):
    """The LLM call failed for good (after the client's own retries); the message says why."""


@dataclass(frozen=True, slots=True)
class LLMReply:
    """What one LLM call produced.

    Attributes:
        text: The model's reply.
        cost_usd: What the call cost, when the client knows (else ``0.0``).
    """

    text: str
    cost_usd: float = 0.0


@runtime_checkable
class JSONLLMClient(Protocol):
    """An LLM that answers a chat with (ideally) one JSON object."""

    async def complete(
        self,
        *,
        messages: Sequence[ChatMessage],
        response_format: Mapping[str, Any] | None = None,
        stream: bool = False,
        on_stream_chunk: StreamCallback | None = None,
    ) -> str | tuple[str, float]:
        """Answer ``messages``.

        Args:
            messages: The chat so far, oldest first.
            response_format: An OpenAI-style ``response_format`` (a JSON schema
                or ``{"type": "json_object"}``) the reply should follow, or ``None``.
            stream: Deliver the reply piece by piece through ``on_stream_chunk``
                as it is generated (the full text is still returned).
            on_stream_chunk: Receives ``(text, done)`` while streaming.

        Returns:
            The reply text, or ``(text, cost_usd)``.

        Raises:
            LLMError: The call failed for good.
        """
        ...


def normalize_reply(raw: object, client: object = None) -> LLMReply:
    """Turn what ``complete`` returned into an `LLMReply`.

    Raises:
        TypeError: ``raw`` is neither a string nor a ``(string, number)`` pair.
    """
    if isinstance(raw, str):
        return LLMReply(raw)
    if isinstance(raw, tuple) and len(raw) == 2 and isinstance(raw[0], str):
        cost = raw[1]
        if isinstance(cost, int | float) and not isinstance(cost, bool) and math.isfinite(cost):
            return LLMReply(raw[0], max(float(cost), 0.0))
    label = type(client).__name__ if client is not None else "the LLM client"
    raise TypeError(
        f"{label}.complete() must return a str or a (str, cost_usd) tuple; got {raw!r:.120}"
    )
