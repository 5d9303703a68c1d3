"""StateStore records per backend: put / get / list_records calls per second, 1 and 8 writers.

Workload. Each measurement opens a fresh store (``memory://``; ``sqlite://``
on a file in a temporary folder; PostgreSQL in its own schema; Redis under
its own key prefix), warms it up untimed with the same number of
concurrent tasks it then times, and times three phases in turn:

* *put* — ``--records`` records written in all, split over the tasks, each
  task its own keys: a document of about 300 bytes (an A2A task's shape)
  with two indexed fields (``state``, ``context_id``);
* *get* — every record read back once by key, split the same way;
* *list* — ``--lists`` pages of ``list_records(where={"state": "working"},
  order_by="-updated_at", limit=50)``, split the same way, each task
  walking the pages with their tokens (restarting at the first page when
  it reaches the end).

*1 writer* runs one task; *8 writers* runs eight concurrently
(``asyncio.gather``). Before the store is destroyed, every record is listed
through the page tokens and counted, so a backend that loses writes or
pages wrongly cannot post a number. Figures are medians over ``--rounds``;
backends whose server is unreachable (or whose driver is missing) are
skipped with the reason printed. Results go to
``benchmarks/results/state_records.json``.

Usage::

    .venv/bin/python benchmarks/state_records.py [--rounds 3] [--records 1000] [--quick]
    .venv/bin/python benchmarks/state_records.py --backends sqlite,redis
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

__all__ = ["BACKENDS", "OPERATIONS", "WRITERS", "main", "run", "scorecard_rows"]

BACKENDS = ("memory", "sqlite", "postgres", "redis")
OPERATIONS = ("put", "get", "list")
WRITERS = 8
TENANT = "acme"
KIND = "a2a_task"
#: Where the service-backed stores live (the same variables the test fixtures read).
_SERVICES = {
    "postgres": ("PENGUIFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    "redis": ("PENGUIFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
}

Opener = Callable[[], Awaitable[Any]]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per backend")
    parser.add_argument("--records", type=int, default=1000, help="records put and got")
    parser.add_argument("--lists", type=int, default=200, help="list_records pages read")
    parser.add_argument("--warmup", type=int, default=40, help="untimed puts first")
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help=f"comma-separated subset of {BACKENDS}"
    )
    parser.add_argument("--quick", action="store_true", help="1 round of 200 records, no JSON")
    add_output_flags(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.records, args.lists, args.warmup, args.no_write = 1, 200, 40, 16, True
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backends {unknown}; choose from {list(BACKENDS)}")
    if min(args.records, args.lists) < WRITERS or args.rounds < 1:
        parser.error(f"--records and --lists must be >= {WRITERS}, --rounds >= 1")
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
    counter = iter(range(1_000_000))
    if backend == "memory":
        return (lambda: open_store("memory://")), "memory://"
    if backend == "sqlite":
        return (
            lambda: open_store(f"sqlite:///{workdir / f'records-{next(counter)}.db'}")
        ), "sqlite file in a temporary folder"
    variable, default = _SERVICES[backend]
    url = os.environ.get(variable, default)
    if not _reachable(url):
        # The reason ends up in the results JSON: name the variable, not a URL with credentials.
        return None, f"{backend} is not reachable at ${variable} (default {default})"
    if backend == "postgres":
        return (lambda: open_store(url, schema=f"bench_rec_{tag}_{next(counter)}")), url
    return (lambda: open_store(url, prefix=f"bench-rec-{tag}-{next(counter)}")), url


def _document(key: str) -> dict[str, Any]:
    return {
        "id": key,
        "context_id": f"ctx-{key[-1]}",
        "status": {"state": "working", "timestamp": "2026-12-08T04:00:00Z"},
        "history": [{"role": "user", "parts": [{"text": "summarise the quarterly report"}]}],
        "metadata": {"trace_id": f"trace-{key}", "skill": "summarize"},
    }


async def _put(store: Any, keys: list[str]) -> None:
    for key in keys:
        indexed = {"state": "working", "context_id": f"ctx-{key[-1]}"}
        await store.put_record(KIND, key, _document(key), tenant=TENANT, indexed=indexed)


async def _get(store: Any, keys: list[str]) -> None:
    for key in keys:
        if await store.get_record(KIND, key, tenant=TENANT) is None:
            raise AssertionError(f"record {key!r} was put but reads back as None")


async def _list(store: Any, pages: int) -> None:
    token = None
    for _ in range(pages):
        page = await store.list_records(
            KIND,
            tenant=TENANT,
            where={"state": "working"},
            order_by="-updated_at",
            limit=50,
            page_token=token,
        )
        token = page.next_page_token


async def _count(store: Any) -> int:
    total, token = 0, None
    while True:
        page = await store.list_records(KIND, tenant=TENANT, limit=500, page_token=token)
        total += len(page.records)
        if page.next_page_token is None:
            return total
        token = page.next_page_token


async def _timed(tasks: list[Awaitable[None]]) -> float:
    start = time.perf_counter()
    await asyncio.gather(*tasks)
    return time.perf_counter() - start


async def _measure(
    open_fresh: Opener, writers: int, records: int, lists: int, warmup: int
) -> dict[str, float]:
    """Operations per second of each phase for ``writers`` concurrent tasks."""
    store = await open_fresh()
    try:
        warm = [[f"warm-{w}-{i}" for i in range(max(1, warmup // writers))] for w in range(writers)]
        await asyncio.gather(*(_put(store, keys) for keys in warm))
        per_writer = records // writers
        keys = [[f"rec-{w}-{i:05d}" for i in range(per_writer)] for w in range(writers)]
        put_s = await _timed([_put(store, batch) for batch in keys])
        get_s = await _timed([_get(store, batch) for batch in keys])
        pages = lists // writers
        list_s = await _timed([_list(store, pages) for _ in range(writers)])
        expected = per_writer * writers + sum(len(batch) for batch in warm)
        found = await _count(store)
        if found != expected:
            raise AssertionError(f"{found} records listed, {expected} written")
    finally:
        destroy = getattr(store, "destroy", None)
        if destroy is not None:
            await destroy()
        await store.close()
    done = per_writer * writers
    return {"put": done / put_s, "get": done / get_s, "list": pages * writers / list_s}


async def _bench_backend(open_fresh: Opener, args: argparse.Namespace) -> dict[str, Any]:
    rounds: dict[str, dict[str, list[float]]] = {
        label: {op: [] for op in OPERATIONS} for label in ("single", "concurrent")
    }
    for _ in range(args.rounds):
        for label, writers in (("single", 1), ("concurrent", WRITERS)):
            rates = await _measure(open_fresh, writers, args.records, args.lists, args.warmup)
            for op in OPERATIONS:
                rounds[label][op].append(rates[op])
    entry: dict[str, Any] = {
        f"{label}_{op}_per_s": median(values[op])
        for label, values in rounds.items()
        for op in OPERATIONS
    }
    entry["rounds"] = rounds
    return entry


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def scorecard_rows(results: dict[str, Any]) -> list[list[str]]:
    """One 8-cell row per backend (benchmark, floor, ours, ratio, 2.7.3, ratio, target, status)."""
    rows = []
    for backend, entry in results.items():
        label = f"StateStore records, {backend} (put / get / list per s, 1 ; {WRITERS} writers)"
        if "skipped" in entry:
            ours = "skipped"
        else:
            ours = " ; ".join(
                " / ".join(_rate(entry[f"{label}_{op}_per_s"]) for op in OPERATIONS)
                for label in ("single", "concurrent")
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
            entry = await _bench_backend(open_fresh, args)
        except (ImportError, StateStoreError) as exc:
            reason = str(exc).strip().splitlines()[0]
            print(f"{backend}: skipped - {reason}")
            results[backend] = {"skipped": reason}
            continue
        entry["where"] = "sqlite file in a temporary folder" if backend == "sqlite" else backend
        results[backend] = entry
        print(f"{backend}: {scorecard_rows({backend: entry})[0][2]}", file=sys.stderr)
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
        "benchmark": "state_records",
        "environment": environment(),
        "parameters": {
            "rounds": args.rounds,
            "records": args.records,
            "lists": args.lists,
            "warmup": args.warmup,
            "writers": WRITERS,
            "backends": args.backends,
        },
        "results": results,
        "scorecard_rows": rows,
    }
    if not args.no_write:
        write_results("state_records", result, args.out_dir)
    return result


def main() -> None:
    """Command-line entry point."""
    run()


if __name__ == "__main__":
    main()
