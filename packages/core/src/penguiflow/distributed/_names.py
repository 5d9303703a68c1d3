"""The bus topics and groups a distributed flow uses, derived from the flow's shape.

A flow's *namespace* defaults to a hash of its graph (node names and edges),
so an owner and its workers that build the flow from the same code agree on
every name without configuration; two different flows never share topics.

* ``{ns}.node.{node}``: requests for a worker node, shared by the group
  ``{ns}-{node}`` of its workers;
* ``{ns}.reply.{node}``: results of the node, read by each owning flow
  instance through an ephemeral group of its own (a reply names its owner;
  the others skip it) — a fixed set of topics, however often owners restart;
* ``{ns}.control``: cancel notices, seen by every worker.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import uuid

from penguiflow.graph import FlowGraph

__all__ = [
    "check_namespace",
    "control_topic",
    "default_consumer",
    "flow_namespace",
    "new_id",
    "node_topic",
    "node_word",
    "reply_topic",
    "work_group",
]

_NAMESPACE = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")
_WORD = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")


def flow_namespace(graph: FlowGraph) -> str:
    """Return the namespace derived from ``graph``'s node names and edges."""
    shape = "\n".join(
        sorted(
            f"{node.name}>{','.join(sorted(s.name for s in graph.successors[node]))}"
            for node in graph.nodes
        )
    )
    return "pf-" + hashlib.sha256(shape.encode()).hexdigest()[:12]


def check_namespace(namespace: object) -> str:
    """Return ``namespace`` if it can prefix topics and groups.

    Raises:
        ValueError: It is not 1-40 letters, digits, ``_`` or ``-``.
    """
    if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
        raise ValueError(
            f"bus namespace must be 1-40 letters, digits, '_' or '-'; got {namespace!r}"
        )
    return namespace


def node_word(name: str) -> str:
    """Return ``name`` as one topic/group word (hashed when it has other characters)."""
    if _WORD.match(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{_UNSAFE.sub('_', name)[:30]}-{digest}"


def node_topic(namespace: str, node_name: str) -> str:
    """Topic carrying the requests for ``node_name``."""
    return f"{namespace}.node.{node_word(node_name)}"


def work_group(namespace: str, node_name: str) -> str:
    """Consumer group shared by the workers of ``node_name``."""
    return f"{namespace}-{node_word(node_name)}"


def reply_topic(namespace: str, node_name: str) -> str:
    """Topic carrying ``node_name``'s results back to the owning flows."""
    return f"{namespace}.reply.{node_word(node_name)}"


def control_topic(namespace: str) -> str:
    """Topic carrying cancel notices to every worker of the namespace."""
    return f"{namespace}.control"


def new_id() -> str:
    """A short random id for an owner or a worker."""
    return uuid.uuid4().hex[:16]


def default_consumer() -> str:
    """A readable, unique consumer name: ``host-pid-random``."""
    host = _UNSAFE.sub("_", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
