"""examples/distributed_workers: ``embed`` runs in two ``penguiflow worker`` processes (Redis)."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from penguiflow import Headers, Message

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "distributed_workers"


@pytest.fixture
def flow_module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("flow", EXAMPLE / "flow.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "flow", module)
    spec.loader.exec_module(module)
    return module


async def _in_process(flow_module: ModuleType, count: int) -> list[str]:
    flow, registry = flow_module.build_flow()
    assert flow.worker_nodes == frozenset()
    flow.run(registry)
    try:
        for i in range(count):
            doc = flow_module.Doc(id=f"doc-{i:02d}", text=f"emperor penguins dive {i} metres deep")
            await flow.emit(Message(payload=doc, headers=Headers(tenant="acme")))
        results = [(await asyncio.wait_for(flow.fetch(), 10)).payload for _ in range(count)]
    finally:
        await flow.stop()
    ranked = sorted(results, key=lambda r: r.id)
    return [f"  {r.id}: norm {r.norm}, top dimension {r.top_dimension}" for r in ranked[:3]]


async def test_two_worker_processes_share_the_heavy_node(
    redis_url: str, flow_module: ModuleType
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE / "main.py"),
        "--bus",
        redis_url,
        "--docs",
        "24",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    headline, *lines = out.decode().splitlines()
    assert headline == "24 documents embedded by 2 worker processes"
    counts = [re.fullmatch(r"  (worker-[12]): (\d+) documents", line) for line in lines[:2]]
    assert all(counts), lines
    assert {m.group(1) for m in counts if m} == {"worker-1", "worker-2"}
    assert sum(int(m.group(2)) for m in counts if m) == 24
    # The same flow code in one process gives the same answers.
    assert lines[2:] == await _in_process(flow_module, 24)
