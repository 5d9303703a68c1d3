"""`ShortTermMemory` and its default implementation: one session's turns, summarised in background.

Design notes. A memory holds a `MemoryBlock`: the recent turns (the full
zone), the pending turns and the rolling summary. `add_turn` changes the
block synchronously (a copy is changed, checked against the budget and
swapped in, so a refused turn leaves nothing behind) and returns without
waiting for any LLM. With ``rolling_summary``, turns leaving the full zone
become pending and one background worker task per memory folds them into
the summary; pending turns stay in the prompt until their summary lands.

The worker owns every health transition (see
`penguiflow.planner.memory.health`), so ``on_health_changed`` sees them in
order. A failed summary is retried with doubling backoff; when the retries
are spent the memory degrades: pending turns are dropped and later turns
leaving the full zone are too, exactly as with ``truncation``. Every
``recovery_probe_every_turns`` turns, the turn leaving the full zone is
kept as a probe instead, and the worker tries the summariser once
(``RECOVERING``); success makes the memory healthy again.

`hydrate` bumps a generation counter, so a summary computed for the state
it replaced is discarded rather than applied to the new one.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from penguiflow.planner.llm import JSONLLMClient
from penguiflow.planner.memory.block import Entry, MemoryBlock
from penguiflow.planner.memory.budget import enforce_budget
from penguiflow.planner.memory.config import ShortTermMemoryConfig
from penguiflow.planner.memory.errors import (
    MemoryBudgetExceeded,
    MemoryClosedError,
    MemoryStateError,
)
from penguiflow.planner.memory.health import MemoryHealth
from penguiflow.planner.memory.persistence import (
    MemoryStore,
    decode_state,
    encode_state,
    restore_block,
)
from penguiflow.planner.memory.protocol import CLOSE_TIMEOUT_S
from penguiflow.planner.memory.summarizer import TurnSummarizer
from penguiflow.planner.memory.turns import ConversationTurn

__all__ = ["Autosave", "DefaultShortTermMemory"]

logger = logging.getLogger("penguiflow.planner.memory")

Autosave = Callable[["DefaultShortTermMemory"], Awaitable[None]]
"""``autosave(memory)``: called by the background worker after it changed the state."""


async def _call_hook(name: str, hook: Callable[..., Any] | None, *args: Any) -> None:
    """Run a user callback (sync or async); its failure is logged, never raised."""
    if hook is None:
        return
    try:
        outcome = hook(*args)
        if inspect.isawaitable(outcome):
            await outcome
    except Exception:
        logger.exception("short-term memory callback %s failed", name)


class DefaultShortTermMemory:
    """The built-in `ShortTermMemory` (see the module docstring for how it works).

    Args:
        config: The configuration (default: ``ShortTermMemoryConfig()``, no memory).
        summarizer: The LLM writing rolling summaries; required for ``rolling_summary``.
        autosave: Called after background changes (used by `MemorySessions` to
            persist a summary when it lands); failures are logged.

    Raises:
        ValueError: ``rolling_summary`` without a summariser.
        TypeError: ``config`` or ``summarizer`` has the wrong type.

    Example:
        >>> memory = DefaultShortTermMemory(ShortTermMemoryConfig(strategy="truncation"))
    """

    def __init__(
        self,
        config: ShortTermMemoryConfig | None = None,
        summarizer: JSONLLMClient | None = None,
        *,
        autosave: Autosave | None = None,
    ) -> None:
        config = config if config is not None else ShortTermMemoryConfig()
        if not isinstance(config, ShortTermMemoryConfig):
            raise TypeError(f"config must be a ShortTermMemoryConfig; got {type(config).__name__}")
        if summarizer is not None and not isinstance(summarizer, JSONLLMClient):
            raise TypeError(
                f"summarizer must implement JSONLLMClient; got {type(summarizer).__name__}"
            )
        if config.strategy == "rolling_summary" and summarizer is None:
            raise ValueError(
                "strategy='rolling_summary' needs a summariser LLM: pass summarizer=<JSONLLMClient>"
            )
        self._config = config
        self._summarizer = (
            TurnSummarizer(summarizer, config)
            if summarizer is not None and config.strategy == "rolling_summary"
            else None
        )
        self._autosave = autosave
        self._block = MemoryBlock()
        self._health = MemoryHealth.HEALTHY
        self._worker: asyncio.Task[None] | None = None
        self._generation = 0
        self._turns_since_probe = 0
        self._probe_requested = False
        self._closed = False
        self._save_lock = asyncio.Lock()
        self.revision: str | None = None
        """Id of the stored state this memory last wrote or read (see `MemorySessions.refresh`)."""

    # -- state ---------------------------------------------------------------------------
    @property
    def config(self) -> ShortTermMemoryConfig:
        """The configuration."""
        return self._config

    @property
    def health(self) -> MemoryHealth:
        """The current `MemoryHealth`."""
        return self._health

    @property
    def summary(self) -> str:
        """The rolling summary (``""`` when none)."""
        return self._block.summary

    @property
    def recent_turns(self) -> tuple[ConversationTurn, ...]:
        """The full zone, oldest first."""
        return tuple(e.turn for e in self._block.recent)

    @property
    def pending_turns(self) -> tuple[ConversationTurn, ...]:
        """Turns waiting for the summariser, oldest first."""
        return tuple(e.turn for e in self._block.pending)

    @property
    def token_estimate(self) -> int:
        """Estimated tokens held (always within ``budget.total_max_tokens``)."""
        return self._block.tokens()

    @property
    def summarizing(self) -> bool:
        """Whether the background worker is running."""
        return self._worker is not None and not self._worker.done()

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._closed

    def get_llm_context(self) -> dict[str, Any]:
        """``{"conversation_memory": {"recent_turns", "pending_turns", "summary"}}``.

        Returns ``{}`` when the strategy is ``none`` or nothing is stored yet.
        Each call builds fresh dicts, so the caller may change them.
        """
        if not self._config.enabled or self._block.is_empty():
            return {}
        return {"conversation_memory": self._block.prompt_view()}

    def to_state(self) -> dict[str, Any]:
        """The persisted document (see `penguiflow.planner.memory.persistence`)."""
        return encode_state(
            self._config.strategy,
            self.recent_turns,
            self.pending_turns,
            self._block.summary,
            self._health,
        )

    # -- adding turns --------------------------------------------------------------------
    async def add_turn(self, turn: ConversationTurn) -> None:
        """Store ``turn`` and return at once; summarisation happens in the background.

        Raises:
            TypeError: ``turn`` is not a `ConversationTurn`.
            MemoryBudgetExceeded: ``overflow_policy="error"`` and the memory
                would exceed ``total_max_tokens``; nothing was stored.
            MemoryClosedError: The memory was closed.
        """
        if not isinstance(turn, ConversationTurn):
            raise TypeError(f"add_turn() takes a ConversationTurn; got {type(turn).__name__}")
        if self._closed:
            raise MemoryClosedError("this memory is closed and accepts no more turns")
        config = self._config
        if not config.enabled:
            return
        candidate = self._block.copy()
        candidate.recent.append(candidate.entry(config, turn))
        overflow: list[Entry] = []
        while len(candidate.recent) > config.budget.full_zone_turns:
            overflow.append(candidate.recent.pop(0))
        degraded = self._health is MemoryHealth.DEGRADED
        probe = (
            degraded
            and bool(overflow)
            and self._turns_since_probe + 1 >= config.recovery_probe_every_turns
        )
        if config.strategy == "rolling_summary" and (probe or not degraded):
            candidate.pending.extend(overflow)
        limit = config.budget.total_max_tokens
        if config.budget.overflow_policy == "error" and candidate.tokens() > limit:
            needed = candidate.tokens()
            raise MemoryBudgetExceeded(
                f"adding this turn would hold about {needed} tokens of memory, over "
                f"total_max_tokens={limit} (overflow_policy='error'); raise the budget, "
                "lower full_zone_turns, or choose overflow_policy='truncate_oldest'",
                needed=needed,
                limit=limit,
            )
        enforce_budget(candidate, config)
        self._block = candidate
        if degraded:
            self._turns_since_probe = 0 if probe else self._turns_since_probe + 1
            self._probe_requested = self._probe_requested or probe
        self._start_worker()
        await _call_hook("on_turn_added", config.on_turn_added, turn)

    # -- background summarisation ----------------------------------------------------------
    def _start_worker(self) -> None:
        if self._summarizer is None or self.summarizing or not self._block.pending:
            return
        if self._health is MemoryHealth.DEGRADED and not self._probe_requested:
            return
        self._worker = asyncio.create_task(self._work(), name="penguiflow-memory-summarizer")
        self._worker.add_done_callback(_log_crash)

    async def _work(self) -> None:
        try:
            while True:
                generation = self._generation
                batch = list(self._block.pending)
                if not batch:
                    return
                if self._health is MemoryHealth.DEGRADED:
                    if not self._probe_requested:
                        return
                    self._probe_requested = False
                    await self._set_health(MemoryHealth.RECOVERING)
                summary = await self._attempt(batch, generation)
                if generation != self._generation:
                    continue  # hydrated meanwhile: this summary belongs to the old state
                if summary is None:
                    self._block.pending.clear()
                    self._turns_since_probe = 0
                    await self._set_health(MemoryHealth.DEGRADED)
                else:
                    done = {entry.seq for entry in batch}
                    block = self._block
                    block.pending = [e for e in block.pending if e.seq not in done]
                    block.set_summary(self._config, summary)
                    enforce_budget(block, self._config)
                    await self._set_health(MemoryHealth.HEALTHY)
                    await _call_hook(
                        "on_summary_updated", self._config.on_summary_updated, block.summary
                    )
                await self._save()
        finally:
            if self._worker is asyncio.current_task():
                self._worker = None

    async def _attempt(self, batch: list[Entry], generation: int) -> str | None:
        """A new summary folding ``batch`` in, or ``None`` once the allowed attempts failed."""
        assert self._summarizer is not None
        probing = self._health is MemoryHealth.RECOVERING
        attempts = 1 if probing else 1 + self._config.summarizer_retries
        turns = [entry.turn for entry in batch]
        for attempt in range(attempts):
            try:
                return await self._summarizer.summarize(self._block.summary, turns)
            except Exception as exc:
                logger.warning(
                    "memory summariser failed (attempt %d of %d): %s", attempt + 1, attempts, exc
                )
            if attempt + 1 == attempts or generation != self._generation:
                break
            await self._set_health(MemoryHealth.RETRY)
            await asyncio.sleep(self._config.summarizer_backoff_s * 2**attempt)
        return None

    async def _set_health(self, new: MemoryHealth) -> None:
        old = self._health
        if new is old:
            return
        self._health = new
        log = logger.warning if new is MemoryHealth.DEGRADED else logger.info
        log("short-term memory health: %s -> %s", old.value, new.value)
        await _call_hook("on_health_changed", self._config.on_health_changed, old, new)

    async def _save(self) -> None:
        if self._autosave is None:
            return
        try:
            await self._autosave(self)
        except Exception:
            logger.exception("short-term memory autosave failed")

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until background summarisation is done (including work queued meanwhile).

        Args:
            timeout_s: Most seconds to wait (``None``: until done).

        Returns:
            ``True`` when nothing is running any more, ``False`` on timeout.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while (worker := self._worker) is not None and not worker.done():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            await asyncio.wait({worker}, timeout=remaining)
        return True

    async def close(self, timeout_s: float | None = CLOSE_TIMEOUT_S) -> None:
        """Refuse new turns, let a running summary finish (at most ``timeout_s``), then stop.

        Turns still pending stay in the state (and are persisted by a later
        `persist`); a memory hydrated from it summarises them then.
        """
        self._closed = True
        if await self.flush(timeout_s):
            return
        worker = self._worker
        if worker is not None:
            logger.warning("closing short-term memory with a summary still in flight; cancelled")
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

    # -- persistence ----------------------------------------------------------------------
    async def persist(self, store: MemoryStore, key: str) -> None:
        """Save the state under ``key`` with ``store.save_memory_state`` (nothing for ``none``).

        Saves are serialised and each one snapshots the state when its turn
        comes, so the last save to finish always holds the latest state.
        """
        if not self._config.enabled:
            return
        async with self._save_lock:
            document = self.to_state()
            document["revision"] = uuid.uuid4().hex
            await store.save_memory_state(key, document)
            self.revision = document["revision"]

    async def hydrate(self, store: MemoryStore, key: str) -> bool:
        """Replace the state by the one saved under ``key``.

        The stored turns are re-fitted to this memory's configuration (its
        full zone, strategy and budget). A stored ``DEGRADED`` health is kept;
        the transient ``RETRY``/``RECOVERING`` become ``HEALTHY`` and pending
        turns are summarised again.

        Returns:
            ``True`` if a state was loaded, ``False`` if none was stored (or the
            strategy is ``none``).

        Raises:
            MemoryStateError: The stored document is corrupt or of another
                format version; this memory and the stored document are unchanged.
            penguiflow.state.StateStoreError: The store could not be reached.
        """
        if not self._config.enabled:
            return False
        try:
            document = await store.load_memory_state(key)
        except ValueError as exc:  # an undecodable record (bad JSON) in SQL stores
            raise MemoryStateError(f"memory state {key!r} cannot be read: {exc}") from exc
        if document is None:
            return False
        stored = decode_state(document, key=key)
        block, health = restore_block(self._config, stored, next_seq=self._block.next_seq)
        revision = document.get("revision")
        self.revision = revision if isinstance(revision, str) else None
        self._generation += 1
        self._block = block
        self._turns_since_probe = 0
        self._probe_requested = False
        await self._set_health(health)
        self._start_worker()
        return True

    def __repr__(self) -> str:
        block = self._block
        return (
            f"DefaultShortTermMemory(strategy={self._config.strategy!r}, "
            f"health={self._health.value}, recent={len(block.recent)}, "
            f"pending={len(block.pending)}, tokens={block.tokens()})"
        )


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("short-term memory worker crashed", exc_info=task.exception())
