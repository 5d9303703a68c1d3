"""Nodes: async functions wrapped with a name, a policy and their wiring."""

from __future__ import annotations

import inspect
import itertools
import math
import numbers
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeAlias

# PEP 696 defaults: a bare ``Node`` means ``Node[Any, Any]``.
from typing_extensions import TypeVar

__all__ = ["Node", "NodeFunc", "NodePolicy", "Targets", "ValidateMode"]

ValidateMode: TypeAlias = Literal["both", "in", "out", "none"]
"""Which side of a node the registry validates."""

InT = TypeVar("InT", default=Any)
OutT = TypeVar("OutT", default=Any)

NodeFunc: TypeAlias = Callable[[InT, Any], Awaitable[OutT]]
"""Shape of a node function: ``async def fn(message: In, ctx: Context) -> Out``.

Generic in the message and result types (``NodeFunc[Question, Answer]``); the
context is typed `penguiflow.context.Context` in user code.
"""

_VALIDATE_MODES: tuple[str, ...] = ("both", "in", "out", "none")
_node_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class NodePolicy:
    """How the runtime calls a node: validation, timeout and retries.

    Attributes:
        validate: Which side the registry validates: ``"both"``, ``"in"``,
            ``"out"`` or ``"none"``.
        timeout_s: Per-attempt timeout in seconds, or ``None`` for none.
        max_retries: Extra attempts after the first failure.
        backoff_base: Delay before the first retry, in seconds.
        backoff_mult: Factor applied to the delay for each further retry;
            retry ``n`` (0-based) waits ``backoff_base * backoff_mult**n``.
        max_backoff: Upper bound of any single delay, or ``None``.
        max_concurrency: Invocations of the node that may run at once. Messages
            of one trace are still processed one at a time, in arrival order
            (payload-only messages count as a trace each); different traces run
            side by side. ``1`` (the default) processes one message at a time.

    Every field is checked when the policy is built. A wrong type (a string,
    a bool, ``None`` where a number is required) is reported like an
    out-of-range value, with `ValueError`, so one ``except ValueError``
    catches every invalid policy; the message names the field.

    Raises:
        ValueError: If a value has the wrong type, is not finite (``inf``,
            ``nan``), is out of range, or ``validate`` is unknown.
    """

    validate: ValidateMode = "both"
    timeout_s: float | None = None
    max_retries: int = 0
    backoff_base: float = 0.5
    backoff_mult: float = 2.0
    max_backoff: float | None = None
    max_concurrency: int = 1

    def __post_init__(self) -> None:
        if self.validate not in _VALIDATE_MODES:
            raise ValueError(
                f"NodePolicy.validate must be one of {', '.join(map(repr, _VALIDATE_MODES))}; "
                f"got {self.validate!r}"
            )
        _check_number("timeout_s", self.timeout_s, minimum=0, inclusive=False, optional=True)
        if type(self.max_retries) is not int or self.max_retries < 0:
            raise ValueError(
                f"NodePolicy.max_retries must be an int >= 0; got {self.max_retries!r}"
            )
        _check_number("backoff_base", self.backoff_base, minimum=0)
        _check_number("backoff_mult", self.backoff_mult, minimum=1)
        _check_number("max_backoff", self.max_backoff, minimum=0, optional=True)
        if type(self.max_concurrency) is not int or self.max_concurrency < 1:
            raise ValueError(
                f"NodePolicy.max_concurrency must be an int >= 1; got {self.max_concurrency!r}"
            )

    def backoff_delay(self, retry_index: int) -> float:
        """Return the delay in seconds before retry ``retry_index`` (0-based)."""
        delay = self.backoff_base * self.backoff_mult**retry_index
        if self.max_backoff is not None:
            delay = min(delay, self.max_backoff)
        return float(delay)


class Node(Generic[InT, OutT]):
    """An async function plus the metadata the runtime needs to run it.

    Generic in what the function takes and returns, so a type checker sees
    ``Node(triage)`` as ``Node[Question, Answer]`` for
    ``async def triage(q: Question, ctx: Context) -> Answer``.

    The function must be ``async`` and take exactly two positional
    parameters: the incoming message (or payload) and the `Context`.

    Args:
        func: ``async def fn(message, ctx)``.
        name: Unique name in the flow; defaults to the function's name.
        policy: Validation, timeout and retry policy.
        allow_cycle: Mark the node as a controller that may loop (to itself
            or through other nodes).

    Raises:
        TypeError: If ``func`` is not an async callable or ``policy`` is not a NodePolicy.
        ValueError: If the signature does not take exactly two positional
            parameters, the name is empty, or ``name`` is missing for a
            callable without a ``__name__`` (a callable object, a
            ``functools.partial``).

    Example:
        >>> async def triage(msg, ctx):
        ...     return msg
        >>> node = Node(triage, name="triage", policy=NodePolicy(validate="none"))
    """

    __slots__ = ("allow_cycle", "func", "name", "node_id", "policy")

    def __init__(
        self,
        func: NodeFunc[InT, OutT],
        name: str | None = None,
        policy: NodePolicy | None = None,
        allow_cycle: bool = False,
    ) -> None:
        _check_node_func(func, name)
        resolved = name if name is not None else getattr(func, "__name__", None)
        if name is None and resolved is None:
            # Callable objects and functools.partial carry no __name__ to default to.
            raise ValueError(
                f"Node({func!r}): a {type(func).__name__!r} object has no __name__ to name "
                "the node after; pass name='...'"
            )
        if not isinstance(resolved, str) or not resolved:
            raise ValueError(f"Node name must be a non-empty string; got {resolved!r}")
        if policy is None:
            policy = NodePolicy()
        elif not isinstance(policy, NodePolicy):
            raise TypeError(
                f"Node {resolved!r}: policy must be a NodePolicy; got {type(policy).__name__}"
            )
        self.func: NodeFunc[InT, OutT] = func
        self.name: str = resolved
        self.policy: NodePolicy = policy
        self.allow_cycle: bool = bool(allow_cycle)
        self.node_id: str = f"{resolved}#{next(_node_ids)}"

    def to(self, *successors: Node) -> tuple[Node[InT, OutT], tuple[Node, ...]]:
        """Declare this node's successors, for `penguiflow.core.create`.

        ``node.to()`` with no successors makes the node an egress node whose
        results go to Rookery.

        Raises:
            TypeError: If a successor is not a `Node`.
        """
        for successor in successors:
            if not isinstance(successor, Node):
                raise TypeError(
                    f"Node {self.name!r}: successors must be Node instances; got {successor!r}"
                )
        return (self, successors)

    def __repr__(self) -> str:
        return f"Node({self.name!r})"


def _check_number(
    field: str,
    value: object,
    *,
    minimum: float,
    inclusive: bool = True,
    optional: bool = False,
) -> None:
    """Raise `ValueError` naming ``field`` unless ``value`` is a finite real number in range.

    ``bool`` is an ``int`` to Python but never a duration or a factor here:
    ``timeout_s=True`` would silently mean one second.
    """
    if value is None and optional:
        return
    bound = f"> {minimum}" if not inclusive else f">= {minimum}"
    wanted = f"a finite number {bound}" + (" or None" if optional else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"NodePolicy.{field} must be {wanted}; got {value!r} ({type(value).__name__})"
        )
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float is not a usable delay either
        number = math.inf
    in_range = number >= minimum if inclusive else number > minimum
    if not (math.isfinite(number) and in_range):
        raise ValueError(f"NodePolicy.{field} must be {wanted}; got {value!r}")


Targets: TypeAlias = Node | str | Sequence[Node | str] | None
"""Where an emit or fetch may point: a node, a node name, several of them, or `None` for all."""


def _check_node_func(func: Any, name: str | None) -> None:
    label = name or getattr(func, "__name__", None) or repr(func)
    if not callable(func):
        raise TypeError(f"Node {label!r}: expected an async function, got {type(func).__name__}")
    is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - async callable objects
    )
    if not is_async:
        raise TypeError(
            f"Node {label!r}: node functions must be 'async def fn(message, ctx)'; "
            f"{func!r} is not a coroutine function"
        )
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return  # builtins without a signature: nothing more to check
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required_kw = [
        p.name
        for p in signature.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
    ]
    has_varargs = any(
        p.kind is inspect.Parameter.VAR_POSITIONAL for p in signature.parameters.values()
    )
    if required_kw:
        raise ValueError(
            f"Node {label!r}: node functions take exactly two positional parameters "
            f"(message, ctx); required keyword-only parameters {required_kw} cannot be supplied"
        )
    if len(positional) != 2 and not (has_varargs and len(positional) < 2):
        names = [p.name for p in positional]
        raise ValueError(
            f"Node {label!r}: node functions must take exactly two positional parameters "
            f"(message, ctx); got {len(positional)} {names}. Name an unused context '_ctx'."
        )
