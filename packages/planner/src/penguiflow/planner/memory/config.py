"""Short-term memory configuration: the `MemoryBudget` and the `ShortTermMemoryConfig`."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from penguiflow.planner.memory.health import MemoryHealth
from penguiflow.planner.memory.key import MemoryKey
from penguiflow.planner.memory.turns import ConversationTurn
from penguiflow.planner.prompts import estimate_tokens

__all__ = [
    "HealthHook",
    "KeyFromToolContext",
    "MemoryBudget",
    "MemoryStrategy",
    "OverflowPolicy",
    "ShortTermMemoryConfig",
    "SummaryHook",
    "TokenEstimator",
    "TurnHook",
]

MemoryStrategy = Literal["none", "truncation", "rolling_summary"]
"""``none``: no memory; ``truncation``: the last turns only; ``rolling_summary``: plus a summary."""

OverflowPolicy = Literal["truncate_oldest", "truncate_summary", "error"]
"""What happens when the memory would exceed ``total_max_tokens`` (see `MemoryBudget`)."""

TokenEstimator = Callable[[str], int]
"""Estimated tokens of a text."""

KeyFromToolContext = Callable[[Mapping[str, Any]], "MemoryKey | None"]
"""Derives a run's `MemoryKey` from its ``tool_context`` (``None``: no key there)."""

TurnHook = Callable[["ConversationTurn"], "Awaitable[None] | None"]
SummaryHook = Callable[[str], "Awaitable[None] | None"]
HealthHook = Callable[["MemoryHealth", "MemoryHealth"], "Awaitable[None] | None"]


def _check_int(name: str, value: object, minimum: int) -> None:
    if type(value) is not int or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")


def _check_seconds(name: str, value: object, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds; got {value!r}")
    if value < 0 or (allow_none and value == 0):
        bound = "> 0 or None" if allow_none else ">= 0"
        raise ValueError(f"{name} must be {bound}; got {value!r}")


def _check_hook(name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None; got {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class MemoryBudget:
    """How much conversation a session keeps, in turns and estimated tokens.

    The memory block is the summary, the pending turns and the recent turns;
    a turn costs the estimated tokens of its JSON form. Whenever the block
    would exceed ``total_max_tokens``, ``overflow_policy`` decides:

    * ``truncate_oldest``: drop the oldest turns (pending first, then recent
      ones, never the newest), then shorten the summary;
    * ``truncate_summary``: shorten the summary first, then drop turns as above;
    * ``error``: refuse the new turn with `MemoryBudgetExceeded`.

    With either truncating policy a single turn larger than the whole budget
    is itself shortened, so a session never holds more than the budget.

    Attributes:
        full_zone_turns: Recent turns kept in full.
        summary_max_tokens: Most tokens of the rolling summary.
        total_max_tokens: Most tokens of the whole memory block.
        overflow_policy: See above.

    Raises:
        ValueError: A limit is not a positive int, or the policy is unknown.
    """

    full_zone_turns: int = 5
    summary_max_tokens: int = 1000
    total_max_tokens: int = 8000
    overflow_policy: OverflowPolicy = "truncate_oldest"

    def __post_init__(self) -> None:
        _check_int("MemoryBudget.full_zone_turns", self.full_zone_turns, 1)
        _check_int("MemoryBudget.summary_max_tokens", self.summary_max_tokens, 1)
        _check_int("MemoryBudget.total_max_tokens", self.total_max_tokens, 1)
        if self.overflow_policy not in get_args(OverflowPolicy):
            raise ValueError(
                f"MemoryBudget.overflow_policy must be one of {get_args(OverflowPolicy)}; "
                f"got {self.overflow_policy!r}"
            )


@dataclass(frozen=True, slots=True)
class ShortTermMemoryConfig:
    """Turns on per-session conversation memory for a planner.

    Attributes:
        strategy: ``"none"`` (default, stateless), ``"truncation"`` (the last
            ``full_zone_turns`` turns) or ``"rolling_summary"`` (older turns
            folded into a summary in the background).
        budget: The `MemoryBudget`.
        require_explicit_key: Fail closed: a run without a `MemoryKey` (given or
            derived) is an error. When false, such a run simply has no memory.
        key_from_tool_context: Derives the key from a run's ``tool_context``
            when none is passed explicitly.
        token_estimator: Estimated tokens of a text (default: about four
            characters per token).
        summarizer_retries: Retries of a failed summary before degrading.
        summarizer_backoff_s: Delay before the first retry; doubles each retry.
        summarizer_timeout_s: Most seconds one summariser call may take (``None``: no limit).
        recovery_probe_every_turns: While degraded, try the summariser again
            every this many turns.
        on_turn_added: ``(turn)`` after a turn is stored (sync or async).
        on_summary_updated: ``(summary)`` when a new summary lands.
        on_health_changed: ``(old, new)`` on every `MemoryHealth` change.
        max_sessions: Sessions a `MemorySessions` keeps in process (least
            recently used ones are persisted and closed beyond that).

    Callback failures are logged, never raised.

    Example:
        >>> config = ShortTermMemoryConfig(
        ...     strategy="truncation", budget=MemoryBudget(full_zone_turns=3)
        ... )
    """

    strategy: MemoryStrategy = "none"
    budget: MemoryBudget = field(default_factory=MemoryBudget)
    require_explicit_key: bool = True
    key_from_tool_context: KeyFromToolContext | None = None
    token_estimator: TokenEstimator | None = None
    summarizer_retries: int = 2
    summarizer_backoff_s: float = 0.5
    summarizer_timeout_s: float | None = 60.0
    recovery_probe_every_turns: int = 5
    on_turn_added: TurnHook | None = None
    on_summary_updated: SummaryHook | None = None
    on_health_changed: HealthHook | None = None
    max_sessions: int = 1024

    def __post_init__(self) -> None:
        if self.strategy not in get_args(MemoryStrategy):
            raise ValueError(
                f"ShortTermMemoryConfig.strategy must be one of {get_args(MemoryStrategy)}; "
                f"got {self.strategy!r}"
            )
        if not isinstance(self.budget, MemoryBudget):
            raise TypeError(f"budget must be a MemoryBudget; got {type(self.budget).__name__}")
        if not isinstance(self.require_explicit_key, bool):
            raise TypeError(
                f"require_explicit_key must be a bool; got {self.require_explicit_key!r}"
            )
        _check_int("summarizer_retries", self.summarizer_retries, 0)
        _check_seconds("summarizer_backoff_s", self.summarizer_backoff_s)
        _check_seconds("summarizer_timeout_s", self.summarizer_timeout_s, allow_none=True)
        _check_int("recovery_probe_every_turns", self.recovery_probe_every_turns, 1)
        _check_int("max_sessions", self.max_sessions, 1)
        for name in (
            "key_from_tool_context",
            "token_estimator",
            "on_turn_added",
            "on_summary_updated",
            "on_health_changed",
        ):
            _check_hook(name, getattr(self, name))

    @property
    def enabled(self) -> bool:
        """Whether the strategy keeps any memory (anything but ``"none"``)."""
        return self.strategy != "none"

    def estimate(self, text: str) -> int:
        """Estimated tokens of ``text`` with the configured estimator (0 for an empty text)."""
        if not text:
            return 0
        estimator = self.token_estimator or estimate_tokens
        tokens = estimator(text)
        if type(tokens) is not int or tokens < 0:
            raise TypeError(f"token_estimator must return an int >= 0; got {tokens!r}")
        return tokens
