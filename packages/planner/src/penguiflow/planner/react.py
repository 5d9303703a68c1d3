"""`ReactPlanner`: an LLM picks tools from a typed catalog, step by step, until it can answer.

Design notes. A run is a small state machine over `RunState`:

    check limits -> decide (LLM + repairs) -> call | parallel | finish -> record step -> ...

* **Decide** (`penguiflow.planner.step`): one LLM call for a JSON action,
  repaired until valid or ``repair_attempts`` run out (``invalid_output``).
* **Call / parallel** (`penguiflow.planner.execution`, `.parallel`): the tool
  runs under its node's policy; failures become observations the LLM reads
  on the next step (adaptive replanning), never exceptions.
* **Limits** (`penguiflow.planner.limits`): ``max_iters`` (LLM decisions) and
  ``hop_budget`` (tool calls) are checked before every step; ``deadline_s``
  (seconds of active run time) bounds every await of the run, a hung tool or
  LLM client included; ``max_run_tokens`` (estimated tokens of every LLM call)
  is checked after every LLM call. Whichever is hit first finishes the run
  with that reason and a ``constraint`` event.
* **Pause**: a tool calling ``ctx.pause`` ends `run` with a `PlannerPause`;
  `resume` continues from the same step (`penguiflow.planner.pause`).
* **Side calls** hook in at two points: before a prompt is built, older steps
  may be summarised (`penguiflow.planner.summarize`, above ``token_budget``,
  alias ``prompt_token_budget``); when the LLM finishes,
  the draft may be critiqued and sent back (`penguiflow.planner.reflection`)
  and the accepted answer streamed (`penguiflow.planner.stream_answer`).
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from penguiflow.catalog import NodeSpec
from penguiflow.planner.acting import Actor
from penguiflow.planner.actions import action_schema
from penguiflow.planner.context import PauseRequested, check_llm_context
from penguiflow.planner.conversation import Conversation
from penguiflow.planner.events import EventCallback, PlannerEvent, chain_callbacks
from penguiflow.planner.execution import ToolRunner
from penguiflow.planner.limits import RunLimits, TokenBudgetSpent, check_positive
from penguiflow.planner.litellm_client import LiteLLMClient
from penguiflow.planner.llm import JSONLLMClient
from penguiflow.planner.memory import DefaultShortTermMemory, MemoryKey, ShortTermMemoryConfig
from penguiflow.planner.pause import PauseBook, ResumeError, RunState
from penguiflow.planner.policy import PlanningHints, ToolPolicy
from penguiflow.planner.prompts import build_messages, system_prompt
from penguiflow.planner.reflection import ReflectionConfig, Reflector
from penguiflow.planner.step import LLMCaller, decide
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


def _summary_budget(token_budget: int | None, prompt_token_budget: int | None) -> int | None:
    """The prompt size above which steps are summarised: the two arguments are one setting."""
    check_positive("token_budget", token_budget, integer=True)
    check_positive("prompt_token_budget", prompt_token_budget, integer=True)
    if None not in (token_budget, prompt_token_budget) and token_budget != prompt_token_budget:
        raise ValueError(
            f"token_budget={token_budget} and prompt_token_budget={prompt_token_budget} are "
            "one setting (the prompt size at which older steps are summarised): give one. "
            "To cap the tokens a run may use, give max_run_tokens"
        )
    return prompt_token_budget if token_budget is None else token_budget


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
        token_budget: Estimated prompt tokens above which older steps are
            summarised (the published meaning; the same setting as
            ``prompt_token_budget``). Not a limit: see ``max_run_tokens``.
        max_run_tokens: Most estimated tokens over all LLM calls of a run, side
            calls included; checked after every call, it ends the run with
            reason ``token_budget``.
        deadline_s: Most seconds of active run time (time paused not counted);
            it bounds every await of the run, hung tools and LLM calls included.
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
            summarised (``None``: never); ``token_budget`` is the same setting.
        stream_final_response: Stream the final answer with one more main-LLM
            call (``llm_stream_chunk`` events).
        short_term_memory: Conversation memory per session
            (`penguiflow.planner.memory.ShortTermMemoryConfig`); runs then take a
            ``memory_key``. Summaries are written by ``summarizer_llm`` (default:
            the main LLM); sessions are saved to ``state_store`` when there is one.

    Raises:
        TypeError: No usable LLM, or a catalog entry is not a NodeSpec.
        ValueError: Bad limits, ``token_budget`` and ``prompt_token_budget`` both
            given and different, duplicate tool names, or every tool filtered out.

    Attributes:
        limits: What bounds each run (`penguiflow.planner.limits.RunLimits`:
            ``max_iters``, ``hop_budget``, ``deadline_s``, ``max_run_tokens``;
            each is also readable on the planner).
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
        max_run_tokens: int | None = None,
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
        self.limits = RunLimits(max_iters, hop_budget, deadline_s, max_run_tokens)
        summarize_at = _summary_budget(token_budget, prompt_token_budget)
        check_positive("max_parallel", max_parallel, integer=True)
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
        self.repair_attempts = repair_attempts
        self.hints = planning_hints or PlanningHints()
        self.max_parallel = max_parallel
        self.event_callback = event_callback
        self._spec_by_name, self._filtered = self._visible_tools(catalog, tool_policy)
        self._runner = ToolRunner(self._spec_by_name)
        self._actor = Actor(self._runner, max_parallel)
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
        self._summarizer = TrajectorySummarizer(summarizer, summarize_at) if summarize_at else None
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
    def max_iters(self) -> int:
        """Most LLM decisions per run (``limits.max_iters``)."""
        return self.limits.max_iters

    @property
    def hop_budget(self) -> int | None:
        """Most tool calls per run (``limits.hop_budget``)."""
        return self.limits.hop_budget

    @property
    def deadline_s(self) -> float | None:
        """Most seconds of active run time (``limits.deadline_s``)."""
        return self.limits.deadline_s

    @property
    def max_run_tokens(self) -> int | None:
        """Most estimated LLM tokens per run (``limits.max_run_tokens``)."""
        return self.limits.max_run_tokens

    @property
    def token_budget(self) -> int | None:
        """Prompt tokens above which older steps are summarised (= ``prompt_token_budget``)."""
        return self._summarizer.prompt_token_budget if self._summarizer else None

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
            await state.emit("tools_filtered", extra={"filtered": sorted(self._filtered)})
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
        await state.emit("resume", extra={"user_input": to_json_value(user_input)})
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
        llm = LLMCaller(
            self._client,
            "main",
            state.cost,
            state.callback,
            tokens_used=state.tokens,
            max_tokens=self.limits.max_run_tokens,
        )
        notes: dict[str, Any] = {}  # extra finish metadata from the side calls
        deadline = self.limits.deadline(state)
        result: PlannerResult | None = None
        try:
            async with deadline:  # bounds every await of the run, not only the steps
                result = await self._loop(state, key, llm, notes)
                if isinstance(result, PlannerFinish):
                    await self._close(state, key, result)
                return result
        except TokenBudgetSpent as spent:
            state.tokens = llm.tokens_used
            result = await self._stop(state, "token_budget", str(spent), notes)
        except TimeoutError:
            if not deadline.expired():
                raise
            if result is not None:  # ended already; the deadline cut its finish event or memory
                logger.warning("planner run %s: deadline_s expired as it finished", state.trace_id)
                return result
            state.tokens = llm.tokens_used
            result = await self._stop(state, "deadline", self.limits.deadline_detail(), notes)
        await self._close(state, None, result)
        return result

    async def _loop(
        self, state: RunState, key: MemoryKey | None, llm: LLMCaller, notes: dict[str, Any]
    ) -> PlannerResult:
        remembered = await self._conversation.system_message(key) if self._conversation else []
        while True:
            state.tokens = llm.tokens_used
            limit = self.limits.hit(state)
            if limit is not None:
                return await self._stop(state, *limit, notes)
            index = len(state.trajectory.steps)
            await state.emit("step_start")
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
                return self._finish(state, failure, None, error=decision.error, notes=notes)
            action = decision.action
            if action.kind == "finish":
                draft = Step(action=action.to_json())
                state.trajectory.steps.append(draft)
                if self._reflector is not None:
                    check = functools.partial(self.limits.hit, state)
                    review = await self._reflector.review(state, llm, check)
                    notes["reflection"] = review.record
                    if review.revise:
                        draft.observation = review.message  # the LLM reads it next step
                        continue
                payload = action.answer
                if self.stream_final_response:
                    payload = await stream_final_answer(llm, state.trajectory, payload, notes)
                state.tokens = llm.tokens_used
                return self._finish(state, "answer_complete", payload, notes=notes)
            step = Step(action=action.to_json())
            try:
                if action.kind == "call":
                    await self._actor.call(state, step, decision)
                else:
                    await self._actor.parallel(state, step, decision)
            except PauseRequested as pause:
                return await self._pause(state, step, pause)
            state.trajectory.steps.append(step)

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

    # -- endings ---------------------------------------------------------------
    async def _pause(self, state: RunState, step: Step, pause: PauseRequested) -> PlannerPause:
        state.paused_step = step
        token = await self._pauses.save(state)
        await state.emit(
            "pause",
            node_name=step.node_name,
            extra={"reason": pause.reason, "payload": pause.payload},
        )
        return PlannerPause(reason=pause.reason, payload=pause.payload, resume_token=token)

    async def _close(self, state: RunState, key: MemoryKey | None, result: PlannerFinish) -> None:
        """Announce the finish (one ``finish`` event per run), then remember an answer."""
        extra = {"reason": result.reason, "cost": result.metadata["cost"]}
        await state.emit("finish", error=result.metadata.get("error"), extra=extra)
        if self._conversation is not None:
            await self._conversation.remember(key, state.trajectory.query, result)

    async def _stop(
        self, state: RunState, reason: FinishReason, detail: str, notes: dict[str, Any]
    ) -> PlannerFinish:
        """Finish a run stopped by a limit: a ``constraint`` event, then the finish."""
        await state.emit("constraint", extra={"reason": reason, "detail": detail})
        return self._finish(state, reason, None, error=detail, notes=notes)

    def _finish(
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
        return PlannerFinish(reason=reason, payload=payload, metadata=metadata)

    def __repr__(self) -> str:
        return f"ReactPlanner(tools={self.tools}, max_iters={self.limits.max_iters})"
