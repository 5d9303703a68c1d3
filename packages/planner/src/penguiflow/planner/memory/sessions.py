"""`MemorySessions`: the planner's per-key memories: key resolution, LRU bound, persistence.

Design notes. Each `MemoryKey` gets its own `DefaultShortTermMemory`;
nothing is shared between keys but the configuration. At most
``max_sessions`` memories stay in process: opening one more evicts the least
recently used, which is closed (its running summary may finish, bounded)
and then persisted, so nothing is lost when a store is configured. A
session being evicted is waited for before the same key is opened again, so
the new memory hydrates what the old one saved. Two callers opening the same
new key share one memory (and one hydrate).

A memory that fails to hydrate (corrupt or foreign-format state) is not
kept: the error reaches the caller every time, and since the memory never
exists, nothing can overwrite the stored document.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from penguiflow.planner.llm import JSONLLMClient
from penguiflow.planner.memory.config import ShortTermMemoryConfig
from penguiflow.planner.memory.errors import MemoryClosedError, MemoryKeyError, MemoryKeyRequired
from penguiflow.planner.memory.key import MemoryKey
from penguiflow.planner.memory.persistence import MemoryStore
from penguiflow.planner.memory.prompt import render_memory_message
from penguiflow.planner.memory.protocol import CLOSE_TIMEOUT_S
from penguiflow.planner.memory.session import DefaultShortTermMemory
from penguiflow.planner.memory.turns import ConversationTurn

__all__ = ["MemorySessions"]

logger = logging.getLogger("penguiflow.planner.memory")


class MemorySessions:
    """The memories of every session a planner serves, one per `MemoryKey`.

    Args:
        config: The memory configuration shared by all sessions.
        summarizer: The LLM writing rolling summaries (required for ``rolling_summary``).
        state_store: When given, sessions hydrate from it when first opened and
            are saved after every recorded turn, every landed summary, eviction
            and `close`.
        close_timeout_s: How long an evicted or closed session's running
            summary may take to finish before it is cancelled (its pending
            turns are saved and summarised after the next hydrate).

    Raises:
        ValueError: ``rolling_summary`` without a summariser.

    Example:
        >>> sessions = MemorySessions(ShortTermMemoryConfig(strategy="truncation"))
    """

    def __init__(
        self,
        config: ShortTermMemoryConfig,
        summarizer: JSONLLMClient | None = None,
        state_store: MemoryStore | None = None,
        *,
        close_timeout_s: float | None = CLOSE_TIMEOUT_S,
    ) -> None:
        if not isinstance(config, ShortTermMemoryConfig):
            raise TypeError(f"config must be a ShortTermMemoryConfig; got {type(config).__name__}")
        if config.strategy == "rolling_summary" and summarizer is None:
            raise ValueError(
                "strategy='rolling_summary' needs a summariser LLM: pass summarizer=<JSONLLMClient>"
            )
        self.config = config
        timeout: object = close_timeout_s
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0
        ):
            raise ValueError(
                f"close_timeout_s must be a number >= 0 or None; got {close_timeout_s!r}"
            )
        self.state_store = state_store
        self.close_timeout_s = close_timeout_s
        self._summarizer = summarizer
        self._sessions: OrderedDict[MemoryKey, DefaultShortTermMemory] = OrderedDict()
        self._opening: dict[MemoryKey, asyncio.Future[DefaultShortTermMemory]] = {}
        self._evicting: dict[MemoryKey, asyncio.Task[None]] = {}
        self._closed = False

    @property
    def enabled(self) -> bool:
        """Whether the strategy keeps any memory."""
        return self.config.enabled

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, key: object) -> bool:
        return key in self._sessions

    def keys(self) -> list[MemoryKey]:
        """Keys of the sessions in process, least recently used first."""
        return list(self._sessions)

    # -- keys ------------------------------------------------------------------------------
    def resolve_key(
        self, memory_key: MemoryKey | None, tool_context: Mapping[str, Any] | None = None
    ) -> MemoryKey | None:
        """The key of a run: the explicit one, else one derived from ``tool_context``.

        Returns:
            The key, or ``None`` when the run has no memory (strategy ``none``,
            or no key and ``require_explicit_key=False``).

        Raises:
            TypeError: ``memory_key`` is not a `MemoryKey`, or the derived value is not one.
            MemoryKeyError: ``key_from_tool_context`` raised.
            MemoryKeyRequired: No key and ``require_explicit_key=True``.
        """
        if memory_key is not None and not isinstance(memory_key, MemoryKey):
            raise TypeError(
                "memory_key must be a MemoryKey(tenant_id=..., user_id=..., session_id=...); "
                f"got {type(memory_key).__name__}"
            )
        if not self.enabled:
            return None
        if memory_key is not None:
            return memory_key
        derive = self.config.key_from_tool_context
        if derive is not None:
            try:
                derived = derive(tool_context or {})
            except Exception as exc:
                raise MemoryKeyError(
                    f"key_from_tool_context failed ({type(exc).__name__}: {exc}); make it "
                    "return a MemoryKey, or None when the tool_context has no session"
                ) from exc
            if derived is not None and not isinstance(derived, MemoryKey):
                raise TypeError(
                    f"key_from_tool_context must return a MemoryKey or None; "
                    f"got {type(derived).__name__}"
                )
            if derived is not None:
                return derived
        if self.config.require_explicit_key:
            how = (
                "its key_from_tool_context found none in this tool_context"
                if derive is not None
                else "no key_from_tool_context is configured"
            )
            raise MemoryKeyRequired(
                "short-term memory is on with require_explicit_key=True, but this run has no "
                f"MemoryKey ({how}): pass memory_key=MemoryKey(tenant_id=..., user_id=..., "
                "session_id=...) to run() and resume(), derive it with "
                "ShortTermMemoryConfig(key_from_tool_context=...), or set "
                "require_explicit_key=False to run without memory"
            )
        return None

    # -- sessions --------------------------------------------------------------------------
    async def session(self, key: MemoryKey) -> DefaultShortTermMemory:
        """The memory of ``key``: the one in process, else a new one hydrated from the store.

        Raises:
            TypeError: ``key`` is not a `MemoryKey`.
            MemoryStateError: The stored state cannot be hydrated (nothing is kept or overwritten).
            MemoryClosedError: `close` was called.
        """
        if not isinstance(key, MemoryKey):
            raise TypeError(f"session() takes a MemoryKey; got {type(key).__name__}")
        while True:
            self._check_open()
            memory = self._sessions.get(key)
            if memory is not None:
                self._sessions.move_to_end(key)
                return memory
            evicting = self._evicting.get(key)
            if evicting is not None:  # let it save first, so we hydrate what it held
                await asyncio.shield(evicting)
                continue
            opening = self._opening.get(key)
            if opening is None:
                return await self._open(key)
            try:
                return await asyncio.shield(opening)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if opening.cancelled() and not (task is not None and task.cancelling()):
                    continue  # the opener was cancelled, not us: try again
                raise

    async def refresh(self, key: MemoryKey) -> DefaultShortTermMemory:
        """`session`, then re-read the store if another process saved the session since.

        Every save carries a new revision id; when the stored one is not the
        one this process last wrote or read, the stored state replaces the
        in-process one. So several processes can serve one session in turn
        without losing each other's turns (concurrent turns of one session in
        two processes still race: the later save wins).
        """
        memory = await self.session(key)
        if self.state_store is None:
            return memory
        document = await self.state_store.load_memory_state(key.composite())
        if isinstance(document, dict) and document.get("revision") != memory.revision:
            await memory.hydrate(self.state_store, key.composite())
        return memory

    async def _open(self, key: MemoryKey) -> DefaultShortTermMemory:
        future: asyncio.Future[DefaultShortTermMemory] = asyncio.get_running_loop().create_future()
        self._opening[key] = future
        try:
            memory = DefaultShortTermMemory(
                self.config, self._summarizer, autosave=functools.partial(self._autosave, key)
            )
            if self.state_store is not None:
                await memory.hydrate(self.state_store, key.composite())
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            del self._opening[key]
        self._sessions[key] = memory
        future.set_result(memory)
        self._evict_over_limit()
        return memory

    async def _autosave(self, key: MemoryKey, memory: DefaultShortTermMemory) -> None:
        if self.state_store is not None:
            await memory.persist(self.state_store, key.composite())

    def _evict_over_limit(self) -> None:
        while len(self._sessions) > self.config.max_sessions:
            key, memory = self._sessions.popitem(last=False)
            self._evicting[key] = asyncio.create_task(
                self._retire(key, memory), name="penguiflow-memory-evict"
            )

    async def _retire(self, key: MemoryKey, memory: DefaultShortTermMemory) -> None:
        """Close ``memory`` (bounded flush), then save it; failures are logged."""
        try:
            await memory.close(self.close_timeout_s)
            if self.state_store is not None:
                await memory.persist(self.state_store, key.composite())
        except Exception:
            logger.exception("could not save the memory of session %s on closing it", key)
        finally:
            # Here rather than in a done callback: a waiter in session() must not
            # find the finished task still registered, or it would spin.
            if self._evicting.get(key) is asyncio.current_task():
                del self._evicting[key]

    async def record(self, key: MemoryKey, turn: ConversationTurn) -> None:
        """Add ``turn`` to ``key``'s memory, then save it when a store is configured.

        A failed save is logged, not raised: the turn is in memory and the next
        save writes the whole state again.

        Raises:
            MemoryBudgetExceeded: ``overflow_policy="error"`` refused the turn.
            MemoryStateError: The session could not be hydrated.
        """
        memory = await self.session(key)
        await memory.add_turn(turn)
        # Evicted meanwhile (during the on_turn_added callback)? Its eviction saved it,
        # and a newer memory of the key may exist: saving this one could only go back.
        if self.state_store is not None and self._sessions.get(key) is memory:
            try:
                await memory.persist(self.state_store, key.composite())
            except Exception:
                logger.exception("could not save the memory of session %s", key)

    async def llm_context(self, key: MemoryKey) -> dict[str, Any]:
        """``key``'s `DefaultShortTermMemory.get_llm_context`, fresh from the store (`refresh`)."""
        return (await self.refresh(key)).get_llm_context()

    async def system_message(self, key: MemoryKey) -> str | None:
        """The memory system message for ``key``'s next prompt, or ``None`` when it has none."""
        return render_memory_message(await self.llm_context(key)) or None

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Wait for every session's background summary and every eviction's save.

        Returns:
            Whether all finished within ``timeout_s`` (each session's flush is bounded by it).
        """
        memories = list(self._sessions.values())
        results = await asyncio.gather(*(m.flush(timeout_s) for m in memories))
        if self._evicting:
            _, late = await asyncio.wait(list(self._evicting.values()), timeout=timeout_s)
            results.append(not late)
        return all(results)

    async def close(self) -> None:
        """Close every session (each flushed for at most ``close_timeout_s``) and save it.

        Idempotent. Afterwards `session` and `record` raise `MemoryClosedError`.
        """
        if self._closed:
            return
        self._closed = True
        sessions = list(self._sessions.items())
        self._sessions.clear()
        await asyncio.gather(*(self._retire(key, memory) for key, memory in sessions))
        if self._evicting:
            await asyncio.gather(*self._evicting.values(), return_exceptions=True)

    def _check_open(self) -> None:
        if self._closed:
            raise MemoryClosedError("these memory sessions are closed")

    def __repr__(self) -> str:
        return (
            f"MemorySessions(strategy={self.config.strategy!r}, sessions={len(self._sessions)}, "
            f"max_sessions={self.config.max_sessions}, store={self.state_store is not None})"
        )
