"""The limits of a planner run (steps, tool calls, active time, tokens) and where each is enforced.

Design notes. Each limit ends the run with its own `FinishReason`, a
``constraint`` event and ``metadata["error"]`` saying which limit it was;
they are enforced at different points because they bound different things:

* ``max_iters`` (LLM decisions) and ``hop_budget`` (tool calls) are checked
  before every step: nothing can overshoot them mid-step.
* ``deadline_s`` (seconds of active run time) bounds **every await** of the
  run: `RunLimits.deadline` is an ``asyncio.timeout`` around the run's loop, so
  a hung tool without a ``timeout_s``, a custom LLM client that never returns,
  the critic, the summariser, the streamed answer and the memory store are all
  cancelled when it expires. It is also checked before every step (a resumed
  run may already be past it). Time spent paused does not count.
* ``max_run_tokens`` (estimated tokens of every LLM call, side calls included)
  is checked **after every LLM call**: the call that reaches it raises
  `TokenBudgetSpent` out of `penguiflow.planner.step.LLMCaller`, and the run
  stops there, whatever that call returned. A run therefore overshoots it by at
  most one call (that call's prompt and reply).

``token_budget`` is not a limit here: it keeps its published meaning, the
prompt size at which older steps are summarised (`penguiflow.planner.summarize`).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

from penguiflow.planner.pause import RunState
from penguiflow.planner.trajectory import FinishReason

__all__ = ["RunLimits", "TokenBudgetSpent", "check_positive"]


def check_positive(name: str, value: Any, *, integer: bool = False) -> None:
    """Check that ``value`` is ``None`` or a finite number (``integer``: an int) above zero.

    Raises:
        ValueError: It is not, naming ``name``.
    """
    if value is None:
        return
    ok = (type(value) is int) if integer else (isinstance(value, int | float))
    if not ok or isinstance(value, bool) or not value > 0 or not math.isfinite(value):
        kind = "an int" if integer else "a number"
        raise ValueError(f"{name} must be {kind} > 0 or None; got {value!r}")


class TokenBudgetSpent(Exception):
    """Signal: an LLM call brought the run to ``max_run_tokens``; the run stops.

    Raised by `penguiflow.planner.step.LLMCaller` after it has counted the call,
    and turned by the planner into a finish with reason ``token_budget``. It
    never leaves `ReactPlanner.run`. Like `penguiflow.planner.context.PauseRequested`
    it is control flow, not an error, so it stays outside `PlannerError`.

    Attributes:
        used: Estimated tokens the run has used.
        limit: The ``max_run_tokens`` it reached.
    """

    def __init__(self, used: int, limit: int) -> None:
        super().__init__(f"used {used} estimated tokens, reaching max_run_tokens={limit}")
        self.used = used
        self.limit = limit


@dataclass(frozen=True, slots=True)
class RunLimits:
    """The limits a `ReactPlanner` puts on each run (see the module docstring).

    Attributes:
        max_iters: Most LLM decisions per run.
        hop_budget: Most tool calls per run (``None``: no limit).
        deadline_s: Most seconds of active run time (``None``: no limit).
        max_run_tokens: Most estimated LLM tokens per run (``None``: no limit).

    Raises:
        ValueError: A limit is not a positive number (``max_iters``,
            ``hop_budget`` and ``max_run_tokens``: a positive int).
    """

    max_iters: int = 8
    hop_budget: int | None = None
    deadline_s: float | None = None
    max_run_tokens: int | None = None

    def __post_init__(self) -> None:
        check_positive("max_iters", self.max_iters, integer=True)
        check_positive("hop_budget", self.hop_budget, integer=True)
        check_positive("deadline_s", self.deadline_s)
        check_positive("max_run_tokens", self.max_run_tokens, integer=True)

    def hit(self, state: RunState) -> tuple[FinishReason, str] | None:
        """The first limit ``state`` has reached, as ``(reason, detail)``, or ``None``."""
        if state.iterations >= self.max_iters:
            return "max_iters", f"reached max_iters={self.max_iters}"
        if self.hop_budget is not None and state.hops >= self.hop_budget:
            return "hop_budget", f"used the hop budget of {self.hop_budget} tool calls"
        if self.deadline_s is not None and state.elapsed_s >= self.deadline_s:
            return "deadline", self.deadline_detail()
        if self.max_run_tokens is not None and state.tokens >= self.max_run_tokens:
            return "token_budget", str(TokenBudgetSpent(state.tokens, self.max_run_tokens))
        return None

    def deadline_detail(self) -> str:
        """``metadata["error"]`` of a run that ran out of time."""
        return f"ran past deadline_s={self.deadline_s:g}s"

    def deadline(self, state: RunState) -> asyncio.Timeout:
        """A timeout expiring when ``state`` has been active for ``deadline_s`` seconds.

        Use it around everything the run awaits; ``expired()`` then tells a
        deadline apart from a `TimeoutError` raised by the code inside.
        """
        if self.deadline_s is None:
            return asyncio.timeout(None)
        return asyncio.timeout(self.deadline_s - state.elapsed_s)
