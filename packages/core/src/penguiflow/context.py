"""The `Context` every node call receives (defined in the kernel: `penguiflow._kernel.context`)."""

from __future__ import annotations

from penguiflow._kernel.context import Context

__all__ = ["Context"]
