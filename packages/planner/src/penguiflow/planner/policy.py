"""What the planner may use and how it should plan: `ToolPolicy` and `PlanningHints`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from penguiflow.catalog import NodeSpec

__all__ = ["PlanningHints", "ToolPolicy"]


def _names(value: Iterable[str] | None, what: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError(f"{what} must be a collection of names, not a single string {value!r}")
    names = frozenset(value)
    bad = [n for n in names if type(n) is not str or not n]
    if bad:
        raise TypeError(f"{what} must hold non-empty strings; got {bad!r}")
    return names


@dataclass(frozen=True, slots=True)
class ToolPolicy:
    """Which catalog tools a planner may see, checked in this order:

    1. ``denied_tools``: never;
    2. ``allowed_tools``: if given, only these;
    3. ``require_tags``: the tool must carry every one of these tags.

    Tools that fail are removed before the prompt is built (the LLM never sees
    them) and their names are logged and reported in a ``tools_filtered`` event.

    Example:
        >>> ToolPolicy(denied_tools={"delete_user"}, require_tags={"safe"})  # doctest: +SKIP
    """

    allowed_tools: frozenset[str] | None = None
    denied_tools: frozenset[str] = frozenset()
    require_tags: frozenset[str] = frozenset()

    def __init__(
        self,
        allowed_tools: Iterable[str] | None = None,
        denied_tools: Iterable[str] = (),
        require_tags: Iterable[str] = (),
    ) -> None:
        object.__setattr__(self, "allowed_tools", _names(allowed_tools, "allowed_tools"))
        object.__setattr__(self, "denied_tools", _names(denied_tools, "denied_tools"))
        object.__setattr__(self, "require_tags", _names(require_tags, "require_tags"))

    def permits(self, spec: NodeSpec) -> bool:
        """Whether ``spec`` passes the three checks."""
        if spec.name in self.denied_tools:
            return False
        if self.allowed_tools is not None and spec.name not in self.allowed_tools:
            return False
        return self.require_tags.issubset(spec.tags)

    def split(self, specs: Sequence[NodeSpec]) -> tuple[list[NodeSpec], list[str]]:
        """Return the permitted specs (in order) and the names filtered out."""
        kept: list[NodeSpec] = []
        dropped: list[str] = []
        for spec in specs:
            (kept.append(spec) if self.permits(spec) else dropped.append(spec.name))
        return kept, dropped


@dataclass(frozen=True, slots=True)
class PlanningHints:
    """Guidance for the LLM, and limits the planner enforces.

    Attributes:
        ordering_hints: Tools in the order they usually run (shown to the LLM).
        parallel_groups: Groups of tools that may run together (shown to the LLM).
        sequential_only: Tools never to run in a parallel step (enforced).
        disallowed_nodes: Tools never to call (enforced: removed from the prompt).
        preferred_nodes: Tools to prefer when several fit (shown to the LLM).
        max_parallel: Most branches in one parallel step (enforced).
        budget_hints: Free-form notes on cost or limits (shown to the LLM).
    """

    ordering_hints: tuple[str, ...] = ()
    parallel_groups: tuple[tuple[str, ...], ...] = ()
    sequential_only: frozenset[str] = frozenset()
    disallowed_nodes: frozenset[str] = frozenset()
    preferred_nodes: tuple[str, ...] = ()
    max_parallel: int | None = None
    budget_hints: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("ordering_hints", "preferred_nodes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "parallel_groups", tuple(tuple(g) for g in self.parallel_groups))
        for name in ("sequential_only", "disallowed_nodes"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))
        if self.max_parallel is not None and (
            type(self.max_parallel) is not int or self.max_parallel < 1
        ):
            raise ValueError(f"max_parallel must be an int >= 1 or None; got {self.max_parallel!r}")

    def render(self) -> str | None:
        """The hints as prompt text, or ``None`` when there is nothing to say."""
        shown: dict[str, Any] = {}
        if self.ordering_hints:
            shown["usual_order"] = list(self.ordering_hints)
        if self.parallel_groups:
            shown["may_run_in_parallel"] = [list(g) for g in self.parallel_groups]
        if self.sequential_only:
            shown["never_in_parallel"] = sorted(self.sequential_only)
        if self.preferred_nodes:
            shown["prefer"] = list(self.preferred_nodes)
        if self.max_parallel is not None:
            shown["max_parallel"] = self.max_parallel
        if self.budget_hints:
            shown["budget"] = self.budget_hints
        return json.dumps(shown, ensure_ascii=False) if shown else None
