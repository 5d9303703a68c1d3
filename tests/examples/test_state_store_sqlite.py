"""examples/state_store_sqlite: one process writes a trace's history, a second one reads it back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from penguiflow.state import open_store

MAIN = Path(__file__).resolve().parents[2] / "examples" / "state_store_sqlite" / "main.py"

EXPECTED = [
    "node_start    fetch      attempt 1",
    "node_error    fetch      attempt 1  (ConnectionError: document service unavailable)",
    "node_retry    fetch      attempt 2  (ConnectionError: document service unavailable)",
    "node_start    fetch      attempt 2",
    "node_success  fetch      attempt 2",
    "node_start    summarize  attempt 1",
    "node_success  summarize  attempt 1",
]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MAIN), *args], capture_output=True, text=True, timeout=60, check=False
    )


async def test_history_survives_the_writing_process(tmp_path: Path) -> None:
    db = tmp_path / "flows.db"

    written = _run("write", str(db))
    assert written.returncode == 0, written.stderr
    assert written.stderr == ""
    first, answer, saved = written.stdout.splitlines()
    assert first.startswith("trace ")
    trace_id = first.split()[1]
    assert answer == "answer: summary of document about emperor penguins"
    assert saved == f"saved {len(EXPECTED)} events to {db}"
    assert db.is_file()

    # A second, fresh process reads the file back.
    read = _run("read", str(db), trace_id)
    assert read.returncode == 0, read.stderr
    header, *lines = read.stdout.splitlines()
    assert header == f"{len(EXPECTED)} events for trace {trace_id} (tenant acme):"
    assert [line.strip() for line in lines] == EXPECTED

    # And so does this process: the rows are intact, attributed and tenant-scoped.
    store = await open_store(f"sqlite:///{db}")
    try:
        history = await store.load_history(trace_id)
        assert [e.kind for e in history] == [line.split()[0] for line in EXPECTED]
        assert {e.trace_id for e in history} == {trace_id}
        assert {e.tenant for e in history} == {"acme"}
        assert len({e.event_id for e in history}) == len(EXPECTED)
        assert [e.ts for e in history] == sorted(e.ts for e in history)
        assert await store.load_history(trace_id, tenant="someone-else") == []
    finally:
        await store.close()


def test_reading_an_unknown_trace_fails(tmp_path: Path) -> None:
    db = tmp_path / "flows.db"
    assert _run("write", str(db)).returncode == 0
    read = _run("read", str(db), "no-such-trace")
    assert read.returncode == 1
    assert read.stdout == "0 events for trace no-such-trace (tenant acme):\n"


def test_without_arguments_it_runs_both_steps_as_two_processes() -> None:
    done = _run()
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    trace_id = lines[0].split()[1]
    assert lines[3] == f"{len(EXPECTED)} events for trace {trace_id} (tenant acme):"
    assert [line.strip() for line in lines[4:]] == EXPECTED


def test_bad_arguments_print_usage() -> None:
    done = _run("write")
    assert done.returncode == 2
    assert done.stderr == "usage: main.py [write DB | read DB TRACE_ID]\n"
