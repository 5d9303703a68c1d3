"""`ReactPlanner`: an LLM picks tools from a typed catalog, step by step, until it can answer.

Design notes. A run is a small state machine over `RunState`:

    check limits -> decide (LLM + repairs) -> call | parallel | finish -> record step -> ...

* **Decide** (`penguiflow.planner.step`): one LLM call for a JSON action,
  repaired until valid or ``repair_attempts`` run out (``invalid_output``).
* **Call / parallel** (`penguiflow.planner.execution`, `.parallel`): the tool
  runs under its node's policy; failures become observations the LLM reads
  on the next step (adaptive replanning), never exceptions.
* **Limits** are checked before every step: ``max_iters`` (LLM decisions),
  ``hop_budget`` (tool calls), ``deadline_s`` (seconds of active run time)
  and ``token_budget`` (estimated tokens of every LLM call). Whichever is
  hit first finishes the run with that reason and a ``constraint`` event.
* **Pause**: a tool calling ``ctx.pause`` ends `run` with a `PlannerPause`;
  `resume` continues from the same step (`penguiflow.planner.pause`).
* **Side calls** hook in at two points: before a prompt is built, older steps
  may be summarised (`penguiflow.planner.summarize`); when the LLM finishes,
  the draft may be critiqued and sent back (`penguiflow.planner.reflection`)
  and the accepted answer streamed (`penguiflow.planner.stream_answer`).
"""

from __future__ import annotations

import functools
import logging
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from penguiflow.catalog import NodeSpec
from penguiflow.planner.actions import action_schema
from penguiflow.planner.context import PauseRequested, ToolContext, check_llm_context
from penguiflow.planner.conversation import Conversation
from penguiflow.planner.events import EventCallback, PlannerEvent, chain_callbacks, emit
from penguiflow.planner.execution import Outcome, ToolRunner
from penguiflow.planner.litellm_client import LiteLLMClient
from penguiflow.planner.llm import JSONLLMClient
from penguiflow.planner.memory import DefaultShortTermMemory, MemoryKey, ShortTermMemoryConfig
from penguiflow.planner.parallel import run_branches, run_join
from penguiflow.planner.pause import PauseBook, ResumeError, RunState
from penguiflow.planner.policy import PlanningHints, ToolPolicy
from penguiflow.planner.prompts import build_messages, system_prompt
from penguiflow.planner.reflection import ReflectionConfig, Reflector
from penguiflow.planner.step import Decision, LLMCaller, decide
from penguiflow.planner.stream_answer import stream_final_answer
from penguiflow.planner.summarize import TrajectorySummarizer
from penguiflow.planner.trajectory import (
    FinishReason,
    PlannerFinish,
    PlannerPause,
    Step,
    Trajectory,
    to_json_value,
)

__all__ = ["PlannerEvent", "PlannerFinish", "PlannerPause", "ReactPlanner", "ResumeError"]

logger = logging.getLogger("penguiflow.planner")

PlannerResult = PlannerFinish | PlannerPause


def _positive(name: str, value: Any, *, integer: bool = False) -> None:
    if value is None:
        return
    ok = (type(value) is int) if integer else (isinstance(value, int | float))
    if not ok or isinstance(value, bool) or not value > 0 or not math.isfinite(value):
        kind = "an int" if integer else "a number"
        raise ValueError(f"{name} must be {kind} > 0 or None; got {value!r}")


def _resolve_client(llm: Any, llm_client: Any, what: str, **options: Any) -> JSONLLMClient:
    if llm_client is not None:
        if not isinstance(llm_client, JSONLLMClient):
            raise TypeError(
                f"{what} must have an async complete(messages=..., response_format=..., "
                f"stream=..., on_stream_chunk=...); got {type(llm_client).__name__}"
            )
        return llm_client
    if isinstance(llm, str | Mapping):
        return LiteLLMClient(llm, **options)
    raise TypeError(
        f"give {what.replace('_client', '')}= a litellm model name or dict, or {what}= "
        f"an object implementing JSONLLMClient; got {type(llm).__name__}"
    )


def _side_client(value: Any, what: str, **options: Any) -> JSONLLMClient | None:
    """An optional extra LLM: ``None``, a litellm model name or dict, or a JSONLLMClient."""
    if value is None:
        return None
    if isinstance(value, str | Mapping):
        return _resolve_client(value, None, what, **options)
    return _resolve_client(None, value, what)


class ReactPlanner:
    """Plans and runs tool calls with an LLM until it can answer (the ReAct pattern).

    Args:
        llm: A litellm model name (``"gpt-4o-mini"``) or a dict of litellm
            parameters; ignored when ``llm_client`` is given.
        catalog: The tools (`penguiflow.catalog.NodeSpec`, from `build_catalog`).
        llm_client: Any `JSONLLMClient` (for example
            `penguiflow.planner.testing.ScriptedLLM`), instead of ``llm``.
        max_iters: Most LLM decisions per run.
        temperature: Sampling temperature for a litellm model.
        json_schema_mode: Ask the model for the action's JSON schema (else JSON mode).
        token_budget: Most estimated tokens over all LLM calls of a run.
        deadline_s: Most seconds of active run time (time paused not counted).
        hop_budget: Most tool calls per run.
        tool_policy: Which tools the LLM may see (`ToolPolicy`).
        planning_hints: Guidance and limits for planning (`PlanningHints`).
        state_store: A `penguiflow.state.StateStore` keeping paused runs, so
            another process can resume them.
        event_callback: Receives every `PlannerEvent` (sync or async); ``run`` and
            ``resume`` take one more for a single run.
        repair_attempts: Invalid replies repaired per step before giving up.
        max_parallel: Most branches of a parallel step running at once (a step may
            have more; `PlanningHints.max_parallel` caps how many it may have).
        reflection_config: Critique and revise draft answers (`ReflectionConfig`).
        reflection_llm: The critic (default: the main LLM): a model name or
            dict, or a `JSONLLMClient`.
        summarizer_llm: Summarises older steps (default: the main LLM); same forms.
        prompt_token_budget: Estimated prompt tokens above which older steps are
            summarised (``None``: never).
        stream_final_response: Stream the final answer with one more main-LLM
            call (``llm_stream_chunk`` events).
        short_term_memory: Conversation memory per session
            (`penguiflow.planner.memory.ShortTermMemoryConfig`); runs then take a
            ``memory_key``. Summaries are written by ``summarizer_llm`` (default:
            the main LLM); sessions are saved to ``state_store`` when there is one.

    Raises:
        TypeError: No usable LLM, or a catalog entry is not a NodeSpec.
        ValueError: Bad limits, duplicate tool names, or every tool filtered out.
    """

    def __init__(
        self,
        llm: str | Mapping[str, Any] | None = None,
        *,
        catalog: Sequence[NodeSpec],
        llm_client: JSONLLMClient | None = None,
        max_iters: int = 8,
        temperature: float = 0.0,
        json_schema_mode: bool = True,
        token_budget: int | None = None,
        deadline_s: float | None = None,
        hop_budget: int | None = None,
        tool_policy: ToolPolicy | None = None,
        planning_hints: PlanningHints | None = None,
        state_store: Any | None = None,
        event_callback: EventCallback | None = None,
        repair_attempts: int = 3,
        max_parallel: int = 4,
        reflection_config: ReflectionConfig | None = None,
        reflection_llm: str | Mapping[str, Any] | JSONLLMClient | None = None,
        summarizer_llm: str | Mapping[str, Any] | JSONLLMClient | None = None,
        prompt_token_budget: int | None = None,
        stream_final_response: bool = False,
        short_term_memory: ShortTermMemoryConfig | None = None,
    ) -> None:
        _positive("max_iters", max_iters, integer=True)
        _positive("token_budget", token_budget, integer=True)
        _positive("deadline_s", deadline_s)
        _positive("hop_budget", hop_budget, integer=True)
        _positive("max_parallel", max_parallel, integer=True)
        _positive("prompt_token_budget", prompt_token_budget, integer=True)
        if not isinstance(stream_final_response, bool):
            raise TypeError(f"stream_final_response must be a bool; got {stream_final_response!r}")
        if type(repair_attempts) is not int or repair_attempts < 0:
            raise ValueError(f"repair_attempts must be an int >= 0; got {repair_attempts!r}")
        self._client = _resolve_client(
            llm,
            llm_client,
            "llm_client",
            temperature=temperature,
            json_schema_mode=json_schema_mode,
        )
        self.max_iters = max_iters
        self.token_budget = token_budget
        self.deadline_s = deadline_s
        self.hop_budget = hop_budget
        self.repair_attempts = repair_attempts
        self.hints = planning_hints or PlanningHints()
        self.max_parallel = max_parallel
        self.event_callback = event_callback
        self._spec_by_name, self._filtered = self._visible_tools(catalog, tool_policy)
        self._runner = ToolRunner(self._spec_by_name)
        self._system = system_prompt(list(self._spec_by_name.values()), self.hints.render())
        self._response_format = {
            "type": "json_schema",
            "json_schema": {"name": "planner_action", "schema": action_schema()},
        }
        self._pauses = PauseBook(state_store)
        options = {"temperature": temperature, "json_schema_mode": json_schema_mode}
        self._reflector = self._build_reflector(
            reflection_config, _side_client(reflection_llm, "reflection_llm", **options)
        )
        summarizer = _side_client(summarizer_llm, "summarizer_llm", **options) or self._client
        self._summarizer = (
            TrajectorySummarizer(summarizer, prompt_token_budget) if prompt_token_budget else None
        )
        self.stream_final_response = stream_final_response
        if short_term_memory is not None and not isinstance(
            short_term_memory, ShortTermMemoryConfig
        ):
            raise TypeError(
                "short_term_memory must be a ShortTermMemoryConfig; "
                f"got {type(short_term_memory).__name__}"
            )
        self._conversation = (
            Conversation(short_term_memory, summarizer, state_store)
            if short_term_memory is not None and short_term_memory.enabled
            else None
        )

    def _build_reflector(
        self, config: ReflectionConfig | None, critic: JSONLLMClient | None
    ) -> Reflector | None:
        if config is not None and not isinstance(config, ReflectionConfig):
            raise TypeError(f"reflection_config must be a ReflectionConfig; got {config!r:.80}")
        if config is not None and config.use_separate_llm and critic is None:
            raise ValueError("ReflectionConfig(use_separate_llm=True) needs reflection_llm=")
        if config is None or not config.enabled:
            if critic is not None:
                logger.warning("reflection_llm is unused: reflection_config is not enabled")
            return None
        # A given reflection_llm critiques (the seed's "cheaper critique model"); without one,
        # the main LLM does.
        return Reflector(config, critic if critic is not None else self._client)

    def _visible_tools(
        self, catalog: Sequence[NodeSpec], policy: ToolPolicy | None
    ) -> tuple[dict[str, NodeSpec], list[str]]:
        if isinstance(catalog, NodeSpec) or not isinstance(catalog, Sequence):
            raise TypeError("catalog must be a sequence of NodeSpec (see build_catalog)")
        specs: dict[str, NodeSpec] = {}
        for index, spec in enumerate(catalog):
            if not isinstance(spec, NodeSpec):
                raise TypeError(f"catalog[{index}] is a {type(spec).__name__}, not a NodeSpec")
            if spec.name in specs:
                raise ValueError(f"catalog has two tools named {spec.name!r}")
            specs[spec.name] = spec
        kept = list(specs.values())
        dropped: list[str] = []
        if policy is not None:
            if not isinstance(policy, ToolPolicy):
                raise TypeError(f"tool_policy must be a ToolPolicy; got {type(policy).__name__}")
            kept, dropped = policy.split(kept)
        hidden = [s.name for s in kept if s.name in self.hints.disallowed_nodes]
        kept = [s for s in kept if s.name not in self.hints.disallowed_nodes]
        dropped += hidden
        if dropped:
            logger.info("planner tools filtered out by policy/hints: %s", sorted(dropped))
        if not kept:
            raise ValueError(
                f"no tool left for the planner: all of {sorted(specs)} were filtered out"
            )
        return {s.name: s for s in kept}, dropped

    @property
    def tools(self) -> list[str]:
        """Names of the tools the LLM may use (after policy and hints)."""
        return list(self._spec_by_name)

    # -- public entry points ----------------------------------------------
    async def run(
        self,
        query: str,
        *,
        llm_context: Mapping[str, Any] | None = None,
        tool_context: Mapping[str, Any] | None = None,
        trace_id: str | None = None,
        memory_key: MemoryKey | None = None,
        event_callback: EventCallback | None = None,
    ) -> PlannerResult:
        """Plan and act on ``query`` until an answer, a limit, or a pause.

        Args:
            query: The user's request.
            llm_context: JSON data the LLM sees with the query.
            tool_context: Python objects for the tools only (never sent to the LLM).
            trace_id: Id of the run (``ctx.trace_id`` of its tools, ``metadata["trace_id"]``);
                a fresh one by default, the flow's trace when run from a flow node.
            memory_key: The conversation session (with ``short_term_memory``).
            event_callback: Also receives this run's events, after the planner's own.

        Raises:
            TypeError: ``query`` is not a non-empty string, ``llm_context`` is not
                JSON-serialisable, ``tool_context`` is not a mapping, or
                ``event_callback`` is not callable.
            MemoryKeyRequired: Memory requires a key and the run has none.
            MemoryBudgetExceeded: ``overflow_policy="error"`` refused to keep the
                turn (the finished run is the error's ``result``).
        """
        if type(query) is not str or not query.strip():
            raise TypeError(f"query must be a non-empty string; got {query!r:.80}")
        context = check_llm_context(llm_context)
        if trace_id is not None and (type(trace_id) is not str or not trace_id):
            raise TypeError(f"trace_id must be a non-empty string; got {trace_id!r}")
        if tool_context is not None and not isinstance(tool_context, Mapping):
            raise TypeError(f"tool_context must be a mapping; got {type(tool_context).__name__}")
        key = (
            self._conversation.key_for_run(memory_key, tool_context) if self._conversation else None
        )
        state = RunState(
            trace_id=trace_id if trace_id is not None else uuid.uuid4().hex,
            trajectory=Trajectory(query=query, llm_context=context),
            tool_context=dict(tool_context or {}),
            memory_key=key.composite() if key is not None else None,
            callback=self._callback(event_callback),
        )
        if self._filtered:
            await self._event(state, "tools_filtered", extra={"filtered": sorted(self._filtered)})
        return await self._drive(state, key)

    async def resume(
        self,
        token: str,
        user_input: Any = None,
        *,
        tool_context: Mapping[str, Any] | None = None,
        memory_key: MemoryKey | None = None,
        event_callback: EventCallback | None = None,
    ) -> PlannerResult:
        """Continue a paused run; the paused tool's step observes ``user_input``.

        With short-term memory, pass the ``memory_key`` the run started with.
        ``event_callback`` receives the resumed run's events, as for `run`.

        Raises:
            TypeError: ``event_callback`` is not callable.
            ResumeError: Unknown or already used token.
            MemoryKeyError: ``memory_key`` is not the paused run's session (the
                token stays valid).
        """
        callback = self._callback(event_callback)
        key = None
        if self._conversation is not None:
            saved = await self._pauses.peek(token)
            key = self._conversation.key_for_resume(saved.memory_key, memory_key, tool_context)
        state = await self._pauses.take(token, dict(tool_context) if tool_context else None)
        state.callback = callback
        step = state.paused_step
        state.paused_step = None
        if step is not None:
            step.observation = {"user_input": to_json_value(user_input)}
            state.trajectory.steps.append(step)
        await self._event(state, "resume", extra={"user_input": to_json_value(user_input)})
        return await self._drive(state, key)

    async def memory(self, key: MemoryKey) -> DefaultShortTermMemory:
        """The short-term memory of session ``key`` (for ``persist``/``hydrate``, health...).

        Raises:
            RuntimeError: The planner has no short-term memory.
        """
        if self._conversation is None:
            raise RuntimeError("this planner has no short_term_memory")
        return await self._conversation.sessions.session(key)

    async def aclose(self) -> None:
        """Finish background summaries (bounded) and save every memory session; idempotent."""
        if self._conversation is not None:
            await self._conversation.sessions.close()

    def _callback(self, extra: EventCallback | None) -> EventCallback | None:
        given: Any = extra  # checked at run time: callers may pass anything
        if given is not None and (not callable(given) or isinstance(given, type)):
            raise TypeError(f"event_callback must be a function; got {given!r:.80}")
        return chain_callbacks(self.event_callback, extra)

    # -- the loop ------------------------------------------------------------
    async def _drive(self, state: RunState, key: MemoryKey | None = None) -> PlannerResult:
        llm = LLMCaller(self._client, "main", state.cost, state.callback)
        llm.tokens_used = state.tokens
        notes: dict[str, Any] = {}  # extra finish metadata from the side calls
        remembered = await self._conversation.system_message(key) if self._conversation else []
        while True:
            state.tokens = llm.tokens_used
            limit = self._limit_hit(state)
            if limit is not None:
                reason, detail = limit
                await self._event(state, "constraint", extra={"reason": reason, "detail": detail})
                return await self._finish(state, reason, None, error=detail, notes=notes)
            index = len(state.trajectory.steps)
            await self._event(state, "step_start")
            if self._summarizer is not None:
                await self._summarizer.maybe_summarize(state, self._system, llm, notes)
            messages = build_messages(self._system, state.trajectory, extra_system=remembered)
            decision = await decide(
                llm,
                messages,
                self._runner,
                step=index,
                repair_attempts=self.repair_attempts,
                response_format=self._response_format,
                check=self._check_hints,
            )
            state.iterations += 1
            state.tokens = llm.tokens_used
            if decision.action is None:
                assert decision.failure in ("invalid_output", "llm_error")
                failure: FinishReason = decision.failure  # type: ignore[assignment]
                return await self._finish(state, failure, None, error=decision.error, notes=notes)
            action = decision.action
            if action.kind == "finish":
                draft = Step(action=action.to_json())
                state.trajectory.steps.append(draft)
                if self._reflector is not None:
                    check = functools.partial(self._limit_hit, state)
                    review = await self._reflector.review(state, llm, check)
                    notes["reflection"] = review.record
                    if review.revise:
                        draft.observation = review.message  # the LLM reads it next step
                        continue
                payload = action.answer
                if self.stream_final_response:
                    payload = await stream_final_answer(llm, state.trajectory, payload, notes)
                state.tokens = llm.tokens_used
                result = await self._finish(state, "answer_complete", payload, notes=notes)
                if self._conversation is not None:
                    await self._conversation.remember(key, state.trajectory.query, result)
                return result
            step = Step(action=action.to_json())
            try:
                if action.kind == "call":
                    await self._call(state, step, decision)
                else:
                    await self._parallel(state, step, decision)
            except PauseRequested as pause:
                return await self._pause(state, step, pause)
            state.trajectory.steps.append(step)

    def _limit_hit(self, state: RunState) -> tuple[FinishReason, str] | None:
        if state.iterations >= self.max_iters:
            return "max_iters", f"reached max_iters={self.max_iters}"
        if self.hop_budget is not None and state.hops >= self.hop_budget:
            return "hop_budget", f"used the hop budget of {self.hop_budget} tool calls"
        if self.deadline_s is not None and state.elapsed_s >= self.deadline_s:
            return "deadline", f"ran past deadline_s={self.deadline_s:g}s"
        if self.token_budget is not None and state.tokens >= self.token_budget:
            return "token_budget", f"used {state.tokens} of the {self.token_budget} token budget"
        return None

    def _check_hints(self, action: Any) -> str | None:
        if action.kind != "parallel":
            return None
        names = [branch.node for branch in action.plan]
        cap = self.hints.max_parallel
        if cap is not None and len(names) > cap:
            return f"a parallel step may have at most {cap} branches, not {len(names)}"
        banned = sorted(set(names) & self.hints.sequential_only)
        if banned:
            return f"tools {banned} must not run in a parallel step; call them one at a time"
        return None

    async def _call(self, state: RunState, step: Step, decision: Decision) -> None:
        name, args = decision.calls[0]
        state.hops += 1
        outcome = await self._runner.run(name, args, self._ctx(state, step, name))
        self._record(step, outcome)
        await self._event(
            state,
            "step_complete" if outcome.error is None else "tool_error",
            node_name=name,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
            extra={"attempts": outcome.attempts},
        )

    async def _parallel(self, state: RunState, step: Step, decision: Decision) -> None:
        names = [name for name, _ in decision.calls]
        await self._event(state, "parallel_start", extra={"branches": names})
        state.hops += len(decision.calls)
        outcomes = await run_branches(
            self._runner,
            decision.calls,
            lambda name: self._ctx(state, step, name),
            max_parallel=self.max_parallel,
            callback=state.callback,
            step=len(state.trajectory.steps),
        )
        branches = [
            {"node": name, "observation": o.observation, "error": o.error}
            for name, o in zip(names, outcomes, strict=True)
        ]
        step.latency_ms = max((o.latency_ms for o in outcomes), default=0.0)
        step.observation = {"branches": branches}
        failed = [b["node"] for b in branches if b["error"] is not None]
        if decision.join is not None and decision.action is not None:
            assert decision.action.join is not None
            state.hops += 1
            join_name = decision.join[0]
            ctx = self._ctx(state, step, join_name)
            joined = await run_join(
                self._runner, decision.join, decision.action.join.inject, outcomes, ctx
            )
            step.observation = {"branches": branches, "join": joined.observation}
            step.error = joined.error
        elif failed:
            step.error = f"branches failed: {failed}"
        await self._event(
            state,
            "parallel_complete",
            latency_ms=step.latency_ms,
            error=step.error,
            extra={"branches": names, "failed": failed, "joined": decision.join is not None},
        )

    def _record(self, step: Step, outcome: Outcome) -> None:
        step.observation = outcome.observation
        step.error = outcome.error
        step.latency_ms = outcome.latency_ms

    def _ctx(self, state: RunState, step: Step, node_name: str) -> ToolContext:
        index = len(state.trajectory.steps)

        async def sink(
            stream_id: str, seq: int, text: str, done: bool, meta: dict[str, Any]
        ) -> None:
            chunk = {"seq": seq, "text": text, "done": done, "meta": to_json_value(meta)}
            step.streams.setdefault(stream_id, []).append(chunk)
            await emit(
                state.callback,
                PlannerEvent(
                    "stream_chunk",
                    trajectory_step=index,
                    node_name=node_name,
                    extra={"stream_id": stream_id, **chunk},
                ),
            )

        return ToolContext(
            llm_context=state.trajectory.llm_context,
            tool_context=state.tool_context,
            meta=state.meta,
            trace_id=state.trace_id,
            node_name=node_name,
            chunk_sink=sink,
        )

    # -- endings ---------------------------------------------------------------
    async def _pause(self, state: RunState, step: Step, pause: PauseRequested) -> PlannerPause:
        state.paused_step = step
        token = await self._pauses.save(state)
        await self._event(
            state,
            "pause",
            node_name=step.node_name,
            extra={"reason": pause.reason, "payload": pause.payload},
        )
        return PlannerPause(reason=pause.reason, payload=pause.payload, resume_token=token)

    async def _finish(
        self,
        state: RunState,
        reason: FinishReason,
        payload: Any,
        *,
        error: str | None = None,
        notes: Mapping[str, Any] | None = None,
    ) -> PlannerFinish:
        metadata: dict[str, Any] = {
            "trace_id": state.trace_id,
            "steps": [step.to_dict() for step in state.trajectory.steps],
            "iterations": state.iterations,
            "hops": state.hops,
            "token_estimate": state.tokens,
            "cost": state.cost.to_dict(),
            **(notes or {}),
        }
        if error is not None:
            metadata["error"] = error
        await self._event(
            state, "finish", error=error, extra={"reason": reason, "cost": metadata["cost"]}
        )
        return PlannerFinish(reason=reason, payload=payload, metadata=metadata)

    async def _event(self, state: RunState, event_type: str, **fields: Any) -> None:
        if state.callback is None:
            return
        steps = state.trajectory.steps
        thought = steps[-1].action.get("thought") if steps else None
        await emit(
            state.callback,
            PlannerEvent(
                event_type, ts=time.time(), trajectory_step=len(steps), thought=thought, **fields
            ),
        )

    def __repr__(self) -> str:
        return f"ReactPlanner(tools={self.tools}, max_iters={self.max_iters})"
