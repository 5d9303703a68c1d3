"""Timed workloads shared by our runtime, the published 2.7.3 and the floor.

Every workload takes the implementation as a module-like object ``pf`` that
offers the public API both versions share (``create``, ``Node``,
``NodePolicy``, ``Message``, ``Headers``, ``ModelRegistry``), so the very same
driving code measures ours (in the dev venv) and 2.7.3 (in its own venv).
The floor (``_floor.FloorChain``) is driven through the same timing loops.

Per-hop figures are wall time divided by ``messages * chain_length``.
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from _floor import FloorChain, FloorEnvelope, FloorHeaders, Item, make_items
from pydantic import TypeAdapter

__all__ = [
    "WORKLOADS",
    "HopParams",
    "hop_round",
    "measure_floor",
    "measure_impl",
    "memory_floor",
    "memory_impl",
]

Emit = Callable[[Any], Awaitable[Any]]
Fetch = Callable[[], Awaitable[Any]]


class HopParams:
    """Parameters of one round of hop workloads.

    Args:
        messages: Messages per sequential workload (each crosses the whole chain).
        pipelined: Messages per pipelined workload.
        warmup: Messages sent through each fresh chain before timing.
        maxsize: ``queue_maxsize`` of every floe / queue.
        length: Number of pass-through nodes in the chain.
    """

    def __init__(
        self, *, messages: int, pipelined: int, warmup: int, maxsize: int, length: int
    ) -> None:
        self.messages = messages
        self.pipelined = pipelined
        self.warmup = warmup
        self.maxsize = maxsize
        self.length = length

    @classmethod
    def from_args(cls, args: Any) -> HopParams:
        """Build from parsed command-line flags of the same names."""
        return cls(
            messages=args.messages,
            pipelined=args.pipelined,
            warmup=args.warmup,
            maxsize=args.maxsize,
            length=args.length,
        )

    def as_dict(self) -> dict[str, int]:
        """Return the parameters as a JSON-ready dict."""
        return dict(vars(self))


async def _time_sequential(emit: Emit, fetch: Fetch, items: Sequence[Any]) -> tuple[float, Any]:
    gc.collect()
    last: Any = None
    start = time.perf_counter()
    for item in items:
        await emit(item)
        last = await fetch()
    return time.perf_counter() - start, last


async def _time_pipelined(emit: Emit, fetch: Fetch, items: Sequence[Any]) -> tuple[float, Any]:
    count = len(items)
    box: list[Any] = [None]

    async def produce() -> None:
        for item in items:
            await emit(item)

    async def consume() -> None:
        for _ in range(count):
            box[0] = await fetch()

    gc.collect()
    start = time.perf_counter()
    await asyncio.gather(produce(), consume())
    return time.perf_counter() - start, box[0]


def _payload_of(value: Any) -> Any:
    return getattr(value, "payload", value)


def _check(expected: Any, got: Any, label: str) -> None:
    if _payload_of(got) != _payload_of(expected):
        raise AssertionError(f"{label}: last result {got!r} != expected {expected!r}")


async def _pass_through(value: Any, ctx: Any) -> Any:
    return value


def _chain_flow(pf: Any, params: HopParams, policy: Any) -> Any:
    nodes = [pf.Node(_pass_through, name=f"n{i}", policy=policy) for i in range(params.length)]
    edges = [nodes[i].to(nodes[i + 1]) for i in range(params.length - 1)]
    return pf.create(*edges, queue_maxsize=params.maxsize)


async def _measure_impl(
    pf: Any,
    params: HopParams,
    items: Sequence[Any],
    warm: Sequence[Any],
    *,
    pipelined: bool,
    envelope_model: Any = None,
    label: str,
) -> float:
    if envelope_model is None:
        flow = _chain_flow(pf, params, pf.NodePolicy(validate="none"))
        flow.run()
    else:
        flow = _chain_flow(pf, params, pf.NodePolicy(validate="both"))
        registry = pf.ModelRegistry()
        for i in range(params.length):
            registry.register(f"n{i}", envelope_model, envelope_model)
        flow.run(registry=registry)
    timer = _time_pipelined if pipelined else _time_sequential
    try:
        await _time_sequential(flow.emit, flow.fetch, warm)
        elapsed, last = await timer(flow.emit, flow.fetch, items)
    finally:
        await flow.stop()
    _check(items[-1], last, label)
    return elapsed / (len(items) * params.length) * 1e6


async def _measure_floor(
    params: HopParams,
    items: Sequence[Any],
    warm: Sequence[Any],
    *,
    pipelined: bool,
    validated: bool = False,
    label: str,
) -> float:
    adapter: TypeAdapter[Any] | None = TypeAdapter(Item) if validated else None
    chain = FloorChain(params.length, maxsize=params.maxsize, adapter=adapter)
    chain.start()
    timer = _time_pipelined if pipelined else _time_sequential
    try:
        await _time_sequential(chain.inbox.put, chain.outbox.get, warm)
        elapsed, last = await timer(chain.inbox.put, chain.outbox.get, items)
    finally:
        await chain.stop()
    _check(items[-1], last, label)
    return elapsed / (len(items) * params.length) * 1e6


def _impl_envelopes(pf: Any, count: int) -> list[Any]:
    return [pf.Message(payload=item, headers=pf.Headers(tenant="t")) for item in make_items(count)]


def _floor_envelopes(count: int) -> list[FloorEnvelope]:
    return [
        FloorEnvelope(payload=item, headers=FloorHeaders(tenant="t")) for item in make_items(count)
    ]


WORKLOADS = ("sequential", "pipelined", "envelope_validated")


async def measure_floor(params: HopParams, workload: str) -> float:
    """Return the floor's microseconds per hop for one workload."""
    if workload == "envelope_validated":
        return await _measure_floor(
            params,
            _floor_envelopes(params.messages),
            _floor_envelopes(params.warmup),
            pipelined=False,
            validated=True,
            label="validated floor",
        )
    pipelined = workload == "pipelined"
    items = list(range(params.pipelined if pipelined else params.messages))
    return await _measure_floor(
        params, items, list(range(params.warmup)), pipelined=pipelined, label=f"floor {workload}"
    )


async def measure_impl(pf: Any, params: HopParams, workload: str, *, envelope_model: Any) -> float:
    """Return ``pf``'s microseconds per hop for one workload.

    Args:
        pf: The implementation (a ``penguiflow`` module).
        params: Workload sizes.
        workload: One of ``WORKLOADS``.
        envelope_model: Model registered in/out for every node in the
            envelope workload (our ``Item``; ``Message`` for 2.7.3, whose
            nodes always receive the envelope).
    """
    if workload == "envelope_validated":
        return await _measure_impl(
            pf,
            params,
            _impl_envelopes(pf, params.messages),
            _impl_envelopes(pf, params.warmup),
            pipelined=False,
            envelope_model=envelope_model,
            label=workload,
        )
    pipelined = workload == "pipelined"
    items = list(range(params.pipelined if pipelined else params.messages))
    return await _measure_impl(
        pf, params, items, list(range(params.warmup)), pipelined=pipelined, label=workload
    )


async def hop_round(
    pf: Any, params: HopParams, *, envelope_model: Any, impl_first: bool
) -> dict[str, dict[str, float]]:
    """Run one round of every workload for ``pf`` and for the floor.

    Args:
        pf: The implementation (a ``penguiflow`` module), or ``None`` to
            measure the floor alone.
        params: Workload sizes.
        envelope_model: See ``measure_impl``.
        impl_first: Measure the implementation before the floor in each pair,
            so alternating rounds spread drift evenly.

    Returns:
        ``{workload: {"floor": us_per_hop, "impl": us_per_hop}}`` (no
        ``"impl"`` key when ``pf`` is ``None``).
    """
    out: dict[str, dict[str, float]] = {}
    for workload in WORKLOADS:
        if pf is None:
            out[workload] = {"floor": await measure_floor(params, workload)}
        elif impl_first:
            impl_us = await measure_impl(pf, params, workload, envelope_model=envelope_model)
            out[workload] = {"floor": await measure_floor(params, workload), "impl": impl_us}
        else:
            floor_us = await measure_floor(params, workload)
            impl_us = await measure_impl(pf, params, workload, envelope_model=envelope_model)
            out[workload] = {"floor": floor_us, "impl": impl_us}
    return out


class _Holder:
    """Three node functions whose last one holds every message at a gate."""

    def __init__(self, traces: int) -> None:
        self.traces = traces
        self.gate = asyncio.Event()
        self.gate.set()
        self.passed = asyncio.Event()
        self.count = 0

    def arm(self) -> None:
        self.gate.clear()
        self.count = 0

    async def first(self, msg: Any, ctx: Any) -> Any:
        return msg

    async def middle(self, msg: Any, ctx: Any) -> Any:
        self.count += 1
        if self.count == self.traces:
            self.passed.set()
        return msg

    async def last(self, msg: Any, ctx: Any) -> Any:
        await self.gate.wait()
        return msg


def _site(frame: tracemalloc.Frame) -> str:
    parts = frame.filename.replace("\\", "/").split("/")
    return "/".join(parts[-2:]) + f":{frame.lineno}"


async def _hold_and_measure(
    emit: Emit, fetch: Fetch, make: Callable[[int], Any], holder: _Holder, breakdown: int
) -> tuple[float, list[list[Any]]]:
    """Emit ``holder.traces`` envelopes, hold them in flight, measure memory.

    Returns:
        Bytes per trace, and (when ``breakdown`` > 0) the ``breakdown`` largest
        allocation sites as ``[site, bytes_per_trace, blocks_per_trace]``.
    """
    for i in range(4):  # warm every lazily created structure on the path
        await emit(make(i))
        await fetch()
    holder.arm()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot() if breakdown else None
        base = tracemalloc.get_traced_memory()[0]
        for i in range(holder.traces):
            await emit(make(i))
        await holder.passed.wait()
        # The last message may still be between the middle node and the last
        # floe; a few loop turns let it land (bounded, nothing else runs).
        for _ in range(32):
            await asyncio.sleep(0)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
        sites: list[list[Any]] = []
        if before is not None:
            ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
            after = tracemalloc.take_snapshot().filter_traces(ignore)
            for stat in after.compare_to(before.filter_traces(ignore), "lineno")[:breakdown]:
                sites.append(
                    [
                        _site(stat.traceback[0]),
                        round(stat.size_diff / holder.traces, 1),
                        round(stat.count_diff / holder.traces, 2),
                    ]
                )
    finally:
        tracemalloc.stop()
    holder.gate.set()
    for _ in range(holder.traces):
        await fetch()
    return held / holder.traces, sites


async def memory_impl(pf: Any, traces: int, breakdown: int = 0) -> tuple[float, list[list[Any]]]:
    """Bytes per in-flight envelope trace in a 3-node flow of ``pf``.

    Args:
        pf: The implementation (a ``penguiflow`` module).
        traces: Envelopes, each with its own trace id, held in flight at once.
        breakdown: Also return this many top allocation sites (costs memory
            itself, so the headline number should come from a run without it).
    """
    holder = _Holder(traces)
    policy = pf.NodePolicy(validate="none")
    a = pf.Node(holder.first, name="first", policy=policy)
    b = pf.Node(holder.middle, name="middle", policy=policy)
    c = pf.Node(holder.last, name="last", policy=policy)
    # Room for every trace: the point is to hold them all in flight at once.
    flow = pf.create(a.to(b), b.to(c), queue_maxsize=traces + 16)
    flow.run()

    def make(i: int) -> Any:
        return pf.Message(payload=Item(id=i, text=f"item-{i}"), headers=pf.Headers(tenant="t"))

    try:
        return await _hold_and_measure(flow.emit, flow.fetch, make, holder, breakdown)
    finally:
        await flow.stop()


async def memory_floor(traces: int, breakdown: int = 0) -> tuple[float, list[list[Any]]]:
    """Bytes per in-flight envelope in a 3-task ``asyncio.Queue`` chain (see ``memory_impl``)."""
    holder = _Holder(traces)
    chain = FloorChain(fns=[holder.first, holder.middle, holder.last], maxsize=traces + 16)
    chain.start()

    def make(i: int) -> Any:
        return FloorEnvelope(payload=Item(id=i, text=f"item-{i}"), headers=FloorHeaders(tenant="t"))

    try:
        return await _hold_and_measure(chain.inbox.put, chain.outbox.get, make, holder, breakdown)
    finally:
        await chain.stop()
