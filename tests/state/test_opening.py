"""open_store(url): scheme routing, lazy driver imports and error messages."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from penguiflow.state import (
    SUPPORTED_SCHEMES,
    InMemoryStateStore,
    StateStore,
    StateStoreError,
    open_store,
)


def test_supported_schemes() -> None:
    assert SUPPORTED_SCHEMES == ("memory", "sqlite", "postgresql", "postgres", "redis", "rediss")


async def test_memory_url() -> None:
    store = await open_store("memory://")
    assert isinstance(store, InMemoryStateStore)
    await store.close()


async def test_sqlite_url_and_options_are_passed_on(tmp_path: Path) -> None:
    from penguiflow.state.sqlite import SQLiteStateStore

    url = f"sqlite:///{tmp_path / 'state.db'}"
    with pytest.raises(StateStoreError, match="does not exist"):
        await open_store(url, create=False)
    store = await open_store(url, busy_timeout=1.0)
    try:
        assert isinstance(store, SQLiteStateStore)
        assert isinstance(store, StateStore)
    finally:
        await store.close()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_postgres_urls(postgres_url: str, scheme: str) -> None:
    from penguiflow.state.postgres import PostgresStateStore

    url = scheme + "://" + postgres_url.split("://", 1)[1]
    store = await open_store(url, schema=f"pf_test_{uuid.uuid4().hex[:12]}")
    try:
        assert isinstance(store, PostgresStateStore)
    finally:
        await store.destroy()


async def test_redis_url(redis_url: str) -> None:
    from penguiflow.state.redis import RedisStateStore

    store = await open_store(redis_url, prefix=f"pf-test-{uuid.uuid4().hex[:12]}")
    try:
        assert isinstance(store, RedisStateStore)
    finally:
        await store.destroy()


async def test_create_false_reaches_every_backend(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    unique = uuid.uuid4().hex[:12]
    missing = {
        "memory://": ({}, "memory:// never holds an existing state store"),
        f"sqlite:///{tmp_path / 'missing.db'}": ({}, "the file does not exist"),
        postgres_url: ({"schema": f"pf_test_{unique}"}, "holds no penguiflow state store"),
        redis_url: ({"prefix": f"pf-test-{unique}"}, "holds no penguiflow state store"),
    }
    persistent = list(missing.items())[1:]
    try:
        for url, (options, message) in missing.items():
            with pytest.raises(StateStoreError, match=message):
                await open_store(url, create=False, **options)
        for url, (options, _) in persistent:
            await (await open_store(url, **options)).close()  # create=True is the default
            await (await open_store(url, create=False, **options)).close()
    finally:
        for url, (options, _) in persistent:
            await (await open_store(url, **options)).destroy()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "owner", "valid", "hint"),
    [
        ("memory://", "InMemoryStateStore.open", "create", ""),
        ("sqlite:///never-created.db", "SQLiteStateStore.open", "busy_timeout, create", "busy"),
        (
            "postgresql://127.0.0.1:1/db",
            "PostgresStateStore.open",
            "command_timeout, connect_timeout, create, max_size, min_size, schema",
            "connect",
        ),
        (
            "redis://127.0.0.1:1/0",
            "RedisStateStore.open",
            "command_timeout, connect_timeout, create, max_connections, prefix",
            "connect",
        ),
    ],
)
async def test_an_unknown_option_is_refused_before_any_io_naming_the_valid_ones(
    url: str, owner: str, valid: str, hint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the relative SQLite path, should it be created
    scheme = url.partition("://")[0]
    with pytest.raises(TypeError) as caught:
        await open_store(url, timeout=3)
    expected = (
        f"open_store() got an unknown option 'timeout' for {scheme}:// ({owner}); "
        f"valid options: {valid}"
    )
    if hint:
        expected += f"; did you mean '{hint}_timeout' for 'timeout'?"
    assert str(caught.value) == expected
    assert not (tmp_path / "never-created.db").exists()


async def test_every_unknown_option_is_named() -> None:
    with pytest.raises(TypeError, match=r"unknown options 'colour', 'shema' for postgresql://"):
        await open_store("postgresql://127.0.0.1:1/db", shema="x", colour=1, schema="ok")


async def test_unknown_scheme_lists_every_scheme_and_its_extra() -> None:
    with pytest.raises(ValueError, match="unknown state store scheme 'mongodb://'") as caught:
        await open_store("mongodb://localhost/db")
    message = str(caught.value)
    for scheme in SUPPORTED_SCHEMES:
        assert f"  {scheme}://" in message
    for extra in ("sqlite", "postgres", "redis"):
        assert f'pip install "penguiflow-core[{extra}]"' in message


@pytest.mark.parametrize("url", ["state.db", "://nothing", "", "/abs/state.db"])
async def test_a_string_that_is_no_url_is_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="not a state store URL"):
        await open_store(url)


async def test_a_non_string_is_rejected() -> None:
    with pytest.raises(TypeError, match="takes a URL string, got PosixPath"):
        await open_store(Path("state.db"))  # type: ignore[arg-type]


async def test_backend_validation_errors_surface_unchanged() -> None:
    with pytest.raises(ValueError, match="'memory://' only"):
        await open_store("memory://somewhere")


@pytest.mark.parametrize(
    ("url", "driver", "extra"),
    [
        ("sqlite:///x.db", "aiosqlite", "sqlite"),
        ("postgresql://127.0.0.1:1/db", "asyncpg", "postgres"),
        ("redis://127.0.0.1:1/0", "redis", "redis"),
    ],
)
async def test_a_missing_driver_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, url: str, driver: str, extra: str
) -> None:
    # Simulate the driver not being installed: a None entry makes `import` fail.
    monkeypatch.setitem(sys.modules, driver, None)
    for name in list(sys.modules):
        if name.startswith("penguiflow.state.") and name.rsplit(".", 1)[1] in {
            "sqlite",
            "postgres",
            "redis",
        }:
            monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=rf'pip install "penguiflow-core\[{extra}\]"'):
        await open_store(url)


def test_importing_penguiflow_state_and_testkit_loads_no_driver() -> None:
    code = (
        "import sys, penguiflow, penguiflow.state, penguiflow.testkit\n"
        "loaded = [m for m in ('aiosqlite', 'asyncpg', 'redis', 'penguiflow.state.sqlite',"
        " 'penguiflow.state.postgres', 'penguiflow.state.redis') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
