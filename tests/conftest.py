"""Fixtures for tests that talk to the real services of the machine (PostgreSQL, Redis, NATS).

A service that is unreachable makes its tests skip with the reason, on a
developer laptop; under ``PENGUIFLOW_REQUIRE_SERVICES=1`` (set by ``.ci/run``)
the same situation fails the test instead, so CI can never pass by skipping.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import pytest

SERVICES = {
    "postgres": ("PENGUIFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    "redis": ("PENGUIFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "nats": ("PENGUIFLOW_TEST_NATS_URL", "nats://127.0.0.1:4222"),
}


DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "redis": 6379, "nats": 4222}


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


class CuttableProxy:
    """A TCP forwarder to a real server that a test can cut and restore (fault injection)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._url = url
        self._target = (parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORTS[parts.scheme])
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.connections = 0

    @property
    def url(self) -> str:
        """The server's URL (credentials, database, query kept) routed through this proxy."""
        parts = urlsplit(self._url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self.port}" if auth else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    async def start(self) -> None:
        """Listen (again): on a fresh port the first time, on the same port after a cut."""
        assert self._server is None, "the proxy is already listening"
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    restore = start

    async def cut(self) -> None:
        """Stop listening and abort every forwarded connection."""
        assert self._server is not None, "the proxy is not listening"
        server, self._server = self._server, None
        server.close()
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        await server.wait_closed()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        """Cut if still listening (teardown)."""
        if self._server is not None:
            await self.cut()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers += [writer, up_writer]
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.transport.abort()


@pytest.fixture
async def tcp_proxy() -> AsyncIterator[Callable[[str], Awaitable[CuttableProxy]]]:
    """``await tcp_proxy(url)``: a started proxy to that server, stopped at teardown.

    Connect through ``proxy.url``; ``await proxy.cut()`` drops every connection
    and refuses new ones, ``await proxy.restore()`` listens again on the same port.
    """
    proxies: list[CuttableProxy] = []

    async def make(url: str) -> CuttableProxy:
        proxy = CuttableProxy(url)
        await proxy.start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        await proxy.stop()


class SilentServer:
    """A loopback TCP server that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0
        self.connections = 0

    async def start(self) -> None:
        """Listen on a fresh port."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and abort the connections still open."""
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.transport.abort()
            await asyncio.wait_for(self._server.wait_closed(), 5.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while await reader.read(65536):  # swallow what the client sends, until it hangs up
                pass
        except OSError:
            pass
        finally:
            writer.transport.abort()


@pytest.fixture
async def silent_server() -> AsyncIterator[SilentServer]:
    """A started `SilentServer` (``.port``, ``.connections``), stopped at teardown."""
    server = SilentServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def unaccepting_port() -> AsyncIterator[int]:
    """A loopback port whose listen backlog is full, so a new TCP connect gets no answer.

    Skips where the kernel completes connections past the backlog anyway.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            fillers.append(filler)
            filler.connect_ex(("127.0.0.1", port))  # in progress; never completes past the first
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 0.3)
        except TimeoutError:
            yield port
        else:
            writer.transport.abort()
            pytest.skip("this kernel completes TCP connections past a full listen backlog")
    finally:
        for sock in (*fillers, listener):
            sock.close()
