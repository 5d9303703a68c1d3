"""Node construction checks and NodePolicy validation (penguiflow.node)."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from penguiflow import Node, NodePolicy


async def good(msg: Any, ctx: Any) -> Any:
    return msg


def test_name_defaults_to_function_name_and_to_builds_adjacency():
    node = Node(good)
    other = Node(good, name="other")
    assert node.name == "good"
    assert node.to(other) == (node, (other,))
    assert node.to() == (node, ())
    assert node.node_id != other.node_id


def test_sync_function_is_a_type_error():
    def sync(msg: Any, ctx: Any) -> Any:
        return msg

    with pytest.raises(TypeError, match=r"'sync'.*async def"):
        Node(sync)
    with pytest.raises(TypeError, match="expected an async function"):
        Node(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("arity", [0, 1, 3])
def test_wrong_signature_is_a_value_error(arity: int):
    params = ", ".join(f"p{i}" for i in range(arity))
    namespace: dict[str, Any] = {}
    exec(f"async def fn({params}):\n    return None", namespace)
    with pytest.raises(ValueError, match=rf"exactly two positional parameters.*got {arity}"):
        Node(namespace["fn"])


def test_required_keyword_only_parameter_is_rejected():
    async def fn(msg: Any, ctx: Any, *, flag: bool) -> Any:
        return msg

    with pytest.raises(ValueError, match="keyword-only"):
        Node(fn)


def test_async_callables_and_partials_are_accepted():
    class Handler:
        async def __call__(self, msg: Any, ctx: Any) -> Any:
            return msg

    async def three(prefix: str, msg: Any, ctx: Any) -> Any:
        return msg

    assert Node(Handler(), name="handler").name == "handler"
    assert Node(functools.partial(three, "p"), name="partial").name == "partial"


def test_callable_object_or_partial_without_name_says_to_pass_name():
    class Handler:
        async def __call__(self, msg: Any, ctx: Any) -> Any:
            return msg

    async def three(prefix: str, msg: Any, ctx: Any) -> Any:
        return msg

    with pytest.raises(ValueError, match=r"'Handler' object has no __name__.*pass name="):
        Node(Handler())
    with pytest.raises(ValueError, match=r"'partial' object has no __name__.*pass name="):
        Node(functools.partial(three, "p"))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"validate": "sometimes"}, "validate"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": float("inf")}, "timeout_s"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"backoff_base": -0.1}, "backoff_base"),
        ({"backoff_mult": 0.5}, "backoff_mult"),
        ({"max_backoff": -1}, "max_backoff"),
    ],
)
def test_invalid_policy_values(kwargs: dict[str, Any], field: str):
    with pytest.raises(ValueError, match=f"NodePolicy.{field}"):
        NodePolicy(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timeout_s": "5"}, "timeout_s"),
        ({"timeout_s": True}, "timeout_s"),
        ({"timeout_s": float("nan")}, "timeout_s"),
        ({"timeout_s": 10**400}, "timeout_s"),
        ({"backoff_base": float("inf")}, "backoff_base"),
        ({"backoff_base": float("nan")}, "backoff_base"),
        ({"backoff_base": "0.5"}, "backoff_base"),
        ({"backoff_base": None}, "backoff_base"),
        ({"backoff_base": False}, "backoff_base"),
        ({"backoff_mult": float("inf")}, "backoff_mult"),
        ({"backoff_mult": True}, "backoff_mult"),
        ({"backoff_mult": "2"}, "backoff_mult"),
        ({"max_backoff": float("inf")}, "max_backoff"),
        ({"max_backoff": True}, "max_backoff"),
        ({"max_backoff": "3"}, "max_backoff"),
        ({"max_concurrency": 2.0}, "max_concurrency"),
    ],
)
def test_non_finite_bool_and_wrong_type_policy_numbers_name_the_field(
    kwargs: dict[str, Any], field: str
):
    # Before: inf backoffs were accepted (a retrying trace then slept forever),
    # a string gave a bare comparison TypeError and True meant one second.
    with pytest.raises(ValueError, match=rf"NodePolicy\.{field} must be"):
        NodePolicy(**kwargs)


def test_policy_numbers_accept_ints_and_floats_in_range():
    policy = NodePolicy(timeout_s=5, backoff_base=0, backoff_mult=1, max_backoff=0.0)
    assert (policy.timeout_s, policy.backoff_base, policy.backoff_mult) == (5, 0, 1)
    assert policy.backoff_delay(3) == 0.0


def test_policy_type_is_checked_at_node():
    with pytest.raises(TypeError, match="policy must be a NodePolicy"):
        Node(good, policy={"validate": "none"})  # type: ignore[arg-type]


def test_backoff_delay_is_exponential_and_capped():
    policy = NodePolicy(backoff_base=0.5, backoff_mult=2.0, max_backoff=3.0)
    assert [policy.backoff_delay(n) for n in range(4)] == [0.5, 1.0, 2.0, 3.0]


def test_to_rejects_non_nodes():
    with pytest.raises(TypeError, match="successors must be Node"):
        Node(good).to("other")  # type: ignore[arg-type]
