"""open_bus(url): scheme routing, lazy driver imports and error messages."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from penguiflow.bus import SUPPORTED_BUS_SCHEMES, InMemoryBus, MessageBus, open_bus


def test_supported_schemes() -> None:
    assert SUPPORTED_BUS_SCHEMES == ("memory", "redis", "rediss", "nats", "tls")


async def test_memory_url_and_options() -> None:
    bus = await open_bus("memory://", maxlen=7)
    assert isinstance(bus, InMemoryBus)
    assert bus.maxlen == 7
    await bus.close()


async def test_redis_url(redis_url: str) -> None:
    from penguiflow.bus.redis_streams import RedisStreamsBus

    bus = await open_bus(redis_url, prefix=f"pf-test-{uuid.uuid4().hex[:12]}", maxlen=50)
    try:
        assert isinstance(bus, RedisStreamsBus)
        assert isinstance(bus, MessageBus)
    finally:
        await bus.destroy()


async def test_nats_url(nats_url: str) -> None:
    from penguiflow.bus.nats import NatsJetStreamBus

    bus = await open_bus(nats_url, stream_prefix=f"pftest{uuid.uuid4().hex[:12]}")
    try:
        assert isinstance(bus, NatsJetStreamBus)
        assert isinstance(bus, MessageBus)
    finally:
        await bus.destroy()


@pytest.mark.parametrize(
    ("url", "owner", "valid", "hint"),
    [
        ("memory://", "InMemoryBus.open", "maxlen", ""),
        (
            "redis://127.0.0.1:1/0",
            "RedisStreamsBus.open",
            "block_ms, command_timeout, connect_timeout, max_connections, maxlen, prefix, "
            "read_count, reconnect_timeout_s",
            "connect_timeout",
        ),
        (
            "nats://127.0.0.1:1",
            "NatsJetStreamBus.open",
            "connect_timeout, ephemeral_ttl_s, fetch_batch, max_age_s, max_msgs, "
            "max_reconnect_attempts, request_timeout, stream_prefix",
            "request_timeout",
        ),
    ],
)
async def test_an_unknown_option_is_refused_before_any_io_naming_the_valid_ones(
    url: str, owner: str, valid: str, hint: str
) -> None:
    scheme = url.partition("://")[0]
    with pytest.raises(TypeError) as caught:
        await open_bus(url, timeout=3)
    expected = (
        f"open_bus() got an unknown option 'timeout' for {scheme}:// ({owner}); "
        f"valid options: {valid}"
    )
    if hint:
        expected += f"; did you mean '{hint}' for 'timeout'?"
    assert str(caught.value) == expected


async def test_unknown_scheme_lists_every_scheme_and_its_extra() -> None:
    with pytest.raises(ValueError, match="unknown message bus scheme 'kafka://'") as caught:
        await open_bus("kafka://localhost:9092")
    message = str(caught.value)
    for scheme in SUPPORTED_BUS_SCHEMES:
        assert f"  {scheme}://" in message
    for extra in ("redis", "nats"):
        assert f'pip install "penguiflow-core[{extra}]"' in message
    assert "memory:// (e.g. memory://; built in)" in message


@pytest.mark.parametrize("url", ["memory", "://nothing", "", "localhost:6379"])
async def test_a_string_that_is_no_url_is_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="not a message bus URL"):
        await open_bus(url)


async def test_a_non_string_is_rejected() -> None:
    with pytest.raises(TypeError, match="takes a URL string, got PosixPath"):
        await open_bus(Path("bus"))  # type: ignore[arg-type]


async def test_backend_validation_errors_surface_unchanged() -> None:
    with pytest.raises(ValueError, match="'memory://' only"):
        await open_bus("memory://somewhere")
    with pytest.raises(ValueError, match="invalid Redis key prefix"):
        await open_bus("redis://127.0.0.1:1/0", prefix="no:colons")


@pytest.mark.parametrize(
    ("url", "driver", "extra"),
    [("redis://127.0.0.1:1/0", "redis", "redis"), ("nats://127.0.0.1:1", "nats", "nats")],
)
def test_a_missing_driver_names_the_extra_to_install(url: str, driver: str, extra: str) -> None:
    # A fresh interpreter in which the driver cannot be imported (a None entry
    # makes `import` fail). In this process the backend's private modules may
    # already be loaded, and they would hide the missing driver.
    code = (
        "import asyncio, sys\n"
        f"sys.modules[{driver!r}] = None\n"
        "from penguiflow.bus import open_bus\n"
        "try:\n"
        f"    asyncio.run(open_bus({url!r}))\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f'pip install "penguiflow-core[{extra}]"' in done.stdout


def test_importing_penguiflow_bus_and_testkit_loads_no_driver() -> None:
    code = (
        "import sys, penguiflow, penguiflow.bus, penguiflow.testkit\n"
        "loaded = [m for m in ('redis', 'nats', 'penguiflow.bus.redis_streams',"
        " 'penguiflow.bus.nats') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
