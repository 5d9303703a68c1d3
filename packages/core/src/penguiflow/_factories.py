"""Load a ``module:factory`` given on a command line and call it (sync or async)."""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from typing import Any

from penguiflow.errors import PenguiFlowError

__all__ = ["FactoryError", "call_factory", "is_factory_spec"]

_SPEC = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


class FactoryError(PenguiFlowError):
    """The factory could not be imported or called (the message says which and why)."""


def is_factory_spec(spec: str) -> bool:
    """Whether ``spec`` looks like ``package.module:attribute``."""
    return _SPEC.fullmatch(spec) is not None


async def call_factory(spec: str, what: str) -> Any:
    """Import ``spec`` (``module:attribute``), call it without arguments and return the result.

    Awaits the result when the factory is async. ``what`` describes the
    expected result for error messages ("a StateStore", "a PenguiFlow").

    Raises:
        FactoryError: Not importable, no such attribute, not callable, or the call raised.
    """
    module_name, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        # A console script does not see the working directory; `python -m` does. Match it.
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise FactoryError(f"cannot import module {module_name!r} (from {spec!r}): {exc}") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise FactoryError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not callable(target):
        raise FactoryError(f"{spec} is not callable; it must be a factory returning {what}")
    try:
        result = target()
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        raise FactoryError(f"{spec}() failed: {type(exc).__name__}: {exc}") from None
    return result
