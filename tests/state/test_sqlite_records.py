"""Records on SQLite across processes: compare-and-set and take decided once per record."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path

from penguiflow.state.sqlite import SQLiteStateStore

_ROUNDS = 150

_CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from penguiflow.state import RecordConflict
    from penguiflow.state.sqlite import SQLiteStateStore

    async def main(url, rounds):
        async with await SQLiteStateStore.open(url, busy_timeout=30.0) as store:
            print("ready", flush=True)
            sys.stdin.readline()  # the parent starts every child at once
            created, taken, cas = [], [], []
            for i in range(rounds):
                try:
                    await store.put_record("race", f"new-{i}", {}, tenant="t", expected_version=0)
                    created.append(i)
                except RecordConflict:
                    pass
                try:
                    await store.put_record(
                        "race", "counter", {}, tenant="t", expected_version=i + 1
                    )
                    cas.append(i)
                except RecordConflict:
                    pass
                if await store.take_record("race", f"take-{i}", tenant="t") is not None:
                    taken.append(i)
            print(json.dumps({"created": created, "taken": taken, "cas": cas}), flush=True)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def _child(url: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        url,
        str(_ROUNDS),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
    if line != b"ready\n":
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        raise AssertionError(f"child did not start: {line!r} {stderr.decode()}")
    return process


async def _result(process: asyncio.subprocess.Process) -> dict[str, list[int]]:
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    result: dict[str, list[int]] = json.loads(stdout.decode().splitlines()[-1])
    return result


async def test_two_processes_decide_every_cas_and_take_exactly_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    async with await SQLiteStateStore.open(url) as store:
        await store.put_record("race", "counter", {}, tenant="t")
        for i in range(_ROUNDS):
            await store.put_record("race", f"take-{i}", {"i": i}, tenant="t")
    first, second = await _child(url), await _child(url)
    for process in (first, second):
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        await process.stdin.drain()
    one, two = await _result(first), await _result(second)
    for name in ("created", "taken"):
        assert set(one[name]).isdisjoint(two[name]), name
        assert sorted(one[name] + two[name]) == list(range(_ROUNDS)), name
    # Each CAS on "counter" expects the version one round further; a version is won once.
    assert set(one["cas"]).isdisjoint(two["cas"])
    async with await SQLiteStateStore.open(url) as store:
        counter = await store.get_record("race", "counter", tenant="t")
        assert counter is not None
        assert counter.version == 1 + len(one["cas"]) + len(two["cas"])
        page = await store.list_records("race", tenant="t", order_by="key", limit=1000)
        assert not [r.key for r in page.records if r.key.startswith("take-")]
