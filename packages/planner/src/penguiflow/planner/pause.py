"""Paused runs: the state a run needs to continue, saved under a resume token.

Without a state store, paused runs live in the planner object. With one
(`penguiflow.state.StateStore`, SQLite by default), the state is saved as a
record (kind ``planner_pause``, key the token), so a *different* planner — in
another process, built with the same catalog — can resume it. The
``tool_context`` holds Python objects and is never saved: a resume in another
process passes its own.

Resuming *takes* the record (`take_record`: read and delete in one atomic
step), so of two resumes of one token racing in different processes exactly
one gets the run and the other a `ResumeError`. Tokens are unguessable
(144 random bits) and resumes name no tenant, so pause records all live
under one internal tenant. A store that implements no records (a
look-alike offering only ``save_planner_state`` / ``load_planner_state`` /
``delete_planner_state``) still works, without that guarantee; so does a
token paused by an older release into ``save_planner_state``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from penguiflow.planner.cost import CostTracker
from penguiflow.planner.errors import PlannerError
from penguiflow.planner.events import EventCallback, PlannerEvent, emit
from penguiflow.planner.trajectory import Step, Trajectory
from penguiflow.state import RecordStore

__all__ = ["PauseBook", "ResumeError", "RunState", "saved_pause"]

_FORMAT = 1
_PAUSE_KIND = "planner_pause"
_PAUSE_TENANT = "penguiflow.planner"


class ResumeError(PlannerError, LookupError):
    """The resume token is unknown, already used, or its saved state is unreadable."""


@dataclass(slots=True)
class RunState:
    """Everything about a run in progress.

    JSON-safe and saved on pause, except ``tool_context`` and ``callback``: a
    resume brings its own (``callback`` is the planner's and the call's event
    callbacks, chained).
    """

    trace_id: str
    trajectory: Trajectory
    tool_context: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    active_since: float = field(default_factory=time.monotonic)
    elapsed_before_s: float = 0.0
    iterations: int = 0
    hops: int = 0
    tokens: int = 0
    cost: CostTracker = field(default_factory=CostTracker)
    paused_step: Step | None = None
    memory_key: str | None = None
    callback: EventCallback | None = field(default=None, repr=False, compare=False)

    async def emit(self, event_type: str, **fields: Any) -> None:
        """Send a `PlannerEvent` of this run to its callback (if any).

        ``ts``, ``trajectory_step`` (the steps taken so far) and ``thought`` (the
        latest step's) are filled in; ``fields`` gives the rest.
        """
        if self.callback is None:
            return
        steps = self.trajectory.steps
        thought = steps[-1].action.get("thought") if steps else None
        event = PlannerEvent(
            event_type, ts=time.time(), trajectory_step=len(steps), thought=thought, **fields
        )
        await emit(self.callback, event)

    @property
    def elapsed_s(self) -> float:
        """Seconds the run has been active (time spent paused excluded)."""
        return self.elapsed_before_s + (time.monotonic() - self.active_since)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, saved when the run pauses."""
        return {
            "format": _FORMAT,
            "trace_id": self.trace_id,
            "trajectory": self.trajectory.to_dict(),
            "meta": self.meta,
            "elapsed_s": self.elapsed_s,
            "iterations": self.iterations,
            "hops": self.hops,
            "tokens": self.tokens,
            "cost": self.cost.to_dict(),
            "paused_step": self.paused_step.to_dict() if self.paused_step else None,
            "memory_key": self.memory_key,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], tool_context: dict[str, Any]) -> RunState:
        """Rebuild a paused run; it becomes active now.

        Raises:
            ResumeError: The data was not written by this version of the planner.
        """
        if data.get("format") != _FORMAT:
            raise ResumeError(f"saved planner state has format {data.get('format')!r}")
        try:
            paused = data.get("paused_step")
            return cls(
                trace_id=str(data["trace_id"]),
                trajectory=Trajectory.from_dict(data["trajectory"]),
                tool_context=tool_context,
                meta=dict(data.get("meta") or {}),
                elapsed_before_s=float(data.get("elapsed_s", 0.0)),
                iterations=int(data["iterations"]),
                hops=int(data["hops"]),
                tokens=int(data["tokens"]),
                cost=CostTracker.from_dict(data.get("cost") or {}),
                paused_step=Step.from_dict(paused) if paused else None,
                memory_key=data.get("memory_key"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ResumeError(f"saved planner state is unreadable: {exc!r}") from None


class PauseBook:
    """Where paused runs wait: in this object, and in the state store when there is one."""

    def __init__(self, state_store: Any | None) -> None:
        self._store = state_store
        self._local: dict[str, RunState] = {}

    async def save(self, state: RunState) -> str:
        """Keep ``state`` and return a fresh resume token for it."""
        token = secrets.token_urlsafe(18)
        state.elapsed_before_s = state.elapsed_s  # the clock stops while paused
        self._local[token] = state
        if self._store is not None:
            try:
                if isinstance(self._store, RecordStore):
                    await self._store.put_record(
                        _PAUSE_KIND,
                        token,
                        state.to_dict(),
                        tenant=_PAUSE_TENANT,
                        expected_version=0,
                    )
                else:
                    await self._store.save_planner_state(token, state.to_dict())
            except BaseException:
                # Failed or cancelled (the run's deadline): the run does not end paused,
                # so its token must not resume it.
                del self._local[token]
                raise
        return token

    async def peek(self, token: str) -> RunState:
        """The run saved under ``token``, left in place (to check it before resuming).

        Raises:
            ResumeError: Unknown or already used token.
        """
        state = self._local.get(token) if type(token) is str else None
        if self._store is not None and type(token) is str and token:
            data = await self._load(token)
            if data is None:
                raise ResumeError(f"unknown or already used resume token {token[:8]}...")
            return state if state is not None else RunState.from_dict(data, {})
        if state is None:
            raise ResumeError(f"unknown or already used resume token {str(token)[:8]}...")
        return state

    async def take(self, token: str, tool_context: dict[str, Any] | None) -> RunState:
        """Return the run saved under ``token`` and forget it (a token resumes once).

        With a state store, the store's copy is authoritative and is taken
        atomically: a token another planner already resumed, or is resuming
        at this very moment, is refused here.

        Raises:
            ResumeError: Unknown or already used token.
        """
        if type(token) is not str or not token:
            raise ResumeError(f"resume token must be a non-empty string; got {token!r}")
        local = self._local.pop(token, None)
        if self._store is not None:
            # The store decides: another planner may have resumed the token already.
            data = await self._take(token)
            if data is None:
                raise ResumeError(f"unknown or already used resume token {token[:8]}...")
            state = local if local is not None else RunState.from_dict(data, {})
        elif local is not None:
            state = local
        else:
            raise ResumeError(
                f"unknown or already used resume token {token[:8]}... (this planner has no "
                "state_store, so only runs it paused itself can be resumed)"
            )
        if tool_context is not None:
            state.tool_context = tool_context
        state.active_since = time.monotonic()
        return state

    async def _load(self, token: str) -> dict[str, Any] | None:
        """The saved state under ``token``, left in place (``None``: unknown or used)."""
        return await saved_pause(self._store, token)

    async def _take(self, token: str) -> dict[str, Any] | None:
        """Read and forget the saved state under ``token`` (``None``: unknown or used)."""
        store: Any = self._store
        if isinstance(store, RecordStore):
            record = await store.take_record(_PAUSE_KIND, token, tenant=_PAUSE_TENANT)
            if record is not None:
                return record.value
        # A store without records, or a token an older release saved the old way.
        data: dict[str, Any] | None = await store.load_planner_state(token)
        if data is not None:
            await store.delete_planner_state(token)
        return data


async def saved_pause(store: Any, token: str) -> dict[str, Any] | None:
    """Read what a paused run saved in ``store`` under ``token``, without resuming it.

    For inspection (an admin page, a test): the JSON state a planner with this
    ``state_store`` would resume from, or ``None`` if the token is unknown or
    already used.
    """
    if isinstance(store, RecordStore):
        record = await store.get_record(_PAUSE_KIND, token, tenant=_PAUSE_TENANT)
        if record is not None:
            value: dict[str, Any] = record.value
            return value
    data: dict[str, Any] | None = await store.load_planner_state(token)
    return data
