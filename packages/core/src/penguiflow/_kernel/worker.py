"""The per-node worker loop: take a message, run the node, route what it returns.

Design notes. One long-lived task per node; a message never gets its own
task. Per-trace cancellation therefore cancels the *worker task* while it
processes that trace and the worker absorbs the ``CancelledError``
(``Task.uncancel``) and moves on. That is safe because ``current_trace`` only
changes while the worker runs: when ``cancel_trace`` sees the trace, the
worker is suspended at an await inside that trace's processing, and that is
where the ``CancelledError`` lands. ``stop()`` sets ``runtime.stopping``
first, so its cancellation is never absorbed.

A node with ``NodePolicy(max_concurrency=N)`` gets N workers sharing one
inbox and one set of *busy* traces: a worker takes the oldest message whose
trace no other worker is processing, so a trace's messages are handled one at
a time, in order, while other traces overtake it. Items it skips stay in their
floe (backpressure and cancellation see them as usual); a worker that frees a
trace and finds others waiting wakes one to rescan.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from typing import Any

from pydantic import TypeAdapter

from penguiflow._kernel.budgets import advance_controller, deadline_text
from penguiflow._kernel.context import Context, NodeHost
from penguiflow._kernel.envelope import Traced, rewrap
from penguiflow._kernel.floe import EMPTY, Floe, FloeClosed
from penguiflow._kernel.reliability import FAILED, call_node, report_exception
from penguiflow._kernel.runtime import FlowRuntime, trace_of
from penguiflow._kernel.traces import TraceState
from penguiflow.errors import FlowError, FlowErrorCode, TraceCancelled
from penguiflow.node import Node, Targets
from penguiflow.registry import ModelRegistry
from penguiflow.types import FinalAnswer, Message

__all__ = ["NodeWorker", "node_workers"]

logger: logging.Logger = logging.getLogger("penguiflow.core")

_FAIRNESS_BATCH = 32
"""Messages a worker may take back to back before it yields to the event loop."""


def node_workers(
    runtime: FlowRuntime, node: Node, registry: ModelRegistry | None, host: NodeHost
) -> list[NodeWorker]:
    """The workers serving ``node``: one, or ``max_concurrency`` sharing a busy-trace set."""
    count = node.policy.max_concurrency
    if count == 1:
        return [NodeWorker(runtime, node, registry, host)]
    busy: set[str] = set()  # traces the node's workers are processing
    return [NodeWorker(runtime, node, registry, host, busy) for _ in range(count)]


class NodeWorker:
    """Runs one node: owns its inbox, context and routing."""

    __slots__ = (
        "busy",
        "cancel_target",
        "ctx",
        "current_message",
        "current_trace",
        "direct",
        "host",
        "in_adapter",
        "inbox",
        "node",
        "out_adapter",
        "out_floes",
        "passed",
        "rookery_floe",
        "runtime",
        "simple",
        "task",
        "unwrap",
        "validate_in",
        "validate_out",
        "warn_bare",
    )

    def __init__(
        self,
        runtime: FlowRuntime,
        node: Node,
        registry: ModelRegistry | None,
        host: NodeHost,
        busy: set[str] | None = None,
    ) -> None:
        """Build a worker; ``busy`` is the trace set shared by a concurrent node's workers."""
        self.runtime = runtime
        self.busy = busy
        self.node = node
        self.host = host
        self.inbox = runtime.inboxes[node]
        models = registry.get(node.name) if registry is not None else None
        mode = node.policy.validate
        self.unwrap = models is not None and models.unwraps_envelope
        # A registered Message -> Message node returning a bare value drops its envelope.
        self.warn_bare = models is not None and not models.unwraps_envelope
        self.validate_in = models is not None and mode in ("in", "both")
        self.validate_out = models is not None and mode in ("out", "both")
        self.in_adapter: TypeAdapter[Any] | None = models.in_adapter if models is not None else None
        self.out_adapter: TypeAdapter[Any] | None = (
            models.out_adapter if models is not None else None
        )
        policy = node.policy
        self.simple = (
            not self.validate_in
            and not self.validate_out
            and policy.timeout_s is None
            and policy.max_retries == 0
        )
        self.rookery_floe: Floe | None = runtime.rookery_floes.get(node)
        successors = runtime.out_floes[node]
        if successors:
            self.out_floes: list[Floe] = successors
        else:
            assert self.rookery_floe is not None  # nodes without successors are egress nodes
            self.out_floes = [self.rookery_floe]
        # The one floe an envelope result goes to, when routing has no choice to make.
        self.direct: Floe | None = (
            self.out_floes[0] if len(self.out_floes) == 1 and not node.allow_cycle else None
        )
        self.current_trace: str | None = None
        self.current_message: Message | None = None
        self.cancel_target: str | None = None
        self.passed = False  # the last result took over its message's count
        self.task: asyncio.Task[None] | None = None
        self.ctx = Context(self)

    # -- the loop --------------------------------------------------------
    async def run(self) -> None:
        """Process messages until the flow stops."""
        if self.busy is not None:
            await self._run_shared(self.busy)
            return
        inbox = self.inbox
        runtime = self.runtime
        trace_states = runtime.trace_states
        func = self.node.func
        ctx = self.ctx
        unwrap = self.unwrap
        # A node fed by one floe takes straight from its deque (`Inbox.try_take`, inlined).
        single = inbox.floes[0] if len(inbox.floes) == 1 else None
        streak = 0
        try:
            while True:
                if streak >= _FAIRNESS_BATCH:
                    # Messages kept arriving without this worker ever waiting: let the
                    # rest of the loop run (a controller feeding itself would starve it).
                    streak = 0
                    await asyncio.sleep(0)
                if single is None:
                    item = inbox.try_take()
                elif single._items:
                    item = single._items.popleft()
                    if single._putters:
                        single.wake_putter()
                else:
                    item = EMPTY
                if item is EMPTY:
                    streak = 0
                    item = await inbox.take()
                else:
                    streak += 1
                try:
                    # Inlined `process` (this is the per-hop path).
                    if not isinstance(item, Message):
                        await self._process_payload(item)
                    elif (
                        self.simple
                        and item.deadline_s is None
                        and not runtime.hub.listeners
                        and (state := trace_states.get(item.trace_id)) is not None
                        and not state.cancelled
                    ):
                        # The common case, without a coroutine per message.
                        trace_id = item.trace_id
                        self.current_trace = trace_id
                        self.current_message = item
                        try:
                            try:
                                result = await func(item.payload if unwrap else item, ctx)
                            except TraceCancelled:
                                raise
                            except Exception as exc:  # the node failed (not the routing)
                                await report_exception(self, exc, trace_id)
                                result = None
                            if result is not None:
                                self.passed = False
                                pending = self._route_now(item, result, state)
                                if pending is not None:
                                    await self.route(pending, None)
                                elif self.passed:
                                    state = None
                        except TraceCancelled as exc:
                            runtime.emit_event("node_cancelled", self.node, exc.trace_id)
                        except asyncio.CancelledError:
                            if self.cancel_target != trace_id or runtime.stopping:
                                raise
                            runtime.emit_event("node_cancelled", self.node, trace_id)
                        finally:
                            self._finish_envelope(trace_id, state)
                    else:
                        await self._process_envelope(item)
                except FloeClosed:
                    raise
                except Exception:
                    self._internal_error()
        except FloeClosed:
            return

    async def _run_shared(self, busy: set[str]) -> None:
        """The loop of one of a concurrent node's workers (see the module docstring)."""
        inbox = self.inbox

        def free(item: Any) -> bool:
            trace_id = trace_of(item)
            return trace_id is None or trace_id not in busy

        streak = 0
        try:
            while True:
                if streak >= _FAIRNESS_BATCH:
                    streak = 0
                    await asyncio.sleep(0)
                item = inbox.try_take_if(free)
                if item is EMPTY:
                    streak = 0
                    item = await inbox.take_if(free)
                else:
                    streak += 1
                trace_id = trace_of(item)
                if trace_id is not None:
                    busy.add(trace_id)
                if inbox.waiters and inbox.qsize():
                    inbox.wake_one()  # a sibling skipped an item whose trace is free now
                try:
                    await self.process(item)
                except FloeClosed:
                    raise
                except Exception:
                    self._internal_error()
                finally:
                    if trace_id is not None:
                        busy.discard(trace_id)
                        if inbox.waiters and inbox.qsize():
                            inbox.wake_one()
        except FloeClosed:
            return

    def _internal_error(self) -> None:
        # A bug in the runtime must not silently kill the node's worker.
        logger.exception(
            "internal error while node %r processed a message; the message "
            "was dropped and the worker carries on",
            self.node.name,
        )

    async def process(self, item: Any) -> None:
        """Run the node on one item taken from its inbox and route what it returns."""
        if isinstance(item, Message):
            await self._process_envelope(item)
        else:
            await self._process_payload(item)

    async def _process_payload(self, item: Any) -> None:
        try:
            if self.simple and not self.runtime.hub.listeners:
                try:
                    result = await self.node.func(item, self.ctx)
                except TraceCancelled:
                    raise
                except Exception as exc:
                    await report_exception(self, exc, None)
                    return
            else:
                result = await call_node(self, item, None)
            if result is None or result is FAILED:
                return
            await self.route(result, None)
        except TraceCancelled as exc:
            # The node emitted (or returned) an envelope of a trace being cancelled.
            self.runtime.emit_event("node_cancelled", self.node, exc.trace_id)

    async def _process_envelope(self, message: Message) -> None:
        runtime = self.runtime
        trace_id = message.trace_id
        state = runtime.trace_states.get(trace_id)
        if state is not None and state.cancelled:
            runtime.traces.done(trace_id)
            return
        self.current_trace = trace_id
        self.current_message = message
        try:
            deadline = message.deadline_s
            if deadline is not None:
                now = time.time()
                if now >= deadline:
                    await self._deadline_skip(message, now)
                    return
            arg = message.payload if self.unwrap else message
            if self.simple and not runtime.hub.listeners:
                try:
                    result = await self.node.func(arg, self.ctx)
                except TraceCancelled:
                    raise
                except Exception as exc:
                    await report_exception(self, exc, trace_id)
                    return
            else:
                result = await call_node(self, arg, trace_id)
            if result is None or result is FAILED:
                return
            self.passed = False
            pending = self._route_now(message, result, state)
            if pending is not None:
                await self.route(pending, None)
            elif self.passed:
                state = None
        except asyncio.CancelledError:
            if self.cancel_target != trace_id or runtime.stopping:
                raise
            runtime.emit_event("node_cancelled", self.node, trace_id)
        except TraceCancelled as exc:
            # The trace was cancelled while this node emitted or routed for it.
            runtime.emit_event("node_cancelled", self.node, exc.trace_id)
        finally:
            self._finish_envelope(trace_id, state)

    def _route_now(self, message: Message, result: Any, state: TraceState | None) -> Any:
        """Send ``result`` (returned for ``message``) on if that needs no waiting.

        Returns ``None`` when it was sent (`passed` says whether it took over the
        message's count), else the item `route` must send, awaiting.
        """
        if self.unwrap:
            if not isinstance(result, Message):
                result = rewrap(message, result)
        elif self.warn_bare and not isinstance(result, Message | FlowError):
            self._warn_bare(result)
        direct = self.direct
        if direct is None or not isinstance(result, Message):
            return result
        runtime = self.runtime
        if state is not None and result.trace_id == message.trace_id:
            # The result takes over the message's count.
            if runtime.pass_on(direct, result, state):
                self.passed = True
                return None
        elif runtime.try_deliver(direct, result):
            return None
        return result

    def _finish_envelope(self, trace_id: str, state: TraceState | None) -> None:
        """The end of every envelope's processing: forget it, count it done."""
        self.current_trace = None
        self.current_message = None
        if self.cancel_target is not None:
            # Balance Task.cancel(), also when user code swallowed the CancelledError.
            self.cancel_target = None
            if self.task is not None and not self.runtime.stopping:
                self.task.uncancel()
        if state is not None:  # `TraceTable.done`, inlined (None: the count was passed on)
            state.count -= 1
            if state.count <= 0:
                self.runtime.traces.end(trace_id, state)

    def _warn_bare(self, result: Any) -> None:
        warnings.warn(
            f"node {self.node.name!r} is registered to take and return a Message but returned "
            f"a bare {type(result).__name__}: the envelope (headers, meta, deadline) is dropped "
            "and successors receive the value as is; return a Message to keep it",
            RuntimeWarning,
            stacklevel=2,
        )

    def cancel_trace(self, trace_id: str) -> None:
        """Interrupt the current processing if it belongs to ``trace_id``."""
        if self.current_trace == trace_id and self.cancel_target is None and self.task is not None:
            self.cancel_target = trace_id
            self.task.cancel()

    # -- routing ---------------------------------------------------------
    def targets(self, to: Targets) -> list[Floe]:
        """Resolve ``to`` (successor nodes or names) to this node's outgoing floes.

        Raises:
            ValueError: If a target is not a successor of this node.
        """
        if to is None:
            return self.out_floes
        wanted = [to] if isinstance(to, Node | str) else list(to)
        floes: list[Floe] = []
        for target in wanted:
            for floe in self.runtime.out_floes[self.node]:
                succ = floe.target
                if succ is target or (isinstance(target, str) and succ.name == target):
                    floes.append(floe)
                    break
            else:
                known = [floe.target.name for floe in self.runtime.out_floes[self.node]]
                label = target.name if isinstance(target, Node) else target
                raise ValueError(
                    f"node {self.node.name!r} cannot emit to {label!r}: it is not a successor "
                    f"(successors: {known or 'none, results go to Rookery'})"
                )
        return floes

    async def route(self, item: Any, to: Targets) -> None:
        """Send ``item`` downstream, applying controller rules for ``allow_cycle`` nodes."""
        runtime = self.runtime
        if self.node.allow_cycle:
            outcome = advance_controller(item, self.node.name)
            if outcome.exhausted is not None:
                runtime.emit_event(
                    "budget_exhausted",
                    self.node,
                    self.current_trace,
                    extra={"code": outcome.exhausted.value},
                )
            if outcome.to_rookery:
                assert self.rookery_floe is not None  # controllers always feed Rookery
                await runtime.deliver(self.rookery_floe, self._traced(outcome.item))
                return
            item = outcome.item
        floes = self.out_floes if to is None else self.targets(to)
        if len(floes) == 1:
            floe = floes[0]
            if isinstance(item, Message | FlowError):
                await runtime.deliver(floe, item)
            elif self.current_trace is not None and floe is self.rookery_floe:
                await runtime.deliver(floe, Traced(item, self.current_trace))
            elif runtime.gate is not None:
                await runtime.deliver(floe, item)
            elif floe.full():
                await floe.put(item)
            else:
                floe.put_nowait(item)
        else:
            await runtime.fan_out(floes, item)

    def _traced(self, item: Any) -> Any:
        """Box a bare value bound for Rookery so it stays in the trace being processed."""
        trace_id = self.current_trace
        if trace_id is None or isinstance(item, Message | FlowError) or item is None:
            return item
        return Traced(item, trace_id)

    async def _deadline_skip(self, message: Message, now: float) -> None:
        runtime = self.runtime
        trace_id = message.trace_id
        assert message.deadline_s is not None
        runtime.emit_event(
            "deadline_skip",
            self.node,
            trace_id,
            extra={"deadline_s": message.deadline_s, "late_s": now - message.deadline_s},
        )
        state = runtime.traces.get(trace_id)
        if state is None or state.finalized:
            return  # one final answer per trace
        state.finalized = True
        text = deadline_text(self.node.name, message.deadline_s, now)
        final: Any
        if runtime.emit_errors_to_rookery:
            final = FlowError(
                trace_id=trace_id,
                node_name=self.node.name,
                node_id=self.node.node_id,
                code=FlowErrorCode.DEADLINE_EXCEEDED,
                message=text,
                metadata={"deadline_s": message.deadline_s},
            )
        else:
            final = rewrap(message, FinalAnswer(text=text))
        await runtime.deliver(runtime.runtime_floe, final)
