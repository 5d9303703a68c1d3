"""A worker's side of streaming: a request's outputs go to the owner while its node still runs.

Design notes. In process, ``ctx.emit_chunk`` (and ``ctx.emit``) put the item
on the successor's floe at once, so consumers see chunks while the node is
still working. A worker keeps that promise by sending each request's outputs
as *parts* of its reply:

* The served node runs on a `TappedNodeWorker`: after every ``route`` (the
  path of ``ctx.emit``, ``ctx.emit_chunk`` and the returned value) it calls
  back its slot, which takes the outputs out of its private floes, in the
  order they were emitted, and hands them to the request's `PartSender`.
* The `PartSender` publishes them in the background as reply parts on the
  owner's reply topic, one publish at a time, each part numbered by the
  position of its first output (``first``). Outputs that pile up during a
  publish travel together in the next part. Publishing in one task, one
  part after the other, is what keeps the parts in emission order on the
  topic.
* When the node returns, `PartSender.finish` lets the part being published
  complete and returns what was not sent yet: that goes into the final
  reply, published after every part. A node that emits nothing before it
  returns therefore sends one reply, as before streaming.
* A chunk made by ``ctx.emit_chunk`` is marked with how its ``seq`` was
  chosen (``auto`` or ``explicit``), and the owner builds it again in its
  own sequencer: an automatic ``seq`` is numbered afresh there, an explicit
  one is kept and moves the owner's counter, exactly as in process. So a
  stream fed by several invocations (a controller's hops, a trace's
  messages on several workers) counts on without gaps. A chunk the node
  built by hand or forwards is not the sequencer's business and travels as
  it is (`MarkingSequencer` tells them apart).

Nothing here waits for the owner: the bus stores the parts, and a busy owner
reads them when its floes have room. The request is still acknowledged only
after the final reply is stored; if the worker dies mid-stream the request
is run again elsewhere and the owner, counting outputs by position, skips
the ones it already routed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from penguiflow._kernel.context import NodeHost
from penguiflow._kernel.runtime import FlowRuntime
from penguiflow._kernel.sequencer import StreamSequencer
from penguiflow._kernel.worker import NodeWorker
from penguiflow.node import Node, Targets
from penguiflow.registry import ModelRegistry
from penguiflow.types import Message, StreamChunk

__all__ = [
    "MAX_PART_OUTPUTS",
    "ChunkSeq",
    "MarkingSequencer",
    "PartSender",
    "PublishPart",
    "TappedNodeWorker",
]

MAX_PART_OUTPUTS = 200
"""Outputs one reply part carries at most (keeps bus messages small)."""

_ABORT_WAIT_S = 5.0

ChunkSeq = Literal["auto", "explicit"]
"""How ``ctx.emit_chunk`` numbered a chunk."""

PublishPart = Callable[[int, list[dict[str, Any]]], Awaitable[None]]
"""``publish(first, outputs)``: store one reply part on the bus."""


class TappedNodeWorker(NodeWorker):
    """A `NodeWorker` that calls ``on_route()`` after each item it routes downstream."""

    __slots__ = ("on_route",)

    def __init__(
        self,
        runtime: FlowRuntime,
        node: Node,
        registry: ModelRegistry | None,
        host: NodeHost,
        on_route: Callable[[], None],
    ) -> None:
        super().__init__(runtime, node, registry, host)
        self.on_route = on_route
        self.direct = None  # every result goes through `route`, so it is reported

    async def route(self, item: Any, to: Targets) -> None:
        """Route ``item`` like `NodeWorker.route`, then report it."""
        await super().route(item, to)
        self.on_route()


class MarkingSequencer(StreamSequencer):
    """A `StreamSequencer` that remembers how it numbered each chunk it built."""

    __slots__ = ("_built",)

    def __init__(self) -> None:
        super().__init__()
        # id -> (chunk, how): holding the chunk keeps its id from being reused meanwhile.
        self._built: dict[int, tuple[StreamChunk, ChunkSeq]] = {}

    def build(
        self,
        parent: Message,
        text: str,
        *,
        stream_id: str | None,
        seq: int | None,
        done: bool,
        meta: dict[str, Any] | None,
        external: bool = False,
    ) -> Message:
        """Build the chunk's envelope (see `StreamSequencer.build`) and remember it."""
        message = super().build(
            parent, text, stream_id=stream_id, seq=seq, done=done, meta=meta, external=external
        )
        chunk: StreamChunk = message.payload
        self._built[id(chunk)] = (chunk, "auto" if seq is None else "explicit")
        return message

    def built(self, item: Any) -> ChunkSeq | None:
        """How this sequencer numbered ``item``'s chunk, or ``None`` if it did not build it.

        A chunk built by hand or received from upstream and forwarded was
        not built here: its ``seq`` is not the sequencer's business. Asks
        once per chunk (the record is dropped).
        """
        if not isinstance(item, Message) or not isinstance(item.payload, StreamChunk):
            return None
        chunk = item.payload
        found = self._built.pop(id(chunk), None)
        return found[1] if found is not None and found[0] is chunk else None


class PartSender:
    """Publishes one request's outputs as reply parts, in order, while its node runs.

    Args:
        publish: Stores one part; raising stops the sender (see `finish`).
    """

    def __init__(self, publish: PublishPart) -> None:
        self._publish = publish
        self._queued: list[dict[str, Any]] = []
        self._sent = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._kicked = False
        self._task: asyncio.Task[None] | None = None

    def add(self, outputs: list[dict[str, Any]]) -> None:
        """Queue ``outputs`` (wire form, in emission order) for the next part."""
        if not outputs or self._closing:
            return
        self._queued.extend(outputs)
        self._wake.set()
        if not self._kicked:
            # The publishing task starts on the next loop turn, and only if the node is
            # still running then: a node that just returned sends its outputs in the
            # final reply and never pays for the task.
            self._kicked = True
            asyncio.get_running_loop().call_soon(self._kick)

    def _kick(self) -> None:
        if not self._closing:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            batch = self._queued[:MAX_PART_OUTPUTS]
            del self._queued[:MAX_PART_OUTPUTS]
            if self._queued:
                self._wake.set()
            if batch:
                await self._publish(self._sent, batch)
                self._sent += len(batch)

    async def finish(self) -> tuple[int, list[dict[str, Any]]]:
        """Stop once the part being published is stored; return what was not sent.

        Returns:
            The position of the first unsent output, and the unsent outputs.

        Raises:
            BusError: A part could not be published (what `PublishPart` raised).
        """
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        unsent, self._queued = self._queued, []
        return self._sent, unsent

    async def abort(self) -> None:
        """Stop at once (the request is being given up); idempotent."""
        self._closing = True
        task, self._task = self._task, None
        if task is None:
            return
        if not task.done():
            task.cancel()
            # Not `await task`: that would swallow a cancellation of the caller.
            await asyncio.wait({task}, timeout=_ABORT_WAIT_S)
        if task.done() and not task.cancelled():
            task.exception()  # the request is given up; its publish error is not news
