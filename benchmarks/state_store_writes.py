"""StateStore write throughput per backend: events/s with one writer and with 8 concurrent writers.

Workload. Each measurement opens a fresh store (``memory://``; ``sqlite://``
on a file in a temporary folder; PostgreSQL in its own schema; Redis under
its own key prefix), saves ``--warmup`` events untimed (with as many
writers as it then times, so connection pools have grown), then times:

* *1 writer* — one coroutine awaits ``save_event`` ``--events`` times in a
  row, all for one trace (the shape of a flow's persister: one event at a
  time, in order);
* *8 writers* — eight coroutines, each with its own trace, save
  ``--events / 8`` events each, concurrently (``asyncio.gather``): what
  eight flows sharing one store do.

Every event is what the runtime persists: ``StoredEvent.from_flow_event`` of
a ``node_success`` `FlowEvent` with a tenant (about 400 bytes of JSON). After
timing, the history of each trace is read back and its length checked, so a
backend that loses writes cannot post a number. The store is then destroyed
(schema dropped, keys deleted, file removed). Figures are medians over
``--rounds`` rounds; backends whose server is unreachable (or whose driver is
missing) are skipped with the reason printed.

There is no floor or 2.7.3 comparison (2.7.3 ships no durable stores), so
the scorecard rows are reported figures. Results go to
``benchmarks/results/state_store_writes.json``.

Usage::

    .venv/bin/python benchmarks/state_store_writes.py [--rounds 3] [--events 2000] [--quick]
    .venv/bin/python benchmarks/state_store_writes.py --backends sqlite,redis
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_output_flags, environment, median, print_table, write_results

__all__ = ["BACKENDS", "WRITERS", "main", "run", "scorecard_rows"]

BACKENDS = ("memory", "sqlite", "postgres", "redis")
WRITERS = 8
#: Where the service-backed stores live (the same variables the test fixtures read).
_SERVICES = {
    "postgres": ("PENGUIFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    "redis": ("PENGUIFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
}

Opener = Callable[[], Awaitable[Any]]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per backend")
    parser.add_argument("--events", type=int, default=2000, help="events timed per measurement")
    parser.add_argument("--warmup", type=int, default=100, help="untimed events first")
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help=f"comma-separated subset of {BACKENDS}"
    )
    parser.add_argument("--quick", action="store_true", help="1 round of 400 events, no JSON")
    add_output_flags(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.events, args.warmup, args.no_write = 1, 400, 20, True
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backends {unknown}; choose from {list(BACKENDS)}")
    if args.events < WRITERS or args.rounds < 1:
        parser.error(f"--events must be >= {WRITERS} and --rounds >= 1")
    return args


def _reachable(url: str) -> bool:
    rest = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = rest.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1.0):
            return True
    except OSError:
        return False


def _opener(backend: str, workdir: Path) -> tuple[Opener | None, str]:
    """Return ``(open a fresh store, where)`` or ``(None, why it is skipped)``."""
    from penguiflow.state import open_store

    tag = uuid.uuid4().hex[:8]
    if backend == "memory":
        return (lambda: open_store("memory://")), "memory://"
    if backend == "sqlite":
        counter = iter(range(1_000_000))
        return (
            lambda: open_store(f"sqlite:///{workdir / f'bench-{next(counter)}.db'}")
        ), "sqlite file in a temporary folder"
    variable, default = _SERVICES[backend]
    url = os.environ.get(variable, default)
    if not _reachable(url):
        # The reason ends up in the results JSON: name the variable, not a URL with credentials.
        return None, f"{backend} is not reachable at ${variable} (default {default})"
    counter = iter(range(1_000_000))
    if backend == "postgres":
        return (lambda: open_store(url, schema=f"bench_{tag}_{next(counter)}")), url
    return (lambda: open_store(url, prefix=f"bench-{tag}-{next(counter)}")), url


def _events(trace_id: str, count: int) -> list[Any]:
    from penguiflow.events import FlowEvent
    from penguiflow.state import StoredEvent

    events = []
    for index in range(count):
        flow_event = FlowEvent(
            event_type="node_success",
            ts=time.time(),
            node_name="summarize",
            node_id="node-summarize-0001",
            trace_id=trace_id,
            attempt=0,
            latency_ms=1.25,
            q_depth_in=index % 4,
            trace_pending=1,
            trace_inflight=1,
            extra={"note": "benchmark"},
        )
        events.append(StoredEvent.from_flow_event(flow_event, tenant="acme"))
    return events


async def _write(store: Any, events: list[Any]) -> None:
    for event in events:
        await store.save_event(event)


async def _measure(open_fresh: Opener, writers: int, events: int, warmup: int) -> float:
    """Events per second for ``writers`` concurrent writers saving ``events`` in total."""
    store = await open_fresh()
    try:
        # Warm up with as many writers as are timed, so connection pools have grown.
        warm = [_events(f"warmup-{i}", max(1, warmup // writers)) for i in range(writers)]
        await asyncio.gather(*(_write(store, batch) for batch in warm))
        per_writer = events // writers
        batches = [_events(f"trace-{i}", per_writer) for i in range(writers)]
        start = time.perf_counter()
        await asyncio.gather(*(_write(store, batch) for batch in batches))
        elapsed = time.perf_counter() - start
        for i in range(writers):
            saved = len(await store.load_history(f"trace-{i}"))
            if saved != per_writer:
                raise AssertionError(f"trace-{i}: {saved} events read back, {per_writer} written")
    finally:
        destroy = getattr(store, "destroy", None)
        if destroy is not None:
            await destroy()
        await store.close()
    return per_writer * writers / elapsed


async def _bench_backend(
    open_fresh: Opener, rounds: int, events: int, warmup: int
) -> dict[str, Any]:
    single, concurrent = [], []
    for _ in range(rounds):
        single.append(await _measure(open_fresh, 1, events, warmup))
        concurrent.append(await _measure(open_fresh, WRITERS, events, warmup))
    return {
        "single_writer_events_per_s": median(single),
        "concurrent_writers_events_per_s": median(concurrent),
        "rounds": {"single": single, "concurrent": concurrent},
    }


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def scorecard_rows(results: dict[str, Any]) -> list[list[str]]:
    """One 8-cell row per backend (benchmark, floor, ours, ratio, 2.7.3, ratio, target, status)."""
    rows = []
    for backend, entry in results.items():
        label = f"StateStore writes, {backend} (events/s, 1 / {WRITERS} writers)"
        if "skipped" in entry:
            ours = "skipped"
        else:
            ours = (
                f"{_rate(entry['single_writer_events_per_s'])} / "
                f"{_rate(entry['concurrent_writers_events_per_s'])}"
            )
        rows.append([label, "-", ours, "-", "-", "-", "reported", "-"])
    return rows


async def _run_all(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from penguiflow.state import StateStoreError

    results: dict[str, Any] = {}
    for backend in args.backends:
        open_fresh, where = _opener(backend, workdir)
        if open_fresh is None:
            print(f"{backend}: skipped - {where}")
            results[backend] = {"skipped": where}
            continue
        try:
            entry = await _bench_backend(open_fresh, args.rounds, args.events, args.warmup)
        except (ImportError, StateStoreError) as exc:
            reason = str(exc).strip().splitlines()[0]
            print(f"{backend}: skipped - {reason}")
            results[backend] = {"skipped": reason}
            continue
        entry["where"] = "sqlite file in a temporary folder" if backend == "sqlite" else backend
        results[backend] = entry
        print(
            f"{backend}: {_rate(entry['single_writer_events_per_s'])} events/s (1 writer), "
            f"{_rate(entry['concurrent_writers_events_per_s'])} events/s ({WRITERS} writers)",
            file=sys.stderr,
        )
    return results


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, write the JSON and return it."""
    args = _parse(argv)
    with tempfile.TemporaryDirectory(prefix="penguiflow-bench-") as tmp:
        results = asyncio.run(_run_all(args, Path(tmp)))
    rows = scorecard_rows(results)
    print()
    print_table(["benchmark", "floor", "ours", "ratio", "2.7.3", "ratio", "target", ""], rows)
    result = {
        "benchmark": "state_store_writes",
        "environment": environment(),
        "parameters": {
            "rounds": args.rounds,
            "events": args.events,
            "warmup": args.warmup,
            "writers": WRITERS,
            "backends": args.backends,
        },
        "results": results,
        "scorecard_rows": rows,
    }
    if not args.no_write:
        write_results("state_store_writes", result, args.out_dir)
    return result


def main() -> None:
    """Command-line entry point."""
    run()


if __name__ == "__main__":
    main()
