"""Playbooks: run a small subflow for one message and use its result like a function's."""

from __future__ import annotations

import asyncio
from typing import Any

from penguiflow._kernel.envelope import rewrap
from penguiflow.errors import FlowError, TraceEnded
from penguiflow.protocols import Flow, PlaybookBuilder, is_flow
from penguiflow.registry import ModelRegistry
from penguiflow.types import Message

__all__ = ["PlaybookBuilder", "call_playbook"]


async def call_playbook(
    builder: PlaybookBuilder,
    parent_msg: Any,
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - public API shape from the seed docs
) -> Any:
    """Build a fresh subflow, run ``parent_msg`` through it and return the first result.

    The subflow sees the parent's trace id and headers (it receives a copy of
    the envelope with a shallow copy of ``meta``). When it finishes, keys it
    set in ``meta`` are merged back into ``parent_msg.meta`` (the playbook's
    values win). The subflow is always stopped: on success, error, timeout
    and cancellation — so cancelling the parent trace cancels the playbook.
    Failures inside the playbook always come back as a raised `FlowError`.

    Args:
        builder: Zero-argument callable returning a flow or ``(flow, registry)``.
        parent_msg: The message to send into the subflow (envelope or payload).
        timeout: Seconds to wait for the first result, or ``None``.

    Returns:
        The payload of the first Rookery result (the value itself for payload-only flows).

    Raises:
        FlowError: A node of the playbook failed.
        RuntimeError: The playbook's trace ended without any result.
        TimeoutError: No result within ``timeout`` seconds.
        TypeError: ``builder`` did not return a flow or ``(flow, registry)``.
    """
    flow, registry = _build(builder)
    if isinstance(parent_msg, Message):
        child: Any = rewrap(parent_msg, parent_msg.payload, copy_meta=True)
        trace_id: str | None = parent_msg.trace_id
    else:
        child, trace_id = parent_msg, None
    # The caller is the only consumer: failures must reach it rather than a log.
    flow.emit_errors_to_rookery = True
    flow.run(registry=registry)
    try:
        async with asyncio.timeout(timeout):
            await flow.emit(child)
            result = await flow.first_result(trace_id)
    except TimeoutError as exc:
        raise TimeoutError(
            f"playbook {_label(builder)} gave no result within {timeout}s (trace {trace_id!r})"
        ) from exc
    except TraceEnded:
        raise RuntimeError(
            f"playbook {_label(builder)} finished trace {trace_id!r} without a result: "
            "no node sent anything to its Rookery"
        ) from None
    finally:
        await flow.stop()
    if isinstance(result, FlowError):
        raise result
    if isinstance(result, Message):
        if isinstance(parent_msg, Message):
            parent_msg.meta.update(result.meta)
        return result.payload
    return result


def _build(builder: PlaybookBuilder) -> tuple[Flow, ModelRegistry | None]:
    built: Any = builder()
    registry: Any = None
    flow: Any = built
    if isinstance(built, tuple):
        if len(built) != 2:
            raise TypeError(
                f"playbook builder {_label(builder)} must return a flow or (flow, registry); "
                f"got a tuple of {len(built)}"
            )
        flow, registry = built
    if not is_flow(flow):
        raise TypeError(
            f"playbook builder {_label(builder)} must return a PenguiFlow or (flow, registry); "
            f"got {type(flow).__name__}"
        )
    if registry is not None and not isinstance(registry, ModelRegistry):
        raise TypeError(
            f"playbook builder {_label(builder)} returned {type(registry).__name__} "
            "where a ModelRegistry (or None) was expected"
        )
    return flow, registry


def _label(builder: Any) -> str:
    return repr(getattr(builder, "__qualname__", None) or builder)
