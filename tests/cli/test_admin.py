"""penguiflow.cli.admin: `penguiflow-admin history|replay`, run in a subprocess on real stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from penguiflow import Context, FlowError, Headers, Message, Node, NodePolicy, create
from penguiflow.cli.admin import render_history, replay
from penguiflow.state import StateStore, StoredEvent, open_store

UNREACHABLE_POSTGRES = "postgresql://postgres@127.0.0.1:1/test"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def admin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m penguiflow.admin ARGS`` in a fresh interpreter."""
    full_env = {k: v for k, v in os.environ.items() if k != "PENGUIFLOW_STATE_STORE"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "penguiflow.admin", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=full_env,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int, *parts: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("penguiflow-admin: error: ")
    for part in parts:
        assert part in done.stderr, (part, done.stderr)


# -- a SQLite file filled by a real flow run ------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowRun:
    url: str
    path: Path
    ok_trace: str
    failed_trace: str
    history: dict[str, list[dict[str, Any]]]


@pytest.fixture
async def flow_db(tmp_path: Path) -> FlowRun:
    """Run ``fetch -> summarize`` for two traces into an SQLite store, then close everything.

    Trace ``ok`` (tenant acme): ``fetch`` fails once and succeeds on its retry.
    Trace ``failed`` (tenant globex): ``summarize`` raises and has no retry left.
    """
    path = tmp_path / "flows.db"
    url = f"sqlite:///{path}"
    calls = 0

    async def fetch(msg: Message, _ctx: Context) -> Message:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("index offline")
        return msg

    async def summarize(msg: Message, _ctx: Context) -> Message:
        if msg.payload == "poison":
            raise ValueError("cannot summarize poison")
        return msg.model_copy(update={"payload": f"summary of {msg.payload}"})

    store = await open_store(url)
    try:
        retry = NodePolicy(validate="none", max_retries=1, backoff_base=0.0)
        flow = create(
            Node(fetch, name="fetch", policy=retry).to(
                Node(summarize, name="summarize", policy=NodePolicy(validate="none"))
            ),
            state_store=store,
            emit_errors_to_rookery=True,
        )
        flow.run()
        try:
            ok = Message(payload="penguins", headers=Headers(tenant="acme"))
            await flow.emit(ok)
            assert (await flow.fetch()).payload == "summary of penguins"
            failed = Message(payload="poison", headers=Headers(tenant="globex"))
            await flow.emit(failed)
            assert isinstance(await flow.fetch(), FlowError)
            history = {
                trace: [e.to_dict() for e in await flow.load_history(trace)]
                for trace in (ok.trace_id, failed.trace_id)
            }
        finally:
            await flow.stop()
    finally:
        await store.close()
    return FlowRun(url, path, ok.trace_id, failed.trace_id, history)


def _table_rows(stdout: str) -> list[list[str]]:
    lines = stdout.splitlines()
    assert lines[0].split() == [
        "TIME",
        "(UTC)",
        "KIND",
        "NODE",
        "ATTEMPT",
        "LATENCY_MS",
        "TENANT",
        "DETAIL",
    ]
    return [line.split(None, 6) for line in lines[1:-1]]


def test_history_prints_the_flow_run_as_a_table(flow_db: FlowRun) -> None:
    done = admin("history", flow_db.ok_trace, "--state-store", flow_db.url)

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    rows = _table_rows(done.stdout)
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("node_start", "fetch", "1"),
        ("node_error", "fetch", "1"),
        ("node_retry", "fetch", "2"),
        ("node_start", "fetch", "2"),
        ("node_success", "fetch", "2"),
        ("node_start", "summarize", "1"),
        ("node_success", "summarize", "1"),
    ]
    assert [r[1] for r in rows] == [e["kind"] for e in flow_db.history[flow_db.ok_trace]]
    assert {r[5] for r in rows} == {"acme"}
    assert rows[1][6] == "ConnectionError: index offline"
    assert rows[2][6] == "retry in 0.0s after: ConnectionError: index offline"
    assert rows[0][0].endswith("+00:00") and "T" in rows[0][0]
    assert rows[0][4] == "-" and float(rows[4][4]) >= 0
    assert done.stdout.splitlines()[-1] == "7 event(s)"


def test_history_json_is_the_stored_events_one_per_line(flow_db: FlowRun) -> None:
    for trace in (flow_db.ok_trace, flow_db.failed_trace):
        done = admin("history", trace, "--state-store", flow_db.url, "--json")
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        assert lines == flow_db.history[trace]
        assert StoredEvent.from_dict(lines[0]).kind == "node_start"


def test_replay_tells_the_story_of_a_retried_trace(flow_db: FlowRun) -> None:
    done = admin("replay", flow_db.ok_trace, "--state-store", flow_db.url)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"Trace {flow_db.ok_trace} (tenant acme): 7 event(s) from ")
    steps = [line.split(None, 2)[1:] for line in lines[2:9]]
    assert [node for node, _ in steps] == ["fetch"] * 5 + ["summarize"] * 2
    texts = [text for _, text in steps]
    assert texts[0] == "attempt 1 started"
    assert texts[1].startswith("attempt 1 raised after ")
    assert texts[1].endswith(" ms: ConnectionError: index offline")
    assert texts[2] == "will retry (attempt 2) in 0.0s"
    assert texts[4].startswith("attempt 2 succeeded in ")
    assert lines[10] == "Nodes:"
    assert lines[11].split(",")[:3] == ["  fetch      2 attempt(s)", " 1 retry", " succeeded"]
    assert lines[12].split(",")[:2] == ["  summarize  1 attempt(s)", " succeeded"]
    assert lines[-1] == "Outcome: completed - 2 node(s) ran and all succeeded (1 retry)"


def test_replay_json_reports_a_failed_trace(flow_db: FlowRun) -> None:
    done = admin("replay", flow_db.failed_trace, "--state-store", flow_db.url, "--json")

    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    *steps, summary = records
    assert {step["type"] for step in steps} == {"step"}
    assert [step["kind"] for step in steps] == [
        e["kind"] for e in flow_db.history[flow_db.failed_trace]
    ]
    assert summary["type"] == "summary"
    assert summary["trace_id"] == flow_db.failed_trace
    assert summary["tenants"] == ["globex"]
    assert summary["outcome"] == "failed"
    assert summary["explanation"] == (
        "gave up: summarize ([NODE_EXCEPTION] node 'summarize' raised ValueError: "
        "cannot summarize poison (attempt 1 of 1))"
    )
    assert summary["nodes"]["summarize"]["status"] == "failed"
    assert summary["nodes"]["fetch"]["status"] == "succeeded"
    failed_step = next(step for step in steps if step["kind"] == "node_failed")
    assert failed_step["text"].startswith("gave up after 1 attempt(s): [NODE_EXCEPTION]")


def test_tenant_scopes_the_history(flow_db: FlowRun) -> None:
    mine = admin("history", flow_db.ok_trace, "--state-store", flow_db.url, "--tenant", "acme")
    assert mine.returncode == 0, mine.stderr
    assert len(_table_rows(mine.stdout)) == 7

    theirs = admin("history", flow_db.ok_trace, "--state-store", flow_db.url, "--tenant", "globex")
    assert_one_line_error(theirs, 1, f"no events for trace {flow_db.ok_trace!r}", "'globex'")
    replayed = admin("replay", flow_db.ok_trace, "--state-store", flow_db.url, "--tenant", "x")
    assert_one_line_error(replayed, 1, "no events for trace")


def test_the_store_can_come_from_the_environment(flow_db: FlowRun) -> None:
    env = {"PENGUIFLOW_STATE_STORE": flow_db.url}
    done = admin("history", flow_db.ok_trace, "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 7

    # The flag wins over the environment.
    env = {"PENGUIFLOW_STATE_STORE": UNREACHABLE_REDIS}
    done = admin("history", flow_db.ok_trace, "--state-store", flow_db.url, env=env)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def factories(tmp_path: Path, flow_db: FlowRun) -> Iterator[dict[str, str]]:
    """A module ``admin_factories`` importable by the subprocess (via PYTHONPATH)."""
    module = tmp_path / "factories_pkg"
    module.mkdir()
    (module / "admin_factories.py").write_text(
        "import os\n"
        "from penguiflow.state import open_store\n"
        "from penguiflow.state.sqlite import SQLiteStateStore\n\n"
        "def sync_store():\n"
        "    return SQLiteStateStore(os.environ['ADMIN_TEST_DB'], create=False)\n\n"
        "async def async_store():\n"
        "    return await open_store('sqlite:///' + os.environ['ADMIN_TEST_DB'])\n\n"
        "class Stores:\n"
        "    make = staticmethod(sync_store)\n\n"
        "def not_a_store():\n"
        "    return 42\n\n"
        "def broken():\n"
        "    raise RuntimeError('config file missing')\n\n"
        "def needs_path(path):\n"
        "    return SQLiteStateStore(path)\n\n"
        "STORE = SQLiteStateStore(os.environ['ADMIN_TEST_DB'], create=False)\n\n"
        "NOT_CALLABLE = 'x'\n",
        encoding="utf-8",
    )
    yield {"PYTHONPATH": str(module), "ADMIN_TEST_DB": str(flow_db.path)}


@pytest.mark.parametrize(
    "factory",
    [
        "admin_factories:sync_store",
        "admin_factories:async_store",
        "admin_factories:Stores.make",
        "admin_factories:STORE",
    ],
)
def test_module_factory_stores(flow_db: FlowRun, factories: dict[str, str], factory: str) -> None:
    done = admin("history", flow_db.ok_trace, "--state-store", factory, "--json", env=factories)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == flow_db.history[
        flow_db.ok_trace
    ]


def test_factory_modules_are_found_in_the_working_directory(
    flow_db: FlowRun, factories: dict[str, str]
) -> None:
    # `python -P` leaves the working directory off sys.path, like an installed console script.
    done = subprocess.run(
        [sys.executable, "-P", "-m", "penguiflow.admin", "history", flow_db.ok_trace],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=factories["PYTHONPATH"],
        env={
            **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            "ADMIN_TEST_DB": factories["ADMIN_TEST_DB"],
            "PENGUIFLOW_STATE_STORE": "admin_factories:async_store",
        },
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "7 event(s)"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:factory", "cannot import module 'no_such_module_xyz'"),
        ("admin_factories:missing", "module 'admin_factories' has no attribute 'missing'"),
        ("admin_factories:NOT_CALLABLE", "admin_factories:NOT_CALLABLE is str; expected a Stat"),
        ("admin_factories:not_a_store", "admin_factories:not_a_store() returned int; expected a"),
        ("admin_factories:broken", "admin_factories:broken() raised RuntimeError: config"),
        ("admin_factories:needs_path", "admin_factories:needs_path needs arguments (path)"),
        ("admin_factories:SQLiteStateStore", "is the class SQLiteStateStore, not an instance"),
    ],
)
def test_bad_factories_fail_with_one_line(
    factories: dict[str, str], spec: str, message: str
) -> None:
    done = admin("history", "t", "--state-store", spec, env=factories)
    assert_one_line_error(done, 1, message)


# -- PostgreSQL and Redis, filled through the store API -------------------------------


def _events(trace_id: str, tenant: str) -> list[StoredEvent]:
    """A trace whose ``fetch`` node times out twice and gives up, with unicode in the error."""
    base = 1_700_000_000.0

    def event(offset: float, kind: str, attempt: int, **extra: Any) -> StoredEvent:
        payload = {"event": kind, "attempt": attempt, "latency_ms": None, "extra": extra}
        if kind in ("node_success", "node_timeout"):
            payload["latency_ms"] = 50.0
        return StoredEvent(trace_id, base + offset, kind, "fetch", "fetch-1", payload, tenant)

    failure = {"code": "NODE_TIMEOUT", "message": "node 'fetch' timed out — 🐧"}
    return [
        event(0.0, "node_start", 0),
        event(0.05, "node_timeout", 0, error="TimeoutError: 🐧 too slow"),
        event(0.06, "node_retry", 1, delay_s=0.1, error="TimeoutError"),
        event(0.16, "node_start", 1),
        event(0.21, "node_timeout", 1, error="TimeoutError: 🐧 too slow"),
        event(0.22, "node_failed", 1, code="NODE_TIMEOUT", error=failure),
    ]


async def _check_service_store(url: str, options: list[str], store: StateStore) -> None:
    trace_id = f"trace-{uuid.uuid4().hex}"
    events = _events(trace_id, "acme")
    for event in events:
        await store.save_event(event)
    await store.save_event(StoredEvent(trace_id, 0.0, "node_start", "x", tenant="other"))

    done = admin("history", trace_id, "--state-store", url, *options, "--tenant", "acme", "--json")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [e.to_dict() for e in events]

    table = admin("history", trace_id, "--state-store", url, *options, "--tenant", "acme")
    assert table.returncode == 0, table.stderr
    rows = _table_rows(table.stdout)
    assert [r[1] for r in rows] == [e.kind for e in events]
    assert rows[1][6] == "TimeoutError: 🐧 too slow"
    assert rows[-1][6] == "[NODE_TIMEOUT] node 'fetch' timed out — 🐧"

    story = admin("replay", trace_id, "--state-store", url, *options, "--tenant", "acme")
    assert story.returncode == 0, story.stderr
    assert "attempt 2 timed out after 50.00 ms: TimeoutError: 🐧 too slow" in story.stdout
    assert "fetch  2 attempt(s), 1 retry, failed, 100.00 ms in attempts" in story.stdout
    assert story.stdout.splitlines()[-1] == (
        "Outcome: failed - gave up: fetch ([NODE_TIMEOUT] node 'fetch' timed out — 🐧)"
    )

    # Without a tenant both tenants' events show; with another tenant, only its own.
    everything = admin("history", trace_id, "--state-store", url, *options, "--json")
    assert len(everything.stdout.splitlines()) == len(events) + 1
    other = admin("history", trace_id, "--state-store", url, *options, "--tenant", "other")
    assert [r[5] for r in _table_rows(other.stdout)] == ["other"]

    unknown = admin("history", "no-such-trace", "--state-store", url, *options)
    assert_one_line_error(unknown, 1, "no events for trace 'no-such-trace'")


@pytest.fixture
async def postgres_store(postgres_url: str) -> AsyncIterator[tuple[str, StateStore]]:
    schema = f"admin_{uuid.uuid4().hex[:12]}"
    store = await open_store(postgres_url, schema=schema)
    try:
        yield schema, store
    finally:
        await store.destroy()  # type: ignore[attr-defined]


@pytest.fixture
async def redis_store(redis_url: str) -> AsyncIterator[tuple[str, StateStore]]:
    prefix = f"admin-{uuid.uuid4().hex[:12]}"
    store = await open_store(redis_url, prefix=prefix)
    try:
        yield prefix, store
    finally:
        await store.destroy()  # type: ignore[attr-defined]


async def test_history_and_replay_against_postgres(
    postgres_url: str, postgres_store: tuple[str, StateStore]
) -> None:
    schema, store = postgres_store
    await _check_service_store(postgres_url, ["-o", f"schema={schema}"], store)


async def test_history_and_replay_against_redis(
    redis_url: str, redis_store: tuple[str, StateStore]
) -> None:
    prefix, store = redis_store
    await _check_service_store(redis_url, ["--store-option", f"prefix={prefix}"], store)


async def test_a_mistyped_postgres_schema_is_one_line_and_creates_nothing(
    postgres_url: str,
) -> None:
    asyncpg = pytest.importorskip("asyncpg")
    typo = f"admin_typo_{uuid.uuid4().hex[:12]}"
    parts = urlsplit(postgres_url)
    # Trust authentication ignores the password; it is there to be kept out of the message.
    url = urlunsplit(
        parts._replace(netloc=f"{parts.username}:s3cret@{parts.hostname}:{parts.port or 5432}")
    )
    conn = await asyncpg.connect(postgres_url)
    try:
        done = admin("history", "t", "--state-store", url, "-o", f"schema={typo}")
        assert_one_line_error(
            done,
            1,
            f"schema '{typo}' at postgresql://{parts.hostname}:{parts.port or 5432}{parts.path} "
            "holds no penguiflow state store (opened with create=False: no such schema)",
        )
        assert "s3cret" not in done.stderr
        exists = await conn.fetchval(
            "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", typo
        )
        assert exists is False
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{typo}" CASCADE')
        await conn.close()


async def test_a_mistyped_redis_prefix_is_one_line_and_writes_nothing(redis_url: str) -> None:
    aioredis = pytest.importorskip("redis.asyncio")
    typo = f"admin-typo-{uuid.uuid4().hex[:12]}"
    parts = urlsplit(redis_url)
    client = aioredis.Redis.from_url(redis_url)
    try:
        done = admin("replay", "t", "--state-store", redis_url, "-o", f"prefix={typo}")
        assert_one_line_error(
            done,
            1,
            f"prefix '{typo}' at redis://{parts.hostname}:{parts.port or 6379}{parts.path} "
            "holds no penguiflow state store (opened with create=False",
        )
        assert [key async for key in client.scan_iter(match=f"{typo}:*")] == []
    finally:
        keys = [key async for key in client.scan_iter(match=f"{typo}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


# -- bad input: one line on stderr, exit 2 for usage, 1 for runtime failures ----------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ((), 2, "the following arguments are required: COMMAND"),
        (("history",), 2, "the following arguments are required: TRACE_ID"),
        (("nonsense", "t"), 2, "invalid choice: 'nonsense'"),
        (("history", "t"), 2, "no state store given: pass --state-store"),
        (
            ("history", "t", "--state-store", "ftp://host/x"),
            2,
            "unknown state store scheme 'ftp://'",
        ),
        (("history", "t", "--state-store", "not a store"), 2, "must be a URL"),
        (("history", "t", "--state-store", "memory://", "-o", "oops"), 2, "KEY=VALUE"),
        (("history", "t", "--state-store", "memory://", "--timeout", "0"), 2, "--timeout"),
        (("history", "t", "--state-store", "sqlite:///x.db", "-o", "bogus=1"), 2, "bogus"),
        (
            ("history", "t", "--state-store", "sqlite:///x.db", "-o", "timeout=3"),
            2,
            "valid options: busy_timeout, create; did you mean 'busy_timeout' for 'timeout'?",
        ),
        (("history", "t", "--state-store", "sqlite://host/x.db"), 2, "no host part"),
        (("replay", "t", "--state-store", "memory://"), 1, "no events for trace 't'"),
        (("history", "t", "--state-store", UNREACHABLE_POSTGRES), 1, "cannot reach PostgreSQL"),
        (("replay", "t", "--state-store", UNREACHABLE_REDIS), 1, "cannot reach Redis"),
        (
            ("history", "t", "--state-store", "postgresql://bob:s3cret@127.0.0.1:1/test"),
            1,
            "127.0.0.1:1",
        ),
    ],
)
def test_bad_input_gets_one_clear_line(args: tuple[str, ...], code: int, message: str) -> None:
    done = admin(*args)
    assert_one_line_error(done, code, message)
    assert "s3cret" not in done.stderr


def test_unknown_trace_in_a_real_file(flow_db: FlowRun) -> None:
    done = admin("replay", "no-such-trace", "--state-store", flow_db.url)
    assert_one_line_error(done, 1, "no events for trace 'no-such-trace'", str(flow_db.path))


def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    done = admin("history", "t", "--state-store", f"sqlite:///{path}")
    assert_one_line_error(done, 1, "does not exist")
    assert not path.exists()


def test_help_lists_both_commands() -> None:
    done = admin("--help")
    assert done.returncode == 0
    assert "history" in done.stdout and "replay" in done.stdout
    assert "PENGUIFLOW_STATE_STORE" in done.stdout


def test_the_console_script_and_both_module_paths_run_the_same_program() -> None:
    script = Path(sys.executable).parent / "penguiflow-admin"
    for command in (
        [str(script)],
        [sys.executable, "-m", "penguiflow.admin"],
        [sys.executable, "-m", "penguiflow.cli.admin"],
    ):
        done = subprocess.run(
            [*command, "history", "t", "--state-store", "memory://"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert_one_line_error(done, 1, "no events for trace 't' in memory://")


# -- replay logic, in process ---------------------------------------------------------


def _ev(offset: float, kind: str, node: str | None = None, **payload: Any) -> StoredEvent:
    return StoredEvent("t", 100.0 + offset, kind, node, None, payload)


@pytest.mark.parametrize(
    ("events", "outcome"),
    [
        (
            [
                _ev(0, "node_start", "a"),
                _ev(1, "trace_cancel_start"),
                _ev(2, "node_cancelled", "a"),
            ],
            "cancelled",
        ),
        ([_ev(0, "deadline_skip", "a", extra={"late_s": 0.5})], "deadline_expired"),
        (
            [_ev(0, "node_start", "c"), _ev(1, "budget_exhausted", "c", extra={"code": "X"})],
            "budget_exhausted",
        ),
        (
            [_ev(0, "node_start", "a"), _ev(1, "node_success", "a"), _ev(2, "node_start", "b")],
            "incomplete",
        ),
        ([_ev(0, "audit", who="me")], "unknown"),
        (
            [_ev(0, "node_start", "a", attempt=0), _ev(1, "node_success", "a", attempt=0)],
            "completed",
        ),
    ],
)
def test_replay_outcomes(events: list[StoredEvent], outcome: str) -> None:
    assert replay(events)["outcome"] == outcome


def test_replay_sorts_by_time_and_keeps_save_order_for_ties() -> None:
    events = [
        _ev(2, "node_success", "a", attempt=0, latency_ms=1.0),
        _ev(0, "node_start", "a", attempt=0),
        _ev(0, "note", text="same time, saved later"),
    ]
    story = replay(events)
    assert [step["kind"] for step in story["steps"]] == ["node_start", "note", "node_success"]
    assert [step["offset_s"] for step in story["steps"]] == [0.0, 0.0, 2.0]
    assert story["duration_s"] == 2.0
    assert story["nodes"]["a"]["latency_ms"] == 1.0
    assert story["steps"][1]["text"] == 'note: {"text": "same time, saved later"}'


def test_render_history_shows_application_events(capsys: pytest.CaptureFixture[str]) -> None:
    render_history([_ev(0, "audit", who="ünïcode"), _ev(1, "node_start", "a")], sys.stdout)
    out = capsys.readouterr().out.splitlines()
    assert out[1].split(None, 6)[1:] == ["audit", "-", "-", "-", "-", '{"who": "ünïcode"}']
    assert out[2].split()[1:] == ["node_start", "a", "-", "-", "-"]
    assert out[-1] == "2 event(s)"
