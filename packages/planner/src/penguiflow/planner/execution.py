"""Calling one tool for the planner: arguments in, policy applied, an observation out.

A tool is a catalog entry (`penguiflow.catalog.NodeSpec`): its node's
function is called with the validated arguments model and a `ToolContext`,
under the node's `NodePolicy` (``timeout_s``, ``max_retries`` with backoff).
Whatever happens becomes an `Outcome` the LLM can read: the result as JSON,
or an error with a suggestion (adaptive replanning) — a failing tool never
ends the run by itself. Only `PauseRequested` and cancellation pass through.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from penguiflow.catalog import NodeSpec
from penguiflow.planner.context import PauseRequested, ToolContext
from penguiflow.planner.trajectory import to_json_value

__all__ = ["Outcome", "ToolRunner", "describe_validation"]

_SUGGESTION = (
    "the tool failed: fix its arguments and call it again, use another tool, or finish "
    "and explain what could not be done"
)


@dataclass(slots=True)
class Outcome:
    """What calling a tool produced.

    Attributes:
        observation: The result as JSON, or ``{"error", "suggestion"}`` on failure.
        error: The failure text, or ``None``.
        latency_ms: Time spent, retries included.
        attempts: Attempts made.
        result: The tool's Python result (``None`` on failure), for a join.
    """

    observation: Any
    error: str | None
    latency_ms: float
    attempts: int
    result: Any = None
    streams: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def describe_validation(exc: ValidationError) -> str:
    """One line listing each field error of ``exc``."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "value"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


class ToolRunner:
    """Validates arguments and runs tools; adapters are built once per tool."""

    def __init__(self, specs: dict[str, NodeSpec]) -> None:
        self._specs = specs
        self._args: dict[str, TypeAdapter[Any]] = {}
        self._out: dict[str, TypeAdapter[Any]] = {}

    def spec(self, name: str) -> NodeSpec | None:
        """The tool called ``name``, if the planner may use it."""
        return self._specs.get(name)

    def names(self) -> list[str]:
        """Every tool the planner may use."""
        return list(self._specs)

    def parse_args(self, name: str, args: dict[str, Any]) -> Any:
        """Validate ``args`` for tool ``name``.

        Raises:
            ValidationError: They do not fit its arguments model.
        """
        adapter = self._args.get(name)
        if adapter is None:
            adapter = self._args[name] = TypeAdapter(self._specs[name].args_model)
        return adapter.validate_python(args)

    async def run(self, name: str, args: Any, ctx: ToolContext) -> Outcome:
        """Call tool ``name`` under its node's policy and describe the result.

        Raises:
            PauseRequested: The tool paused the run.
        """
        spec = self._specs[name]
        policy = spec.node.policy
        started = time.perf_counter()
        error = ""
        attempts = policy.max_retries + 1
        for attempt in range(attempts):
            try:
                call = spec.node.func(args, ctx)
                if policy.timeout_s is not None:
                    result = await asyncio.wait_for(call, policy.timeout_s)
                else:
                    result = await call
            except PauseRequested:
                raise
            except TimeoutError as exc:
                if policy.timeout_s is not None:
                    error = f"tool {name!r} timed out after {policy.timeout_s:g}s"
                else:  # the tool's own timeout, not the policy's
                    error = f"tool {name!r} raised {type(exc).__name__}: {exc}"
            except Exception as exc:
                error = f"tool {name!r} raised {type(exc).__name__}: {exc}"
            else:
                try:
                    checked = self._check_output(name, result)
                except ValidationError as exc:
                    error = f"tool {name!r} returned invalid output: {describe_validation(exc)}"
                else:
                    return Outcome(
                        observation=to_json_value(checked),
                        error=None,
                        latency_ms=(time.perf_counter() - started) * 1000,
                        attempts=attempt + 1,
                        result=checked,
                    )
            if attempt + 1 < attempts:
                await asyncio.sleep(policy.backoff_delay(attempt))  # the node's retry backoff
        return Outcome(
            observation={"error": error, "suggestion": _SUGGESTION},
            error=error,
            latency_ms=(time.perf_counter() - started) * 1000,
            attempts=attempts,
        )

    def _check_output(self, name: str, result: Any) -> Any:
        out_model = self._specs[name].out_model
        if isinstance(out_model, type) and isinstance(result, out_model):
            return result
        adapter = self._out.get(name)
        if adapter is None:
            adapter = self._out[name] = TypeAdapter(out_model)
        return adapter.validate_python(result)
