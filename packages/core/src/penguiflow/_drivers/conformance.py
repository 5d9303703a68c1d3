"""The runner machinery shared by the StateStore and MessageBus conformance suites.

`ConformanceSuite` discovers ``case_*`` methods, runs one case under a
timeout, runs them all into a report, and opens the resource under test
through the suite's factory. The public suites
(`penguiflow.state.conformance.StateStoreConformance` and
`penguiflow.bus.conformance.BusConformance`) subclass it and add their
cases. Nothing here imports pytest or any driver.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Generic, Protocol, TypeVar

__all__ = ["UNICODE_SAMPLES", "ConformanceSuite", "check", "same"]

_CASE_PREFIX = "case_"

# Text that trips up encodings, collations and byte/char confusion; NUL-free
# because PostgreSQL text cannot hold U+0000.
UNICODE_SAMPLES = (
    "penguin 🐧 rocket 🚀 family 👩\u200d👩\u200d👧",
    "مرحبا بالعالم",  # Arabic, right-to-left
    "שלום עולם",  # Hebrew, right-to-left
    "日本語のテキスト, 中文, 한국어",
    "e\u0301 vs \u00e9, \u200b zero width, \u202e reversed \u202c",
    "quotes \" ' \\ backslash\nnewline\ttab",
    "\U0001d518\U0001d52b\U0001d526 astral plane \U0001f600 \U0010fffd",
)
"""Sample strings the unicode cases round-trip."""


class _Closable(Protocol):
    async def close(self) -> None: ...


ResourceT = TypeVar("ResourceT", bound=_Closable)
ReportT = TypeVar("ReportT")


def check(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds.

    Not `assert`: the suites must keep checking under `python -O`.

    Raises:
        AssertionError: ``condition`` is false.
    """
    if not condition:
        raise AssertionError(message)


def same(actual: object, expected: object, what: str) -> None:
    """Fail unless ``actual == expected``, naming ``what`` and both values.

    Raises:
        AssertionError: The values differ.
    """
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r:.300}, got {actual!r:.300}")


class ConformanceSuite(Generic[ResourceT, ReportT]):
    """Base class of a conformance suite: case discovery, running and reporting.

    Subclasses set `_resource_type`, `_resource_phrase`, `_report_type` and
    `_skipped_type`, add ``case_*`` coroutine methods and may override
    `_opt_out` to skip cases a backend declared it cannot meet.

    Args:
        factory: Zero-argument coroutine function returning an open resource
            under test.
        timeout_s: Upper bound for one case.
        durations: Further ``(name, value)`` durations to check for
            positivity, before ``timeout_s``.

    Raises:
        TypeError: ``factory`` is not callable.
        ValueError: A duration is not positive.
    """

    _resource_type: type[ResourceT]
    _resource_phrase: str  # completes "the factory returned X, which is ..."
    _report_type: Callable[..., ReportT]
    _skipped_type: type[Exception]

    def __init__(
        self,
        factory: Callable[[], Awaitable[ResourceT]],
        *,
        timeout_s: float,
        durations: tuple[tuple[str, float], ...] = (),
    ) -> None:
        if not callable(factory):
            raise TypeError(f"factory must be a zero-argument coroutine function, got {factory!r}")
        for name, value in (*durations, ("timeout_s", timeout_s)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        self._factory = factory
        self._timeout_s = timeout_s

    @classmethod
    def cases(cls) -> list[str]:
        """Names of all cases, in a stable order (subclasses may add ``case_*`` methods)."""
        names: dict[str, None] = {}
        for klass in reversed(cls.__mro__):
            for attribute in vars(klass):
                if attribute.startswith(_CASE_PREFIX):
                    names[attribute[len(_CASE_PREFIX) :]] = None
        return list(names)

    def skip_reason(self, case: str) -> str | None:
        """Why ``case`` does not apply to this backend, or ``None`` when it does."""
        self._method(case)
        return self._opt_out(case)

    def _opt_out(self, case: str) -> str | None:
        """The reason a known ``case`` is skipped, or ``None``; subclasses override."""
        return None

    async def run(self, case: str) -> None:
        """Run one case.

        Raises:
            ValueError: No case has that name.
            Exception: The suite's skipped exception, when the backend opted
                out of ``case`` (see `skip_reason`).
            AssertionError: The resource broke the contract (the message says how).
            TimeoutError: The case took longer than ``timeout_s``.
        """
        method = self._method(case)
        reason = self.skip_reason(case)
        if reason is not None:
            raise self._skipped_type(f"{case}: {reason}")
        try:
            async with asyncio.timeout(self._timeout_s):
                await method()
        except AssertionError as exc:
            raise AssertionError(f"conformance case {case!r} failed: {exc}") from exc
        except TimeoutError as exc:
            raise TimeoutError(
                f"conformance case {case!r} did not finish within {self._timeout_s} s"
            ) from exc

    async def run_all(self) -> ReportT:
        """Run every case that applies, then report.

        Raises:
            AssertionError: One or more cases failed; the message lists each
                failure, and the first one is chained as the cause.
        """
        passed: list[str] = []
        skipped: dict[str, str] = {}
        failures: list[tuple[str, Exception]] = []
        for case in self.cases():
            reason = self.skip_reason(case)
            if reason is not None:
                skipped[case] = reason
                continue
            try:
                await self.run(case)
            except Exception as exc:  # one broken case must not hide the others
                failures.append((case, exc))
            else:
                passed.append(case)
        if failures:
            lines = "\n".join(f"  {case}: {type(exc).__name__}: {exc}" for case, exc in failures)
            total = len(passed) + len(failures)
            raise AssertionError(
                f"{len(failures)} of {total} conformance cases failed:\n{lines}"
            ) from failures[0][1]
        return self._report_type(passed=tuple(passed), skipped=skipped)

    def _method(self, case: str) -> Callable[[], Awaitable[None]]:
        if case not in self.cases():
            raise ValueError(f"unknown conformance case {case!r}; known: {', '.join(self.cases())}")
        method: Callable[[], Awaitable[None]] = getattr(self, _CASE_PREFIX + case)
        return method

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[ResourceT]:
        """Open a resource through the factory, check its type, and close it afterwards."""
        resource = await self._factory()
        check(
            isinstance(resource, self._resource_type),
            f"the factory returned {resource!r}, which is {self._resource_phrase}",
        )
        try:
            yield resource
        finally:
            await resource.close()
