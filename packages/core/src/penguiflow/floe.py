"""Floes, the bounded FIFO edges of a flow (defined in the kernel: `penguiflow._kernel.floe`)."""

from __future__ import annotations

from penguiflow._kernel.floe import Floe, FloeClosed

__all__ = ["Floe", "FloeClosed"]
