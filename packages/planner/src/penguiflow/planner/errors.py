"""Errors of penguiflow-planner, all under one root: `PlannerError`.

Hierarchy (a built-in base in parentheses is kept too, so ``except ValueError``
still catches an `ActionError`)::

    penguiflow.errors.PenguiFlowError       root of every PenguiFlow error
    └── PlannerError                        root of every planner error
        ├── LLMError (RuntimeError)         an LLM call failed for good (penguiflow.planner.llm)
        ├── ActionError (ValueError)        the LLM's reply is not a valid action (.actions)
        ├── ReplyError (ValueError)         a reply is not the JSON object asked for (.json_reply)
        ├── ResumeError (LookupError)       a resume token is unknown, used or unreadable (.pause)
        ├── FlowToolError (RuntimeError)    a flow_tool call failed (.flows)
        ├── ScriptExhausted (AssertionError)  a ScriptedLLM ran out of replies (.testing)
        └── ShortTermMemoryError            any short-term memory failure (.memory)
            ├── MemoryKeyError (ValueError) a MemoryKey is malformed or cannot be derived
            │   └── MemoryKeyRequired       memory is on, a key is required, none was given
            ├── MemoryBudgetExceeded        overflow_policy="error" and a turn would not fit
            ├── MemoryStateError            a stored memory document is corrupt or foreign
            └── MemoryClosedError           the memory (or its session manager) was closed

    Exception
    ├── PauseRequested                      signal: a tool asked to pause the run (.context)
    └── TokenBudgetSpent                    signal: the run reached max_run_tokens (.limits)

`PauseRequested` and `TokenBudgetSpent` are control-flow signals, not errors
(the second never leaves ``run()``): they stay outside the root on purpose,
like core's `penguiflow.errors.TraceCancelled`, so ``except PlannerError``
(or ``except PenguiFlowError``) in a tool never swallows a pause. Each class
lives in the module named on its line; this module defines the root only, so
every planner module can import it.
"""

from __future__ import annotations

from penguiflow.errors import PenguiFlowError

__all__ = ["PlannerError"]


class PlannerError(PenguiFlowError):
    """Root of every exception penguiflow-planner defines (the pause signal excepted)."""
