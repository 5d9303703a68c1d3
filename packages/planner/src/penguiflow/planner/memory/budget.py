"""Budget enforcement: keep a `MemoryBlock` within ``total_max_tokens`` by its overflow policy.

Design notes. Enforcement only ever removes the oldest material. Under
``truncate_oldest`` that is whole turns (pending ones first, since the
summariser has not folded them yet and they are the oldest, then recent ones
but never the newest), then the summary's oldest text. Under
``truncate_summary`` the summary is shortened first. A newest turn that is
alone larger than the budget is shortened itself (and dropped if even an
empty copy of it does not fit), so the block can never exceed the budget.
``error`` is checked by the caller before a turn is committed; where no one
could receive the error (a summary landing in the background, a hydrate
under a smaller budget) it behaves like ``truncate_summary``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from penguiflow.planner.memory.block import Entry, MemoryBlock, turn_tokens
from penguiflow.planner.memory.config import ShortTermMemoryConfig
from penguiflow.planner.memory.turns import ConversationTurn

__all__ = ["ELLIPSIS", "enforce_budget", "fit_text", "fit_turn"]

logger = logging.getLogger("penguiflow.planner.memory")

ELLIPSIS = "…"
"""Marks where a text was cut."""


def _largest(fits: Callable[[int], bool], upper: int) -> int | None:
    """The largest ``n`` in ``[0, upper]`` with ``fits(n)`` (assumed monotone), or ``None``."""
    if not fits(0):
        return None
    low, high = 0, upper
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def fit_text(
    config: ShortTermMemoryConfig,
    text: str,
    max_tokens: int,
    *,
    keep: Literal["head", "tail"] = "tail",
) -> str:
    """``text`` shortened until its estimate is at most ``max_tokens``.

    Args:
        config: Supplies the token estimator.
        text: The text.
        max_tokens: The limit (``<= 0`` gives ``""``).
        keep: Which end survives; an ellipsis marks the cut.
    """
    if config.estimate(text) <= max_tokens:
        return text
    if max_tokens <= 0:
        return ""

    def cut(n: int) -> str:
        return ELLIPSIS + text[len(text) - n :] if keep == "tail" else text[:n] + ELLIPSIS

    n = _largest(lambda n: config.estimate(cut(n)) <= max_tokens, len(text) - 1)
    return "" if n is None else cut(n)


def fit_turn(
    config: ShortTermMemoryConfig, turn: ConversationTurn, max_tokens: int
) -> ConversationTurn | None:
    """``turn`` shortened to at most ``max_tokens`` (digest dropped, texts cut), or ``None``."""
    if turn_tokens(config, turn) <= max_tokens:
        return turn
    bare = ConversationTurn(turn.user_message, turn.assistant_response, None, turn.ts)

    def capped(n: int) -> ConversationTurn:
        def cap(text: str) -> str:
            return text if len(text) <= n else text[:n] + ELLIPSIS

        return ConversationTurn(cap(bare.user_message), cap(bare.assistant_response), None, bare.ts)

    longest = max(len(bare.user_message), len(bare.assistant_response))
    n = _largest(lambda n: turn_tokens(config, capped(n)) <= max_tokens, longest)
    return None if n is None else capped(n)


def enforce_budget(block: MemoryBlock, config: ShortTermMemoryConfig) -> int:
    """Shrink ``block`` in place until it fits ``total_max_tokens``; return how many turns went.

    ``error`` behaves like ``truncate_summary`` here (see the module docstring).
    """
    limit = config.budget.total_max_tokens
    if block.tokens() <= limit:
        return 0
    if config.budget.overflow_policy != "truncate_oldest":
        _shrink_summary(block, config, limit)
    dropped = 0
    while block.tokens() > limit and block.pending:
        block.pending.pop(0)
        dropped += 1
    while block.tokens() > limit and len(block.recent) > 1:
        block.recent.pop(0)
        dropped += 1
    _shrink_summary(block, config, limit)
    if block.tokens() > limit and block.recent:
        newest = block.recent[-1]
        room = limit - block.summary_tokens - sum(e.tokens for e in block.pending)
        fitted = fit_turn(config, newest.turn, room)
        if fitted is None:
            block.recent.pop()
            dropped += 1
        else:
            block.recent[-1] = Entry(newest.seq, fitted, turn_tokens(config, fitted))
    if dropped:
        logger.debug("memory over its %d-token budget: dropped %d turn(s)", limit, dropped)
    return dropped


def _shrink_summary(block: MemoryBlock, config: ShortTermMemoryConfig, limit: int) -> None:
    if block.tokens() <= limit or not block.summary:
        return
    room = max(limit - block.turn_tokens(), 0)
    block.set_summary(config, fit_text(config, block.summary, room, keep="tail"))
