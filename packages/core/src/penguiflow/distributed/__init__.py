"""Distributed execution: nodes of a flow served by worker processes over a message bus.

The owning flow marks nodes as **worker nodes** (``create(...,
message_bus=bus, worker_nodes=["heavy"])``); worker processes build the same
flow and serve them with `RemoteWorker` (or ``penguiflow worker
module:factory --node heavy --bus URL``). Same flow code, in-process or
distributed, by configuration only. The design notes are in
`penguiflow.distributed.worker` (the worker side) and
``penguiflow.distributed._proxy`` (the owner side).
"""

from __future__ import annotations

from penguiflow.distributed.worker import RemoteWorker, registry_models, serve_node

__all__ = ["RemoteWorker", "registry_models", "serve_node"]
