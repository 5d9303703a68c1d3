"""`ScriptedLLM`: a deterministic LLM client for tests, examples and offline demos.

It answers from a script instead of a model: each ``complete`` call takes the
next entry. An entry is the reply text, a dict (sent as its JSON), or a
callable receiving the messages and returning either. It records every call,
can report a cost per call, and streams its reply word by word when asked.

Example:
    >>> llm = ScriptedLLM(
    ...     [
    ...         {"thought": "look it up", "next_node": "search", "args": {"text": "routing"}},
    ...         {"thought": "done", "next_node": None, "answer": "Routing is ..."},
    ...     ]
    ... )
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from penguiflow.planner.errors import PlannerError
from penguiflow.planner.llm import ChatMessage, StreamCallback

__all__ = ["ScriptExhausted", "ScriptedCall", "ScriptedLLM"]

ScriptEntry = str | Mapping[str, Any] | Callable[[list[dict[str, str]]], "str | Mapping[str, Any]"]

_WORDS = re.compile(r"\S+\s*|\s+")


class ScriptExhausted(PlannerError, AssertionError):
    """The planner asked for more replies than the script holds.

    A test bug, not an LLM failure: `ReactPlanner.run` and ``resume`` raise it
    unchanged (they never turn it into an ``llm_error`` finish), so the test
    fails at the call that ran out.
    """


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """One call the client received."""

    messages: list[dict[str, str]]
    response_format: dict[str, Any] | None
    stream: bool


class ScriptedLLM:
    """Replies from a fixed script; see the module docstring.

    Args:
        script: The replies, in order.
        cost_per_call: Cost reported for each call (USD).
        name: Shown in errors (useful with several scripted clients).
    """

    def __init__(
        self,
        script: Sequence[ScriptEntry],
        *,
        cost_per_call: float = 0.0,
        name: str = "ScriptedLLM",
    ) -> None:
        if isinstance(script, str | Mapping):
            raise TypeError("script must be a sequence of replies, not a single reply")
        self._script = list(script)
        self.cost_per_call = float(cost_per_call)
        self.name = name
        self.calls: list[ScriptedCall] = []

    @property
    def remaining(self) -> int:
        """Replies not used yet."""
        return len(self._script) - len(self.calls)

    async def complete(
        self,
        *,
        messages: Sequence[ChatMessage],
        response_format: Mapping[str, Any] | None = None,
        stream: bool = False,
        on_stream_chunk: StreamCallback | None = None,
    ) -> tuple[str, float]:
        """Return the next scripted reply (see `penguiflow.planner.llm.JSONLLMClient`).

        Raises:
            ScriptExhausted: No reply left.
        """
        copied = [dict(m) for m in messages]
        index = len(self.calls)
        self.calls.append(
            ScriptedCall(copied, dict(response_format) if response_format else None, stream)
        )
        if index >= len(self._script):
            last = copied[-1]["content"][:200] if copied else ""
            raise ScriptExhausted(
                f"{self.name}: call {index + 1} but the script has {len(self._script)} "
                f"replies; last message: {last!r}"
            )
        entry = self._script[index]
        if callable(entry):
            entry = entry(copied)
        text = entry if isinstance(entry, str) else json.dumps(entry)
        if stream and on_stream_chunk is not None:
            for piece in _WORDS.findall(text):
                on_stream_chunk(piece, False)
            on_stream_chunk("", True)
        return text, self.cost_per_call

    def __repr__(self) -> str:
        return f"{self.name}(calls={len(self.calls)}, remaining={self.remaining})"
