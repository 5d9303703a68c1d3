"""The ``timeout=`` argument of the awaits the library exposes: checked once, the same way."""

from __future__ import annotations

import math

__all__ = ["check_timeout"]


def check_timeout(timeout: object, name: str = "timeout") -> None:
    """Refuse a timeout that is not ``None`` or a positive finite number of seconds.

    Raises:
        TypeError: ``timeout`` is not a number.
        ValueError: ``timeout`` is zero, negative, infinite or NaN.
    """
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"{name} must be a number of seconds or None; got {type(timeout).__name__}")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"{name} must be a positive, finite number of seconds; got {timeout!r}")
