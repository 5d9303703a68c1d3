"""The streamed final answer: one last main-LLM call writes the answer for the user, piece by piece.

With ``ReactPlanner(stream_final_response=True)``, a run that ends with an
answer (after any reflection) makes one more call to the main LLM with
``stream=True``: it rewrites the draft answer as plain text for the user,
using the observations. Each piece becomes a ``llm_stream_chunk``
`PlannerEvent` (``extra={"text", "done"}``), in order, the last one with
``done=True``; the whole text becomes the payload and
``metadata["draft_answer"]`` keeps the action's answer. If the call fails
the draft stays the payload and ``metadata["stream_error"]`` says why.

``on_stream_chunk`` callbacks are synchronous, so pieces go through a queue
drained by a task that awaits the event callback: events arrive while the
model is still writing, and never out of order. A cancelled run cancels that
task too rather than wait for it: a callback may be blocked (on a full floe,
when a flow node forwards the pieces) and nothing would wake it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from penguiflow.planner.events import PlannerEvent, emit
from penguiflow.planner.llm import LLMError
from penguiflow.planner.side_llm import compact_steps, request_json
from penguiflow.planner.step import LLMCaller
from penguiflow.planner.trajectory import Trajectory

__all__ = ["STREAM_EVENT", "stream_final_answer"]

STREAM_EVENT = "llm_stream_chunk"
"""Event type of each streamed piece of the final answer."""

_RULES = """You write the final answer to the user's request, for the user to read.
You are given the request, a draft answer and the observations of the tools that were used.
Write the answer as plain text (not JSON). Keep every fact of the draft that the observations
support; do not mention tools, drafts or these instructions."""

_Piece = tuple[str, bool, str | None]


async def stream_final_answer(
    main: LLMCaller, trajectory: Trajectory, draft: Any, notes: dict[str, Any]
) -> Any:
    """Stream the final answer with the main LLM; return it (or ``draft`` if that fails).

    Args:
        main: The run's main-LLM caller (cost counted under ``main``).
        trajectory: The finished run's trajectory (query, context, observations).
        draft: The answer the planner's finish action gave.
        notes: The run's extra finish metadata; gets ``draft_answer`` and, on
            failure, ``stream_error``.
    """
    notes["draft_answer"] = draft
    step = max(len(trajectory.steps) - 1, 0)
    request: dict[str, Any] = {"query": trajectory.query}
    if trajectory.llm_context:
        request["context"] = trajectory.llm_context
    request["draft_answer"] = draft
    request["observations"] = compact_steps(trajectory)
    messages = [
        {"role": "system", "content": _RULES},
        {"role": "user", "content": request_json(request)},
    ]
    queue: asyncio.Queue[_Piece | None] = asyncio.Queue()
    seen = {"pieces": 0, "done": False}

    def on_chunk(text: str, done: bool) -> None:
        if seen["done"]:
            return
        if text or done:
            queue.put_nowait((text, done, None))
            seen["pieces"] += 1
        seen["done"] = done

    async def pump() -> None:
        while (piece := await queue.get()) is not None:
            text, done, error = piece
            event = PlannerEvent(
                STREAM_EVENT, trajectory_step=step, error=error, extra={"text": text, "done": done}
            )
            await emit(main.callback, event)

    pumping = asyncio.create_task(pump())
    error: str | None = None
    text = ""
    cancelled = False
    try:
        text = await main(messages, step=step, on_stream_chunk=on_chunk)
        if not text.strip():
            error = "the answer writer returned no text"
    except LLMError as exc:
        error = f"streaming the final answer failed: {exc}"
    except asyncio.CancelledError:
        cancelled = True
        raise
    finally:
        if cancelled:
            # The run is being torn down (cancelled, timed out): stop the pump instead of
            # waiting for a callback that may be blocked, for instance on a full floe.
            pumping.cancel()
        else:
            if not seen["done"]:
                if text and error is None and not seen["pieces"]:
                    queue.put_nowait((text, False, None))  # a client that ignored stream=True
                queue.put_nowait(("", True, error))
            queue.put_nowait(None)
        await pumping
    if error is not None:
        notes["stream_error"] = error
        return draft
    return text
