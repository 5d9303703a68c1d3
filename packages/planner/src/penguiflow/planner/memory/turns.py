"""`ConversationTurn`: one user message and the planner's answer, as memory stores it."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ConversationTurn"]


@dataclass(frozen=True, slots=True)
class ConversationTurn:
    """One exchange of a conversation.

    Attributes:
        user_message: What the user asked.
        assistant_response: What the planner answered (text; JSON answers as JSON text).
        trajectory_digest: Optional JSON-safe notes on how the answer was found
            (tools used, key facts); shown to the LLM with the turn.
        ts: When the turn happened, epoch seconds.

    Raises:
        TypeError: A message is not a string, the digest is not a JSON-safe
            dict, or ``ts`` is not a finite number.
    """

    user_message: str
    assistant_response: str
    trajectory_digest: dict[str, Any] | None = None
    ts: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        for name in ("user_message", "assistant_response"):
            value: object = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(
                    f"ConversationTurn.{name} must be a str; got {type(value).__name__}"
                )
        digest: object = self.trajectory_digest
        if digest is not None:
            if not isinstance(digest, dict):
                raise TypeError(
                    f"ConversationTurn.trajectory_digest must be a dict or None; "
                    f"got {type(digest).__name__}"
                )
            try:
                # A private copy: the caller may keep mutating its dict.
                copied = json.loads(json.dumps(digest, allow_nan=False))
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"ConversationTurn.trajectory_digest is not JSON-safe: {exc}"
                ) from None
            object.__setattr__(self, "trajectory_digest", copied)
        ts: object = self.ts
        if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
            raise TypeError(f"ConversationTurn.ts must be a finite number; got {ts!r}")
        object.__setattr__(self, "ts", float(ts))

    def to_prompt(self) -> dict[str, Any]:
        """The turn as the LLM sees it in the ``conversation_memory`` block."""
        shown: dict[str, Any] = {"user": self.user_message, "assistant": self.assistant_response}
        if self.trajectory_digest is not None:
            shown["trajectory_digest"] = json.loads(json.dumps(self.trajectory_digest))
        return shown

    def to_dict(self) -> dict[str, Any]:
        """The turn as memory persists it (JSON-safe)."""
        return {**self.to_prompt(), "ts": self.ts}

    @classmethod
    def from_dict(cls, data: object) -> ConversationTurn:
        """Inverse of `to_dict`.

        Raises:
            TypeError: ``data`` is not a turn document.
            KeyError: A required field is missing.
        """
        if not isinstance(data, dict):
            raise TypeError(f"a turn must be a JSON object; got {type(data).__name__}")
        return cls(
            user_message=data["user"],
            assistant_response=data["assistant"],
            trajectory_digest=data.get("trajectory_digest"),
            ts=data["ts"],
        )
