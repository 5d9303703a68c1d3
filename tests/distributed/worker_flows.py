"""Flows served by real worker processes in the fault tests (``penguiflow worker``).

``build_flow`` is ``prep -> work -> done`` with ``work`` remote when a bus is
given. ``work`` answers at once, except for a message with ``"hold": true``
the first time any process sees it (it creates ``$HOLD_DIR/<trace>``
exclusively): that process prints ``holding <trace> <pid>`` on stderr and
blocks, so a test knows which worker holds the message and can kill it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from penguiflow import Message, Node, NodePolicy, PenguiFlow, create
from penguiflow.bus import MessageBus

__all__ = ["build_flow"]


async def prep(message: Message, ctx: Any) -> Message:
    return message


async def work(message: Message, ctx: Any) -> Message:
    payload = dict(message.payload)
    hold_dir = os.environ.get("HOLD_DIR")
    if payload.get("hold") and hold_dir and _first_to_hold(hold_dir, message.trace_id):
        print(f"holding {message.trace_id} {os.getpid()}", file=sys.stderr, flush=True)
        await asyncio.Event().wait()  # until this process is killed
    payload["worker_pid"] = os.getpid()
    return message.model_copy(update={"payload": payload})


def _first_to_hold(hold_dir: str, trace_id: str) -> bool:
    try:
        os.close(os.open(os.path.join(hold_dir, trace_id), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


async def done(message: Message, ctx: Any) -> Message:
    return message


def build_flow(message_bus: MessageBus | None = None, **options: Any) -> PenguiFlow:
    policy = NodePolicy(validate="none")
    p = Node(prep, name="prep", policy=policy)
    w = Node(work, name="work", policy=policy)
    d = Node(done, name="done", policy=policy)
    remote = ["work"] if message_bus is not None else []
    return create(p.to(w), w.to(d), message_bus=message_bus, worker_nodes=remote, **options)
