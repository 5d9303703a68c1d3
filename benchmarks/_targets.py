"""The performance targets of SPEC §10, in one place, and the PASS/MISS verdict against them.

Every benchmark program and the scorecard (``run_all.py``) judge their
figures with these objects, so the scorecard cannot drift from the spec. The
figures judged are cost ratios — time per item over the floor's time per
item, measured in the same process and round (``2.0`` = twice the floor's
cost) — except the import cost, which is milliseconds over a baseline. The
CPU-time ratios and medians are the benchmark programs' business; a target
only says where the line is.

Benchmarks without a SPEC §10 row (middlewares, state stores, the bus, node
concurrency) report figures or carry budgets of their own; they are not here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "FANOUT_JOIN",
    "IMPORT_OWN_COST",
    "MEMORY_PER_TRACE",
    "PIPELINED_HOP",
    "SEQUENTIAL_HOP",
    "SPEC_TARGETS",
    "STREAMING",
    "VALIDATED_HOP",
    "Target",
]

Unit = Literal["x", "ms"]


@dataclass(frozen=True, slots=True)
class Target:
    """An upper bound on one measured figure (lower is better for every SPEC §10 row).

    Attributes:
        workload: The SPEC §10 row, in its words.
        limit: The largest figure that passes.
        unit: ``"x"`` for a cost ratio against ``against``, ``"ms"`` for milliseconds.
        against: What a ratio is taken against (``"floor"``, ``"validated floor"``).
    """

    workload: str
    limit: float
    unit: Unit
    against: str = "floor"

    def label(self) -> str:
        """The target cell of the scorecard, e.g. ``<= 2x floor`` or ``<= 20 ms``."""
        if self.unit == "ms":
            return f"<= {self.limit:g} ms"
        return f"<= {self.limit:g}x {self.against}"

    def status(self, value: float | None) -> str:
        """``PASS`` or ``MISS`` for a measured figure; ``-`` when there is none (``None``/nan)."""
        if value is None or math.isnan(value):
            return "-"
        return "PASS" if value <= self.limit else "MISS"


SEQUENTIAL_HOP = Target("sequential hop, payload-only, no validation", 2.0, "x")
PIPELINED_HOP = Target("pipelined hop, payload-only", 2.0, "x")
VALIDATED_HOP = Target(
    "sequential hop, envelope + pydantic validation in/out", 2.0, "x", "validated floor"
)
FANOUT_JOIN = Target("fan-out 8 + join_k, traces per CPU-second", 2.0, "x")
STREAMING = Target("streaming chunks per CPU-second (0 gaps, 0 dupes)", 2.5, "x")
IMPORT_OWN_COST = Target(
    "cold import penguiflow, own cost over import asyncio; from pydantic import BaseModel",
    20.0,
    "ms",
)
MEMORY_PER_TRACE = Target("memory per in-flight trace (10k traces, 3 nodes)", 1.2, "x")

SPEC_TARGETS: dict[str, Target] = {
    "sequential_hop": SEQUENTIAL_HOP,
    "pipelined_hop": PIPELINED_HOP,
    "validated_hop": VALIDATED_HOP,
    "fanout_join": FANOUT_JOIN,
    "streaming": STREAMING,
    "import_own_cost": IMPORT_OWN_COST,
    "memory_per_trace": MEMORY_PER_TRACE,
}
"""Every SPEC §10 row with a numeric target, by a stable key (used in results JSON)."""
