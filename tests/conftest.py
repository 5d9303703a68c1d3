"""Fixtures for tests that talk to the real services of the machine (PostgreSQL, Redis, NATS).

A service that is unreachable makes its tests skip with the reason, on a
developer laptop; under ``PENGUIFLOW_REQUIRE_SERVICES=1`` (set by ``.ci/run``)
the same situation fails the test instead, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import socket

import pytest

SERVICES = {
    "postgres": ("PENGUIFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    "redis": ("PENGUIFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "nats": ("PENGUIFLOW_TEST_NATS_URL", "nats://127.0.0.1:4222"),
}


def _reachable(url: str) -> bool:
    rest = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = rest.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1.0):
            return True
    except OSError:
        return False


def _service_url(name: str) -> str:
    variable, default = SERVICES[name]
    url = os.environ.get(variable, default)
    if not _reachable(url):
        reason = f"{name} is not reachable at {url} (set {variable} to point elsewhere)"
        if os.environ.get("PENGUIFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}; PENGUIFLOW_REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip(reason)
    return url


@pytest.fixture
def postgres_url() -> str:
    """URL of the real PostgreSQL test database (skip or fail when unreachable)."""
    return _service_url("postgres")


@pytest.fixture
def redis_url() -> str:
    """URL of the real Redis server (skip or fail when unreachable)."""
    return _service_url("redis")


@pytest.fixture
def nats_url() -> str:
    """URL of the real NATS server with JetStream (skip or fail when unreachable)."""
    return _service_url("nats")
