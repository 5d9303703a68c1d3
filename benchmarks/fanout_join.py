"""Fan-out/join throughput: each trace fans out to 8 workers and is joined by ``join_k(..., 8)``.

Shape (envelopes, ``queue_maxsize=64``)::

    src -> w0 .. w7 -> join_k("join", 8) -> Rookery

A producer emits N ``Message``s (one trace each, built before timing) while a
consumer fetches the N joined results, so many traces are in flight at once
and backpressure applies. Per trace that is 17 node calls (``src``, 8
workers, 8 join arrivals) and one result. Every node is a pass-through with
``NodePolicy(validate="none")``; the result of each trace is checked (one
list of 8 payloads).

The floor is the same shape written by hand: one task per node, bounded
``asyncio.Queue``s, a dict of per-trace lists in the join task. It hands the
same envelope object to all 8 branches and emits ``(envelope, payloads)``:
no per-branch envelope copy, no meta merge, no trace bookkeeping — the least
this shape can cost in CPython. ``penguiflow==2.7.3`` runs the same workload
in its own venv (this file re-executed with ``--driver``); only its result
count is checked, since its join output format is its own.

Rounds alternate which implementation goes first. Each run records traces
per wall second and per CPU second (``time.process_time``); the ratio is the
floor's traces per CPU second over the implementation's, per round (how many
times the floor's CPU time per trace), and the table shows medians over rounds.
CPU time keeps the ratio steady when other processes share the cores. Target
(SPEC §10, ``_targets.FANOUT_JOIN``): ratio ≤ 2x. Results go to
``benchmarks/results/fanout_join.json``.

Usage::

    .venv/bin/python benchmarks/fanout_join.py [--rounds 5] [--traces 20000] [--quick]
    .venv/bin/python benchmarks/fanout_join.py --profile   # where our time goes
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PUBLISHED_VERSION,
    add_output_flags,
    environment,
    fmt_ratio,
    median,
    print_table,
    published_python,
    write_results,
)
from _targets import FANOUT_JOIN

__all__ = ["WIDTH", "main", "run", "scorecard_rows"]

WIDTH = 8
"""Workers per trace (and the join's k)."""
_MAXSIZE = 64


# -- implementations ------------------------------------------------------------


async def _pass(msg: Any, _ctx: Any) -> Any:
    return msg


def _join_k(pf: Any) -> Any:
    join_k = getattr(pf, "join_k", None)
    if join_k is None:
        from penguiflow.patterns import join_k
    return join_k


async def measure_impl(pf: Any, traces: int, *, check: bool = True) -> tuple[float, float]:
    """Return traces per wall and per CPU second of ``pf`` (ours or 2.7.3) on the flow."""
    plain = pf.NodePolicy(validate="none")
    src = pf.Node(_pass, name="src", policy=plain)
    workers = [pf.Node(_pass, name=f"w{i}", policy=plain) for i in range(WIDTH)]
    join = _join_k(pf)("join", WIDTH)
    flow = pf.create(
        src.to(*workers), *(w.to(join) for w in workers), join.to(), queue_maxsize=_MAXSIZE
    )
    flow.run()
    headers = pf.Headers(tenant="bench")
    messages = [pf.Message(payload=i, headers=headers) for i in range(traces)]

    async def produce() -> None:
        for message in messages:
            await flow.emit(message)

    async def consume() -> list[Any]:
        return [await flow.fetch() for _ in range(traces)]

    try:
        cpu_started, started = time.process_time(), time.perf_counter()
        _, results = await asyncio.gather(produce(), consume())
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        await flow.stop()
    if check:
        bad = [out for out in results if len(out.payload) != WIDTH]
        if bad:
            raise RuntimeError(f"{len(bad)} joined results do not hold {WIDTH} payloads")
        if len({out.trace_id for out in results}) != traces:
            raise RuntimeError("a trace was joined twice or not at all")
    return traces / elapsed, traces / cpu


async def measure_floor(traces: int) -> tuple[float, float]:
    """Return traces per wall and per CPU second of the hand-written asyncio version."""
    from _floor import FloorEnvelope, FloorHeaders

    inbox: asyncio.Queue[Any] = asyncio.Queue(_MAXSIZE)
    lanes: list[asyncio.Queue[Any]] = [asyncio.Queue(_MAXSIZE) for _ in range(WIDTH)]
    to_join: asyncio.Queue[Any] = asyncio.Queue(_MAXSIZE)
    outbox: asyncio.Queue[Any] = asyncio.Queue(_MAXSIZE)

    async def source() -> None:
        while True:
            env = await _pass(await inbox.get(), None)
            for lane in lanes:
                await lane.put(env)

    async def worker(lane: asyncio.Queue[Any]) -> None:
        while True:
            await to_join.put(await _pass(await lane.get(), None))

    async def joiner() -> None:
        buckets: dict[str, list[Any]] = {}
        while True:
            env = await to_join.get()
            bucket = buckets.setdefault(env.trace_id, [])
            bucket.append(env.payload)
            if len(bucket) == WIDTH:
                del buckets[env.trace_id]
                await outbox.put((env, bucket))

    tasks = [
        asyncio.create_task(source()),
        asyncio.create_task(joiner()),
        *(asyncio.create_task(worker(lane)) for lane in lanes),
    ]
    headers = FloorHeaders(tenant="bench")
    messages = [FloorEnvelope(payload=i, headers=headers) for i in range(traces)]

    async def produce() -> None:
        for message in messages:
            await inbox.put(message)

    async def consume() -> list[Any]:
        return [await outbox.get() for _ in range(traces)]

    try:
        cpu_started, started = time.process_time(), time.perf_counter()
        _, results = await asyncio.gather(produce(), consume())
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if any(len(payloads) != WIDTH for _, payloads in results):
        raise RuntimeError("floor join produced a wrong bucket")
    return traces / elapsed, traces / cpu


async def _round(
    pf: Any, traces: int, warmup: int, impl_first: bool, *, check: bool = True
) -> dict[str, float]:
    await measure_impl(pf, warmup, check=check)
    await measure_floor(warmup)
    if impl_first:
        impl = await measure_impl(pf, traces, check=check)
        floor = await measure_floor(traces)
    else:
        floor = await measure_floor(traces)
        impl = await measure_impl(pf, traces, check=check)
    return {"impl": impl[0], "floor": floor[0], "impl_cpu": impl[1], "floor_cpu": floor[1]}


# -- the published 2.7.3 side ------------------------------------------------------


def _driver(args: argparse.Namespace) -> None:
    """Run one round with whatever ``penguiflow`` this interpreter imports; print JSON."""
    from importlib import metadata

    import penguiflow

    # 2.7.3's joined payload format is its own: only the result count is checked there.
    result = asyncio.run(_round(penguiflow, args.traces, args.warmup, args.impl_first, check=False))
    print(json.dumps({"version": metadata.version("penguiflow"), "round": result}))


def _published_round(python: Path, traces: int, warmup: int, impl_first: bool) -> dict[str, float]:
    cmd = [str(python), str(Path(__file__).resolve()), "--driver"]
    cmd += ["--traces", str(traces), "--warmup", str(warmup)]
    if impl_first:
        cmd.append("--impl-first")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        raise RuntimeError("published run failed: " + " | ".join(tail))
    try:
        data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        raise RuntimeError(f"published run printed no JSON: {done.stdout[-200:]!r}") from exc
    round_: dict[str, float] = data["round"]
    return round_


# -- summary and entry point ---------------------------------------------------------


def _summary(rounds: list[dict[str, float]]) -> dict[str, float | None]:
    if not rounds:
        return {
            "rate": None,
            "floor_rate": None,
            "cpu_rate": None,
            "floor_cpu_rate": None,
            "ratio": None,
            "wall_ratio": None,
        }
    # Results written before CPU time was recorded carry wall rates only.
    impl_cpu = [r.get("impl_cpu", r["impl"]) for r in rounds]
    floor_cpu = [r.get("floor_cpu", r["floor"]) for r in rounds]
    return {
        "rate": median(r["impl"] for r in rounds),
        "floor_rate": median(r["floor"] for r in rounds),
        "cpu_rate": median(impl_cpu),
        "floor_cpu_rate": median(floor_cpu),
        # Per-round ratio against the floor measured in the same process and round.
        "ratio": median(f / i for f, i in zip(floor_cpu, impl_cpu, strict=True)),
        "wall_ratio": median(r["floor"] / r["impl"] for r in rounds),
    }


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def scorecard_rows(result: dict[str, Any]) -> list[list[str]]:
    """The scorecard row of a results file (8 cells, like ``run_all.HEADERS``).

    Rates are traces per CPU second; the status is judged again from the
    figures, so re-rendering an older results file applies today's target.
    """
    mine, pub = result["ours"], result["published"]
    label = (
        f"fan-out to {WIDTH} workers + join_k, {result['parameters']['traces']} envelope traces "
        f"(traces per {'CPU-' if 'cpu_rate' in mine else 'wall '}s)"
    )
    return [
        [
            label,
            _rate(mine.get("floor_cpu_rate", mine["floor_rate"])),
            _rate(mine.get("cpu_rate", mine["rate"])),
            fmt_ratio(mine["ratio"]),
            _rate(pub.get("cpu_rate", pub.get("rate"))),
            fmt_ratio(pub.get("ratio")),
            FANOUT_JOIN.label(),
            FANOUT_JOIN.status(mine["ratio"]),
        ]
    ]


def _profile(pf: Any, traces: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(measure_impl(pf, traces))
    profiler.disable()
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).strip_dirs().sort_stats("tottime").print_stats(30)
    print(f"=== cProfile of our fan-out/join, {traces} traces, sorted by tottime ===")
    print(buffer.getvalue())


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--traces", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2,000 traces")
    parser.add_argument("--profile", action="store_true", help="cProfile our side and exit")
    parser.add_argument("--driver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl-first", action="store_true", help=argparse.SUPPRESS)
    add_output_flags(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.traces, args.warmup = 2, 2_000, 200
    return args


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, write the JSON and return it."""
    args = _parse(argv)
    if args.driver:
        _driver(args)
        return {}
    import penguiflow as ours

    if args.profile:
        _profile(ours, args.traces)
        return {}
    python: Path | None = None
    if args.no_published:
        pub_note = "skipped (--no-published)"
    else:
        python, pub_note = published_python(build=not args.no_build)
    print(f"penguiflow {PUBLISHED_VERSION}: {pub_note}")

    ours_rounds: list[dict[str, float]] = []
    pub_rounds: list[dict[str, float]] = []
    for index in range(args.rounds):
        impl_first = index % 2 == 1
        ours_rounds.append(asyncio.run(_round(ours, args.traces, args.warmup, impl_first)))
        if python is not None:
            try:
                pub_rounds.append(_published_round(python, args.traces, args.warmup, impl_first))
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                print(f"penguiflow {PUBLISHED_VERSION} round failed: {exc}")
                python, pub_note = None, str(exc)
        print(f"round {index + 1}/{args.rounds} done", file=sys.stderr)

    mine, pub = _summary(ours_rounds), _summary(pub_rounds)
    result: dict[str, Any] = {
        "benchmark": "fanout_join",
        "environment": environment(),
        "parameters": {
            "rounds": args.rounds,
            "traces": args.traces,
            "warmup": args.warmup,
            "width": WIDTH,
            "queue_maxsize": _MAXSIZE,
        },
        "target_ratio": FANOUT_JOIN.limit,
        "ours": {**mine, "rounds": ours_rounds},
        "published": {
            "version": PUBLISHED_VERSION,
            "measured": bool(pub_rounds),
            "note": pub_note,
            **pub,
            "rounds": pub_rounds,
        },
        "status": FANOUT_JOIN.status(mine["ratio"]),
    }
    rows = scorecard_rows(result)
    result["scorecard_rows"] = rows
    print()
    print_table(
        ["benchmark", "floor", "ours", "ratio", PUBLISHED_VERSION, "ratio", "target", "status"],
        rows,
    )
    print(
        f"(wall: ours {_rate(mine['rate'])} traces/s, floor {_rate(mine['floor_rate'])}, "
        f"ratio {fmt_ratio(mine['wall_ratio'])})"
    )
    if not args.no_write:
        write_results("fanout_join", result, args.out_dir)
    return result


def main() -> None:
    """Command-line entry point."""
    run()


if __name__ == "__main__":
    main()
