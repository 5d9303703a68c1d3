"""Message.meta propagation: along chains, across fan-out, through playbooks."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from penguiflow import Headers, Message, ModelRegistry, Node, NodePolicy, create
from penguiflow._kernel.envelope import rewrap

NONE = NodePolicy(validate="none")


async def test_meta_travels_along_a_chain_and_branches_get_copies(stop_after, bounded):
    async def stamp(msg: Message, _ctx: Any) -> Message:
        msg.meta["stamped"] = True
        return msg

    def branch(name: str) -> Node:
        async def fn(msg: Message, _ctx: Any) -> Message:
            msg.meta["branch"] = name
            msg.meta.setdefault("visits", []).append(name)
            return msg

        return Node(fn, name=name, policy=NONE)

    src = Node(stamp, policy=NONE)
    left, right = branch("left"), branch("right")
    flow = stop_after(create(src.to(left, right), left.to(), right.to()))
    flow.run()
    await flow.emit(Message(payload="p", headers=Headers(tenant="t"), meta={"request_id": "r"}))
    outs = {out.meta["branch"]: out for out in [await bounded(flow.fetch()) for _ in range(2)]}
    assert set(outs) == {"left", "right"}
    for name, out in outs.items():
        assert out.meta["request_id"] == "r" and out.meta["stamped"] is True
        assert out.meta["visits"] == [name]  # each branch got its own copy of meta
    assert outs["left"].meta is not outs["right"].meta


async def test_typed_nodes_keep_the_envelope_and_its_meta(stop_after, bounded):
    class In(BaseModel):
        n: int

    class Out(BaseModel):
        doubled: int

    async def double(payload: In, ctx: Any) -> Out:
        ctx.meta["doubled_by"] = ctx.owner.name
        return Out(doubled=payload.n * 2)

    registry = ModelRegistry()
    registry.register("double", In, Out)
    flow = stop_after(create(Node(double).to()))
    flow.run(registry=registry)
    sent = Message(payload={"n": 21}, headers=Headers(tenant="acme"), meta={"k": "v"})
    await flow.emit(sent)
    out = await bounded(flow.fetch())
    assert isinstance(out, Message)
    assert out.payload == Out(doubled=42) and out.doubled == 42
    assert (out.trace_id, out.headers) == (sent.trace_id, sent.headers)
    assert out.meta == {"k": "v", "doubled_by": "double"}


def test_an_envelope_copy_does_not_mark_fields_set_on_the_original() -> None:
    original = Message(payload=1, headers=Headers(tenant="t"))
    before = set(original.model_fields_set)
    copy = rewrap(original, 2, copy_meta=True)
    copy.deadline_s = 5.0
    assert original.model_fields_set == before
    assert original.deadline_s is None and copy.payload == 2
