"""Config-driven routing: one flow, routes chosen per tenant by a `DictRoutingPolicy`.

The retrieval router proposes the ``keyword`` path for everything. A
``DictRoutingPolicy`` keyed on the tenant overrides that proposal from
configuration: with ``routes.json`` tenant A goes to FAISS and tenant B to the
hybrid retriever; a second configuration swaps them and sends tenant C down
both paths. Tenants the configuration does not name keep the router's
proposal. ``update_mapping`` switches a running flow to new routes.

Run it from the repository root::

    .venv/bin/python examples/routing_policy/main.py
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from penguiflow import Context, Headers, Message, Node, NodePolicy, PenguiFlow, create
from penguiflow.patterns import predicate_router
from penguiflow.policies import DictRoutingPolicy, RoutingRequest

__all__ = ["ROUTES_FILE", "SECOND_CONFIG", "TENANTS", "build_flow", "by_tenant", "main"]

ROUTES_FILE = Path(__file__).with_name("routes.json")
SECOND_CONFIG = '{"tenant-a": "hybrid", "tenant-b": "faiss", "tenant-c": ["faiss", "hybrid"]}'
TENANTS = ("tenant-a", "tenant-b", "tenant-c")


def by_tenant(request: RoutingRequest) -> str:
    """The policy's lookup key: the tenant of the envelope."""
    message: Message = request.message
    return message.headers.tenant


def retriever(name: str) -> Node:
    """A stand-in retriever that says which path answered."""

    async def retrieve(msg: Message, _ctx: Context) -> Message:
        return msg.model_copy(update={"payload": f"{name}({msg.payload})"})

    return Node(retrieve, name=name, policy=NodePolicy(validate="none"))


def build_flow(policy: DictRoutingPolicy) -> PenguiFlow:
    """The same graph for every configuration; only the policy differs."""
    faiss, hybrid, keyword = retriever("faiss"), retriever("hybrid"), retriever("keyword")
    router = predicate_router("retrieval", lambda msg: "keyword", policy=policy)
    return create(router.to(faiss, hybrid, keyword), faiss.to(), hybrid.to(), keyword.to())


async def route_all(flow: PenguiFlow, paths: dict[str, int]) -> dict[str, list[str]]:
    """Send one query per tenant; ``paths`` says how many results each one produces."""
    routes: dict[str, list[str]] = {}
    for tenant in TENANTS:
        msg = Message(payload="penguin facts", headers=Headers(tenant=tenant))
        await flow.emit(msg)
        outs = [await flow.fetch(trace_id=msg.trace_id) for _ in range(paths.get(tenant, 1))]
        routes[tenant] = sorted(out.payload.split("(")[0] for out in outs)
    return routes


async def main() -> dict[str, dict[str, list[str]]]:
    """Run the same flow under two configurations, then switch one live."""
    results: dict[str, dict[str, list[str]]] = {}

    first = DictRoutingPolicy.from_json_file(ROUTES_FILE, key_getter=by_tenant)
    flow = build_flow(first)
    flow.run()
    try:
        results["routes.json"] = await route_all(flow, {})
        # Same running flow, new routes: no rebuild needed.
        first.update_mapping({"tenant-a": "keyword", "tenant-b": "keyword", "tenant-c": "faiss"})
        results["updated live"] = await route_all(flow, {})
    finally:
        await flow.stop()

    second = DictRoutingPolicy.from_json(SECOND_CONFIG, key_getter=by_tenant)
    flow = build_flow(second)
    flow.run()
    try:
        results["second config"] = await route_all(flow, {"tenant-c": 2})
    finally:
        await flow.stop()

    for config, routes in results.items():
        print(f"{config}:")
        for tenant, paths in routes.items():
            print(f"  {tenant} -> {', '.join(paths)}")
    return results


if __name__ == "__main__":
    asyncio.run(main())
